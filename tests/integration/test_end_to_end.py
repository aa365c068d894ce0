"""``trd-spark run`` from a simulated study to the report, as a user runs it (a subprocess).

One uninterrupted run, then: a second run skips every stage; a run killed (SIGKILL) right
after the score stage finished resumes there and ends with the same results.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trd_spark.study import STAGES

pytestmark = pytest.mark.integration

RESULT_TABLES = [
    "pgs/wgs_european.parquet",
    "phenotypes/persons.parquet",
    "results/associations.parquet",
    "results/survival.parquet",
]


def config_for_run(study: Path, run_dir: Path) -> Path:
    """The study's config with outputs sent to ``run_dir`` (the study folder stays read-only)."""
    raw = yaml.safe_load((study / "config.yaml").read_text())
    raw["output_dir"] = str(run_dir)
    raw["spark"] = {"master": "local[2]", "driver_memory": "3g"}
    for source in raw["genotypes"].values():
        source["path"] = str((study / source["path"]).resolve())
    raw["ancestry"] = str((study / raw["ancestry"]).resolve())
    raw["weights"]["path"] = str((study / raw["weights"]["path"]).resolve())
    raw["omop"]["path"] = str((study / raw["omop"]["path"]).resolve())
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "trd_spark.cli", *args]


def run_pipeline(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    done = subprocess.run(
        cli("run", "--config", str(config)), capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def finished_times(run_dir: Path) -> dict[str, str]:
    return {
        stage: json.loads((run_dir / "manifests" / f"{stage}.json").read_text())["finished"]
        for stage in STAGES
    }


@pytest.fixture(scope="module")
def full_run(tiny_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("e2e") / "full"
    run_pipeline(config_for_run(tiny_study, run_dir))
    return run_dir


def test_every_stage_writes_its_outputs(full_run: Path) -> None:
    for table in [*RESULT_TABLES, "qc/summary.json", "report/index.html"]:
        assert (full_run / table).exists(), table
    for stage in STAGES:
        manifest = json.loads((full_run / "manifests" / f"{stage}.json").read_text())
        assert manifest["stage"] == stage and manifest["seconds"] > 0
        assert manifest["versions"]["hail"] == "0.2.139"
    assert not (full_run / "_staging").exists()


def test_report_images_load_and_no_small_count_is_shown(full_run: Path, tmp_path: Path) -> None:
    from tests.data.report.browser import check_images
    from trd_spark.report.audit import audit_small_counts

    page = full_run / "report" / "index.html"
    images = check_images(page, tmp_path / "chromium-profile")
    assert images["total"] >= 6 and images["broken"] == []
    assert audit_small_counts(str(full_run / "report"), min_count=20) == []
    assert "&lt;20" in page.read_text() or "<20" in page.read_text()


def test_notebook_runs_on_the_finished_run(full_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.data.report.notebook import execute, images, printed

    notebook = execute(full_run, monkeypatch)
    assert f"run: {full_run.resolve()}" in printed(notebook)
    assert "not available" not in printed(notebook)
    assert images(notebook) == 2  # the forest plot and the Kaplan-Meier curve


def test_second_run_skips_every_stage(full_run: Path) -> None:
    config = full_run.parent / "full.yaml"
    before = finished_times(full_run)
    done = run_pipeline(config)
    assert finished_times(full_run) == before
    for stage in STAGES:
        assert (
            f"stage {stage}: finished earlier with the same inputs and config; skipped"
            in done.stderr
        )


def test_run_killed_after_score_resumes_with_identical_results(
    full_run: Path, tiny_study: Path
) -> None:
    run_dir = full_run.parent / "killed"
    config = config_for_run(tiny_study, run_dir)
    process = subprocess.Popen(
        cli("run", "--config", str(config)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},
        start_new_session=True,
    )
    score_manifest = run_dir / "manifests" / "score.json"
    deadline = time.monotonic() + 600
    while not score_manifest.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert score_manifest.exists(), "the run ended before the score stage finished"
    assert not (run_dir / "manifests" / "report.json").exists()
    score_finished = json.loads(score_manifest.read_text())["finished"]

    run_pipeline(config)
    assert json.loads(score_manifest.read_text())["finished"] == score_finished  # not redone
    for table in RESULT_TABLES:
        resumed = pd.read_parquet(run_dir / table)
        uninterrupted = pd.read_parquet(full_run / table)
        sort_by = list(resumed.columns[: min(6, resumed.shape[1])])
        pd.testing.assert_frame_equal(
            resumed.sort_values(sort_by).reset_index(drop=True),
            uninterrupted.sort_values(sort_by).reset_index(drop=True),
        )
    assert (run_dir / "report" / "index.html").exists()
