"""Fixtures of the cluster tests: the built wheel, a cluster image, the tiny study, a
local-mode reference run from a ``pip install --user``, and a loopback Spark cluster.

Everything is made once per test session and shared, so the wheel is built once, the
dependencies are installed from a local wheelhouse (no index, no compilation), and the
tiny study is simulated once.  No JVM runs in the pytest process itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.cluster.sparkcluster import REPO, SparkCluster, clean_env

TIMINGS: dict[str, float] = {}  # what each fixture cost, printed at the end (-s) or on failure


def run(
    args: list[str], timeout: float = 900, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure the assertion shows its output's end."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    )
    return done


@dataclass(frozen=True)
class Image:
    """A Python environment like a cluster image's: trd-spark's dependencies, not trd-spark."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def pyspark_home(self) -> Path:
        return (
            self.root
            / "lib"
            / f"python{sys.version_info.major}.{sys.version_info.minor}"
            / "site-packages"
            / "pyspark"
        )


@pytest.fixture(scope="session")
def cluster_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cluster")


@pytest.fixture(scope="session")
def wheel(cluster_tmp: Path) -> Path:
    """The package built as users build it (pip wheel of the checkout)."""
    started = time.perf_counter()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(cluster_tmp / "dist"),
            str(REPO),
        ]
    )
    TIMINGS["build the wheel"] = time.perf_counter() - started
    (found,) = (cluster_tmp / "dist").glob("trd_spark-*.whl")
    return found


@pytest.fixture(scope="session")
def wheelhouse(wheel: Path, cluster_tmp: Path) -> Path:
    """Wheels of every dependency at the versions of constraints.txt (from pip's cache), so
    the installs below need no index."""
    started = time.perf_counter()
    folder = cluster_tmp / "wheelhouse"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "-c",
            str(REPO / "constraints.txt"),
            "--wheel-dir",
            str(folder),
            str(wheel),
        ]
    )
    TIMINGS["wheelhouse of the dependencies"] = time.perf_counter() - started
    return folder


def offline_pip(wheelhouse: Path) -> dict[str, str]:
    """pip settings (environment) that install from the wheelhouse only."""
    return {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_NO_COMPILE": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


@pytest.fixture(scope="session")
def image(wheel: Path, wheelhouse: Path, cluster_tmp: Path) -> Image:
    """A virtual environment with the wheel's dependencies and without trd-spark (the wheel
    installed, then trd-spark uninstalled); system site packages visible, as on an image
    where ``pip install --user`` works."""
    started = time.perf_counter()
    root = cluster_tmp / "image"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(root)])
    env = clean_env(**offline_pip(wheelhouse))
    run(
        [
            str(root / "bin" / "pip"),
            "install",
            "--quiet",
            "-c",
            str(REPO / "constraints.txt"),
            str(wheel),
        ],
        env=env,
    )
    run([str(root / "bin" / "pip"), "uninstall", "--quiet", "--yes", "trd-spark"], env=env)
    TIMINGS["image: install the dependencies"] = time.perf_counter() - started
    return Image(root)


@pytest.fixture(scope="session")
def tiny_study_folder(cluster_tmp: Path) -> Path:
    """The tiny study (seed 7), simulated once by the checkout's trd-spark."""
    started = time.perf_counter()
    out = cluster_tmp / "study"
    run(
        [
            sys.executable,
            "-m",
            "trd_spark.cli",
            "simulate",
            "--out",
            str(out),
            "--scale",
            "tiny",
            "--seed",
            "7",
        ],
        cwd=REPO,
        env=clean_env(),
    )
    TIMINGS["simulate the tiny study"] = time.perf_counter() - started
    return out


def study_config(study: Path, output_dir: Path, spark: dict[str, object] | None) -> Path:
    """The study's config with absolute paths, outputs in ``output_dir`` and ``spark``
    settings (None: no ``spark`` key, as on a cluster)."""
    raw = yaml.safe_load((study / "config.yaml").read_text())
    raw["output_dir"] = str(output_dir)
    raw.pop("spark", None)
    if spark is not None:
        raw["spark"] = spark
    for source in raw["genotypes"].values():
        source["path"] = str(study / source["path"])
    for key in ("ancestry",):
        raw[key] = str(study / raw[key])
    for key in ("weights", "omop"):
        raw[key]["path"] = str(study / raw[key]["path"])
    path = output_dir.parent / f"{output_dir.name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@dataclass(frozen=True)
class WorkbenchRun:
    """The Workbench route: ``pip install --user`` of the wheel into a fresh HOME, then
    ``trd-spark run`` in local mode; its outputs are the local-mode reference."""

    home: Path
    run_dir: Path
    log: str


@pytest.fixture(scope="session")
def workbench_run(
    image: Image, wheel: Path, wheelhouse: Path, tiny_study_folder: Path, cluster_tmp: Path
) -> WorkbenchRun:
    home = cluster_tmp / "home"
    home.mkdir()
    env = clean_env(
        HOME=str(home),
        PATH=f"{home}/.local/bin:{image.bin}:/usr/bin:/bin",
        **offline_pip(wheelhouse),
    )
    started = time.perf_counter()
    run([str(image.bin / "pip"), "install", "--quiet", "--user", str(wheel)], env=env, cwd=home)
    TIMINGS["workbench: pip install --user"] = time.perf_counter() - started
    run_dir = cluster_tmp / "local-run"
    config = study_config(tiny_study_folder, run_dir, {"master": "local[2]", "driver_memory": "3g"})
    started = time.perf_counter()
    done = run(["trd-spark", "run", "--config", str(config)], env=env, cwd=home)
    TIMINGS["workbench: trd-spark run (local mode)"] = time.perf_counter() - started
    return WorkbenchRun(home, run_dir, done.stderr)


@pytest.fixture(scope="session")
def spark_cluster(
    image: Image, workbench_run: WorkbenchRun, cluster_tmp: Path
) -> Iterator[SparkCluster]:
    """Master + 2 workers (1 core, 1g each) on 127.0.0.1, started after the local run (so
    the two never share the machine), stopped by PID at the end."""
    started = time.perf_counter()
    cluster = SparkCluster(image.pyspark_home, cluster_tmp / "spark").start()
    TIMINGS["start the cluster"] = time.perf_counter() - started
    try:
        yield cluster
    finally:
        cluster.stop()
        assert cluster.pids() == [], "cluster processes left running"


@pytest.fixture(scope="session", autouse=True)
def print_timings() -> Iterator[None]:
    yield
    if TIMINGS:
        print("\ncluster test fixtures: " + ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items()))


def copy_finished_stages(source: Path, target: Path, stages: list[str], folders: list[str]) -> None:
    """Seed ``target`` with finished stages of ``source`` (their outputs and manifests)."""
    (target / "manifests").mkdir(parents=True)
    for stage in stages:
        shutil.copy(source / "manifests" / f"{stage}.json", target / "manifests")
    for folder in folders:
        shutil.copytree(source / folder, target / folder)
