"""spark-submit of the built wheel to a Spark standalone cluster on loopback (2 workers, 1 core
each, every one its own JVM), with README's command; executors in a Python that has the
wheel's dependencies but not trd-spark, so they import it only from what the driver sends.

* The whole pipeline on the tiny study equals the local-mode run (statuses, scores, estimates).
* Hail joins a SparkContext that was started before trd-spark's session helper.
* A worker killed (SIGKILL, by PID) while score-stage tasks run: Spark re-runs the lost
  tasks on the other worker and the run finishes with identical outputs (observed and
  asserted here; the rerun-and-resume path is the end-to-end test's).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import TIMINGS, Image, WorkbenchRun, copy_finished_stages, study_config
from tests.cluster.sparkcluster import (
    REPO,
    SparkCluster,
    assert_same_outputs,
    clean_env,
    readme_block,
)

pytestmark = pytest.mark.cluster

RUN_JOB = 'jobs/run.py --config "$CONFIG"'


def submit_env(
    image: Image, cluster: SparkCluster, wheel: Path, config: Path, **extra: str
) -> dict[str, str]:
    """What README's spark-submit block reads: MASTER, PYTHON, WHEEL, CONFIG (and PATH)."""
    return clean_env(
        MASTER=cluster.master_url,
        PYTHON=str(image.python),
        WHEEL=str(wheel),
        CONFIG=str(config),
        PATH=f"{image.bin}:{os.environ['PATH']}",
        **extra,
    )


def submit(
    block: str, env: dict[str, str], on_line=None, timeout: float = 1200
) -> tuple[int, list[str]]:
    """Run a shell block from the checkout; returns its exit code and output lines."""
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    watchdog = threading.Timer(timeout, lambda: os.killpg(process.pid, 9))
    watchdog.start()
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if on_line is not None:
            on_line(line)
    code = process.wait()
    watchdog.cancel()
    return code, lines


@pytest.fixture(scope="module")
def cluster_run(
    spark_cluster: SparkCluster,
    image: Image,
    wheel: Path,
    tiny_study_folder: Path,
    cluster_tmp: Path,
) -> tuple[Path, list[str]]:
    run_dir = cluster_tmp / "cluster-run"
    config = study_config(tiny_study_folder, run_dir, None)
    started = time.perf_counter()
    code, lines = submit(
        readme_block("spark-submit"), submit_env(image, spark_cluster, wheel, config)
    )
    TIMINGS["cluster: spark-submit of the whole pipeline"] = time.perf_counter() - started
    assert code == 0, "\n".join(lines[-80:])
    return run_dir, lines


def test_the_cluster_listens_on_loopback_only(spark_cluster: SparkCluster) -> None:
    assert spark_cluster.alive_workers() == 2
    addresses = spark_cluster.listening()
    assert len(addresses) >= 6  # master (RPC, UI), 2 workers (RPC, UI)
    assert all(re.fullmatch(r"(\[::ffff:)?127\.0\.0\.1\]?:\d+", a) for a in addresses), addresses


def test_pipeline_on_the_cluster_equals_local_mode(
    cluster_run: tuple[Path, list[str]], workbench_run: WorkbenchRun, wheel: Path, image: Image
) -> None:
    run_dir, lines = cluster_run
    output = "\n".join(lines)
    assert f"from {wheel}" in output  # the driver imported trd_spark from the wheel
    assert "trd-spark sent to the executors" in output
    assert re.search(r"Unable to load native-hadoop|spark\.local\.dir", output) is None or (
        "notices you may see above are harmless" in output
    )
    assert "default_reference argument is deprecated" not in output
    assert "Hail was built and tested with Java 11" not in output
    assert "stage report: done" in output and not (run_dir / "_staging").exists()
    assert_same_outputs(run_dir, workbench_run.run_dir)
    with pytest.raises(subprocess.CalledProcessError):  # the executors' Python has no trd_spark
        subprocess.run(
            [str(image.python), "-c", "import trd_spark"],
            cwd="/",
            check=True,
            capture_output=True,
            env=clean_env(),
        )


def test_hail_joins_a_context_started_before_it(
    spark_cluster: SparkCluster, image: Image, wheel: Path, cluster_tmp: Path
) -> None:
    block = readme_block("spark-submit").replace(
        RUN_JOB, 'tests/cluster/data/join_context.py "$CONFIG"'
    )
    env = submit_env(image, spark_cluster, wheel, cluster_tmp / "probe")
    code, lines = submit(block, env, timeout=600)
    assert code == 0, "\n".join(lines[-60:])
    (probe,) = [
        json.loads(line.split("PROBE ", 1)[1]) for line in lines if line.startswith("PROBE ")
    ]
    assert probe["same_context"] and probe["master"] == spark_cluster.master_url
    assert probe["hail_sum"] == sum(range(100)) and probe["reference"] == "GRCh38"
    assert (
        len(probe["executor_imports"]) == 1 and "trd_spark-shipped-" in probe["executor_imports"][0]
    )


def test_a_worker_killed_in_the_score_stage(
    spark_cluster: SparkCluster,
    cluster_run: tuple[Path, list[str]],
    image: Image,
    wheel: Path,
    tiny_study_folder: Path,
    cluster_tmp: Path,
) -> None:
    """Killed while score tasks run (progress every second tells when); Spark retries the
    lost tasks and the run finishes with the same outputs.  qc and phenotype are taken
    from the first cluster run, so this run does score, analyze and report."""
    run_dir = cluster_tmp / "killed-run"
    copy_finished_stages(cluster_run[0], run_dir, ["qc", "phenotype"], ["qc", "phenotypes"])
    config = study_config(tiny_study_folder, run_dir, None)
    killed: list[str] = []

    def kill_when_score_tasks_run(line: str) -> None:
        if not killed and re.search(r"progress: score: .*Spark stage.*, [1-9]\d* running", line):
            killed.append(line.strip())
            spark_cluster.kill_worker(1)

    env = submit_env(image, spark_cluster, wheel, config, TRD_SPARK_PROGRESS_SECONDS="1")
    started = time.perf_counter()
    code, lines = submit(readme_block("spark-submit"), env, kill_when_score_tasks_run)
    TIMINGS["cluster: score, analyze, report with a worker killed"] = time.perf_counter() - started
    output = "\n".join(lines)
    assert code == 0, output[-6000:]
    assert killed, "no progress line showed score tasks running"
    assert "stage qc: finished earlier" in output and "stage phenotype: finished earlier" in output
    kill_at = lines.index(next(line for line in lines if line.strip() == killed[0]))
    score_done = next(i for i, line in enumerate(lines) if "stage score: done" in line)
    assert kill_at < score_done
    assert any("executors 2 -> 1" in line for line in lines[kill_at:]), output[-6000:]
    assert spark_cluster.alive_workers() == 1
    assert_same_outputs(run_dir, cluster_run[0])
