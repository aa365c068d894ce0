"""The session helper: where scratch goes, and how a cluster is recognised."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trd_spark.session import (
    JAVA_OPTIONS_KEY,
    cluster_master,
    local_cores,
    local_spark_conf,
    merge_conf,
    quiet_log4j_conf,
    session_paths,
)


def test_scratch_and_log_live_under_the_output_dir(tmp_path: Path) -> None:
    paths = session_paths(str(tmp_path / "run"))
    assert paths.tmp_dir == str(tmp_path / "run" / "_tmp")
    assert paths.local_tmp_dir.startswith(paths.tmp_dir)
    assert paths.log_file == str(tmp_path / "run" / "logs" / "hail.log")


def test_remote_output_keeps_local_scratch_local() -> None:
    paths = session_paths("gs://bucket/run/")
    assert paths.tmp_dir == "gs://bucket/run/_tmp"
    assert not paths.local_tmp_dir.startswith("gs://")
    assert not paths.log_file.startswith("gs://")


def test_local_mode_is_loopback_only_without_ui() -> None:
    conf = local_spark_conf("4g")
    assert conf["spark.driver.host"] == "127.0.0.1"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.driver.memory"] == "4g"
    assert conf["spark.ui.showConsoleProgress"] == "false"
    assert local_spark_conf("4g", progress=True)["spark.ui.showConsoleProgress"] == "true"


def test_local_shuffles_get_two_partitions_per_core() -> None:
    assert [local_cores(m) for m in ("local", "local[3]", "local[4, 2]")] == [1, 3, 4]
    assert local_cores("local[*]") == (os.cpu_count() or 1)
    assert local_spark_conf("4g", cores=3)["spark.sql.shuffle.partitions"] == "6"


def test_jvm_flags_of_the_config_come_after_the_local_defaults(tmp_path: Path) -> None:
    local = quiet_log4j_conf(str(tmp_path))
    assert local[JAVA_OPTIONS_KEY].split() == [
        f"-Dlog4j2.configurationFile=file:{tmp_path / 'log4j2.properties'}",
        "-XX:TieredStopAtLevel=1",
    ]
    merged = merge_conf(local, {JAVA_OPTIONS_KEY: "-XX:TieredStopAtLevel=4", "a": "b"})
    assert merged[JAVA_OPTIONS_KEY].split()[1:] == [
        "-XX:TieredStopAtLevel=1",
        "-XX:TieredStopAtLevel=4",
    ]
    assert merged["a"] == "b"
    assert merge_conf({"a": "1"}, {JAVA_OPTIONS_KEY: "-Xss4m"}) == {
        "a": "1",
        JAVA_OPTIONS_KEY: "-Xss4m",
    }


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("PYSPARK_GATEWAY_PORT", "SPARK_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    if Path("/etc/spark/conf/spark-defaults.conf").exists():
        pytest.fail("this machine has /etc/spark/conf; the test expects a plain machine")
    return tmp_path


def test_plain_machine_has_no_cluster(no_cluster: Path) -> None:
    assert cluster_master() is None


def test_spark_defaults_of_a_cluster_are_found(no_cluster: Path) -> None:
    (no_cluster / "spark-defaults.conf").write_text("spark.executor.cores 4\nspark.master  yarn\n")
    assert cluster_master() == "yarn"


def test_spark_submit_is_recognised(no_cluster: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40000")
    assert cluster_master() == "submitted"
