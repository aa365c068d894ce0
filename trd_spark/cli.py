"""The ``trd-spark`` command: simulate a study, run stages, or both (``demo``); audit a report."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from trd_spark import __version__
from trd_spark.disclosure.private import filter_shareable_handlers
from trd_spark.errors import TrdSparkError
from trd_spark.resources import EXAMPLE_CONFIGS, example_config
from trd_spark.study import STAGES, parse_stages

log = logging.getLogger("trd_spark")

SCALES = ("tiny", "demo", "aou", "bench")
EXPORT_FORMATS = ("vcf", "plink")
PARTS = ("genotypes", "ehr")


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _export_formats(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in EXPORT_FORMATS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown format(s) {', '.join(unknown)}; choose from {','.join(EXPORT_FORMATS)}"
        )
    return names


def _parts(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PARTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown part(s) {', '.join(unknown) or '(none given)'}; choose from {','.join(PARTS)}"
        )
    return names


def _stage_list(text: str) -> list[str]:
    try:
        return parse_stages(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"config file {text} does not exist")
    return text


def _add_simulation_args(parser: argparse.ArgumentParser, default_scale: str) -> None:
    parser.add_argument(
        "--scale",
        choices=SCALES,
        default=default_scale,
        help=f"tiny (tests), demo (~30,000 persons), aou (292,663) or bench (phenotype "
        f"benchmark, ~60,000 persons at realistic EHR density); default {default_scale}",
    )
    parser.add_argument(
        "--seed", type=_non_negative_int, default=2025, help="random seed (default 2025)"
    )
    parser.add_argument(
        "--export",
        type=_export_formats,
        default=[],
        metavar="FORMATS",
        help="also write the genotypes as vcf and/or plink, e.g. --export vcf,plink",
    )


def get_parser() -> argparse.ArgumentParser:
    """The argument parser of ``trd-spark``."""
    parser = argparse.ArgumentParser(
        prog="trd-spark",
        description="Genetic correlates of treatment-resistant depression on Hail and Spark.",
    )
    parser.add_argument("--version", action="version", version=f"trd-spark {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser("simulate", help="write a synthetic All-of-Us-like study")
    simulate.add_argument("--out", required=True, help="folder to write the study into")
    _add_simulation_args(simulate, default_scale="demo")
    simulate.add_argument(
        "--overwrite", action="store_true", help="replace an existing study in --out"
    )
    simulate.add_argument(
        "--parts",
        type=_parts,
        default=list(PARTS),
        metavar="PARTS",
        help="what to write: genotypes,ehr (default both; 'ehr' alone needs no Hail)",
    )
    simulate.add_argument(
        "--ehr-density",
        choices=["sparse", "realistic"],
        default=None,
        help="EHR rows per person: sparse (phenotype events only; tiny, demo, aou) or "
        "realistic (hundreds, All of Us-like; the bench scale's default)",
    )

    run = commands.add_parser("run", help="run the pipeline's stages in order")
    run.add_argument("--config", required=True, type=_existing_file, help="YAML config file")
    run.add_argument(
        "--stages",
        type=_stage_list,
        default=list(STAGES),
        help=f"comma-separated stages to run (default {','.join(STAGES)})",
    )
    run.add_argument("--force", action="store_true", help="redo stages that already finished")

    for stage in STAGES:
        one = commands.add_parser(stage, help=f"run the {stage} stage only")
        one.add_argument("--config", required=True, type=_existing_file, help="YAML config file")
        one.add_argument(
            "--force", action="store_true", help="redo the stage if it already finished"
        )

    audit = commands.add_parser(
        "audit", help="check a written report: can any count of 1 to 20 persons be recovered?"
    )
    audit.add_argument("--report", required=True, help="the report folder (<output_dir>/report)")

    ldref = commands.add_parser(
        "build-ld-ref",
        help="build a PRS-CS LD reference panel from reference genotypes and LD blocks",
    )
    ldref.add_argument("--mt", required=True, help="Hail MatrixTable of the reference persons")
    ldref.add_argument("--blocks", required=True, help="BED file of LD-block boundaries")
    ldref.add_argument("--out", required=True, help="local folder for the panel")
    ldref.add_argument("--panel", default="own", help="panel name in the file names (default own)")
    ldref.add_argument(
        "--reference-genome", default="GRCh38", help="build of the genotypes and the BED file"
    )
    ldref.add_argument(
        "--min-maf", type=float, default=0.01, help="leave out rarer SNPs (default 0.01)"
    )

    demo = commands.add_parser(
        "demo",
        help="simulate the demo study and run every stage on it",
        description=(
            "Simulate a study into --out and run every stage on it. Run again on the same "
            "folder with the same --scale, --seed and --export, it reuses the study simulated "
            "there and skips the stages that finished; --overwrite simulates it again."
        ),
    )
    demo.add_argument(
        "--out", default="out/demo", help="folder for the study and results (default out/demo)"
    )
    _add_simulation_args(demo, default_scale="demo")
    demo.add_argument(
        "--overwrite",
        action="store_true",
        help="simulate the study again (and rerun every stage) even if --out holds one",
    )

    example = commands.add_parser(
        "example-config",
        help="print a shipped example config (demo, aou, dataproc, emr) to edit",
    )
    example.add_argument("name", choices=EXAMPLE_CONFIGS, help="which example")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trd-spark`` console script."""
    return execute(get_parser().parse_args(argv))


def job_parser(command: str) -> argparse.ArgumentParser:
    """The parser of one sub-command, for the ``jobs/`` spark-submit entry points."""
    parser = get_parser()
    commands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    job = commands.choices[command]
    job.set_defaults(command=command, verbose=False)
    return job


def execute(args: argparse.Namespace) -> int:
    """Run parsed arguments; errors the user can fix are printed without a traceback."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("py4j", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    filter_shareable_handlers()  # exact counts go to private/ only (docs/disclosure.md)
    try:
        return _dispatch(args)
    except TrdSparkError as err:
        print(f"trd-spark: error: {err}", file=sys.stderr)
        return 2


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "example-config":  # no Spark, no Hail: answer at once
        print(example_config(args.name), end="")
        return 0
    from trd_spark import commands

    if args.command == "simulate":
        commands.simulate(
            args.out,
            args.scale,
            args.seed,
            args.export,
            args.overwrite,
            args.parts,
            args.ehr_density,
        )
    elif args.command == "demo":
        commands.demo(args.out, args.scale, args.seed, args.export, args.overwrite)
    elif args.command == "build-ld-ref":
        commands.build_ld_ref(
            args.mt, args.blocks, args.out, args.panel, args.reference_genome, args.min_maf
        )
    elif args.command == "run":
        commands.run(args.config, args.stages, args.force)
    elif args.command == "audit":
        return commands.audit(args.report)
    else:
        commands.run(args.config, [args.command], args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
