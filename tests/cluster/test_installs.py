"""The wheel installed as each platform installs it, each in a fresh environment:

* All of Us Workbench (README): ``pip install --user`` into a fresh HOME on top of an image
  that has Hail, then the tiny pipeline in local mode (the reference the cluster run meets);
* Dataproc: ``deploy/dataproc-init.sh`` into a Python that already has Hail and pyspark;
* EMR: ``deploy/emr-bootstrap.sh`` making its own environment from nothing.

What is cloud-only is replaced through the scripts' settings (environment variables): a
local wheel instead of gs:// or s3://, the test's pip and Python, pip reading a local
wheelhouse instead of the index.
"""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.cluster.conftest import TIMINGS, Image, WorkbenchRun, offline_pip, run
from tests.cluster.sparkcluster import COMPARED_TABLES, REPO, clean_env

pytestmark = pytest.mark.cluster

CONF_FILES = {
    "trd_spark/conf/traits.tsv",
    "trd_spark/conf/code_lists/diagnoses.tsv",
    "trd_spark/conf/code_lists/drugs.tsv",
    "trd_spark/conf/code_lists/procedures.tsv",
    "trd_spark/conf/demo.yaml",
    "trd_spark/conf/aou.yaml",
    "trd_spark/conf/dataproc.yaml",
    "trd_spark/conf/emr.yaml",
}


def test_the_wheel_holds_the_configuration_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert names >= CONF_FILES
    assert not any(name.startswith(("tests/", "jobs/", "conf/")) for name in names)
    metadata = (
        zipfile.ZipFile(wheel).read(f"{wheel.name.split('-py3')[0]}.dist-info/METADATA").decode()
    )
    requires = [
        line.split(": ", 1)[1]
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist: ")
    ]
    runtime = [r for r in requires if "extra ==" not in r]
    assert all("==" not in r for r in runtime), runtime  # ranges, not pins
    assert any(r.startswith("hail") and "<0.3" in r for r in runtime)
    assert not any(r.startswith("statsmodels") for r in runtime)


def test_workbench_user_install_runs_the_tiny_pipeline(
    workbench_run: WorkbenchRun, image: Image
) -> None:
    home = workbench_run.home
    env = clean_env(HOME=str(home), PATH=f"{home}/.local/bin:{image.bin}:/usr/bin:/bin")
    where = run(
        [str(image.python), "-c", "import trd_spark; print(trd_spark.__file__)"], env=env, cwd=home
    )
    assert where.stdout.startswith(f"{home}/.local/lib/")
    assert "trd-spark 0.1.0" in run(["trd-spark", "--version"], env=env, cwd=home).stdout
    assert (
        "WORKSPACE_BUCKET" in run(["trd-spark", "example-config", "aou"], env=env, cwd=home).stdout
    )
    for table in COMPARED_TABLES:
        assert (workbench_run.run_dir / table).exists(), table
    assert (workbench_run.run_dir / "report" / "index.html").is_file()
    assert (workbench_run.run_dir / "logs" / "trd-spark.log").is_file()
    log = workbench_run.log
    assert f"from {home}/.local/lib/" in log
    for notice in (
        "native-hadoop",
        "spark.local.dir",
        "default_reference",
        "built and tested with Java 11",
    ):
        assert notice not in log, notice


def image_overlay(image: Image, root: Path) -> Path:
    """A fresh virtual environment that sees the image's packages (as a Dataproc image's
    Python has Hail and pyspark) through a .pth file, and has nothing of its own."""
    run([sys.executable, "-m", "venv", "--system-site-packages", str(root)])
    site = (
        root / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    )
    image_site = image.pyspark_home.parent
    (site / "cluster-image.pth").write_text(f"{image_site}\n")
    return root


def check_installed(root: Path) -> None:
    """trd-spark installed in ``root`` from the wheel: --help works, the package imports."""
    env = clean_env(PATH=f"{root}/bin:/usr/bin:/bin")
    assert "simulate" in run([str(root / "bin" / "trd-spark"), "--help"], env=env, cwd="/").stdout
    where = run(
        [str(root / "bin" / "python"), "-c", "import trd_spark, hail; print(trd_spark.__file__)"],
        env=env,
        cwd="/",
    )
    assert where.stdout.startswith(str(root / "lib"))


def test_dataproc_init_action_installs_beside_the_images_hail(
    image: Image, wheel: Path, wheelhouse: Path, cluster_tmp: Path
) -> None:
    root = image_overlay(image, cluster_tmp / "dataproc-node")
    env = clean_env(
        TRD_SPARK_WHEEL=str(wheel),
        TRD_SPARK_PIP=str(root / "bin" / "pip"),
        **offline_pip(wheelhouse),
    )
    started = time.perf_counter()
    done = run(["bash", str(REPO / "deploy" / "dataproc-init.sh")], env=env, cwd=cluster_tmp)
    TIMINGS["dataproc-init.sh"] = time.perf_counter() - started
    assert "installed Name: trd-spark Version: 0.1.0" in done.stdout
    assert "hail==0.2.139" in done.stdout and "pyspark==" in done.stdout
    own = sorted(p.name for p in (root / "lib").glob("python*/site-packages/*.dist-info"))
    assert [name.split("-")[0] for name in own if not name.startswith(("pip-", "setuptools-"))] == [
        "trd_spark"
    ]
    check_installed(root)


def test_dataproc_init_action_needs_the_wheel(cluster_tmp: Path) -> None:
    done = subprocess.run(
        ["bash", str(REPO / "deploy" / "dataproc-init.sh")],
        env=clean_env(TRD_SPARK_PIP="/nonexistent/pip"),
        capture_output=True,
        text=True,
        cwd=cluster_tmp,
    )
    assert done.returncode == 1 and "set the metadata key TRD_SPARK_WHEEL" in done.stderr


def test_emr_bootstrap_makes_an_environment_with_hail_and_its_jar(
    wheel: Path, wheelhouse: Path, cluster_tmp: Path
) -> None:
    home = cluster_tmp / "emr-node"
    env = clean_env(
        TRD_SPARK_HOME=str(home), TRD_SPARK_PYTHON="python3.11", **offline_pip(wheelhouse)
    )
    started = time.perf_counter()
    done = run(
        ["bash", str(REPO / "deploy" / "emr-bootstrap.sh"), str(wheel)], env=env, cwd=cluster_tmp
    )
    TIMINGS["emr-bootstrap.sh (full install)"] = time.perf_counter() - started
    assert "emr-bootstrap: trd-spark 0.1.0, Hail jar at" in done.stdout
    jar = home / "hail-all-spark.jar"
    assert jar.is_symlink() and jar.resolve().is_file() and jar.resolve().stat().st_size > 10**7
    check_installed(home / "venv")
