"""Usable OMOP rows and the events the definitions use (``docs/phenotypes.md``, Events).

Rows that cannot be used are dropped here and counted by reason; rows whose
end date or days supply is ignored by the exposure-end rule are kept and
counted too, so the attrition table accounts for every row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.ehr.codes import (
    DIAGNOSIS_VOCABULARIES,
    diagnosis_match_expr,
    normalise_code_expr,
    source_value_match_expr,
)

KEPT = "kept: "  # reasons starting with this flag rows that stay in
EARLIEST_PLAUSIBLE_DATE = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class AttritionRow:
    """One line of ``phenotypes/attrition.parquet``."""

    step: str
    n_persons: int
    n_rows_dropped: int
    reason: str


@dataclass(frozen=True)
class PlausibleDates:
    """The dates a record can hold: from ``earliest`` to ``latest``, both included.

    A date outside is impossible (a typo, a placeholder such as 1800-01-01 or
    2999-12-31) and its row is unusable like an unparseable one.  ``latest`` is the
    day the job runs unless given: nothing recorded can have happened later.
    Drug exposure end dates are not checked (a supply can run past the data cutoff).
    """

    earliest: dt.date = EARLIEST_PLAUSIBLE_DATE
    latest: dt.date | None = None

    @property
    def last(self) -> dt.date:
        """``latest``, or today (UTC) when not given."""
        return self.latest or dt.datetime.now(dt.UTC).date()

    def outside_expr(self, date: Column) -> Column:
        """True when ``date`` is before ``earliest`` or after ``latest`` (null stays null)."""
        return (date < F.lit(self.earliest)) | (date > F.lit(self.last))

    def reason(self, column: str) -> str:
        """The attrition reason of a row whose ``column`` is outside the range."""
        return f"{column} implausible (before {self.earliest} or after {self.last})"


def first_broken_rule_expr(rules: list[tuple[Column, str]]) -> Column:
    """The reason text of the first rule a row breaks, else null."""
    reason = F.lit(None).cast("string")
    for condition, text in reversed(rules):
        reason = F.when(condition, F.lit(text)).otherwise(reason)
    return reason


UNKNOWN_PERSON = "person_id not in person"


def usable_expr(reason: Column) -> Column:
    """True for a row that stays in: no reason, or a ``KEPT`` one."""
    return reason.isNull() | reason.startswith(KEPT)


def with_known_person_flag(table_df: DataFrame, person_ids_df: DataFrame) -> DataFrame:
    """``table_df`` with ``_known``: whether its ``person_id`` is in ``person_ids_df``.

    Written as an EXISTS subquery, which Spark plans as an existence join: every row is
    kept once even when ``person`` lists an id twice, so the ids need no distinct (a
    shuffle) first.
    """
    return table_df.sparkSession.sql(
        "SELECT t.*, EXISTS (SELECT 1 FROM {ids} AS i WHERE i.person_id = t.person_id)"
        " AS _known FROM {rows} AS t",
        ids=person_ids_df,
        rows=table_df,
    )


def census_df(flagged: dict[str, DataFrame], latest_of: tuple[str, str] | None = None) -> DataFrame:
    """Every flagged table's rows, grouped by (step, reason, person): one pass over every
    row of every table, for the attrition count, the EHR evidence and the cutoff.

    Parameters
    ----------
    flagged : table name -> the table with ``_reason``, the first rule the row breaks
        (:func:`first_broken_rule_expr`) or null.  Persons absent from ``person`` are
        found in the census (:func:`count_census`), where there is one row per person,
        not in every row.
    latest_of : (table, date column) whose latest date over the usable rows to keep, or
        None.

    Returns
    -------
    DataFrame (step, _reason, person_id, n_rows, latest): a few rows per person and
    table.  ``step`` is the table's position in ``flagged`` (:func:`count_census` names
    it): a small integer key makes the grouping of every row cheaper than a name would.
    """
    parts = []
    reason = F.col("_reason")
    for index, (table, flagged_df) in enumerate(flagged.items()):
        latest = F.lit(None).cast("date")
        if latest_of is not None and latest_of[0] == table:
            latest = F.when(usable_expr(reason), F.col(latest_of[1]))
        parts.append(
            flagged_df.select(
                F.lit(index).alias("step"), "_reason", "person_id", latest.alias("_latest")
            )
        )
    rows_df = parts[0]
    for part_df in parts[1:]:
        rows_df = rows_df.union(part_df)
    return rows_df.groupBy("step", "_reason", "person_id").agg(
        F.count("*").alias("n_rows"), F.max("_latest").alias("latest")
    )


def count_census(
    census: DataFrame,
    person_ids_df: DataFrame,
    steps: list[str],
    known_only: tuple[str, ...] = (),
) -> tuple[list[AttritionRow], dt.date | None]:
    """Count rows and persons per (step, reason) of a :func:`census_df` (a small job).

    Rows of a person absent from ``person`` get the reason ``person_id not in person``
    (it comes before every rule), except in the ``known_only`` steps, where they are
    left out.

    Parameters
    ----------
    census : as :func:`census_df` returns it.
    person_ids_df : the person ids of ``person``.
    steps : the steps in attrition order, as given to :func:`census_df`.
    known_only : steps whose rows are counted for persons in ``person`` only.

    Returns
    -------
    One AttritionRow per (step, reason), steps in the order given, reasons sorted; and
    the latest date of the census (None when no usable row of a known person has one).
    """
    known_df = with_known_person_flag(census, person_ids_df)
    known = F.col("_known")
    reason = F.when(~known, F.lit(UNKNOWN_PERSON)).otherwise(F.col("_reason"))
    known_only_steps = [steps.index(step) for step in known_only if step in steps]
    kept_df = known_df.where(known | ~F.col("step").isin(*known_only_steps))
    relabelled_df = kept_df.select("step", reason.alias("_reason"), "person_id", "n_rows", "latest")
    final = F.col("_reason")
    counts = (
        relabelled_df.groupBy("step", "_reason")
        .agg(
            F.sum("n_rows").alias("n_rows"),
            F.countDistinct(F.when(final.isNotNull(), F.col("person_id"))).alias("n_persons"),
            F.max(F.when(usable_expr(final), F.col("latest"))).alias("latest"),
        )
        .collect()
    )
    rows = [
        attrition_row(steps[r["step"]], str(r["_reason"]), int(r["n_rows"]), int(r["n_persons"]))
        for r in sorted(counts, key=lambda r: (r["step"], str(r["_reason"])))
        if r["_reason"] is not None
    ]
    latest_dates = [r["latest"] for r in counts if r["latest"] is not None]
    return rows, max(latest_dates, default=None)


def attrition_row(table: str, reason: str, n_rows: int, n_persons: int) -> AttritionRow:
    """The attrition line of one reason: kept rows are counted in the reason, not dropped."""
    if reason.startswith(KEPT):
        return AttritionRow(table, n_persons, 0, f"{reason} ({n_rows} rows)")
    return AttritionRow(table, n_persons, n_rows, reason)


def keep_usable_rows(table_df: DataFrame, broken_rule: Column) -> DataFrame:
    """Rows that break no dropping rule: ``broken_rule`` (:func:`first_broken_rule_expr` of
    the table's rules) is null or a ``KEPT`` reason.

    Rows of persons absent from ``person`` are not removed here (that needs a join);
    they drop out where events meet persons, see :mod:`trd_spark.ehr.phenotypes`.
    """
    return table_df.where(broken_rule.isNull() | broken_rule.startswith(KEPT))


def event_date_rules(column: str, dates: PlausibleDates) -> list[tuple[Column, str]]:
    """A row's one date is missing, unparseable or implausible."""
    date = F.col(column)
    return [
        (date.isNull(), f"{column} missing or unparseable"),
        (dates.outside_expr(date), dates.reason(column)),
    ]


def condition_rules(dates: PlausibleDates) -> list[tuple[Column, str]]:
    """Why a condition_occurrence row cannot be used."""
    return event_date_rules("condition_start_date", dates)


def drug_rules(dates: PlausibleDates) -> list[tuple[Column, str]]:
    """Why a drug_exposure row cannot be used, or which of its fields is ignored."""
    start, end, supply = (
        F.col("drug_exposure_start_date"),
        F.col("drug_exposure_end_date"),
        F.col("days_supply"),
    )
    return [
        *event_date_rules("drug_exposure_start_date", dates),
        (F.coalesce(F.col("drug_concept_id"), F.lit(0)) == 0, "drug_concept_id is 0 or null"),
        (end < start, KEPT + "end before start; end from days_supply or default"),
        (supply < 0, KEPT + "negative days_supply ignored"),
    ]


def procedure_rules(dates: PlausibleDates) -> list[tuple[Column, str]]:
    """Why a procedure_occurrence row cannot be used."""
    return event_date_rules("procedure_date", dates)


def visit_rules(dates: PlausibleDates) -> list[tuple[Column, str]]:
    """Why a visit_occurrence row cannot be used (visits are counted, not used further)."""
    start, end = F.col("visit_start_date"), F.col("visit_end_date")
    return [
        *event_date_rules("visit_start_date", dates),
        (end < start, "visit ends before it starts"),
    ]


def observation_rules(dates: PlausibleDates) -> list[tuple[Column, str]]:
    """Why an observation_period row cannot be used."""
    start = F.col("observation_period_start_date")
    end = F.col("observation_period_end_date")
    return [
        *event_date_rules("observation_period_end_date", dates),
        (dates.outside_expr(start), dates.reason("observation_period_start_date")),
        (start.isNotNull() & (end < start), "observation period ends before it starts"),
    ]


def implausible_birth_year_expr(dates: PlausibleDates) -> Column:
    """True when ``year_of_birth`` is outside the years of the plausible dates."""
    year = F.col("year_of_birth")
    return (year < dates.earliest.year) | (year > dates.last.year)


def clean_person_df(person_df: DataFrame, dates: PlausibleDates) -> DataFrame:
    """``person`` with an implausible ``year_of_birth`` made missing (age unknown, person kept)."""
    year = F.when(~implausible_birth_year_expr(dates), F.col("year_of_birth"))
    return person_df.withColumn("year_of_birth", year)


def person_flags_df(person_df: DataFrame, dates: PlausibleDates) -> DataFrame:
    """``person`` with ``_reason`` for the attrition count (no row of it is dropped)."""
    reason = F.when(
        implausible_birth_year_expr(dates),
        F.lit(
            f"{KEPT}year_of_birth implausible (before {dates.earliest.year} "
            f"or after {dates.last.year}); set missing"
        ),
    )
    return person_df.select("person_id", reason.alias("_reason"))


MDD_BIT, SCZ_BIP_BIT = 1, 2  # bits of a diagnosis kind: MDD, schizophrenia or bipolar
KIND_BITS = (MDD_BIT, SCZ_BIP_BIT)
SCZ_BIP = ("schizophrenia", "bipolar")


def kind_expr(is_mdd: Column, is_scz_bip: Column) -> Column:
    """The diagnosis kind: ``MDD_BIT`` when MDD plus ``SCZ_BIP_BIT`` when schizophrenia
    or bipolar (0: neither; a null match counts as no match)."""
    mdd = F.when(F.coalesce(is_mdd, F.lit(False)), MDD_BIT).otherwise(0)
    return mdd + F.when(F.coalesce(is_scz_bip, F.lit(False)), SCZ_BIP_BIT).otherwise(0)


def icd_kind_expr(diagnoses: pd.DataFrame) -> Column:
    """The diagnosis kind of a ``concept`` row from its vocabulary and code (0 unless an
    ICD-9-CM or ICD-10-CM code of a listed group)."""
    code, vocabulary = normalise_code_expr(F.col("concept_code")), F.col("vocabulary_id")
    return kind_expr(
        diagnosis_match_expr(diagnoses, "mdd", code, vocabulary),
        diagnosis_match_expr(diagnoses, "schizophrenia", code, vocabulary)
        | diagnosis_match_expr(diagnoses, "bipolar", code, vocabulary),
    )


SNOMED_KIND_SCHEMA = "concept_id long, snomed_kind int"


def snomed_kinds(
    concept_df: DataFrame, relationship_df: DataFrame, diagnoses: pd.DataFrame
) -> pd.DataFrame:
    """The diagnosis kind of each SNOMED source concept, through its standard concept.

    A standard concept has a kind when every ICD-9-CM / ICD-10-CM concept that 'Maps to'
    it has that kind (it is MDD when only MDD codes map to it, and so on), so a record
    coded in SNOMED is read as the ICD codes behind its standard concept would be, and
    only when they agree.  A SNOMED source concept takes the kinds of its 'Maps to'
    targets (itself, for a standard one).  Collected: a few hundred concepts at most.

    Returns
    -------
    pandas DataFrame (concept_id, snomed_kind), only concepts of a kind > 0.
    """
    maps_df = relationship_df.where(F.col("relationship_id") == "Maps to").select(
        "concept_id_1", "concept_id_2"
    )
    icd_df = concept_df.where(F.col("vocabulary_id").isin(*DIAGNOSIS_VOCABULARIES)).select(
        F.col("concept_id").alias("concept_id_1"), icd_kind_expr(diagnoses).alias("kind")
    )
    every = [F.min(F.col("kind").bitwiseAND(bit)).alias(f"_all_{bit}") for bit in KIND_BITS]
    standard_df = (
        icd_df.join(maps_df, "concept_id_1")
        .groupBy("concept_id_2")
        .agg(*every)
        .select("concept_id_2", (F.col("_all_1") + F.col("_all_2")).alias("kind"))
        .where(F.col("kind") > 0)
    )
    snomed_df = concept_df.where(F.col("vocabulary_id") == "SNOMED").select(
        F.col("concept_id").alias("concept_id_1")
    )
    kinds = (
        snomed_df.join(maps_df, "concept_id_1")
        .join(F.broadcast(standard_df), "concept_id_2")
        .groupBy(F.col("concept_id_1").alias("concept_id"))
        .agg(F.bit_or("kind").cast("int").alias("snomed_kind"))
        .toPandas()
    )
    return kinds.astype({"concept_id": "int64", "snomed_kind": "int32"})


def diagnosis_events_df(
    condition_df: DataFrame,
    concept_df: DataFrame,
    diagnoses: pd.DataFrame,
    snomed_kinds_df: DataFrame | None = None,
) -> DataFrame:
    """Matching diagnosis rows: (person_id, date, is_mdd, is_scz_bip), one per row.

    The code is the ICD concept code of ``condition_source_concept_id``; a SNOMED source
    concept counts through its standard concept (``snomed_kinds_df``, a small table from
    :func:`snomed_kinds`); when the id is 0, null or absent from ``concept``,
    ``condition_source_value`` is used and its vocabulary read from its first character.
    Concept codes are matched once per concept (in ``concept``).  Source values are
    matched only on the rows that need them, first by one expression for every listed
    code (the filter), then per group on the rows that passed: Spark evaluates a
    filter's expressions again in the projection above it.
    """
    lookup_df = concept_df.select("concept_id", icd_kind_expr(diagnoses).alias("_icd_kind"))
    snomed_kind = F.lit(0)
    if snomed_kinds_df is not None:
        lookup_df = lookup_df.join(F.broadcast(snomed_kinds_df), "concept_id", "left")
        snomed_kind = F.coalesce(F.col("snomed_kind"), F.lit(0))
    lookup_df = lookup_df.select(
        F.col("concept_id").alias("condition_source_concept_id"),
        F.lit(True).alias("_found"),
        (F.col("_icd_kind") + snomed_kind).alias("_concept_kind"),
    )
    use_concept = F.coalesce(F.col("_found"), F.lit(False)) & (
        F.col("condition_source_concept_id") != 0
    )
    source_code, concept_kind = F.col("_source_code"), F.col("_concept_kind")
    source_listed = source_value_match_expr(diagnoses, ("mdd", *SCZ_BIP), source_code)
    source_kind = kind_expr(
        source_value_match_expr(diagnoses, ("mdd",), source_code),
        source_value_match_expr(diagnoses, SCZ_BIP, source_code),
    )
    kind = F.when(F.col("_use_concept"), concept_kind).otherwise(source_kind)
    return (
        condition_df.join(lookup_df, "condition_source_concept_id", "left")
        .select(
            "person_id",
            F.col("condition_start_date").alias("date"),
            concept_kind,
            use_concept.alias("_use_concept"),
            F.when(~use_concept, normalise_code_expr(F.col("condition_source_value"))).alias(
                "_source_code"
            ),
        )
        .where(
            F.when(F.col("_use_concept"), concept_kind > 0).otherwise(
                F.coalesce(source_listed, F.lit(False))
            )
        )
        .select("person_id", "date", kind.alias("_kind"))
        .select(
            "person_id",
            "date",
            (F.col("_kind").bitwiseAND(MDD_BIT) > 0).alias("is_mdd"),
            (F.col("_kind").bitwiseAND(SCZ_BIP_BIT) > 0).alias("is_scz_bip"),
        )
    )


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


def route_reason_expr(route_rules: pd.DataFrame | None) -> Column:
    """Why an antidepressant row's ``route_concept_id`` makes it no exposure, else null.

    ``route_rules`` holds (ingredient_id, route_concept_id, label) from
    :func:`trd_spark.ehr.codes.route_exclusions`; ingredient -1 is every antidepressant.
    """
    reason = F.lit(None).cast("string")
    if route_rules is None:
        return reason
    route, ingredient = F.col("route_concept_id"), F.col("ingredient_id")
    antidepressant = F.col("group") == "antidepressant"
    rules = route_rules.sort_values("label", ascending=False)
    for route_id, ingredient_id, label in zip(
        rules["route_concept_id"].astype(int), rules["ingredient_id"].astype(int),
        rules["label"].astype(str), strict=True,
    ):  # fmt: skip
        matches = antidepressant & (route == int(route_id))
        if int(ingredient_id) != -1:
            matches = matches & (ingredient == int(ingredient_id))
        reason = F.when(matches, F.lit(label)).otherwise(reason)
    return reason


def drug_events_df(
    drug_df: DataFrame,
    ingredient_map_df: DataFrame,
    default_exposure_days: int,
    route_rules: pd.DataFrame | None = None,
) -> DataFrame:
    """Listed-drug rows: (person_id, group, ingredient_id, start, end, excluded), one per
    ingredient.

    ``ingredient_map_df`` is :func:`trd_spark.ehr.codes.ingredient_map_df`'s small table;
    ``excluded`` says why an antidepressant row is no exposure (its dose form, else its
    route, see :func:`route_reason_expr`), null for an exposure.
    """
    joined_df = drug_df.join(F.broadcast(ingredient_map_df), "drug_concept_id")
    return joined_df.select(
        "person_id",
        "group",
        "ingredient_id",
        F.col("drug_exposure_start_date").alias("start"),
        exposure_end_expr(default_exposure_days).alias("end"),
        F.coalesce(F.col("form_reason"), route_reason_expr(route_rules)).alias("excluded"),
    )


def ect_concept_ids(concept_df: DataFrame, procedures: pd.DataFrame) -> list[int]:
    """Concept ids whose (vocabulary, code) is a listed ECT code."""
    pairs = [(r.vocabulary, r.code) for r in procedures.itertuples() if r.group == "ect"]
    match = F.lit(False)
    code = normalise_code_expr(F.col("concept_code"))
    for vocabulary, listed in pairs:
        match = match | ((F.col("vocabulary_id") == vocabulary) & (code == listed))
    return [int(r["concept_id"]) for r in concept_df.where(match).select("concept_id").collect()]


def ect_events_df(procedure_df: DataFrame, ids: list[int], procedures: pd.DataFrame) -> DataFrame:
    """ECT procedures: (person_id, date), matched by concept id (``ids``, from
    :func:`ect_concept_ids`) or, without a source concept, by ``procedure_source_value``."""
    codes = sorted({str(c) for c in procedures.loc[procedures["group"] == "ect", "code"]})
    no_source = F.coalesce(F.col("procedure_source_concept_id"), F.lit(0)) == 0
    by_value = no_source & normalise_code_expr(F.col("procedure_source_value")).isin(codes)
    by_concept = F.col("procedure_concept_id").isin(ids) | F.col(
        "procedure_source_concept_id"
    ).isin(ids)
    return procedure_df.where(by_concept | F.coalesce(by_value, F.lit(False))).select(
        "person_id", F.col("procedure_date").alias("date")
    )
