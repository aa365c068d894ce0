"""Usable OMOP rows and the events the definitions use (``phenotypes.md``, Events).

Rows that cannot be used are dropped here and counted by reason; rows whose
end date or days supply is ignored by the exposure-end rule are kept and
counted too, so the attrition table accounts for every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.ehr.codes import (
    CodeLists,
    diagnosis_match_expr,
    ingredient_map_df,
    normalise_code_expr,
    source_value_vocabulary_expr,
)

KEPT = "kept: "  # reasons starting with this flag rows that stay in


@dataclass(frozen=True)
class AttritionRow:
    """One line of ``phenotypes/attrition.parquet``."""

    step: str
    n_persons: int
    n_rows_dropped: int
    reason: str


def flag_unusable_rows(
    table_df: DataFrame, person_ids_df: DataFrame, rules: list[tuple[Column, str]]
) -> DataFrame:
    """Add ``_reason``: the first rule a row breaks (unknown person last), else null.

    Parameters
    ----------
    table_df : an OMOP table with ``person_id``.
    person_ids_df : the ``person_id`` values of ``person``.
    rules : (condition, reason) pairs, checked in order; a reason starting with
        ``KEPT`` marks a row that stays in but is counted.
    """
    known_df = person_ids_df.select("person_id", F.lit(True).alias("_known"))
    flagged_df = table_df.join(F.broadcast(known_df), "person_id", "left")
    reason = F.when(F.col("_known").isNull(), F.lit("person_id not in person"))
    for condition, text in rules:
        reason = reason.when(condition, F.lit(text))
    return flagged_df.withColumn("_reason", reason).drop("_known")


def count_reasons(flagged_df: DataFrame, table: str) -> list[AttritionRow]:
    """Count rows and persons per ``_reason`` of a flagged table."""
    counts = (
        flagged_df.where(F.col("_reason").isNotNull())
        .groupBy("_reason")
        .agg(F.count("*").alias("n_rows"), F.countDistinct("person_id").alias("n_persons"))
        .collect()
    )
    rows = []
    for row in sorted(counts, key=lambda r: str(r["_reason"])):
        text = str(row["_reason"])
        kept = text.startswith(KEPT)
        rows.append(
            AttritionRow(
                step=table,
                n_persons=int(row["n_persons"]),
                n_rows_dropped=0 if kept else int(row["n_rows"]),
                reason=f"{text} ({row['n_rows']} rows)" if kept else text,
            )
        )
    return rows


def keep_usable_rows(flagged_df: DataFrame) -> DataFrame:
    """Rows without a dropping reason, ``_reason`` removed."""
    reason = F.col("_reason")
    return flagged_df.where(reason.isNull() | reason.startswith(KEPT)).drop("_reason")


def condition_rules() -> list[tuple[Column, str]]:
    """Why a condition_occurrence row cannot be used."""
    return [(F.col("condition_start_date").isNull(), "condition_start_date missing or unparseable")]


def drug_rules() -> list[tuple[Column, str]]:
    """Why a drug_exposure row cannot be used, or which of its fields is ignored."""
    start, end, supply = (
        F.col("drug_exposure_start_date"),
        F.col("drug_exposure_end_date"),
        F.col("days_supply"),
    )
    return [
        (start.isNull(), "drug_exposure_start_date missing or unparseable"),
        (F.coalesce(F.col("drug_concept_id"), F.lit(0)) == 0, "drug_concept_id is 0 or null"),
        (end < start, KEPT + "end before start; end from days_supply or default"),
        (supply < 0, KEPT + "negative days_supply ignored"),
    ]


def procedure_rules() -> list[tuple[Column, str]]:
    """Why a procedure_occurrence row cannot be used."""
    return [(F.col("procedure_date").isNull(), "procedure_date missing or unparseable")]


def observation_rules() -> list[tuple[Column, str]]:
    """Why an observation_period row cannot be used."""
    start = F.col("observation_period_start_date")
    end = F.col("observation_period_end_date")
    return [
        (end.isNull(), "observation_period_end_date missing or unparseable"),
        (start.isNotNull() & (end < start), "observation period ends before it starts"),
    ]


def diagnosis_events_df(
    condition_df: DataFrame, concept_df: DataFrame, diagnoses: pd.DataFrame
) -> DataFrame:
    """Matching diagnosis rows: (person_id, date, is_mdd, is_scz_bip), one per row.

    The code is the ICD concept code of ``condition_source_concept_id``; when that
    id is 0, null or absent from ``concept``, ``condition_source_value`` is used
    and its vocabulary read from its first character.
    """
    lookup_df = concept_df.select(
        F.col("concept_id").alias("condition_source_concept_id"),
        F.col("concept_code").alias("_code"),
        F.col("vocabulary_id").alias("_vocab"),
    )
    source = normalise_code_expr(F.col("condition_source_value"))
    found = F.col("_vocab").isNotNull() & (F.col("condition_source_concept_id") != 0)
    code = F.when(found, normalise_code_expr(F.col("_code"))).otherwise(source)
    vocab = F.when(found, F.col("_vocab")).otherwise(source_value_vocabulary_expr(source))
    coded_df = condition_df.join(lookup_df, "condition_source_concept_id", "left").select(
        "person_id",
        F.col("condition_start_date").alias("date"),
        code.alias("code"),
        vocab.alias("vocab"),
    )
    is_mdd = diagnosis_match_expr(diagnoses, "mdd", F.col("code"), F.col("vocab"))
    is_other = diagnosis_match_expr(diagnoses, "schizophrenia", F.col("code"), F.col("vocab"))
    is_other = is_other | diagnosis_match_expr(diagnoses, "bipolar", F.col("code"), F.col("vocab"))
    return coded_df.select(
        "person_id", "date", is_mdd.alias("is_mdd"), is_other.alias("is_scz_bip")
    ).where(F.col("is_mdd") | F.col("is_scz_bip"))


def exposure_end_expr(default_exposure_days: int) -> Column:
    """End date: a stated end not before start, else start + days_supply - 1, else the default."""
    start = F.col("drug_exposure_start_date")
    end = F.col("drug_exposure_end_date")
    supply = F.col("days_supply")
    return (
        F.when(end.isNotNull() & (end >= start), end)
        .when(supply > 0, F.date_add(start, (supply - 1).cast("int")))
        .otherwise(F.date_add(start, default_exposure_days - 1))
    )


def drug_events_df(
    spark: SparkSession,
    drug_df: DataFrame,
    concept_ancestor_df: DataFrame,
    code_lists: CodeLists,
    default_exposure_days: int,
) -> DataFrame:
    """Listed-drug exposures: (person_id, group, ingredient_id, start, end), one per ingredient."""
    map_df = ingredient_map_df(spark, code_lists.drugs, concept_ancestor_df)
    return drug_df.join(F.broadcast(map_df), "drug_concept_id").select(
        "person_id",
        "group",
        "ingredient_id",
        F.col("drug_exposure_start_date").alias("start"),
        exposure_end_expr(default_exposure_days).alias("end"),
    )


def ect_concept_ids(concept_df: DataFrame, procedures: pd.DataFrame) -> list[int]:
    """Concept ids whose (vocabulary, code) is a listed ECT code."""
    pairs = [(r.vocabulary, r.code) for r in procedures.itertuples() if r.group == "ect"]
    match = F.lit(False)
    code = normalise_code_expr(F.col("concept_code"))
    for vocabulary, listed in pairs:
        match = match | ((F.col("vocabulary_id") == vocabulary) & (code == listed))
    return [int(r["concept_id"]) for r in concept_df.where(match).select("concept_id").collect()]


def ect_events_df(
    procedure_df: DataFrame, concept_df: DataFrame, procedures: pd.DataFrame
) -> DataFrame:
    """ECT procedures: (person_id, date), matched by concept id or, without a source
    concept, by ``procedure_source_value``."""
    ids = ect_concept_ids(concept_df, procedures)
    codes = sorted({str(c) for c in procedures.loc[procedures["group"] == "ect", "code"]})
    no_source = F.coalesce(F.col("procedure_source_concept_id"), F.lit(0)) == 0
    by_value = no_source & normalise_code_expr(F.col("procedure_source_value")).isin(codes)
    by_concept = F.col("procedure_concept_id").isin(ids) | F.col(
        "procedure_source_concept_id"
    ).isin(ids)
    return procedure_df.where(by_concept | F.coalesce(by_value, F.lit(False))).select(
        "person_id", F.col("procedure_date").alias("date")
    )
