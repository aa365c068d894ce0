"""What a long run shows while a stage works: one plain line at least every few seconds.

While a stage runs, a background thread wakes every ``interval`` seconds (10 by default;
the environment variable ``TRD_SPARK_PROGRESS_SECONDS`` changes it) and logs one line
through the ``trd_spark.progress`` logger, for example::

    score: 0:42 elapsed; Spark stage 31 (collect at pgs.py:150) 45/61 tasks, 2 running, ETA 0:09
    analyze: 1:40 elapsed; on the driver, last step: fitting the logistic grid

The Spark part comes from Spark's status tracker (public API); the ETA from the rate at
which the running stages finished tasks since they were first seen.  When no Spark job
runs, the line names the stage's last logged step.  On a cluster, a change in the number
of executors is logged too (an executor lost is retried by Spark elsewhere).

The command line sends these lines, like every log line, to the terminal and to the
run's log file (``logs/trd-spark.log``); see ``docs/architecture.md``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("trd_spark.progress")

DEFAULT_INTERVAL = 10.0
INTERVAL_VARIABLE = "TRD_SPARK_PROGRESS_SECONDS"


def progress_interval() -> float:
    """Seconds between progress lines: ``TRD_SPARK_PROGRESS_SECONDS`` or 10."""
    text = os.environ.get(INTERVAL_VARIABLE, "")
    try:
        value = float(text) if text else DEFAULT_INTERVAL
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %s", INTERVAL_VARIABLE, text, 10)
        return DEFAULT_INTERVAL
    return max(value, 0.2)


def format_duration(seconds: float) -> str:
    """``0:42``, ``12:05``, ``1:02:03``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class StageTasks:
    """The tasks of the Spark stages running now (summed), and the first one's name."""

    stage_ids: list[int]
    name: str
    total: int
    done: int
    running: int
    failed: int


@dataclass
class _Rate:
    """Tasks finished since a Spark stage was first seen, for the ETA."""

    first_seen: dict[int, tuple[float, int]] = field(default_factory=dict)

    def eta(self, tasks: StageTasks, per_stage_done: dict[int, int], now: float) -> float | None:
        finished, elapsed = 0, 0.0
        for stage_id, done in per_stage_done.items():
            seen_at, done_then = self.first_seen.setdefault(stage_id, (now, done))
            finished += done - done_then
            elapsed = max(elapsed, now - seen_at)
        if finished <= 0 or elapsed <= 0:
            return None
        return (tasks.total - tasks.done) * elapsed / finished


def spark_tasks(spark_context: Any) -> tuple[StageTasks | None, dict[int, int]]:
    """The running Spark stages' tasks (None when no stage runs), and each stage's done count."""
    tracker = spark_context.statusTracker()
    infos = [tracker.getStageInfo(i) for i in sorted(tracker.getActiveStageIds())]
    infos = [info for info in infos if info is not None]
    if not infos:
        return None, {}
    tasks = StageTasks(
        stage_ids=[info.stageId for info in infos],
        name=str(infos[0].name).split("\n")[0],
        total=sum(info.numTasks for info in infos),
        done=sum(info.numCompletedTasks for info in infos),
        running=sum(info.numActiveTasks for info in infos),
        failed=sum(info.numFailedTasks for info in infos),
    )
    return tasks, {info.stageId: info.numCompletedTasks for info in infos}


def executor_count(spark_context: Any) -> int | None:
    """Executors alive now (the driver not counted); None in local mode."""
    if str(spark_context.master).startswith("local"):
        return None
    infos = spark_context._jsc.sc().statusTracker().getExecutorInfos()
    return max(len(infos) - 1, 0)


def describe_tasks(tasks: StageTasks, eta: float | None) -> str:
    """``Spark stage 31 (collect at pgs.py:150) 45/61 tasks, 2 running[, 1 failed], ETA 0:09``."""
    ids = ",".join(str(i) for i in tasks.stage_ids)
    text = (
        f"Spark stage{'s' if len(tasks.stage_ids) > 1 else ''} {ids} ({tasks.name}) "
        f"{tasks.done}/{tasks.total} tasks, {tasks.running} running"
    )
    if tasks.failed:
        text += f", {tasks.failed} failed (Spark retries them)"
    if eta is not None:
        text += f", ETA {format_duration(eta)}"
    return text


class _LastStep(logging.Handler):
    """Remembers the last INFO message trd-spark logged (the stage's latest step)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.name != log.name:
            self.message = record.getMessage().split("\n")[0]


class StageProgress:
    """A background thread logging one progress line per ``interval`` while a stage runs.

    Parameters
    ----------
    stage : the stage's name, at the start of every line.
    interval : seconds between lines.
    """

    def __init__(self, stage: str, interval: float) -> None:
        self.stage = stage
        self.interval = interval
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress-{stage}", daemon=True)
        self._last_step = _LastStep()
        self._rate = _Rate()
        self._executors: int | None = None

    def __enter__(self) -> StageProgress:
        logging.getLogger("trd_spark").addHandler(self._last_step)
        self._executors = self._count_executors()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        logging.getLogger("trd_spark").removeHandler(self._last_step)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                log.info("%s", self.line())
            except Exception as err:  # the progress line must never stop the stage
                log.debug("progress line failed: %s", err)

    def line(self) -> str:
        """The progress line for now."""
        now = time.monotonic()
        head = f"{self.stage}: {format_duration(now - self.started)} elapsed; "
        context = _spark_context()
        tasks, per_stage = spark_tasks(context) if context is not None else (None, {})
        if tasks is None:
            step = self._last_step.message
            body = "on the driver" + (f", last step: {step}" if step else "")
        else:
            body = describe_tasks(tasks, self._rate.eta(tasks, per_stage, now))
        return head + body + self._executor_change()

    def _count_executors(self) -> int | None:
        context = _spark_context()
        return executor_count(context) if context is not None else None

    def _executor_change(self) -> str:
        count = self._count_executors()
        before, self._executors = self._executors, count
        if count is None or before is None or count == before:
            return ""
        if count < before:
            return f"; executors {before} -> {count} (Spark re-runs the lost ones' tasks)"
        return f"; executors {before} -> {count}"


def _spark_context() -> Any:
    """The running SparkContext, or None (pyspark imported only when a session runs)."""
    import sys

    pyspark = sys.modules.get("pyspark")
    if pyspark is None:
        return None
    return pyspark.SparkContext._active_spark_context


@contextmanager
def stage_progress(stage: str, interval: float | None = None) -> Iterator[StageProgress]:
    """Log progress lines for ``stage`` while the block runs (see the module docstring)."""
    with StageProgress(stage, progress_interval() if interval is None else interval) as progress:
        yield progress


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_file_handlers: dict[str, logging.FileHandler] = {}


def log_to_file(path: str) -> str:
    """Also write every log line (progress included) to ``path``, plain text, appended.

    Parameters
    ----------
    path : a local file (its folder is created); a second call with the same file is a no-op.

    Returns
    -------
    ``path``, absolute.
    """
    path = os.path.abspath(path)
    if path in _file_handlers:
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    logging.getLogger().addHandler(handler)
    _file_handlers[path] = handler
    return path


def stop_log_files() -> None:
    """Close the files :func:`log_to_file` opened."""
    while _file_handlers:
        _, handler = _file_handlers.popitem()
        logging.getLogger().removeHandler(handler)
        handler.close()
