"""Progress lines: what they say, how often, and the run's log file."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from trd_spark import progress
from trd_spark.progress import (
    StageProgress,
    StageTasks,
    describe_tasks,
    format_duration,
    log_to_file,
    progress_interval,
    spark_tasks,
    stop_log_files,
)


def test_durations_read_like_a_clock() -> None:
    assert [format_duration(s) for s in (0, 42.4, 725, 3723)] == [
        "0:00",
        "0:42",
        "12:05",
        "1:02:03",
    ]


def test_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRD_SPARK_PROGRESS_SECONDS", raising=False)
    assert progress_interval() == 10.0  # below the 15 s a user waits at most
    monkeypatch.setenv("TRD_SPARK_PROGRESS_SECONDS", "1.5")
    assert progress_interval() == 1.5
    monkeypatch.setenv("TRD_SPARK_PROGRESS_SECONDS", "soon")
    assert progress_interval() == 10.0


class FakeTracker:
    """Spark's status tracker with two stages running."""

    def __init__(self, done: tuple[int, int]) -> None:
        self.done = done

    def getActiveStageIds(self) -> list[int]:  # noqa: N802 (Spark's name)
        return [8, 7]

    def getStageInfo(self, stage_id: int) -> SimpleNamespace:  # noqa: N802
        i = stage_id - 7
        return SimpleNamespace(
            stageId=stage_id,
            name=f"collect at pgs.py:{150 + i}\nmore call site",
            numTasks=10,
            numCompletedTasks=self.done[i],
            numActiveTasks=2,
            numFailedTasks=i,
        )


def test_spark_tasks_sum_the_running_stages() -> None:
    context = SimpleNamespace(statusTracker=lambda: FakeTracker((3, 4)))
    tasks, per_stage = spark_tasks(context)
    assert tasks == StageTasks(
        [7, 8], "collect at pgs.py:150", total=20, done=7, running=4, failed=1
    )
    assert per_stage == {7: 3, 8: 4}
    assert describe_tasks(tasks, 9.0) == (
        "Spark stages 7,8 (collect at pgs.py:150) 7/20 tasks, 4 running, "
        "1 failed (Spark retries them), ETA 0:09"
    )
    idle = SimpleNamespace(statusTracker=lambda: SimpleNamespace(getActiveStageIds=lambda: []))
    assert spark_tasks(idle) == (None, {})


def test_eta_from_the_rate_tasks_finish(monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = FakeTracker((0, 0))
    context = SimpleNamespace(statusTracker=lambda: tracker, master="local[2]")
    monkeypatch.setattr(progress, "_spark_context", lambda: context)
    clock = iter([100.0, 100.0, 110.0, 120.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    stage = StageProgress("score", interval=10)
    assert (
        stage.line()
        == "score: 0:00 elapsed; Spark stages 7,8 (collect at pgs.py:150) 0/20 tasks, 4 running, 1 failed (Spark retries them)"
    )
    tracker.done = (4, 6)  # 10 tasks in 10 s: the other 10 in 10 s
    assert stage.line().endswith("10/20 tasks, 4 running, 1 failed (Spark retries them), ETA 0:10")


def test_lines_come_while_the_stage_runs_and_name_the_last_step(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(progress, "_spark_context", lambda: None)
    caplog.set_level(logging.INFO)
    with progress.stage_progress("analyze", interval=0.2):
        logging.getLogger("trd_spark.stats.stage").info("fitting the logistic grid\nwith detail")
        time.sleep(0.7)
    lines = [r.getMessage() for r in caplog.records if r.name == "trd_spark.progress"]
    assert len(lines) >= 2
    assert lines[-1].startswith("analyze: 0:0")
    assert lines[-1].endswith("elapsed; on the driver, last step: fitting the logistic grid")
    count = len(lines)
    time.sleep(0.5)
    assert len([r for r in caplog.records if r.name == "trd_spark.progress"]) == count  # stopped


def test_a_lost_executor_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    executors = [3, 3, 2]  # the driver and two executors, then one executor fewer
    jsc = SimpleNamespace(
        sc=lambda: SimpleNamespace(
            statusTracker=lambda: SimpleNamespace(getExecutorInfos=lambda: [0] * executors.pop(0))
        )
    )
    idle = SimpleNamespace(getActiveStageIds=lambda: [])
    context = SimpleNamespace(master="spark://127.0.0.1:7077", _jsc=jsc, statusTracker=lambda: idle)
    monkeypatch.setattr(progress, "_spark_context", lambda: context)
    stage = StageProgress("score", interval=10)
    stage._executors = stage._count_executors()
    assert "executors" not in stage.line()
    assert stage.line().endswith("; executors 2 -> 1 (Spark re-runs the lost ones' tasks)")


def test_log_file_gets_plain_lines(tmp_path: Path) -> None:
    path = log_to_file(str(tmp_path / "logs" / "trd-spark.log"))
    try:
        logging.getLogger("trd_spark.progress").warning("score: 0:10 elapsed; on the driver")
    finally:
        stop_log_files()
    text = Path(path).read_text()
    assert text.rstrip().endswith("WARNING trd_spark.progress: score: 0:10 elapsed; on the driver")
    assert "\x1b" not in text and "\r" not in text
