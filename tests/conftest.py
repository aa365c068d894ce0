"""Shared fixtures: Hail starts once per test session, on loopback, through the session helper."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The Spark session Hail runs on (local[2], no UI, loopback only)."""
    from trd_spark.session import start_session, stop_session

    out = tmp_path_factory.mktemp("hail-session")
    session = start_session(
        str(out),
        master="local[2]",
        driver_memory="4g",
        extra_conf={"spark.sql.shuffle.partitions": "4"},
    )
    yield session
    stop_session()


@pytest.fixture(scope="session")
def tiny_study(spark: object, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny simulated study (seed 7), written once per test session; returns its folder."""
    from trd_spark.simulate.study import simulate_study

    out = tmp_path_factory.mktemp("tiny-study")
    simulate_study(str(out), scale="tiny", seed=7, export=("vcf", "plink"), overwrite=True)
    return out
