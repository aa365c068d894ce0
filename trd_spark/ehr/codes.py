"""Code lists (``conf/code_lists/*.tsv``) and their matching rules (``docs/phenotypes.md``).

Diagnoses: prefix match, upper case, dots removed, each vocabulary against its
own codes.  Drugs: an RxNorm ingredient or any descendant in
``concept_ancestor``; a combination product maps to every listed ingredient it
contains.  Procedures: exact code match, dots removed.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.errors import InputError
from trd_spark.spark_settings import sql_settings

log = logging.getLogger(__name__)

DIAGNOSIS_GROUPS = ("mdd", "schizophrenia", "bipolar")
DIAGNOSIS_VOCABULARIES = ("ICD10CM", "ICD9CM")
DRUG_GROUPS = ("antidepressant", "esketamine", "antipsychotic")
PROCEDURE_GROUPS = ("ect",)
_COLUMNS = {
    "diagnoses.tsv": ("group", "vocabulary", "code", "label"),
    "drugs.tsv": ("group", "concept_id", "ingredient", "label"),
    "procedures.tsv": ("group", "vocabulary", "code", "label"),
}


@dataclass(frozen=True)
class CodeLists:
    """The three code lists as pandas tables (codes normalised, concept ids possibly null)."""

    diagnoses: pd.DataFrame
    drugs: pd.DataFrame
    procedures: pd.DataFrame


def normalise_code(code: str) -> str:
    """Upper case, dots and spaces removed: ``f32.9`` -> ``F329``."""
    return code.strip().upper().replace(".", "")


def normalise_code_expr(code: Column) -> Column:
    """Spark version of :func:`normalise_code`."""
    return F.upper(F.translate(F.trim(code), ".", ""))


def read_code_list(folder: str, name: str, groups: tuple[str, ...]) -> pd.DataFrame:
    """Read one TSV code list, checking its columns and groups.

    Raises
    ------
    InputError naming the file (and line) that cannot be used.
    """
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise InputError(f"code list {path} not found; copy it from the shipped conf/code_lists")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    missing = [c for c in _COLUMNS[name] if c not in table.columns]
    if missing:
        raise InputError(f"code list {path} lacks column(s) {', '.join(missing)}")
    for line, group in enumerate(table["group"], start=2):
        if group not in groups:
            raise InputError(
                f"code list {path} line {line}: group '{group}' unknown; use one of "
                + ", ".join(groups)
            )
    return table


def read_code_lists(folder: str) -> CodeLists:
    """Read ``diagnoses.tsv``, ``drugs.tsv`` and ``procedures.tsv`` from ``folder``."""
    diagnoses = read_code_list(folder, "diagnoses.tsv", DIAGNOSIS_GROUPS)
    diagnoses = diagnoses.assign(code=diagnoses["code"].map(normalise_code))
    procedures = read_code_list(folder, "procedures.tsv", PROCEDURE_GROUPS)
    procedures = procedures.assign(code=procedures["code"].map(normalise_code))
    drugs = read_code_list(folder, "drugs.tsv", DRUG_GROUPS)
    drugs = drugs.assign(
        concept_id=pd.to_numeric(drugs["concept_id"].replace("", None), errors="raise").astype(
            "Int64"
        ),
        ingredient=drugs["ingredient"].str.strip().str.lower(),
    )
    return CodeLists(diagnoses=diagnoses, drugs=drugs, procedures=procedures)


def resolve_ingredient_ids(
    drugs: pd.DataFrame, concept_df: DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """Fill empty concept ids by ingredient name (RxNorm, class Ingredient) in ``concept``.

    Returns
    -------
    The drug list with only resolved rows, and the names that were not found.
    """
    wanted = sorted(drugs.loc[drugs["concept_id"].isna(), "ingredient"].unique())
    if not wanted:
        return drugs, []
    found = (
        concept_df.where(
            (F.col("vocabulary_id") == "RxNorm")
            & (F.col("concept_class_id") == "Ingredient")
            & F.lower(F.col("concept_name")).isin(wanted)
        )
        .groupBy(F.lower(F.col("concept_name")).alias("ingredient"))
        .agg(F.min("concept_id").alias("found_id"))
        .toPandas()
    )
    merged = drugs.merge(found, on="ingredient", how="left")
    merged["concept_id"] = merged["concept_id"].fillna(merged["found_id"]).astype("Int64")
    missing = sorted(merged.loc[merged["concept_id"].isna(), "ingredient"].unique())
    for name in missing:
        log.warning("code list drugs.tsv: ingredient '%s' not found in concept; not matched", name)
    return merged.dropna(subset=["concept_id"]).drop(columns="found_id"), missing


def ingredient_map_df(
    spark: SparkSession, drugs: pd.DataFrame, concept_ancestor_df: DataFrame
) -> DataFrame:
    """Every drug concept that counts as a listed ingredient: the ingredient or a descendant.

    The descendants of the listed ingredients (a few thousand concepts even in a full
    vocabulary) are collected once, and the map is handed back as a small local table,
    so the queries that join it do not recompute it.

    Returns
    -------
    DataFrame (drug_concept_id long, ingredient_id long, group string), one row per
    concept and listed ingredient it contains.
    """
    listed = drugs[["concept_id", "group"]].astype({"concept_id": "int64"}).drop_duplicates()
    listed = listed.rename(columns={"concept_id": "ingredient_id"})
    ids = [int(i) for i in listed["ingredient_id"].unique()]
    descendants = concept_ancestor_df.where(F.col("ancestor_concept_id").isin(ids)).select(
        F.col("ancestor_concept_id").alias("ingredient_id"),
        F.col("descendant_concept_id").alias("drug_concept_id"),
    )
    if ids:
        pairs = descendants.toPandas().astype("int64")
    else:  # no ingredient resolved: nothing to look up
        pairs = pd.DataFrame({"ingredient_id": [], "drug_concept_id": []}, dtype="int64")
    itself = listed.assign(drug_concept_id=listed["ingredient_id"])
    mapped = pd.concat([itself, pairs.merge(listed, on="ingredient_id")], ignore_index=True)
    mapped = mapped[["drug_concept_id", "ingredient_id", "group"]].drop_duplicates()
    mapped = mapped.astype({"drug_concept_id": "int64", "ingredient_id": "int64", "group": str})
    return local_table_df(spark, mapped, "drug_concept_id long, ingredient_id long, group string")


def local_table_df(spark: SparkSession, frame: pd.DataFrame, schema: str) -> DataFrame:
    """A small table of the driver as a DataFrame, handed over as Arrow data.

    Made from Python rows, the DataFrame would start Python worker processes in every
    query that reads it (about 0.2 s each on 2 cores); Arrow data is decoded in the JVM.
    """
    with sql_settings(spark, {"spark.sql.execution.arrow.pyspark.enabled": "true"}):
        return spark.createDataFrame(frame.reset_index(drop=True), schema)


def diagnosis_match_expr(
    diagnoses: pd.DataFrame, group: str, code: Column, vocab: Column
) -> Column:
    """True when (``code``, ``vocab``) matches a prefix of ``group`` in its own vocabulary.

    One anchored regular expression per vocabulary (``^(?:F32|F33...)``): far cheaper
    per row than one ``startswith`` per listed code.
    """
    match = F.lit(False)
    listed = diagnoses.loc[diagnoses["group"] == group]
    for vocabulary, codes in listed.groupby("vocabulary")["code"]:
        match = match | ((vocab == str(vocabulary)) & code.rlike("^" + prefix_alternatives(codes)))
    return match


ICD10_FIRST_CHARACTER = "[A-DF-UW-Z]"  # a source value starting so is ICD-10-CM, else ICD-9-CM


def prefix_alternatives(codes: pd.Series) -> str:
    """``(?:F32|F33|...)``: a regular expression group matching any of the codes."""
    return "(?:" + "|".join(re.escape(str(c)) for c in sorted(set(codes))) + ")"


def source_value_match_expr(
    diagnoses: pd.DataFrame, groups: tuple[str, ...], code: Column
) -> Column:
    """True when a normalised source value matches a prefix of one of ``groups`` in its
    vocabulary (ICD-10-CM when it starts with a letter other than E or V, else ICD-9-CM).

    One regular expression: the vocabulary is a look-ahead on the first character.
    """
    listed = diagnoses.loc[diagnoses["group"].isin(groups)]
    look_ahead = {"ICD10CM": "?=", "ICD9CM": "?!"}  # first character an ICD-10 one, or not
    branches = [
        f"({look_ahead[str(vocabulary)]}{ICD10_FIRST_CHARACTER})" + prefix_alternatives(codes)
        for vocabulary, codes in listed.groupby("vocabulary")["code"]
        if str(vocabulary) in look_ahead
    ]
    if not branches:
        return F.lit(False)
    return code.rlike("^(?:" + "|".join(branches) + ")")
