"""The phenotype job as lazy DataFrames in one call, for tests that check its outputs
directly (the stage itself writes the periods first: :func:`trd_spark.ehr.stage.run_phenotype`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from trd_spark.ehr import definitions as defs
from trd_spark.ehr import events as ev
from trd_spark.ehr.codes import CodeLists
from trd_spark.ehr.phenotypes import (
    clean_tables,
    count_attrition,
    look_up_codes,
    plan_phenotypes,
    plausible_dates,
)
from trd_spark.ehr.survival import time_to_event


@dataclass
class PhenotypeResult:
    """What the phenotype job produces (DataFrames are lazy)."""

    persons_df: DataFrame
    periods_df: DataFrame
    attrition: list[ev.AttritionRow]
    cutoff_date: dt.date | None
    min_mdd_dates_survival: int

    def time_to_event(self) -> pd.DataFrame:
        """The time-to-event rows (:func:`trd_spark.ehr.survival.time_to_event`), from
        the persons collected to the driver."""
        return time_to_event(self.persons_df.toPandas(), self.min_mdd_dates_survival)


def compute_phenotypes(
    spark: SparkSession,
    tables: dict[str, DataFrame],
    code_lists: CodeLists,
    definitions: defs.Definitions,
    cohorts_df: DataFrame | None = None,
) -> PhenotypeResult:
    """Every definition of ``docs/phenotypes.md`` as lazy DataFrames, the attrition counted.

    For tests: the persons are computed from the lazy periods, so
    reading both recomputes the periods.  The stage writes the periods first and builds
    the persons from the written ones (:func:`trd_spark.ehr.stage.run_phenotype`).
    Parameters as :func:`plan_phenotypes`, with the typed OMOP ``tables`` and the
    ``code_lists`` as read (:func:`trd_spark.ehr.codes.read_code_lists`) instead.
    """
    lookups = look_up_codes(spark, tables, code_lists, definitions.exclude_non_systemic)
    clean = clean_tables(tables, plausible_dates(definitions))
    counts, cutoff = count_attrition(clean, definitions, lookups)
    plan = plan_phenotypes(clean, lookups, definitions, cohorts_df)
    persons_df = plan.persons_df(plan.periods_df, plan.summary_df, cutoff)
    attrition = counts + lookups.attrition
    return PhenotypeResult(
        persons_df, plan.periods_df, attrition, cutoff, definitions.min_mdd_dates_survival
    )
