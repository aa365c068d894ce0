"""``trd-spark run`` from a simulated study to the report, as a user runs it (a subprocess).

One uninterrupted run, then: a second run skips every stage; a run killed (SIGKILL) right
after the score stage finished resumes there and ends with the same results.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from trd_spark.disclosure import SUPPRESSED
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
    done = run_pipeline(config_for_run(tiny_study, run_dir))
    # what the user saw in the terminal, beside the run (not in it)
    (run_dir.parent / "console.txt").write_text(done.stdout + done.stderr)
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
    from trd_spark.report.audit import audit_report

    page = full_run / "report" / "index.html"
    images = check_images(page, tmp_path / "chromium-profile")
    assert images["total"] >= 6 and images["broken"] == []
    # the attack on every shareable table (and the page's counts against them) finds nothing
    assert audit_report(str(full_run / "report")) == []
    assert f">{SUPPRESSED}<" in page.read_text()  # the tiny study has small groups


SMALL = r"(?:[1-9]|1\d|20)"
# a count of 1..20 beside a word that makes it a count of persons
PERSON_COUNT = re.compile(
    rf"(?<![\d.,])(?<!to ){SMALL}(?![\d.,%])\s*(?:persons?|participants?|cases|controls|events?|"
    rf"people|at risk|excluded)\b|\bn\s*=\s*{SMALL}\b",
    re.IGNORECASE,
)


def test_no_bare_count_of_persons_in_html_csvs_or_console(full_run: Path) -> None:
    from trd_spark.report.audit import find_unsuppressed_counts, read_report
    from trd_spark.report.structure import SPECS

    report_dir = full_run / "report"
    page = (report_dir / "index.html").read_text()
    cells = re.findall(r'class="count"( data-cell="[^"]*")?>([^<]*)<', page)
    assert len(cells) > 50 and all(key for key, text in cells if text)
    assert find_unsuppressed_counts(page, 20) == []
    text = re.sub(r"<[^>]+>", " ", page)
    assert not PERSON_COUNT.search(text), PERSON_COUNT.search(text)
    _, tables = read_report(str(report_dir))
    checked = 0
    for name, table_df in tables.items():
        for column in SPECS[name].count_columns:
            for value in table_df[column]:
                digits = value.replace(",", "")
                assert not (digits.isdigit() and 1 <= int(digits) <= 20), (name, column)
                checked += 1
    assert checked > 500
    console = (full_run.parent / "console.txt").read_text()
    assert "phenotype: group sizes in phenotypes/group_sizes.parquet" in console
    assert not re.search(r"^\s*\S+\s+trd_\d\s+trmdd_\d\s+\d", console, re.MULTILINE)
    assert not PERSON_COUNT.search(console), PERSON_COUNT.search(console)
    # the exact counts are in the private folder only
    private_log = (full_run / "private" / "trd-spark.log").read_text()
    assert re.search(r"^\s*microarray\s+trd_1\s+trmdd_1\s+\d+", private_log, re.MULTILINE)
    assert (full_run / "private" / "report_cells.tsv").is_file()


def test_audit_command_passes_on_the_report_and_fails_on_a_leak(
    full_run: Path, tmp_path: Path
) -> None:
    import shutil

    done = subprocess.run(
        cli("audit", "--report", str(full_run / "report")), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "may be shared" in done.stdout
    leaky = tmp_path / "leaky"
    shutil.copytree(full_run / "report", leaky)
    sizes = leaky / "tables" / "group_sizes.csv"
    # publish the exact group sizes again, as the report did before disclosure control
    exact_df = pd.read_parquet(full_run / "phenotypes" / "group_sizes.parquet")
    exact_df.to_csv(sizes, index=False)
    done = subprocess.run(cli("audit", "--report", str(leaky)), capture_output=True, text=True)
    assert done.returncode == 1
    assert "group_sizes" in done.stdout and "must not be shared" in done.stderr


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
