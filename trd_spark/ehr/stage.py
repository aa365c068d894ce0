"""The phenotype stage: ``run_phenotype(config, out_dir)`` (see ``docs/architecture.md``)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark import storage
from trd_spark.config import Config, PhenotypeConfig
from trd_spark.disclosure.private import PRIVATE
from trd_spark.ehr import omop
from trd_spark.ehr.codes import read_code_lists
from trd_spark.ehr.definitions import Definitions, group_sizes_pandas
from trd_spark.ehr.events import AttritionRow
from trd_spark.ehr.phenotypes import (
    CleanTables,
    CodeLookups,
    PhenotypePlan,
    clean_tables,
    count_attrition,
    drug_events_df,
    look_up_codes,
    plan_phenotypes,
    plausible_dates,
)
from trd_spark.ehr.survival import TIME_TO_EVENT_SCHEMA, time_to_event
from trd_spark.study import PRIMARY_TRD, PRIMARY_TRMDD, Layout, output_path
from trd_spark.uri import is_remote, join

log = logging.getLogger(__name__)


@contextmanager
def logged_step(name: str) -> Iterator[None]:
    """Log one step of the stage with its wall time."""
    started = time.perf_counter()
    yield
    log.info("phenotype: %s (%.1f s)", name, time.perf_counter() - started)


def definitions_from_config(phenotypes: PhenotypeConfig) -> Definitions:
    """The plain-valued definitions a PhenotypeConfig describes."""
    return Definitions(
        gap_basis=phenotypes.gap_basis,
        default_gap_days=phenotypes.default_gap_days,
        switching={
            name: (rule.gap_days, rule.window_days)
            for name, rule in (
                ("trd_1", phenotypes.trd_1),
                ("trd_2", phenotypes.trd_2),
                ("trd_3", phenotypes.trd_3),
            )
        },
        min_switch_drugs=phenotypes.min_switch_drugs,
        default_exposure_days=phenotypes.default_exposure_days,
        cutoff_date=phenotypes.cutoff_date,
        min_mdd_dates_survival=phenotypes.min_mdd_dates_survival,
        require_ehr=phenotypes.controls.require_ehr,
        exclude_non_systemic=phenotypes.exclude_non_systemic,
    )


def read_cohorts(spark: SparkSession, output_dir: str) -> DataFrame | None:
    """(person_id, cohort) from ``qc/cohorts.parquet``, or None when the QC stage has not run."""
    path = output_path(output_dir, Layout.COHORTS)
    if not is_remote(path) and not os.path.exists(path):
        return None
    cohorts_df = spark.read.parquet(path).where(F.col("cohort").isNotNull())
    # a person in two cohorts would be ambiguous here; take the first name, deterministically
    return cohorts_df.groupBy(F.col("person_id").cast("long").alias("person_id")).agg(
        F.min("cohort").alias("cohort")
    )


def read_tables(
    spark: SparkSession, config: Config, attrition: list[AttritionRow]
) -> dict[str, DataFrame]:
    """The OMOP tables, restricted to EHR-site rows when ``omop.ehr_only`` is set."""
    source = config.omop
    tables = omop.read_omop(spark, source.path, source.format, source.date_format)
    if not source.ehr_only:
        return tables
    for table in omop.EXT_ID_COLUMNS:
        ids_df = omop.read_ehr_source_ids(spark, source.path, table, source.format)
        tables[table], n_dropped = omop.keep_ehr_rows(tables[table], ids_df, table)
        attrition.append(AttritionRow(table, 0, n_dropped, "not from an EHR site (src_id)"))
    return tables


NO_EHR_REASON = (
    "no EHR record (condition, drug, procedure, visit or observation period): "
    "not a non-MDD control, in no group"
)


def no_ehr_attrition(persons: pd.DataFrame, require_ehr: bool) -> list[AttritionRow]:
    """The persons of ``person`` without any EHR record, left out of the controls."""
    n = int((~persons["has_ehr"].astype(bool)).sum())
    if not require_ehr:
        return [AttritionRow("persons", n, 0, "kept: no EHR record; controls.require_ehr off")]
    return [AttritionRow("persons", n, n, NO_EHR_REASON)]


def survival_attrition(time_to_event: pd.DataFrame) -> list[AttritionRow]:
    """Counts of the time-to-event subset and of each exclusion."""
    out = [
        AttritionRow("time_to_event", len(time_to_event), 0, "subset: mdd_1 with enough MDD dates")
    ]
    for reason, n in sorted(time_to_event["exclusion"].dropna().value_counts().items()):
        out.append(AttritionRow("time_to_event", int(n), int(n), str(reason)))
    return out


SUMMARY_FILE = "person_summary.parquet"  # the per-person summary, in the stage's scratch
CENSUS_FILE = "census.parquet"  # rows by table, reason and person, in the stage's scratch
DRUG_EVENTS_FILE = "drug_events.parquet"  # the listed-drug rows, in the stage's scratch


def write_read_back(table_df: DataFrame, path: str) -> DataFrame:
    """Write ``table_df`` to ``path`` and return it read back (schema known: no job to
    infer it), so that every later query reads the written rows instead of computing
    them again."""
    table_df.write.mode("overwrite").parquet(path)
    return table_df.sparkSession.read.schema(table_df.schema).parquet(path)


def write_drug_events(
    clean: CleanTables, lookups: CodeLookups, definitions: Definitions, scratch: str
) -> DataFrame:
    """The listed-drug rows of ``drug_exposure`` (a few percent of its rows), written once
    to the scratch: the periods, the per-person summary and the attrition count read them
    instead of each reading ``drug_exposure`` again."""
    return write_read_back(
        drug_events_df(clean, lookups, definitions), join(scratch, DRUG_EVENTS_FILE)
    )


def count_from_census(
    plan: PhenotypePlan, clean: CleanTables, definitions: Definitions, scratch: str
) -> tuple[list[AttritionRow], dt.date | None, DataFrame]:
    """Write the census (one pass over every row of every table) to the scratch and count
    the attrition and find the cutoff in it; returns the census read back too, for the
    EHR evidence of the persons."""
    census = write_read_back(plan.census_df, join(scratch, CENSUS_FILE))
    counts, cutoff = count_attrition(clean, definitions, census=census)
    return counts, cutoff, census


def write_plan_tables(plan: PhenotypePlan, out_dir: str, scratch: str) -> None:
    """Write the periods under ``out_dir`` and the per-person summary to ``scratch``, side
    by side: two independent Spark jobs whose tasks fill each other's idle cores."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        summary_written = pool.submit(
            plan.summary_df.write.mode("overwrite").parquet, join(scratch, SUMMARY_FILE)
        )
        plan.periods_df.write.mode("overwrite").parquet(output_path(out_dir, Layout.PERIODS))
        summary_written.result()


def write_persons(
    plan: PhenotypePlan,
    out_dir: str,
    scratch: str,
    cutoff: dt.date | None,
    census: DataFrame | None = None,
) -> None:
    """Write the persons, from the periods, the per-person summary and the census already
    written (:func:`write_plan_tables`, :func:`count_from_census`): every output is
    computed once."""
    spark = plan.periods_df.sparkSession
    # read back with the schemas known: no job to infer them
    periods_path = output_path(out_dir, Layout.PERIODS)
    periods_df = spark.read.schema(plan.periods_df.schema).parquet(periods_path)
    summary_df = spark.read.schema(plan.summary_df.schema).parquet(join(scratch, SUMMARY_FILE))
    persons_df = plan.persons_df(periods_df, summary_df, cutoff, census)
    persons_df.write.mode("overwrite").parquet(output_path(out_dir, Layout.PERSONS))


def write_small_outputs(out_dir: str, sizes: pd.DataFrame, attrition: list[AttritionRow]) -> None:
    """Write group sizes and attrition as single Parquet files (no Spark job)."""
    table = pd.DataFrame(
        [(a.step, a.n_persons, a.n_rows_dropped, a.reason) for a in attrition],
        columns=["step", "n_persons", "n_rows_dropped", "reason"],
    ).astype({"n_persons": "int64", "n_rows_dropped": "int64"})
    storage.write_parquet(sizes, output_path(out_dir, Layout.GROUP_SIZES))
    storage.write_parquet(table, output_path(out_dir, Layout.PHENOTYPE_ATTRITION))


def run_phenotype(config: Config, out_dir: str) -> dict[str, Any]:
    """The phenotype stage: OMOP tables in, ``phenotypes/`` out.

    Parameters
    ----------
    config : the run's config (``omop``, ``phenotypes``; ``qc/cohorts.parquet`` under
        ``output_dir`` when it exists).
    out_dir : staging folder; outputs go to ``out_dir/phenotypes/``.

    Returns
    -------
    Small summary for the manifest: person counts, cutoff, primary group sizes.
    """
    from hail.utils.java import Env

    spark = Env.spark_session()
    attrition: list[AttritionRow] = []
    definitions = definitions_from_config(config.phenotypes)
    with logged_step("OMOP tables read"):
        tables = read_tables(spark, config, attrition)
        code_lists = read_code_lists(config.phenotypes.code_lists)
        cohorts_df = read_cohorts(spark, config.output_dir)
        clean = clean_tables(tables, plausible_dates(definitions))
    with logged_step("code lists looked up"):
        # before the count starts: a lookup's one task would wait for all of the count's
        lookups = look_up_codes(spark, tables, code_lists, definitions.exclude_non_systemic)
    scratch = join(out_dir, "_scratch")
    try:
        with logged_step("drug events written"):
            drug_df = write_drug_events(clean, lookups, definitions, scratch)
        with logged_step("definitions planned"):
            plan = plan_phenotypes(clean, lookups, definitions, cohorts_df, drug_df)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # the census's job (the largest) runs while this thread writes the rest, so the
            # cores are busy while the driver plans and at the ends of each other's stages
            counted = pool.submit(count_from_census, plan, clean, definitions, scratch)
            with logged_step("periods and per-person summary written"):
                write_plan_tables(plan, out_dir, scratch)
            with logged_step("census written, unusable rows counted (waited for)"):
                counts, cutoff, census = counted.result()
        with logged_step("persons written"):
            write_persons(plan, out_dir, scratch, cutoff, census)
    finally:  # also when a write fails: the scratch is never an output
        storage.remove(scratch)
    with logged_step("time to event, group sizes and attrition written"):
        persons = storage.read_parquet(output_path(out_dir, Layout.PERSONS))
        time_to_event_rows = time_to_event(persons, definitions.min_mdd_dates_survival)
        storage.write_parquet(
            time_to_event_rows, output_path(out_dir, Layout.TIME_TO_EVENT), TIME_TO_EVENT_SCHEMA
        )
        attrition += counts + lookups.attrition
        attrition += no_ehr_attrition(persons, definitions.require_ehr)
        attrition += survival_attrition(time_to_event_rows)
        sizes = group_sizes_pandas(persons)
        write_small_outputs(out_dir, sizes, attrition)
    n_persons = len(persons)
    # exact counts only to the private log; the report shows them under disclosure control
    log.info("phenotype group sizes:\n%s", sizes.to_string(index=False), extra=PRIVATE)
    log.info("phenotype: group sizes in %s (exact counts: not shareable)", Layout.GROUP_SIZES)
    primary = sizes[
        (sizes.cohort == "all")
        & (sizes.trd_def == PRIMARY_TRD)
        & (sizes.trmdd_def == PRIMARY_TRMDD)
    ]
    return {
        "n_persons": int(n_persons),
        "cutoff_date": str(cutoff),
        "primary_all": primary.drop(columns=["cohort", "trd_def", "trmdd_def"]).to_dict("records"),
        "outputs": [
            Layout.PERSONS,
            Layout.PERIODS,
            Layout.PHENOTYPE_ATTRITION,
            Layout.TIME_TO_EVENT,
            Layout.GROUP_SIZES,
        ],
    }
