"""The one place that starts Hail and Spark.

Hail must create the JVM itself (a SparkSession made before ``hl.init``
breaks it), so we call ``hl.init`` and take the Spark session from Hail.

* Local mode (``master`` like ``local[2]``, or no master and no cluster):
  everything on loopback, no Spark UI, temp and logs under the output dir.
* Submitted to a cluster (``spark-submit`` / ``hailctl dataproc submit``, or
  the All of Us Workbench): Hail joins the context the cluster made, and we
  change nothing about networking.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trd_spark.uri import is_remote

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_scratch: list[str] = []  # local scratch folders this process made, removed at stop


@dataclass(frozen=True)
class SessionPaths:
    """Where a session puts its scratch data and its log."""

    tmp_dir: str
    local_tmp_dir: str
    log_file: str


def session_paths(output_dir: str) -> SessionPaths:
    """Scratch and log locations under ``output_dir`` (local scratch stays local)."""

    if is_remote(output_dir):
        local_root = Path(tempfile.gettempdir()) / "trd-spark"
        return SessionPaths(
            tmp_dir=output_dir.rstrip("/") + "/_tmp",
            local_tmp_dir=str(local_root / "tmp"),
            log_file=str(local_root / "logs" / "hail.log"),
        )
    root = Path(output_dir).resolve()
    return SessionPaths(
        tmp_dir=str(root / "_tmp"),
        local_tmp_dir=str(root / "_tmp" / "local"),
        log_file=str(root / "logs" / "hail.log"),
    )


def cluster_master() -> str | None:
    """The master a cluster already chose, or None on a plain machine.

    spark-submit (and ``hailctl dataproc submit``) start the JVM before our
    code runs and tell Python through ``PYSPARK_GATEWAY_PORT``; a Dataproc or
    All of Us Workbench notebook has ``spark.master`` in spark-defaults.conf.
    """
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        return "submitted"
    conf_dirs = [os.environ.get("SPARK_CONF_DIR"), "/etc/spark/conf"]
    if os.environ.get("SPARK_HOME"):
        conf_dirs.append(os.path.join(os.environ["SPARK_HOME"], "conf"))
    for conf_dir in filter(None, conf_dirs):
        defaults = Path(conf_dir) / "spark-defaults.conf"
        if defaults.is_file():
            for line in defaults.read_text().splitlines():
                parts = line.split(None, 1)
                if len(parts) == 2 and parts[0] == "spark.master":
                    return parts[1].strip()
    return None


def local_cores(master: str) -> int:
    """The worker threads of a local master: ``local`` 1, ``local[4]`` 4, ``local[*]`` all
    (1 for a master of another form)."""
    match = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\s*\d+)?\])?", master.strip())
    if match is None or match.group(1) is None:
        return 1
    if match.group(1) == "*":
        return os.cpu_count() or 1
    return max(int(match.group(1)), 1)


def local_spark_conf(driver_memory: str, progress: bool = False, cores: int = 2) -> dict[str, str]:
    """Spark settings for local mode: loopback only, no UI; console progress bars on request.

    Shuffles get two partitions per core and no adaptive re-planning: on one machine,
    re-planning after every shuffle cost the phenotype stage 0.3-0.7 s of its 5-6 s at
    steady state (interleaved runs on 2 cores), more than coalescing partitions saved.
    """
    return {
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "true" if progress else "false",
        "spark.driver.memory": driver_memory,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(2 * cores),
        "spark.sql.adaptive.enabled": "false",
        # Spark keeps 100 compiled query classes; one phenotype stage makes more, so
        # rerunning it in the same session (a notebook) compiled every class again
        "spark.sql.codegen.cache.maxEntries": "1000",
    }


def start_session(
    output_dir: str,
    master: str | None = None,
    driver_memory: str = "8g",
    extra_conf: dict[str, str] | None = None,
    app_name: str = "trd-spark",
    quiet: bool = True,
) -> SparkSession:
    """Start Hail (once per process) and return its Spark session.

    Parameters
    ----------
    output_dir : run output folder; scratch goes to ``<output_dir>/_tmp``, the
        Hail log to ``<output_dir>/logs/hail.log``.
    master : Spark master; None uses the cluster's when submitted, else ``local[*]``.
    driver_memory : driver heap for local mode (ignored on a cluster).
    extra_conf : further Spark settings (``spark.conf`` in the config file).
    app_name : the Spark application name.
    quiet : hide Hail's banner and Spark's progress bars (show them in a terminal).

    Returns
    -------
    The SparkSession that Hail runs on.
    """
    import hail as hl

    if _hail_running():
        return _spark_from_hail()
    paths = session_paths(output_dir)
    if master is None and cluster_master() is None:
        master = "local[*]"
    conf: dict[str, str] = {}
    if master is not None and master.startswith("local"):
        os.environ["SPARK_LOCAL_IP"] = LOOPBACK
        os.environ.setdefault("PYSPARK_PYTHON", _python())
        conf.update(local_spark_conf(driver_memory, progress=not quiet, cores=local_cores(master)))
        if not Path(paths.tmp_dir).exists():
            _scratch.append(paths.tmp_dir)
        Path(paths.local_tmp_dir).mkdir(parents=True, exist_ok=True)
        Path(paths.log_file).parent.mkdir(parents=True, exist_ok=True)
    conf.update(extra_conf or {})
    log.info(
        "starting Hail (master=%s, tmp=%s, log=%s)",
        master or "cluster",
        paths.tmp_dir,
        paths.log_file,
    )
    init_args: dict[str, Any] = {
        "app_name": app_name,
        "tmp_dir": paths.tmp_dir,
        "local_tmpdir": paths.local_tmp_dir,
        "log": paths.log_file,
        "quiet": quiet,
        "spark_conf": conf,
        "default_reference": "GRCh38",
        "idempotent": True,
    }
    if master is not None:
        init_args["master"] = master
    hl.init(**init_args)
    spark = _spark_from_hail()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stop_session() -> None:
    """Stop Hail and Spark if running, and remove the local scratch folder this process made."""
    import shutil

    import hail as hl

    if _hail_running():
        hl.stop()
    while _scratch:
        shutil.rmtree(_scratch.pop(), ignore_errors=True)


def _hail_running() -> bool:
    from hail.utils.java import Env

    return Env._hc is not None


def _spark_from_hail() -> SparkSession:
    from hail.utils.java import Env

    return Env.spark_session()


def _python() -> str:
    import sys

    return sys.executable
