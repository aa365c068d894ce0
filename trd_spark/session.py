"""The one place that starts Hail and Spark.

Hail must create the JVM itself (a SparkSession made before ``hl.init``
breaks it), so we call ``hl.init`` and take the Spark session from Hail.

* Local mode (``master`` like ``local[2]``, or no master and no cluster):
  everything on loopback, no Spark UI, temp and logs under the output dir.
* Submitted to a cluster (``spark-submit`` / ``hailctl dataproc submit``, or
  the All of Us Workbench): Hail joins the context the cluster made (or a
  SparkContext the caller already started), and we change nothing about
  networking.  The running ``trd_spark`` package is sent to the executors
  (``SparkContext.addPyFile`` of a zip of it), because Spark puts only
  ``.zip``/``.egg`` files of ``--py-files`` on the executors' Python path, not
  wheels, and a ``pip install --user`` on the Workbench reaches the driver only.

Known harmless notices are silenced (local mode) or explained in one line
(on a cluster, where the cluster's own logging shows them before we start):
see :data:`HARMLESS_NOTICES`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trd_spark.errors import TrdSparkError
from trd_spark.resources import walk_files
from trd_spark.uri import is_remote

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
_scratch: list[str] = []  # local scratch folders this process made, removed at stop

# Notices Spark, Hadoop and Hail print that need no action; the one-line explanation shown
# on a cluster (in local mode they are not printed at all).
HARMLESS_NOTICES = (
    "notices you may see above are harmless: Hail 'built and tested with Java 11' (it runs "
    "on Java 17 here), Hadoop 'Unable to load native-hadoop library' (pure-Java codecs are "
    "used), Spark 'spark.local.dir will be overridden' (the cluster's local folders are used)"
)
_PYTHON_NOTICES = (
    r"Hail was built and tested with Java 11",
    r"Hail requires additional configuration options in Spark",  # joining an existing context
)
# log4j2 for the JVM that local mode starts: Spark's console output as usual (warnings and
# errors) without the two notices that need no action
_LOG4J2_PROPERTIES = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
logger.conf.name = org.apache.spark.SparkConf
logger.conf.filter.localdir.type = RegexFilter
logger.conf.filter.localdir.regex = .*spark\\.local\\.dir will be overridden.*
logger.conf.filter.localdir.onMatch = DENY
logger.conf.filter.localdir.onMismatch = NEUTRAL
"""
_HAIL_JAR_FLAGS = (
    "--jars $HAIL_JAR --conf spark.driver.extraClassPath=$HAIL_JAR "
    "--conf spark.executor.extraClassPath=./hail-all-spark.jar "
    "--conf spark.serializer=org.apache.spark.serializer.KryoSerializer "
    "--conf spark.kryo.registrator=is.hail.kryo.HailKryoRegistrator"
)


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


JAVA_OPTIONS_KEY = "spark.driver.extraJavaOptions"
# JVM flags of the driver JVM that local mode starts (README, "Laptop or single machine"):
# the quick compiler (C1) only.  The optimising compiler (C2) spent 50-110 s of CPU on a
# 2-core machine in the phenotype stage's first run at 26 M OMOP rows (as much as all of
# Spark's tasks), compiling Spark's generated code again and again; with C1 only, about
# 6 s, and every stage ran faster on that machine (benchmarks/README.md, PHENOTYPE).  A
# spark.driver.extraJavaOptions in spark.conf is added after these, so its flags win
# (``-XX:TieredStopAtLevel=4`` brings C2 back).  On a cluster nothing is set.
LOCAL_JAVA_OPTIONS: tuple[str, ...] = ("-XX:TieredStopAtLevel=1",)


def quiet_log4j_conf(log_dir: str) -> dict[str, str]:
    """Spark settings that start the local driver JVM with :data:`_LOG4J2_PROPERTIES`
    (written into ``log_dir``) and :data:`LOCAL_JAVA_OPTIONS`."""
    path = Path(log_dir) / "log4j2.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_LOG4J2_PROPERTIES)
    options = (f"-Dlog4j2.configurationFile=file:{path}", *LOCAL_JAVA_OPTIONS)
    return {JAVA_OPTIONS_KEY: " ".join(options)}


def merge_conf(conf: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    """``conf`` updated with ``extra``, but JVM options appended rather than replaced (the
    JVM takes the last of a repeated flag, so ``extra``'s win)."""
    merged = dict(conf, **extra)
    if JAVA_OPTIONS_KEY in conf and JAVA_OPTIONS_KEY in extra:
        merged[JAVA_OPTIONS_KEY] = f"{conf[JAVA_OPTIONS_KEY]} {extra[JAVA_OPTIONS_KEY]}"
    return merged


def check_hail_jar() -> None:
    """Under spark-submit, fail clearly when the JVM cannot load Hail's classes.

    spark-submit starts the JVM before any Python runs, so Hail cannot add its jar
    itself; without it ``hl.init`` fails with "'JavaPackage' object is not callable".
    """
    from py4j.java_gateway import JavaClass
    from pyspark import SparkContext

    SparkContext._ensure_initialized()
    backend = getattr(SparkContext._jvm, "is").hail.backend.spark.SparkBackend
    if not isinstance(backend, JavaClass):
        raise TrdSparkError(
            "the Spark that spark-submit started cannot load Hail's classes; put Hail's jar on "
            "its classpath as Hail documents for spark-submit: HAIL_JAR=<site-packages>/hail/"
            f"backend/hail-all-spark.jar and {_HAIL_JAR_FLAGS} (README, 'Where it runs')"
        )


def ship_package(spark: SparkSession, folder: str) -> str:
    """Send the running ``trd_spark`` package to the executors, as a zip on their Python path.

    Parameters
    ----------
    spark : the session (its SparkContext gets the zip through ``addPyFile``).
    folder : a local folder for the zip.

    Returns
    -------
    The zip's path.
    """
    from importlib import resources

    files = [(name, node.read_bytes()) for name, node in walk_files(resources.files("trd_spark"))]
    files = [(name, data) for name, data in files if not name.endswith(".pyc")]
    digest = hashlib.sha256(b"".join(name.encode() + data for name, data in files)).hexdigest()
    path = Path(folder) / f"trd_spark-shipped-{digest[:12]}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            archive.writestr(f"trd_spark/{name}", data)
    spark.sparkContext.addPyFile(str(path))
    return str(path)


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
        Under spark-submit the master spark-submit chose is used, whatever is given.
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
    master = _choose_master(master)
    local = master is not None and master.startswith("local")
    conf: dict[str, str] = {}
    if local:
        assert master is not None
        os.environ["SPARK_LOCAL_IP"] = LOOPBACK
        os.environ.setdefault("PYSPARK_PYTHON", _python())
        conf.update(local_spark_conf(driver_memory, progress=False, cores=local_cores(master)))
        if not Path(paths.tmp_dir).exists():
            _scratch.append(paths.tmp_dir)
        Path(paths.local_tmp_dir).mkdir(parents=True, exist_ok=True)
        conf.update(quiet_log4j_conf(str(Path(paths.log_file).parent)))
    conf = merge_conf(conf, extra_conf or {})
    log.info(
        "starting Hail (master=%s, tmp=%s, log=%s)",
        master or "the cluster's",
        paths.tmp_dir,
        paths.log_file,
    )
    Path(paths.log_file).parent.mkdir(parents=True, exist_ok=True)
    _init_hail(paths, master, conf, app_name, quiet)
    hl.default_reference(hl.get_reference("GRCh38"))
    spark = _spark_from_hail()
    spark.sparkContext.setLogLevel("ERROR")
    if not str(spark.sparkContext.master).startswith("local"):
        log.info("%s", HARMLESS_NOTICES)
        scratch = tempfile.mkdtemp(prefix="trd-spark-ship-")
        _scratch.append(scratch)
        log.info("trd-spark sent to the executors: %s", ship_package(spark, scratch))
    return spark


def _choose_master(master: str | None) -> str | None:
    """The master to ask Hail for: None to take the cluster's (always under spark-submit)."""
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        if master is not None:
            log.warning(
                "started by spark-submit: using the master it was given, not spark.master=%s "
                "from the config",
                master,
            )
        check_hail_jar()
        return None
    if master is None and cluster_master() is None:
        return "local[*]"
    return master


def _init_hail(
    paths: SessionPaths, master: str | None, conf: dict[str, str], app_name: str, quiet: bool
) -> None:
    """``hl.init``: joining a SparkContext the caller already started, or making one."""
    import hail as hl
    from pyspark import SparkContext

    init_args: dict[str, Any] = {
        "tmp_dir": paths.tmp_dir,
        "local_tmpdir": paths.local_tmp_dir,
        "log": paths.log_file,
        "quiet": quiet,
        "idempotent": True,
    }
    existing = SparkContext._active_spark_context
    if existing is not None:
        log.info("joining the running SparkContext (master %s)", existing.master)
        init_args["sc"] = existing
    else:
        init_args.update(app_name=app_name, spark_conf=conf)
        if master is not None:
            init_args["master"] = master
    with warnings.catch_warnings():
        for message in _PYTHON_NOTICES:
            warnings.filterwarnings("ignore", message=message)
        hl.init(**init_args)


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
