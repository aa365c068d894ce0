"""What each ``trd-spark`` sub-command does, behind the argument parsing.

These functions own the session: they start Hail once, run library code and
stop it, so the library itself never starts one.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from trd_spark.config import Config, load_config
from trd_spark.session import start_session, stop_session
from trd_spark.study import STAGES

log = logging.getLogger(__name__)


def session_for(config: Config) -> None:
    """Start the session a config asks for; Spark's progress bars show when run in a terminal."""
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
) -> Path:
    """Write a synthetic study into ``out``; returns its ``config.yaml``.

    Hail is started only when genotypes are written.
    """
    from trd_spark.simulate.study import check_folder, simulate_study

    check_folder(out, overwrite)  # before starting Hail, so a mistake costs no JVM start
    with_hail = "genotypes" in parts
    if with_hail:
        start_session(out, master="local[*]")
    try:
        config_path = simulate_study(
            out, scale=scale, seed=seed, export=export, overwrite=overwrite, parts=parts
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
    session_for(config)
    try:
        run_stages(stages, config, force=force)
    finally:
        stop_session()
    print(f"outputs are in {config.output_dir}")


def demo(out: str, scale: str, seed: int, export: Sequence[str]) -> None:
    """Simulate a study (replacing an earlier demo in ``out``) and run every stage there is."""
    config_path = simulate(out, scale, seed, export, overwrite=True)
    run(str(config_path), list(STAGES), force=True)
    report = Path(out).resolve() / "report" / "index.html"
    if report.is_file():
        print(f"report: {report}")
