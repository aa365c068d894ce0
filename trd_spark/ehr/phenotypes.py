"""The phenotype job: typed OMOP tables in, persons / periods / time to event / attrition out.

The plan is shaped for few passes over the rows and few Spark jobs that can run side by
side: every row of every table is read once for the census (rows grouped by table,
reason and person), which gives the attrition count, the cutoff and each person's EHR
evidence; the listed-drug rows are picked out of ``drug_exposure`` once, for the periods,
the summary and the count; the drug trial periods are summarised in one job; every
other per-person summary comes from one grouping of a stacked table (instead of one
join per summary) in another.  The census, the periods and the summary are independent;
the persons join them, and need the census's cutoff.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.ehr import definitions as defs
from trd_spark.ehr import events as ev
from trd_spark.ehr.codes import (
    CodeLists,
    dose_form_reasons,
    ingredient_map_df,
    ingredient_pairs,
    local_table_df,
    resolve_ingredient_ids,
    route_exclusions,
)
from trd_spark.ehr.periods import (
    assign_periods,
    setting_columns,
    summarise_periods,
    summarise_persons,
)

PERIOD_COLUMNS = (
    "person_id", "gap_basis", "gap_days", "period_id", "start", "end", "n_exposures",
    "n_distinct_ingredients", "switch_date",
)  # fmt: skip
# every table whose unusable rows are counted, with its rules, in attrition order
EVENT_RULES = {
    "observation_period": ev.observation_rules,
    "visit_occurrence": ev.visit_rules,
    "condition_occurrence": ev.condition_rules,
    "drug_exposure": ev.drug_rules,
    "procedure_occurrence": ev.procedure_rules,
}
CUTOFF_SOURCE = ("observation_period", "observation_period_end_date")
# a record in any of these makes a person one "with EHR" (docs/phenotypes.md, Groups)
EHR_TABLES = (
    "condition_occurrence", "drug_exposure", "procedure_occurrence", "visit_occurrence",
    "observation_period",
)  # fmt: skip
EXCLUDED_STEP = "antidepressants"  # attrition step of antidepressant rows that are no exposure
# the steps of the census (census_df), in attrition order: its ``step`` is a position here
CENSUS_STEPS = ("person", *EVENT_RULES, EXCLUDED_STEP)
NOT_EXPOSURE = "not an antidepressant exposure: "


@dataclass(frozen=True)
class CleanTables:
    """The OMOP tables without their unusable rows (see :func:`clean_tables`)."""

    tables: dict[str, DataFrame]
    person_ids_df: DataFrame  # person ids of ``person``, for :func:`known_persons_only`
    # every table with ``_reason`` (the first rule a row breaks), for :func:`census_df`
    flagged: dict[str, DataFrame]


def clean_tables(tables: dict[str, DataFrame], dates: ev.PlausibleDates) -> CleanTables:
    """Drop unusable rows of the event tables, and flag them by reason for the count.

    ``person`` keeps every row with a person_id; an implausible year of birth is made missing.
    Rows of persons absent from ``person`` are counted but left in the event tables:
    joining every table with the person ids again in every query costs more than
    dropping those rows where events meet persons (the per-person grouping keeps persons
    of ``person`` only; periods use :func:`known_persons_only`); the count finds them in
    the census, one row per person (:func:`count_attrition`).
    """
    person_df = tables["person"].where(F.col("person_id").isNotNull())
    person_ids_df = person_df.select("person_id")
    person_flags_df = ev.person_flags_df(person_df, dates)
    flagged = {"person": person_flags_df.where(F.col("_reason").isNotNull())}
    cleaned = dict(tables, person=ev.clean_person_df(person_df, dates))
    for table, table_rules in EVENT_RULES.items():
        broken_rule = ev.first_broken_rule_expr(table_rules(dates))  # one expression for both
        flagged[table] = tables[table].withColumn("_reason", broken_rule)
        cleaned[table] = ev.keep_usable_rows(tables[table], broken_rule)
    return CleanTables(cleaned, person_ids_df, flagged)


def known_persons_only(table_df: DataFrame, person_ids_df: DataFrame) -> DataFrame:
    """Rows of ``table_df`` whose person is in ``person`` (a semi join: ids listed twice
    need no distinct first)."""
    return table_df.join(F.broadcast(person_ids_df), "person_id", "left_semi")


@dataclass(frozen=True)
class CodeLookups:
    """The code lists looked up in the vocabulary: the stage's only small jobs, run before
    the large ones so that they need not wait for free cores."""

    lists: CodeLists  # drug ingredient ids filled in by name
    ingredient_map_df: DataFrame  # drug concept -> listed ingredient, a small local table
    ect_concept_ids: list[int]
    attrition: list[ev.AttritionRow]  # listed drug names not found in concept
    snomed_kinds_df: DataFrame  # SNOMED source concept -> diagnosis kind, a small local table
    route_rules: pd.DataFrame | None  # routes that make an antidepressant row no exposure

    @property
    def race_ethnicity(self) -> dict[str, dict[int, str]]:
        """``race`` / ``ethnicity`` -> {concept id: label} (race_ethnicity.tsv)."""
        table = self.lists.race_ethnicity
        return {
            str(group): dict(
                zip(rows["concept_id"].astype(int), rows["label"].astype(str), strict=True)
            )
            for group, rows in table.groupby("group")
        }


def look_up_codes(
    spark: SparkSession,
    tables: dict[str, DataFrame],
    code_lists: CodeLists,
    exclude_non_systemic: bool = True,
) -> CodeLookups:
    """Look the code lists up in the vocabulary tables (small jobs): drug ingredient ids by
    name (names not found are counted), the drug concepts of each listed ingredient and
    their listed dose forms, the routes, the ECT concept ids, and the diagnosis kind of
    SNOMED source concepts.  ``exclude_non_systemic`` False: no route or dose form rule."""
    concept_df, relationship_df = tables["concept"], tables["concept_relationship"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the diagnosis and ECT lookups need nothing of the drugs': their small jobs run
        # beside the drug lookups' (a small job is mostly the driver's planning)
        kinds_done = pool.submit(ev.snomed_kinds, concept_df, relationship_df, code_lists.diagnoses)
        ect_done = pool.submit(ev.ect_concept_ids, concept_df, code_lists.procedures)
        drugs, missing = resolve_ingredient_ids(code_lists.drugs, concept_df)
        lists = replace(code_lists, drugs=drugs)
        pairs = ingredient_pairs(drugs, tables["concept_ancestor"])
        forms, routes = None, None
        if exclude_non_systemic:
            forms = dose_form_reasons(lists.drug_forms, drugs, pairs, concept_df, relationship_df)
            routes = route_exclusions(lists.drug_forms, drugs, concept_df)
        kinds, ect_ids = kinds_done.result(), ect_done.result()
    attrition = [
        ev.AttritionRow("code_lists", 0, 0, f"drugs.tsv ingredient '{name}' not in concept")
        for name in missing
    ]
    return CodeLookups(
        lists,
        ingredient_map_df(spark, pairs, forms),
        ect_ids,
        attrition,
        local_table_df(spark, kinds, ev.SNOMED_KIND_SCHEMA),
        routes,
    )


def plausible_dates(definitions: defs.Definitions) -> ev.PlausibleDates:
    """The dates a record can hold under ``definitions``."""
    return ev.PlausibleDates(definitions.earliest_date, definitions.latest_date)


def drug_events_df(
    clean: CleanTables, lookups: CodeLookups, definitions: defs.Definitions
) -> DataFrame:
    """The listed-drug rows of the usable ``drug_exposure`` rows (:func:`ev.drug_events_df`)."""
    return ev.drug_events_df(
        clean.tables["drug_exposure"],
        lookups.ingredient_map_df,
        definitions.default_exposure_days,
        lookups.route_rules,
    )


def excluded_antidepressants_df(drug_df: DataFrame) -> DataFrame:
    """Antidepressant rows of ``drug_df`` (:func:`drug_events_df`) that are no exposure
    (a listed route or dose form), with ``_reason`` for the attrition count."""
    excluded = F.col("excluded")
    return drug_df.where((F.col("group") == "antidepressant") & excluded.isNotNull()).select(
        "person_id", F.concat(F.lit(NOT_EXPOSURE), excluded).alias("_reason")
    )


def census_df(clean: CleanTables, drug_df: DataFrame | None = None) -> DataFrame:
    """Every row of every table grouped by (step, reason, person) in one pass
    (:func:`trd_spark.ehr.events.census_df`): the attrition count, the cutoff and the EHR
    evidence all come from it.  With ``drug_df`` (:func:`drug_events_df`), also the
    antidepressant rows that are no exposure, by reason."""
    flagged = {step: clean.flagged[step] for step in CENSUS_STEPS[:-1]}
    if drug_df is not None:
        flagged[EXCLUDED_STEP] = excluded_antidepressants_df(drug_df)
    return ev.census_df(flagged, latest_of=CUTOFF_SOURCE)


def count_attrition(
    clean: CleanTables,
    definitions: defs.Definitions,
    lookups: CodeLookups | None = None,
    census: DataFrame | None = None,
) -> tuple[list[ev.AttritionRow], dt.date | None]:
    """The unusable rows counted by table and reason (with ``lookups``, also the
    antidepressant rows that are no exposure, by reason); and the cutoff
    (``cutoff_date``, else the latest usable ``observation_period_end_date``).

    ``census`` is :func:`census_df` when the caller has it (the stage writes it once and
    reads the EHR evidence from it too); else it is computed here.
    """
    if census is None:
        drug_df = drug_events_df(clean, lookups, definitions) if lookups is not None else None
        census = census_df(clean, drug_df)
    steps = list(CENSUS_STEPS)
    counts, latest = ev.count_census(
        census, clean.person_ids_df, steps, known_only=(EXCLUDED_STEP,)
    )
    return counts, definitions.cutoff_date or latest


def ehr_persons_df(census: DataFrame) -> DataFrame:
    """(person_id, has_ehr true) of every person with a usable row in an ``EHR_TABLES``
    table, one row each, from :func:`census_df`."""
    steps = [CENSUS_STEPS.index(table) for table in EHR_TABLES]
    evidence = F.col("step").isin(*steps) & ev.usable_expr(F.col("_reason"))
    return (
        census.where(evidence)
        .select("person_id")
        .distinct()
        .select("person_id", F.lit(True).alias("has_ehr"))
    )


@dataclass(frozen=True)
class PhenotypePlan:
    """The phenotype job planned: three independent lazy tables, and the persons built
    from them (and the cutoff the attrition count finds in the census)."""

    periods_df: DataFrame  # ``PERIOD_COLUMNS``
    summary_df: DataFrame  # every per-person summary but the periods' and the EHR evidence
    census_df: DataFrame  # :func:`census_df`: attrition, cutoff and EHR evidence
    definitions: defs.Definitions
    cohorts_df: DataFrame | None
    race_ethnicity: dict[str, dict[int, str]]

    def persons_df(
        self,
        periods_df: DataFrame,
        summary_df: DataFrame,
        cutoff: dt.date | None,
        census: DataFrame | None = None,
    ) -> DataFrame:
        """The persons table (``defs.PERSON_COLUMNS``) from ``periods_df``, ``summary_df``
        and ``census`` (as :attr:`periods_df`, :attr:`summary_df` and :attr:`census_df`
        give them, or read back from where they were written; ``census`` None:
        :attr:`census_df`)."""
        d = self.definitions
        period_persons_df = summarise_persons(
            periods_df, d.gap_basis, d.default_gap_days, d.switching
        )
        ehr_df = ehr_persons_df(self.census_df if census is None else census)
        with_ehr_df = summary_df.join(ehr_df, "person_id", "left")
        with_ehr_df = with_ehr_df.withColumn("has_ehr", F.coalesce(F.col("has_ehr"), F.lit(False)))
        with_periods_df = defs.attach_periods(with_ehr_df, period_persons_df, cutoff)
        return defs.build_persons(
            with_periods_df, cutoff, self.cohorts_df, d.require_ehr, self.race_ethnicity
        )


def plan_phenotypes(
    clean: CleanTables,
    lookups: CodeLookups,
    definitions: defs.Definitions,
    cohorts_df: DataFrame | None = None,
    drug_df: DataFrame | None = None,
) -> PhenotypePlan:
    """Plan every definition of ``docs/phenotypes.md`` on the cleaned OMOP tables (no Spark job
    runs here).

    The periods, the per-person summary and the persons are left to the caller, see
    :class:`PhenotypePlan`, :func:`count_attrition` and
    :func:`trd_spark.ehr.stage.run_phenotype`.

    Parameters
    ----------
    clean : :func:`clean_tables` of the typed OMOP tables (:func:`trd_spark.ehr.omop.read_omop`).
    lookups : :func:`look_up_codes` of the code lists.
    definitions : gaps, windows, cutoff and other numbers of the definitions.
    cohorts_df : (person_id, cohort) to attach, or None.
    drug_df : :func:`drug_events_df` when the caller has it (the stage writes it once, for
        the periods, the summary and the census); else planned here.
    """
    t, lists = clean.tables, lookups.lists
    if drug_df is None:
        drug_df = drug_events_df(clean, lookups, definitions)
    exposure = (F.col("group") == "antidepressant") & F.col("excluded").isNull()
    antidepressant_df = known_persons_only(drug_df.where(exposure), clean.person_ids_df)
    settings = definitions.gap_settings
    period_rows_df = summarise_periods(
        assign_periods(antidepressant_df, settings), definitions.min_switch_drugs
    )
    periods_df = period_rows_df.select("*", *setting_columns(settings)).select(*PERIOD_COLUMNS)
    ect_df = ev.ect_events_df(t["procedure_occurrence"], lookups.ect_concept_ids, lists.procedures)
    diagnosis_df = ev.diagnosis_events_df(
        t["condition_occurrence"], t["concept"], lists.diagnoses, lookups.snomed_kinds_df
    )
    stacked_df = defs.stack_person_rows(
        t["person"],
        diagnosis_df,
        defs.last_line_events_df(ect_df, drug_df),
        t["observation_period"],
    )
    summary_df = defs.summarise_person_rows(stacked_df)
    return PhenotypePlan(
        periods_df,
        summary_df,
        census_df(clean, drug_df),
        definitions,
        cohorts_df,
        lookups.race_ethnicity,
    )
