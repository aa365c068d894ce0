"""MDD / TRD definitions, covariates and comparison group sizes (``docs/phenotypes.md``).

The names of the definitions and the group rule are the study's vocabulary
(:mod:`trd_spark.study`); this module computes them on Spark.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.study import (
    COMBINATIONS,
    DEFAULT_GAP_DAYS,
    GROUP_COUNT_COLUMNS,
    GROUP_LABELS,
    GROUPS,
    SWITCHING_DEFAULTS,
    SWITCHING_DEFS,
    TRD_DEFS,
    TREATED_COLUMNS,
    group_masks,
)

SEX_AT_BIRTH = {45878463: "female", 45880669: "male"}
GENDER = {8532: "female", 8507: "male"}


@dataclass(frozen=True)
class Definitions:
    """The numbers of the definitions, as plain values (defaults reproduce the study)."""

    gap_basis: str = "start_to_start"
    default_gap_days: int = DEFAULT_GAP_DAYS
    switching: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(SWITCHING_DEFAULTS))
    min_switch_drugs: int = 3
    default_exposure_days: int = 30
    cutoff_date: dt.date | None = None
    min_mdd_dates_survival: int = 3
    require_ehr: bool = True  # a non-MDD control needs at least one EHR record
    exclude_non_systemic: bool = True  # listed routes / dose forms are not exposures
    # dates outside [earliest_date, latest_date] are impossible (latest None: the run's day)
    earliest_date: dt.date = dt.date(1900, 1, 1)
    latest_date: dt.date | None = None

    @property
    def gap_settings(self) -> list[tuple[str, int]]:
        """Every (gap_basis, gap_days) the outputs hold: both bases, every gap needed."""
        gaps = sorted({self.default_gap_days, *(g for g, _ in self.switching.values())})
        return [(basis, gap) for basis in ("start_to_start", "end_to_start") for gap in gaps]


def sex_expr() -> Column:
    """``female``/``male`` from sex at birth, else from gender; null otherwise."""

    def mapped(column: str, codes: dict[int, str]) -> Column:
        expr = F.lit(None).cast("string")
        for concept_id, label in codes.items():
            expr = F.when(F.col(column) == concept_id, F.lit(label)).otherwise(expr)
        return expr

    return F.coalesce(
        mapped("sex_at_birth_concept_id", SEX_AT_BIRTH), mapped("gender_concept_id", GENDER)
    )


def add_mdd_columns(persons_df: DataFrame, require_ehr: bool = True) -> DataFrame:
    """mdd_1..3 and non_mdd from first_mdd_date, n_mdd_dates, first_scz_bip_date and
    has_ehr: a non-MDD control has no MDD date and, when ``require_ehr``, an EHR record."""
    n_dates = F.col("n_mdd_dates")
    control = n_dates == 0
    if require_ehr:
        control = control & F.col("has_ehr")
    never_other = F.col("first_scz_bip_date").isNull()
    other_after = never_other | (F.col("first_scz_bip_date") > F.col("first_mdd_date"))
    return persons_df.select(
        "*",
        ((n_dates >= 1) & never_other).alias("mdd_1"),
        ((n_dates >= 2) & never_other).alias("mdd_2"),
        ((n_dates >= 1) & other_after).alias("mdd_3"),
        control.alias("non_mdd"),
    )


def add_trd_columns(persons_df: DataFrame) -> DataFrame:
    """trd_1..5 and their onsets, filled only for persons with an MDD date."""
    has_mdd = F.col("n_mdd_dates") >= 1
    onsets = {name: F.col(f"{name}_switch_onset") for name in SWITCHING_DEFS}
    onsets["trd_4"] = F.least(onsets["trd_1"], F.col("first_ect_esk_date"))
    onsets["trd_5"] = F.least(onsets["trd_4"], F.col("first_antipsychotic_date"))
    onset_columns = [F.when(has_mdd, expr).alias(f"{name}_onset") for name, expr in onsets.items()]
    with_onsets_df = persons_df.select("*", *onset_columns)
    return with_onsets_df.select(
        "*", *[F.col(f"{name}_onset").isNotNull().alias(name) for name in TRD_DEFS]
    )


def concept_label_expr(column: str, labels: dict[int, str]) -> Column:
    """The label of ``column``'s concept id, null for an id not in ``labels``."""
    expr = F.lit(None).cast("string")
    for concept_id, text in labels.items():
        expr = F.when(F.col(column) == concept_id, F.lit(text)).otherwise(expr)
    return expr


def add_covariates(
    persons_df: DataFrame,
    cutoff: dt.date | None,
    race_ethnicity: dict[str, dict[int, str]] | None = None,
) -> DataFrame:
    """sex, race, ethnicity, age (at the cutoff year) and age at diagnosis.

    ``race_ethnicity`` maps ``race`` and ``ethnicity`` to {concept id: label}
    (``conf/code_lists/race_ethnicity.tsv``); an id not listed (unknown, skipped,
    prefer not to answer) gives null.
    """
    labels = race_ethnicity or {}
    cutoff_year = F.lit(cutoff.year if cutoff else None).cast("int")
    birth = F.col("year_of_birth").cast("int")
    return persons_df.select(
        "*",
        sex_expr().alias("sex"),
        concept_label_expr("race_concept_id", labels.get("race", {})).alias("race"),
        concept_label_expr("ethnicity_concept_id", labels.get("ethnicity", {})).alias("ethnicity"),
        (cutoff_year - birth).alias("age"),
        (F.year("first_mdd_date") - birth).alias("age_at_diagnosis"),
    )


PERSON_COLUMNS = (
    "person_id", "cohort", "sex", "race", "ethnicity", "year_of_birth", "age",
    "age_at_diagnosis", "first_mdd_date", "n_mdd_dates", "end_of_observation",
    "mdd_1", "mdd_2", "mdd_3", "treated", *TREATED_COLUMNS, "has_ehr", "non_mdd",
    *TRD_DEFS, *(f"{name}_onset" for name in TRD_DEFS),
)  # fmt: skip
PERSON_CONCEPTS = (
    "gender_concept_id", "sex_at_birth_concept_id", "race_concept_id", "ethnicity_concept_id",
)  # fmt: skip


def stack_person_rows(
    person_df: DataFrame,
    diagnosis_df: DataFrame,
    last_line_df: DataFrame,
    observation_df: DataFrame,
) -> DataFrame:
    """Every per-person input but the periods in one table (columns a part lacks are
    null), so one grouping by person (one shuffle) summarises them all; see
    :func:`summarise_person_rows`.

    Parameters
    ----------
    person_df : typed ``person`` rows.
    diagnosis_df : (person_id, date, is_mdd, is_scz_bip) diagnosis events.
    last_line_df : (person_id, ect_esk_date, antipsychotic_date) last-line events.
    observation_df : usable ``observation_period`` rows.
    """
    parts = [
        person_df.select(
            "person_id", "year_of_birth", *PERSON_CONCEPTS, F.lit(True).alias("_in_person")
        ),
        diagnosis_df.select("person_id", F.col("date").alias("dx_date"), "is_mdd", "is_scz_bip"),
        last_line_df,
        observation_df.select("person_id", "observation_period_end_date"),
    ]
    stacked_df = parts[0]
    for part_df in parts[1:]:
        stacked_df = stacked_df.unionByName(part_df, allowMissingColumns=True)
    return stacked_df


def last_line_events_df(ect_df: DataFrame, drug_events_df: DataFrame) -> DataFrame:
    """(person_id, ect_esk_date, antipsychotic_date): ECT, esketamine, antipsychotic starts.

    Esketamine and antipsychotic rows come from one pass over the drug events.
    """
    group, start = F.col("group"), F.col("start")
    drug_dates_df = drug_events_df.where(group.isin("esketamine", "antipsychotic")).select(
        "person_id",
        F.when(group == "esketamine", start).alias("ect_esk_date"),
        F.when(group == "antipsychotic", start).alias("antipsychotic_date"),
    )
    ect_dates_df = ect_df.select("person_id", F.col("date").alias("ect_esk_date"))
    return ect_dates_df.unionByName(drug_dates_df, allowMissingColumns=True)


def capped_expr(date: Column, cutoff: dt.date | None) -> Column:
    """``date`` capped at the cutoff; null stays null (``least`` alone would give the cutoff)."""
    return date if cutoff is None else F.when(date.isNotNull(), F.least(date, F.lit(cutoff)))


def add_mdd_date_columns(stacked_df: DataFrame) -> DataFrame:
    """``first_mdd_date`` on every row of the person, and ``_new_mdd_date`` on the first row
    of each distinct MDD date (windows: the rows stay in place, so last-line events can be
    compared with the first MDD date, and MDD dates counted, in the same grouping)."""
    mdd_date = F.when(F.col("is_mdd"), F.col("dx_date"))
    by_person = Window.partitionBy("person_id")
    in_date_order = by_person.orderBy(mdd_date.asc_nulls_first())
    new_date = mdd_date.isNotNull() & ~F.coalesce(
        F.lag(mdd_date).over(in_date_order) == mdd_date, F.lit(False)
    )
    return stacked_df.select(
        "*",
        F.min(mdd_date)
        .over(in_date_order.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))
        .alias("first_mdd_date"),
        new_date.alias("_new_mdd_date"),
    )


def summarise_person_rows(stacked_df: DataFrame) -> DataFrame:
    """One row per person of ``person``: the summaries the definitions start from, but
    the periods' (see :func:`attach_periods`).

    Only fixed-size aggregates (min, max, count) are used, and the rows are sorted and
    grouped by person once: the windows of :func:`add_mdd_date_columns` partition them,
    and the grouping reuses that partitioning (a distinct count would double the rows).
    Nothing here depends on the periods or on the data cutoff, so the stage computes it
    while the periods are computed.

    Returns
    -------
    DataFrame (person_id, year_of_birth, the ``PERSON_CONCEPTS``, first_mdd_date,
    n_mdd_dates, first_scz_bip_date, first_ect_esk_date, first_antipsychotic_date,
    last_observation_date).  A person listed twice in ``person`` gets the smallest of
    each value.
    """
    dx_date, first_mdd = F.col("dx_date"), F.col("first_mdd_date")

    def on_or_after_mdd(column: str) -> Column:
        return F.min(F.when(F.col(column) >= first_mdd, F.col(column))).alias(f"first_{column}")

    summary_df = (
        stacked_df.transform(add_mdd_date_columns)
        .groupBy("person_id")
        .agg(
            F.max("_in_person").alias("_in_person"),
            *[F.min(c).alias(c) for c in ("year_of_birth", *PERSON_CONCEPTS)],
            F.min(first_mdd).alias("first_mdd_date"),
            F.count(F.when(F.col("_new_mdd_date"), 1)).cast("int").alias("n_mdd_dates"),
            F.min(F.when(F.col("is_scz_bip"), dx_date)).alias("first_scz_bip_date"),
            on_or_after_mdd("ect_esk_date"),
            on_or_after_mdd("antipsychotic_date"),
            F.max("observation_period_end_date").alias("last_observation_date"),
        )
    )
    return summary_df.where(F.col("_in_person")).drop("_in_person")


def attach_periods(
    summary_df: DataFrame, period_persons_df: DataFrame, cutoff: dt.date | None
) -> DataFrame:
    """``summary_df`` with the treated flags and the switching onsets of the periods (false
    and null for a person without periods), and ``end_of_observation`` (the last
    observation date capped at the cutoff).

    Parameters
    ----------
    summary_df : as :func:`summarise_person_rows` returns it.
    period_persons_df : (person_id, treated, treated_<name> ..., <name>_switch_onset ...),
        one row per person
        (:func:`trd_spark.ehr.periods.summarise_persons`).
    cutoff : the data cutoff.
    """
    joined_df = summary_df.join(period_persons_df, "person_id", "left")
    flags = ("treated", *TREATED_COLUMNS)
    return joined_df.select(
        *[c for c in joined_df.columns if c not in (*flags, "last_observation_date")],
        *[F.coalesce(F.col(c), F.lit(False)).alias(c) for c in flags],
        capped_expr(F.col("last_observation_date"), cutoff).alias("end_of_observation"),
    )


def attach_cohorts(summary_df: DataFrame, cohorts_df: DataFrame | None) -> DataFrame:
    """``summary_df`` with each person's ``cohort`` (null without one, or without cohorts).

    Joined after the grouping by person: a string aggregate in that grouping would make
    Spark sort every row instead of hashing it.
    """
    if cohorts_df is None:
        return summary_df.withColumn("cohort", F.lit(None).cast("string"))
    return summary_df.join(
        F.broadcast(cohorts_df.select("person_id", "cohort")), "person_id", "left"
    )


def build_persons(
    summary_df: DataFrame,
    cutoff: dt.date | None,
    cohorts_df: DataFrame | None = None,
    require_ehr: bool = True,
    race_ethnicity: dict[str, dict[int, str]] | None = None,
) -> DataFrame:
    """Every definition column from the per-person summaries (``PERSON_COLUMNS``).

    Parameters
    ----------
    summary_df : as :func:`attach_periods` returns it (with ``has_ehr``).
    cutoff : the data cutoff (age is its year minus year of birth).
    cohorts_df : (person_id, cohort), one row per person, or None.
    require_ehr : a non-MDD control needs an EHR record.
    race_ethnicity : labels of the race and ethnicity concepts (:func:`add_covariates`).
    """
    return (
        summary_df.transform(lambda df: attach_cohorts(df, cohorts_df))
        .transform(lambda df: add_mdd_columns(df, require_ehr))
        .transform(add_trd_columns)
        .transform(lambda df: add_covariates(df, cutoff, race_ethnicity))
        .select(*PERSON_COLUMNS)
    )


def pandas_flag(persons: pd.DataFrame) -> Callable[[str], pd.Series]:
    """A persons column as a boolean flag, missing values false (for ``study.group_masks``)."""
    return lambda column: persons[column].fillna(False).astype(bool)


def comparison_groups_pandas(persons: pd.DataFrame, trd_def: str, trmdd_def: str) -> pd.Series:
    """Each person's group label (``TRD`` / ``trMDD`` / ``non-MDD``, or None) in one
    comparison, from a collected persons table."""
    masks = group_masks(pandas_flag(persons), trd_def, trmdd_def)
    group = pd.Series([None] * len(persons), index=persons.index, dtype=object)
    for name in GROUPS:  # later groups win: a TRD person is never labelled trMDD
        group[masks[name]] = GROUP_LABELS[name]
    return group


def group_sizes_pandas(persons: pd.DataFrame) -> pd.DataFrame:
    """Counts per cohort (and ``all``) for the 15 comparisons, from a collected persons table.

    Returns
    -------
    pandas DataFrame (cohort, trd_def, trmdd_def, n_trd, n_trmdd, n_non_mdd), sorted.
    """

    @functools.cache
    def flag(column: str) -> np.ndarray:
        return persons[column].fillna(False).to_numpy(dtype=bool)

    cohort = persons["cohort"].astype(object).where(persons["cohort"].notna(), "(none)")
    codes, names = pd.factorize(cohort)

    def per_cohort(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes[mask], minlength=len(names))

    count_columns = list(GROUP_COUNT_COLUMNS.values())
    rows = []
    for trd_def, trmdd_def in COMBINATIONS:
        masks = group_masks(flag, trd_def, trmdd_def)
        counts = np.stack([per_cohort(masks[group]) for group in GROUP_COUNT_COLUMNS])
        rows += [(name, trd_def, trmdd_def, *counts[:, i]) for i, name in enumerate(names)]
        rows.append(("all", trd_def, trmdd_def, *counts.sum(axis=1)))
    sizes = pd.DataFrame(rows, columns=["cohort", "trd_def", "trmdd_def", *count_columns])
    sizes = sizes.astype({c: "int64" for c in count_columns})
    return sizes.sort_values(["cohort", "trd_def", "trmdd_def"]).reset_index(drop=True)
