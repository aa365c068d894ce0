"""A Spark standalone cluster on loopback for the tests, and what the tests run on it.

One master and N workers, each its own JVM started with the ``spark-class`` launcher the
pyspark package ships; every address is 127.0.0.1 (``SPARK_LOCAL_IP``, ``--host``), the
web UIs included.  Every process started here, and every executor and Python worker the
workers start, carries a marker in its environment, so :meth:`SparkCluster.stop` ends
exactly those, by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
MARKER = "TRD_SPARK_TEST_CLUSTER"
# what the pipeline writes that a cluster run must reproduce (statuses, scores, estimates)
COMPARED_TABLES = (
    "qc/cohorts.parquet",
    "pgs/wgs_european.parquet",
    "pgs/wgs_diverse.parquet",
    "pgs/microarray.parquet",
    "pgs/match_report.parquet",
    "phenotypes/persons.parquet",
    "phenotypes/periods.parquet",
    "results/associations.parquet",
    "results/replication.parquet",
    "results/sensitivity.parquet",
    "results/survival.parquet",
    "results/km.parquet",
)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: no PYTHONPATH (so no source tree), loopback."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYSPARK_PYTHON")}
    env.update(SPARK_LOCAL_IP="127.0.0.1", **extra)
    return env


def wait_for_line(
    log: Path, pattern: str, process: subprocess.Popen[bytes], timeout: float
) -> re.Match[str]:
    """The first match of ``pattern`` in a growing log file; fails when the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace")) if log.exists() else None
        if match:
            return match
        if process.poll() is not None:
            raise RuntimeError(
                f"{log.name}: process ended ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.2)
    raise TimeoutError(f"{log.name}: no line matching {pattern!r} within {timeout} s")


@dataclass
class SparkCluster:
    """A master and ``n_workers`` workers (``cores`` and ``memory`` each) on 127.0.0.1."""

    spark_home: Path  # the pyspark package folder (bin/spark-class)
    work: Path
    n_workers: int = 2
    cores: int = 1
    memory: str = "1g"
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    master_url: str = ""
    ui_port: int = 0
    master: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _env(self) -> dict[str, str]:
        return clean_env(
            SPARK_DAEMON_MEMORY="256m",
            SPARK_LOG_DIR=str(self.work / "logs"),
            SPARK_CONF_DIR=str(self.work / "conf"),  # none: Spark's defaults
            **{MARKER: self.token},
        )

    def _launch(self, name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.work / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(self.spark_home / "bin" / "spark-class"), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.work,
            )
        return process, log

    def start(self, timeout: float = 120) -> SparkCluster:
        """Start the master, then the workers; return once every worker is registered."""
        (self.work / "conf").mkdir(parents=True, exist_ok=True)
        self.master, log = self._launch(
            "master",
            ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", "0",
             "--webui-port", "0"],
        )  # fmt: skip
        self.master_url = wait_for_line(
            log, r"Starting Spark master at (spark://127\.0\.0\.1:\d+)", self.master, timeout
        ).group(1)
        self.ui_port = int(
            wait_for_line(
                log,
                r"Bound MasterWebUI to 127\.0\.0\.1, and started at http://[^:]+:(\d+)",
                self.master,
                timeout,
            ).group(1)
        )
        for i in range(self.n_workers):
            self.start_worker(i)
        self.wait_for_workers(self.n_workers, timeout)
        return self

    def start_worker(self, i: int) -> None:
        """Start worker ``i`` (1 JVM) against the master."""
        worker, _ = self._launch(
            f"worker{i}",
            ["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--port", "0",
             "--webui-port", "0", "--cores", str(self.cores), "--memory", self.memory,
             "--work-dir", str(self.work / f"worker{i}"), self.master_url],
        )  # fmt: skip
        if i < len(self.workers):
            self.workers[i] = worker
        else:
            self.workers.append(worker)

    def state(self) -> dict[str, object]:
        """The master's JSON status (workers, their state, running apps)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as page:
            return dict(json.loads(page.read()))

    def alive_workers(self) -> int:
        return int(self.state()["aliveworkers"])  # type: ignore[call-overload]

    def wait_for_workers(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.alive_workers() < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {self.alive_workers()} of {n} workers registered")
            time.sleep(0.5)

    def kill_worker(self, i: int) -> int:
        """SIGKILL worker ``i``'s JVM; returns its PID."""
        pid = self.workers[i].pid
        os.kill(pid, signal.SIGKILL)
        self.workers[i].wait()
        return pid

    def pids(self) -> list[int]:
        """Every live process carrying this cluster's marker (daemons, executors, Python workers)."""
        found = []
        needle = f"{MARKER}={self.token}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
        return sorted(found)

    def listening(self) -> list[str]:
        """``address:port`` of every TCP socket the cluster's processes listen on (``ss -ltnp``)."""
        pids = set(self.pids())
        lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        return [
            line.split()[3]
            for line in lines.splitlines()
            if any(int(p) in pids for p in re.findall(r"pid=(\d+)", line))
        ]

    def stop(self, timeout: float = 30) -> None:
        """Stop the daemons (SIGTERM), then SIGKILL anything of the cluster still alive."""
        for process in [*self.workers, *([self.master] if self.master else [])]:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in [*self.workers, *([self.master] if self.master else [])]:
            try:
                process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def readme_block(name: str) -> str:
    """The shell block of README.md between ``<!-- name -->`` and ``<!-- /name -->``."""
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- {name} -->\s*```bash\n(.*?)```\s*<!-- /{name} -->", text, re.S)
    assert match, f"README.md has no block <!-- {name} -->"
    return match.group(1)


def read_sorted(path: Path) -> pd.DataFrame:
    """A Parquet table, rows sorted by every column that sorts, columns in name order."""
    frame = pd.read_parquet(path)
    frame = frame[sorted(frame.columns)]
    keys = [
        c for c in frame.columns if frame[c].dtype != object or frame[c].map(type).eq(str).all()
    ]
    return frame.sort_values(keys).reset_index(drop=True)


def assert_same_outputs(run: Path, reference: Path) -> None:
    """Every compared table of ``run`` equals ``reference``'s (floats to 1e-9 relative)."""
    for table in COMPARED_TABLES:
        pd.testing.assert_frame_equal(
            read_sorted(run / table),
            read_sorted(reference / table),
            check_exact=False,
            rtol=1e-9,
            obj=table,
        )
