"""The shared test session is the one the session helper makes: local, loopback, no UI."""

from __future__ import annotations

import pytest


@pytest.mark.integration
def test_session_is_local_and_on_loopback(spark) -> None:
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.master").startswith("local")
    assert conf.get("spark.driver.host") == "127.0.0.1"
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.range(10).selectExpr("sum(id)").first()[0] == 45


@pytest.mark.integration
def test_starting_again_returns_the_same_session(spark) -> None:
    from trd_spark.session import start_session

    assert start_session("/nonexistent/ignored", master="local[2]") is spark
