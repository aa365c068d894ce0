"""Code lists (``conf/code_lists/*.tsv``) and their matching rules (``docs/phenotypes.md``).

Diagnoses: prefix match, upper case, dots removed, each vocabulary against its
own codes.  Drugs: an RxNorm ingredient or any descendant in
``concept_ancestor``; a combination product maps to every listed ingredient it
contains; antidepressant rows of a listed non-systemic route or dose form
(``drug_forms.tsv``) are not exposures.  Procedures: exact code match, dots removed.
Race and ethnicity: concept id -> text (``race_ethnicity.tsv``).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

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
FORM_KINDS = ("route", "dose_form")  # drug_forms.tsv: a route concept, or a dose form by name
DEMOGRAPHIC_COLUMNS = ("race", "ethnicity")
ANY_INGREDIENT = "*"  # drug_forms.tsv: the rule holds for every antidepressant
_COLUMNS = {
    "diagnoses.tsv": ("group", "vocabulary", "code", "label"),
    "drugs.tsv": ("group", "concept_id", "ingredient", "label"),
    "procedures.tsv": ("group", "vocabulary", "code", "label"),
    "drug_forms.tsv": ("group", "ingredient", "concept_id", "name", "label"),
    "race_ethnicity.tsv": ("group", "concept_id", "label"),
}


@dataclass(frozen=True)
class CodeLists:
    """The code lists as pandas tables (codes normalised, concept ids possibly null)."""

    diagnoses: pd.DataFrame
    drugs: pd.DataFrame
    procedures: pd.DataFrame
    # group (route / dose_form), ingredient (name or '*'), concept_id, name, label
    drug_forms: pd.DataFrame = field(default_factory=lambda: empty_list("drug_forms.tsv"))
    # group (race / ethnicity), concept_id, label
    race_ethnicity: pd.DataFrame = field(default_factory=lambda: empty_list("race_ethnicity.tsv"))


def empty_list(name: str) -> pd.DataFrame:
    """A code list without rows (no exclusion, no label)."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS[name]})


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
    forms = read_code_list(folder, "drug_forms.tsv", FORM_KINDS)
    forms = forms.assign(
        concept_id=pd.to_numeric(forms["concept_id"].replace("", None)).astype("Int64"),
        ingredient=forms["ingredient"].str.strip().str.lower(),
        name=forms["name"].str.strip().str.lower(),
    )
    demography = read_code_list(folder, "race_ethnicity.tsv", DEMOGRAPHIC_COLUMNS)
    demography = demography.assign(
        concept_id=pd.to_numeric(demography["concept_id"]).astype("int64")
    )
    return CodeLists(diagnoses, drugs, procedures, forms, demography)


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


def ingredient_pairs(drugs: pd.DataFrame, concept_ancestor_df: DataFrame) -> pd.DataFrame:
    """Every drug concept that counts as a listed ingredient: the ingredient or a descendant.

    The descendants of the listed ingredients (a few thousand concepts even in a full
    vocabulary) are collected once.

    Returns
    -------
    pandas DataFrame (drug_concept_id, ingredient_id, group), one row per concept and
    listed ingredient it contains.
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
    return mapped.astype({"drug_concept_id": "int64", "ingredient_id": "int64", "group": str})


MAP_SCHEMA = "drug_concept_id long, ingredient_id long, group string, form_reason string"


def ingredient_map_df(
    spark: SparkSession, pairs: pd.DataFrame, form_reasons: pd.DataFrame | None = None
) -> DataFrame:
    """:func:`ingredient_pairs` with the reason a drug concept's dose form is not an
    exposure (``form_reason``, null when it is), as a small local table.

    Parameters
    ----------
    spark : the session.
    pairs : :func:`ingredient_pairs`.
    form_reasons : (drug_concept_id, ingredient_id, form_reason) from
        :func:`dose_form_reasons`, or None.
    """
    mapped = pairs.assign(form_reason=None)
    if form_reasons is not None and len(form_reasons):
        mapped = pairs.merge(form_reasons, on=["drug_concept_id", "ingredient_id"], how="left")
    reasons = [None if pd.isna(r) else str(r) for r in mapped["form_reason"]]
    mapped = mapped.assign(form_reason=pd.Series(reasons, index=mapped.index, dtype=object))
    return local_table_df(
        spark, mapped[["drug_concept_id", "ingredient_id", "group", "form_reason"]], MAP_SCHEMA
    )


def form_rules(forms: pd.DataFrame, drugs: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The ``kind`` rows of ``drug_forms.tsv`` with ``ingredient_id`` (-1: every
    antidepressant); a rule naming an ingredient that is not a listed antidepressant holds
    for nothing and is logged."""
    ids = {
        str(name): int(cid)
        for name, cid, group in zip(
            drugs["ingredient"], drugs["concept_id"], drugs["group"], strict=True
        )
        if group == "antidepressant" and pd.notna(cid)
    }
    rules = forms.loc[forms["group"] == kind].copy()
    unknown = sorted(set(rules["ingredient"]) - set(ids) - {ANY_INGREDIENT})
    for name in unknown:
        log.warning(
            "code list drug_forms.tsv: '%s' is not a listed antidepressant; rule unused", name
        )
    rules = rules.loc[rules["ingredient"].isin([*ids, ANY_INGREDIENT])]
    return rules.assign(ingredient_id=rules["ingredient"].map(lambda n: ids.get(n, -1)))


def route_exclusions(
    forms: pd.DataFrame, drugs: pd.DataFrame, concept_df: DataFrame
) -> pd.DataFrame:
    """(ingredient_id, route_concept_id, label) of the routes that are not an exposure.

    A route row without a concept id is looked up by name among the concepts of domain
    ``Route`` (every concept of that name counts).
    """
    rules = form_rules(forms, drugs, "route")
    wanted = sorted(set(rules.loc[rules["concept_id"].isna(), "name"]))
    found = pd.DataFrame({"name": [], "found_id": []})
    if wanted:
        found = (
            concept_df.where(
                (F.col("domain_id") == "Route") & F.lower(F.col("concept_name")).isin(wanted)
            )
            .select(
                F.lower(F.col("concept_name")).alias("name"), F.col("concept_id").alias("found_id")
            )
            .toPandas()
        )
    merged = rules.merge(found, on="name", how="left")
    merged["route_concept_id"] = (
        merged["concept_id"].astype("Float64").fillna(merged["found_id"].astype("Float64"))
    )
    merged = merged.dropna(subset=["route_concept_id"])
    return merged.astype({"route_concept_id": "int64", "ingredient_id": "int64"})[
        ["ingredient_id", "route_concept_id", "label"]
    ].drop_duplicates()


def dose_form_reasons(
    forms: pd.DataFrame,
    drugs: pd.DataFrame,
    pairs: pd.DataFrame,
    concept_df: DataFrame,
    relationship_df: DataFrame,
) -> pd.DataFrame:
    """(drug_concept_id, ingredient_id, form_reason) of the antidepressant concepts whose
    dose form (``concept_relationship`` 'RxNorm has dose form') is a listed one.

    Dose forms are listed by concept id or by name (concepts of class ``Dose Form``).
    """
    rules = form_rules(forms, drugs, "dose_form")
    drug_ids = [
        int(i) for i in pairs.loc[pairs["group"] == "antidepressant", "drug_concept_id"].unique()
    ]
    columns = ["drug_concept_id", "ingredient_id", "form_reason"]
    if rules.empty or not drug_ids:
        return pd.DataFrame({c: [] for c in columns})
    form_df = concept_df.where(F.col("concept_class_id") == "Dose Form").select(
        F.col("concept_id").alias("concept_id_2"), F.lower(F.col("concept_name")).alias("name")
    )
    has_form = relationship_df.where(
        (F.col("relationship_id") == "RxNorm has dose form") & F.col("concept_id_1").isin(drug_ids)
    ).select(F.col("concept_id_1").alias("drug_concept_id"), "concept_id_2")
    found = has_form.join(form_df, "concept_id_2").toPandas()
    by_name = rules.merge(found, on="name")
    with_id = rules.dropna(subset=["concept_id"]).astype({"concept_id": "int64"})
    by_id = with_id.drop(columns="name").merge(found, left_on="concept_id", right_on="concept_id_2")
    hits = pd.concat([by_name, by_id], ignore_index=True)
    if hits.empty:
        return pd.DataFrame({c: [] for c in columns})
    hits = hits.rename(columns={"ingredient_id": "rule_ingredient"})
    joined = hits.merge(pairs.loc[pairs["group"] == "antidepressant"], on="drug_concept_id")
    joined = joined.loc[
        (joined["rule_ingredient"] == -1) | (joined["rule_ingredient"] == joined["ingredient_id"])
    ]
    joined = joined.sort_values("label").drop_duplicates(["drug_concept_id", "ingredient_id"])
    return joined.rename(columns={"label": "form_reason"})[columns].astype(
        {"drug_concept_id": "int64", "ingredient_id": "int64"}
    )


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
