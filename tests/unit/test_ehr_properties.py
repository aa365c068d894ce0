"""Spark phenotypes == the one-person-at-a-time reference, on random histories.

Each hypothesis example is a batch of hundreds of persons run through ONE Spark
job, so thousands of histories cost a handful of Spark runs.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, Phase, given, settings

from tests.helpers.phenotype_job import compute_phenotypes
from tests.reference.ehr_histories import histories, write_omop
from tests.reference.phenotypes_reference import Settings, reference_phenotypes
from trd_spark.ehr.codes import read_code_lists
from trd_spark.ehr.definitions import Definitions
from trd_spark.ehr.omop import read_omop
from trd_spark.resources import conf_path

CODE_LISTS = str(conf_path("code_lists"))


def plain(value: Any) -> Any:
    """One comparable Python value (None for every kind of missing)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, (dt.date, str, bool)):
        return value
    if hasattr(value, "item"):
        return plain(value.item())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def assert_same_rows(got: pd.DataFrame, want: pd.DataFrame, key: str = "person_id") -> None:
    """Every column of ``want`` equal in ``got``, row by row after sorting by ``key``."""
    assert len(got) == len(want)
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    for column in want.columns:
        g = [plain(v) for v in got[column]]
        w = [plain(v) for v in want[column]]
        bad = [(got[key][i], g[i], w[i]) for i in range(len(w)) if g[i] != w[i]]
        assert not bad, (
            f"column {column}: {len(bad)} differ, first (id, spark, reference): {bad[:3]}"
        )


def run_spark(spark: Any, tables: dict[str, pd.DataFrame], basis: str) -> tuple[pd.DataFrame, ...]:
    with tempfile.TemporaryDirectory() as root:
        write_omop(tables, root)
        result = compute_phenotypes(
            spark, read_omop(spark, root), read_code_lists(CODE_LISTS), Definitions(gap_basis=basis)
        )
        persons = result.persons_df.toPandas()
        tte = result.time_to_event()
    return persons, tte


def check_batch(spark: Any, tables: dict[str, pd.DataFrame], basis: str) -> None:
    persons, tte = run_spark(spark, tables, basis)
    want_persons, want_tte = reference_phenotypes(tables, CODE_LISTS, Settings(gap_basis=basis))
    assert_same_rows(persons.drop(columns=["cohort"]), want_persons)
    assert_same_rows(tte, want_tte)


NO_SHRINK = dict(
    deadline=None,
    derandomize=True,
    # shrinking a batch would rerun Spark hundreds of times; the failure message names
    # the persons that differ instead
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


@settings(max_examples=2, **NO_SHRINK)  # type: ignore[arg-type]
@given(tables=histories(700, 900))
def test_spark_matches_reference_start_to_start(
    spark: Any, tables: dict[str, pd.DataFrame]
) -> None:
    check_batch(spark, tables, "start_to_start")


@settings(max_examples=1, **NO_SHRINK)  # type: ignore[arg-type]
@given(tables=histories(700, 900))
def test_spark_matches_reference_end_to_start(spark: Any, tables: dict[str, pd.DataFrame]) -> None:
    check_batch(spark, tables, "end_to_start")
