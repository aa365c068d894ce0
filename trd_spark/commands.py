"""What each ``trd-spark`` sub-command does, behind the argument parsing.

These functions own the session: they start Hail once, run library code and
stop it, so the library itself never starts one.  Every log line, progress
included, also goes to the run's ``logs/trd-spark.log``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trd_spark
from trd_spark import __version__
from trd_spark.config import Config, load_config
from trd_spark.disclosure.private import attach_private_log, filter_shareable_handlers
from trd_spark.errors import InputError
from trd_spark.progress import log_to_file
from trd_spark.session import session_paths, start_session, stop_session
from trd_spark.study import STAGES

log = logging.getLogger(__name__)

DEMO_RECORD = "demo.json"  # what `trd-spark demo` simulated into its folder, written when done
LOG_NAME = "trd-spark.log"


def run_log_path(output_dir: str) -> str:
    """The run's log file: ``<output_dir>/logs/trd-spark.log`` (local scratch for a remote run)."""
    return os.path.join(os.path.dirname(session_paths(output_dir).log_file), LOG_NAME)


def session_for(config: Config) -> None:
    """Start the session a config asks for (Hail's banner shows when run in a terminal)."""
    start_session(
        config.output_dir,
        master=config.spark.master,
        driver_memory=config.spark.driver_memory,
        extra_conf=config.spark.conf,
        quiet=not sys.stderr.isatty(),
    )


def simulate(
    out: str,
    scale: str,
    seed: int,
    export: Sequence[str],
    overwrite: bool,
    parts: Sequence[str] = ("genotypes", "ehr"),
    ehr_density: str | None = None,
) -> Path:
    """Write a synthetic study into ``out``; returns its ``config.yaml``.

    Hail is started only when genotypes are written.
    """
    from trd_spark.simulate.study import check_folder, simulate_study

    check_folder(out, overwrite)  # before starting Hail, so a mistake costs no JVM start
    log_to_file(run_log_path(out))
    with_hail = "genotypes" in parts
    if with_hail:
        start_session(out, master="local[*]")
    try:
        config_path = simulate_study(
            out,
            scale=scale,
            seed=seed,
            export=export,
            overwrite=overwrite,
            parts=parts,
            ehr_density=ehr_density,
        )
    finally:
        if with_hail:
            stop_session()
    print(f"synthetic {scale} study written to {Path(out).resolve()}; config: {config_path}")
    return config_path


def run(config_file: str, stages: Sequence[str], force: bool) -> None:
    """Run ``stages`` of the pipeline for the study a config file describes."""
    from trd_spark.pipeline import run_stages

    config = load_config(config_file)
    log.info("log: %s", log_to_file(run_log_path(config.output_dir)))
    log.info("trd-spark %s from %s", __version__, Path(trd_spark.__file__).parent)
    filter_shareable_handlers()  # the run's log file gets no exact counts either
    private_log = attach_private_log(config.output_dir)  # those go here
    session_for(config)
    try:
        run_stages(stages, config, force=force)
    finally:
        stop_session()
        if private_log is not None:
            logging.getLogger("trd_spark").removeHandler(private_log)
            private_log.close()
    print(f"outputs are in {config.output_dir}")


def audit(report_dir: str) -> int:
    """``trd-spark audit --report DIR``: attack a written report (no Spark); 0 when it may be
    shared, 1 when a count of persons from 1 to 20 can be recovered."""
    from trd_spark.report.audit import main

    return main(report_dir)


def build_ld_ref(
    mt_path: str, blocks: str, out: str, panel: str, reference_genome: str, min_maf: float
) -> None:
    """Build a PRS-CS LD reference panel from a MatrixTable of reference genotypes."""
    import hail as hl

    from trd_spark.prscs.build import build_ld_panel

    start_session(out)  # the cluster's Spark when submitted, else local[*]
    try:
        mt = hl.read_matrix_table(mt_path)
        written = build_ld_panel(mt, blocks, out, panel, reference_genome, min_maf)
    finally:
        stop_session()
    n_chroms = len(written.chromosomes)
    print(f"LD panel {written.name} written to {written.folder} ({n_chroms} chromosomes)")


def demo_settings(scale: str, seed: int, export: Sequence[str]) -> dict[str, Any]:
    """What makes two demo studies the same: scale, seed and exported formats."""
    return {"scale": scale, "seed": seed, "export": sorted(export)}


def reusable_demo(out: str, settings: dict[str, Any]) -> bool:
    """True when ``out`` holds a finished demo study simulated with ``settings``.

    Raises
    ------
    InputError when ``out`` holds something else (another scale or seed, an unfinished
    or unknown study) and so needs ``--overwrite``.
    """
    root = Path(out)
    if not root.is_dir() or not any(p.name not in ("logs", "_tmp") for p in root.iterdir()):
        return False
    record = root / DEMO_RECORD
    previous = json.loads(record.read_text()) if record.is_file() else None
    if previous is not None and (root / "config.yaml").is_file():
        if {key: previous.get(key) for key in settings} == settings:
            return True
        held = f"a demo study of scale {previous.get('scale')}, seed {previous.get('seed')}"
    else:
        held = "files that are not a finished demo study"
    raise InputError(
        f"{root} holds {held}; pass --overwrite to simulate the {settings['scale']} study "
        f"(seed {settings['seed']}) there instead, or choose another --out"
    )


def demo(out: str, scale: str, seed: int, export: Sequence[str], overwrite: bool = False) -> None:
    """Simulate a study into ``out`` (or reuse the one there of the same scale, seed and
    exports) and run every stage; finished stages are skipped, ``overwrite`` starts afresh."""
    settings = demo_settings(scale, seed, export)
    record = Path(out) / DEMO_RECORD
    if not overwrite and reusable_demo(out, settings):
        config_path = Path(out) / "config.yaml"
        print(
            f"reusing the {scale} study (seed {seed}) simulated earlier in {Path(out).resolve()}; "
            "finished stages are skipped (--overwrite simulates it again)"
        )
    else:
        record.unlink(missing_ok=True)  # until the new study is complete
        config_path = simulate(out, scale, seed, export, overwrite=True)
        record.write_text(json.dumps({**settings, "version": __version__}, indent=2) + "\n")
    run(str(config_path), list(STAGES), force=False)
    report = Path(out).resolve() / "report" / "index.html"
    if report.is_file():
        print(f"report: {report}")
