"""MDD / TRD definitions, covariates and comparison groups (``phenotypes.md``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

SEX_AT_BIRTH = {45878463: "female", 45880669: "male"}
GENDER = {8532: "female", 8507: "male"}
TRD_DEFS = ("trd_1", "trd_2", "trd_3", "trd_4", "trd_5")
TRMDD_DEFS = ("trmdd_1", "trmdd_2", "trmdd_3")
SWITCHING_DEFS = ("trd_1", "trd_2", "trd_3")


@dataclass(frozen=True)
class Definitions:
    """The numbers of the definitions, as plain values (defaults reproduce the study)."""

    gap_basis: str = "start_to_start"
    default_gap_days: int = 182
    switching: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"trd_1": (182, 365), "trd_2": (91, 365), "trd_3": (182, 730)}
    )
    min_switch_drugs: int = 3
    default_exposure_days: int = 30
    cutoff_date: dt.date | None = None
    min_mdd_dates_survival: int = 3

    @property
    def gap_settings(self) -> list[tuple[str, int]]:
        """Every (gap_basis, gap_days) the outputs hold: both bases, every gap needed."""
        gaps = sorted({self.default_gap_days, *(g for g, _ in self.switching.values())})
        return [(basis, gap) for basis in ("start_to_start", "end_to_start") for gap in gaps]


def diagnosis_summary(diagnosis_df: DataFrame) -> DataFrame:
    """(person_id, first_mdd_date, n_mdd_dates, first_scz_bip_date) from diagnosis events."""
    return diagnosis_df.groupBy("person_id").agg(
        F.min(F.when(F.col("is_mdd"), F.col("date"))).alias("first_mdd_date"),
        F.countDistinct(F.when(F.col("is_mdd"), F.col("date"))).alias("n_mdd_dates"),
        F.min(F.when(F.col("is_scz_bip"), F.col("date"))).alias("first_scz_bip_date"),
    )


def last_line_dates(
    diagnosis_summary_df: DataFrame, ect_df: DataFrame, drug_events_df: DataFrame
) -> DataFrame:
    """(person_id, first_ect_esk_date, first_antipsychotic_date) on or after the first MDD date."""
    esketamine_df = drug_events_df.where(F.col("group") == "esketamine").select(
        "person_id", F.col("start").alias("date"), F.lit("ect_esk").alias("kind")
    )
    antipsychotic_df = drug_events_df.where(F.col("group") == "antipsychotic").select(
        "person_id", F.col("start").alias("date"), F.lit("antipsychotic").alias("kind")
    )
    events_df = ect_df.select("person_id", "date", F.lit("ect_esk").alias("kind"))
    events_df = events_df.unionByName(esketamine_df).unionByName(antipsychotic_df)
    first_df = diagnosis_summary_df.where(F.col("first_mdd_date").isNotNull()).select(
        "person_id", "first_mdd_date"
    )
    after_df = events_df.join(first_df, "person_id").where(F.col("date") >= F.col("first_mdd_date"))
    return after_df.groupBy("person_id").agg(
        F.min(F.when(F.col("kind") == "ect_esk", F.col("date"))).alias("first_ect_esk_date"),
        F.min(F.when(F.col("kind") == "antipsychotic", F.col("date"))).alias(
            "first_antipsychotic_date"
        ),
    )


def end_of_observation(observation_df: DataFrame, cutoff: dt.date | None) -> DataFrame:
    """(person_id, end_of_observation): latest period end, capped at the cutoff."""
    latest = F.max("observation_period_end_date")
    capped = latest if cutoff is None else F.least(latest, F.lit(cutoff))
    return observation_df.groupBy("person_id").agg(capped.alias("end_of_observation"))


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


def add_mdd_columns(persons_df: DataFrame) -> DataFrame:
    """mdd_1..3 and non_mdd from first_mdd_date, n_mdd_dates and first_scz_bip_date."""
    n_dates = F.col("n_mdd_dates")
    never_other = F.col("first_scz_bip_date").isNull()
    other_after = never_other | (F.col("first_scz_bip_date") > F.col("first_mdd_date"))
    return persons_df.select(
        "*",
        ((n_dates >= 1) & never_other).alias("mdd_1"),
        ((n_dates >= 2) & never_other).alias("mdd_2"),
        ((n_dates >= 1) & other_after).alias("mdd_3"),
        (n_dates == 0).alias("non_mdd"),
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


def add_covariates(persons_df: DataFrame, cutoff: dt.date | None) -> DataFrame:
    """sex, age (at the cutoff year) and age at diagnosis."""
    cutoff_year = F.lit(cutoff.year if cutoff else None).cast("int")
    birth = F.col("year_of_birth").cast("int")
    return persons_df.select(
        "*",
        sex_expr().alias("sex"),
        (cutoff_year - birth).alias("age"),
        (F.year("first_mdd_date") - birth).alias("age_at_diagnosis"),
    )


PERSON_COLUMNS = (
    "person_id", "cohort", "sex", "year_of_birth", "age", "age_at_diagnosis",
    "first_mdd_date", "n_mdd_dates", "end_of_observation", "mdd_1", "mdd_2", "mdd_3",
    "treated", "non_mdd",
    *TRD_DEFS, *(f"{name}_onset" for name in TRD_DEFS),
)  # fmt: skip


def build_persons(
    person_df: DataFrame,
    per_person: list[DataFrame],
    cohorts_df: DataFrame | None,
    cutoff: dt.date | None,
) -> DataFrame:
    """One row per person of ``person`` with every definition column.

    Parameters
    ----------
    person_df : typed ``person`` table (unique person_id).
    per_person : per-person summaries to join (diagnoses, switching, treated, last line,
        end of observation).
    cohorts_df : (person_id, cohort) or None.
    cutoff : the data cutoff (age is its year minus year of birth).
    """
    persons_df = person_df
    for summary_df in per_person:
        persons_df = persons_df.join(summary_df, "person_id", "left")
    if cohorts_df is not None:
        persons_df = persons_df.join(cohorts_df, "person_id", "left")
    else:
        persons_df = persons_df.withColumn("cohort", F.lit(None).cast("string"))
    persons_df = persons_df.fillna({"n_mdd_dates": 0, "treated": False})
    return (
        persons_df.transform(add_mdd_columns)
        .transform(add_trd_columns)
        .transform(lambda df: add_covariates(df, cutoff))
        .select(*PERSON_COLUMNS)
        .withColumn("n_mdd_dates", F.col("n_mdd_dates").cast("int"))
    )


def _check_combination(trd_def: str, trmdd_def: str) -> str:
    if trd_def not in TRD_DEFS or trmdd_def not in TRMDD_DEFS:
        raise ValueError(
            f"comparison ({trd_def}, {trmdd_def}) unknown; trd_def is one of "
            f"{', '.join(TRD_DEFS)} and trmdd_def one of {', '.join(TRMDD_DEFS)}"
        )
    return "mdd_" + trmdd_def.rsplit("_", 1)[1]


def comparison_group_expr(trd_def: str, trmdd_def: str) -> Column:
    """``TRD``, ``trMDD``, ``non-MDD`` or null for one comparison (``phenotypes.md`` Groups)."""
    mdd = F.col(_check_combination(trd_def, trmdd_def))
    trd = F.col(trd_def)
    return (
        F.when(mdd & trd, F.lit("TRD"))
        .when(mdd & F.col("treated") & ~trd, F.lit("trMDD"))
        .when(F.col("non_mdd"), F.lit("non-MDD"))
        .otherwise(F.lit(None).cast("string"))
    )


def comparison_groups(persons_df: DataFrame, trd_def: str, trmdd_def: str) -> DataFrame:
    """``persons_df`` with a ``group`` column for the comparison (trd_def, trmdd_def)."""
    return persons_df.withColumn("group", comparison_group_expr(trd_def, trmdd_def))


def comparison_groups_pandas(persons: pd.DataFrame, trd_def: str, trmdd_def: str) -> pd.Series:
    """Pandas version: a Series of ``TRD`` / ``trMDD`` / ``non-MDD`` / None per row."""
    mdd = persons[_check_combination(trd_def, trmdd_def)].fillna(False).astype(bool)
    trd = persons[trd_def].fillna(False).astype(bool)
    treated = persons["treated"].fillna(False).astype(bool)
    non_mdd = persons["non_mdd"].fillna(False).astype(bool)
    group = pd.Series([None] * len(persons), index=persons.index, dtype=object)
    group[non_mdd] = "non-MDD"
    group[mdd & treated & ~trd] = "trMDD"
    group[mdd & trd] = "TRD"
    return group


def group_sizes(persons_df: DataFrame) -> DataFrame:
    """Counts per cohort (and ``all``) for the 15 comparisons:
    cohort, trd_def, trmdd_def, n_trd, n_trmdd, n_non_mdd."""
    labels = [
        F.struct(
            F.lit(trd).alias("trd_def"),
            F.lit(trmdd).alias("trmdd_def"),
            comparison_group_expr(trd, trmdd).alias("group"),
        )
        for trd in TRD_DEFS
        for trmdd in TRMDD_DEFS
    ]
    long_df = persons_df.select(
        F.coalesce(F.col("cohort"), F.lit("(none)")).alias("cohort"),
        F.explode(F.array(*labels)).alias("_c"),
    )
    counted = [
        F.sum((F.col("_c.group") == g).cast("int")).cast("long").alias(name)
        for g, name in (("TRD", "n_trd"), ("trMDD", "n_trmdd"), ("non-MDD", "n_non_mdd"))
    ]
    by_cohort_df = long_df.groupBy("cohort", "_c.trd_def", "_c.trmdd_def").agg(*counted)
    all_df = long_df.groupBy(F.lit("all").alias("cohort"), "_c.trd_def", "_c.trmdd_def").agg(
        *counted
    )
    return by_cohort_df.unionByName(all_df).fillna(0)
