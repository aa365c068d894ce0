"""The phenotype job: typed OMOP tables in, persons / periods / time to event / attrition out.

The plan is shaped for few Spark jobs: the unusable rows of every table are counted
in one job; the drug trial periods are summarised once (kept in memory, as both the
periods output and the persons use them); every per-person summary comes from one
grouping of a stacked table instead of one join per summary.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.ehr import definitions as defs
from trd_spark.ehr import events as ev
from trd_spark.ehr.codes import CodeLists, resolve_ingredient_ids
from trd_spark.ehr.periods import (
    assign_periods,
    setting_columns,
    summarise_periods,
    summarise_persons,
)
from trd_spark.ehr.survival import build_time_to_event

PERIOD_COLUMNS = (
    "person_id", "gap_basis", "gap_days", "period_id", "start", "end", "n_exposures",
    "n_distinct_ingredients",
)  # fmt: skip
# every table whose unusable rows are counted, with its rules, in attrition order
EVENT_RULES = {
    "observation_period": ev.observation_rules,
    "visit_occurrence": ev.visit_rules,
    "condition_occurrence": ev.condition_rules,
    "drug_exposure": ev.drug_rules,
    "procedure_occurrence": ev.procedure_rules,
}


@dataclass
class PhenotypeResult:
    """What the phenotype job produces (DataFrames are lazy)."""

    persons_df: DataFrame
    periods_df: DataFrame
    time_to_event_df: DataFrame
    attrition: list[ev.AttritionRow]
    cutoff_date: dt.date | None

    kept: list[DataFrame] = field(default_factory=list)

    def unpersist(self) -> None:
        """Free the intermediate tables kept in memory while the outputs were written."""
        for kept_df in self.kept:
            kept_df.unpersist()


@dataclass(frozen=True)
class CleanTables:
    """The OMOP tables without their unusable rows (see :func:`clean_tables`)."""

    tables: dict[str, DataFrame]
    person_ids_df: DataFrame  # person ids of ``person``, for :func:`known_persons_only`
    latest_observation: dt.date | None  # latest usable observation_period_end_date


def clean_tables(
    tables: dict[str, DataFrame], dates: ev.PlausibleDates, attrition: list[ev.AttritionRow]
) -> CleanTables:
    """Drop unusable rows of the event tables, appending their counts (one job) to ``attrition``.

    ``person`` keeps every row with a person_id; an implausible year of birth is made missing.
    Rows of persons absent from ``person`` are counted here but left in the event tables:
    joining every table with the person ids again in every query costs more than
    dropping those rows where events meet persons (the per-person grouping keeps persons
    of ``person`` only; periods use :func:`known_persons_only`).  The same job finds the
    latest usable observation period end (the default data cutoff).
    """
    person_df = tables["person"].where(F.col("person_id").isNotNull())
    person_ids_df = person_df.select("person_id")
    flagged = {"person": ev.person_flags_df(person_df, dates)}
    # one DataFrame for every table's join: Spark then broadcasts the ids once per query
    known_df = ev.known_person_flags_df(person_ids_df.distinct())
    rules = {table: table_rules(dates) for table, table_rules in EVENT_RULES.items()}
    for table in EVENT_RULES:
        flagged[table] = ev.flag_unusable_rows(tables[table], known_df, rules[table])
    counts, latest = ev.count_reasons(
        flagged, latest_of=("observation_period", "observation_period_end_date")
    )
    attrition.extend(counts)
    cleaned = dict(tables, person=ev.clean_person_df(person_df, dates))
    for table in EVENT_RULES:
        cleaned[table] = ev.keep_usable_rows(tables[table], rules[table])
    return CleanTables(cleaned, person_ids_df, latest)


def known_persons_only(table_df: DataFrame, person_ids_df: DataFrame) -> DataFrame:
    """Rows of ``table_df`` whose person is in ``person`` (a semi join: ids listed twice
    need no distinct first)."""
    return table_df.join(F.broadcast(person_ids_df), "person_id", "left_semi")


def resolve_code_lists(
    code_lists: CodeLists, concept_df: DataFrame, attrition: list[ev.AttritionRow]
) -> CodeLists:
    """The code lists with drug ingredient ids looked up by name; names not found are counted."""
    drugs, missing = resolve_ingredient_ids(code_lists.drugs, concept_df)
    for name in missing:
        attrition.append(
            ev.AttritionRow("code_lists", 0, 0, f"drugs.tsv ingredient '{name}' not in concept")
        )
    return CodeLists(code_lists.diagnoses, drugs, code_lists.procedures)


def compute_phenotypes(
    spark: SparkSession,
    tables: dict[str, DataFrame],
    code_lists: CodeLists,
    definitions: defs.Definitions,
    cohorts_df: DataFrame | None = None,
) -> PhenotypeResult:
    """Run every definition of ``phenotypes.md`` on typed OMOP tables.

    Parameters
    ----------
    spark : the session.
    tables : typed OMOP tables as :func:`trd_spark.ehr.omop.read_omop` returns them.
    code_lists : the code lists (drug concept ids may still be empty).
    definitions : gaps, windows, cutoff and other numbers of the definitions.
    cohorts_df : (person_id, cohort) to attach, or None.

    Returns
    -------
    PhenotypeResult with lazy DataFrames and the attrition counted so far.  The period
    summary is marked to be kept in memory once computed: call ``unpersist`` when done.
    """
    attrition: list[ev.AttritionRow] = []
    dates = ev.PlausibleDates(definitions.earliest_date, definitions.latest_date)
    clean = clean_tables(tables, dates, attrition)
    t, person_ids_df = clean.tables, clean.person_ids_df
    lists = resolve_code_lists(code_lists, t["concept"], attrition)
    cutoff = definitions.cutoff_date or clean.latest_observation
    drug_df = ev.drug_events_df(
        spark, t["drug_exposure"], t["concept_ancestor"], lists, definitions.default_exposure_days
    )
    antidepressant_df = known_persons_only(
        drug_df.where(F.col("group") == "antidepressant"), person_ids_df
    )
    settings = definitions.gap_settings
    labelled_df = assign_periods(antidepressant_df, settings)
    summary_df = summarise_periods(labelled_df, definitions.min_switch_drugs).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    period_persons_df = summarise_persons(
        summary_df,
        settings,
        definitions.gap_basis,
        definitions.default_gap_days,
        definitions.switching,
    )
    diagnosis_df = ev.diagnosis_events_df(t["condition_occurrence"], t["concept"], lists.diagnoses)
    ect_df = ev.ect_events_df(t["procedure_occurrence"], t["concept"], lists.procedures)
    stacked_df = defs.stack_person_rows(
        t["person"],
        diagnosis_df,
        defs.last_line_events_df(ect_df, drug_df),
        t["observation_period"],
        period_persons_df,
    )
    person_summary_df = defs.summarise_person_rows(stacked_df, list(definitions.switching), cutoff)
    persons_df = defs.build_persons(person_summary_df, cutoff, cohorts_df)
    time_df = build_time_to_event(persons_df, definitions.min_mdd_dates_survival)
    periods_df = summary_df.select("*", *setting_columns(settings)).select(*PERIOD_COLUMNS)
    return PhenotypeResult(persons_df, periods_df, time_df, attrition, cutoff, [summary_df])
