"""The phenotype job: typed OMOP tables in, persons / periods / time to event / attrition out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.ehr import definitions as defs
from trd_spark.ehr import events as ev
from trd_spark.ehr.codes import CodeLists, resolve_ingredient_ids
from trd_spark.ehr.periods import (
    assign_periods,
    summarise_periods,
    switch_dates,
    switching_onsets,
    treated_persons,
)
from trd_spark.ehr.survival import build_time_to_event


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


def clean_tables(
    tables: dict[str, DataFrame], attrition: list[ev.AttritionRow], kept: list[DataFrame]
) -> dict[str, DataFrame]:
    """Drop unusable rows of the event tables (appending their counts to ``attrition``)."""
    # the de-duplicated person ids are joined to every event table: compute them once
    person_df = (
        tables["person"]
        .where(F.col("person_id").isNotNull())
        .dropDuplicates(["person_id"])
        .persist()
    )
    kept.append(person_df)
    rules = {
        "condition_occurrence": ev.condition_rules(),
        "drug_exposure": ev.drug_rules(),
        "procedure_occurrence": ev.procedure_rules(),
        "observation_period": ev.observation_rules(),
    }
    cleaned = dict(tables, person=person_df)
    for table, table_rules in rules.items():
        # read twice (counted, then filtered): re-reading Parquet is cheaper than caching
        flagged_df = ev.flag_unusable_rows(tables[table], person_df, table_rules)
        attrition.extend(ev.count_reasons(flagged_df, table))
        cleaned[table] = ev.keep_usable_rows(flagged_df)
    return cleaned


def find_cutoff(observation_df: DataFrame, cutoff: dt.date | None) -> dt.date | None:
    """The data cutoff: the configured date, else the latest observation period end."""
    if cutoff is not None:
        return cutoff
    latest = observation_df.agg(F.max("observation_period_end_date")).first()
    return None if latest is None else latest[0]


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
    PhenotypeResult with lazy DataFrames and the attrition counted so far.
    """
    attrition: list[ev.AttritionRow] = []
    kept: list[DataFrame] = []
    t = clean_tables(tables, attrition, kept)
    drugs, missing = resolve_ingredient_ids(code_lists.drugs, t["concept"])
    for name in missing:
        attrition.append(
            ev.AttritionRow("code_lists", 0, 0, f"drugs.tsv ingredient '{name}' not in concept")
        )
    lists = CodeLists(code_lists.diagnoses, drugs, code_lists.procedures)
    cutoff = find_cutoff(t["observation_period"], definitions.cutoff_date)
    drug_df = ev.drug_events_df(
        spark, t["drug_exposure"], t["concept_ancestor"], lists, definitions.default_exposure_days
    ).persist()
    antidepressant_df = drug_df.where(F.col("group") == "antidepressant")
    labelled_df = assign_periods(antidepressant_df, definitions.gap_settings).persist()
    periods_df = summarise_periods(labelled_df)
    switch_df = switch_dates(labelled_df, definitions.min_switch_drugs)
    diagnosis_df = ev.diagnosis_events_df(t["condition_occurrence"], t["concept"], lists.diagnoses)
    summary_df = defs.diagnosis_summary(diagnosis_df).persist()
    ect_df = ev.ect_events_df(t["procedure_occurrence"], t["concept"], lists.procedures)
    per_person = [
        summary_df,
        switching_onsets(switch_df, definitions.gap_basis, definitions.switching),
        treated_persons(periods_df, definitions.gap_basis, definitions.default_gap_days),
        defs.last_line_dates(summary_df, ect_df, drug_df),
        defs.end_of_observation(t["observation_period"], cutoff),
    ]
    persons_df = defs.build_persons(t["person"], per_person, cohorts_df, cutoff)
    time_df = build_time_to_event(persons_df, definitions.min_mdd_dates_survival)
    kept += [drug_df, labelled_df, summary_df]
    return PhenotypeResult(persons_df, periods_df, time_df, attrition, cutoff, kept)
