"""The phenotype stage: ``run_phenotype(config, out_dir)`` (see ``docs/architecture.md``)."""

from __future__ import annotations

import logging
import os
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.config import Config, PhenotypeConfig
from trd_spark.ehr import omop
from trd_spark.ehr.codes import read_code_lists
from trd_spark.ehr.definitions import Definitions, group_sizes
from trd_spark.ehr.events import AttritionRow
from trd_spark.ehr.phenotypes import PhenotypeResult, compute_phenotypes

log = logging.getLogger(__name__)


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
    )


def read_cohorts(spark: SparkSession, output_dir: str) -> DataFrame | None:
    """(person_id, cohort) from ``qc/cohorts.parquet``, or None when the QC stage has not run."""
    path = f"{output_dir.rstrip('/')}/qc/cohorts.parquet"
    if not omop.is_remote(path) and not os.path.exists(path):
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


def survival_attrition(time_df: DataFrame) -> list[AttritionRow]:
    """Counts of the time-to-event subset and of each exclusion."""
    rows = time_df.groupBy("exclusion").count().collect()
    total = sum(int(r["count"]) for r in rows)
    out = [AttritionRow("time_to_event", total, 0, "subset: mdd_1 with enough MDD dates")]
    for r in sorted(rows, key=lambda r: str(r["exclusion"])):
        if r["exclusion"] is not None:
            out.append(
                AttritionRow("time_to_event", int(r["count"]), int(r["count"]), str(r["exclusion"]))
            )
    return out


def write_outputs(
    spark: SparkSession,
    result: PhenotypeResult,
    sizes_df: DataFrame,
    folder: str,
    attrition: list[AttritionRow],
) -> None:
    """Write persons, periods, time to event, group sizes and attrition under ``folder``."""
    result.persons_df.coalesce(1).write.mode("overwrite").parquet(f"{folder}/persons.parquet")
    result.periods_df.write.mode("overwrite").parquet(f"{folder}/periods.parquet")
    result.time_to_event_df.coalesce(1).write.mode("overwrite").parquet(
        f"{folder}/time_to_event.parquet"
    )
    sizes_df.coalesce(1).write.mode("overwrite").parquet(f"{folder}/group_sizes.parquet")
    attrition_df = spark.createDataFrame(
        [(a.step, a.n_persons, a.n_rows_dropped, a.reason) for a in attrition],
        "step string, n_persons long, n_rows_dropped long, reason string",
    )
    attrition_df.coalesce(1).write.mode("overwrite").parquet(f"{folder}/attrition.parquet")


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
    tables = read_tables(spark, config, attrition)
    code_lists = read_code_lists(config.phenotypes.code_lists)
    cohorts_df = read_cohorts(spark, config.output_dir)
    result = compute_phenotypes(
        spark, tables, code_lists, definitions_from_config(config.phenotypes), cohorts_df
    )
    folder = f"{out_dir.rstrip('/')}/phenotypes"
    persons_df = result.persons_df.persist()
    result.persons_df = persons_df
    result.kept.append(persons_df)
    sizes_df = group_sizes(persons_df).orderBy("cohort", "trd_def", "trmdd_def")
    sizes = sizes_df.toPandas()
    attrition = attrition + result.attrition + survival_attrition(result.time_to_event_df)
    write_outputs(spark, result, sizes_df, folder, attrition)
    n_persons = persons_df.count()
    result.unpersist()
    log.info("phenotype group sizes:\n%s", sizes.to_string(index=False))
    print(sizes.to_string(index=False))
    primary = sizes[
        (sizes.cohort == "all") & (sizes.trd_def == "trd_1") & (sizes.trmdd_def == "trmdd_1")
    ]
    return {
        "n_persons": int(n_persons),
        "cutoff_date": str(result.cutoff_date),
        "primary_all": primary.drop(columns=["cohort", "trd_def", "trmdd_def"]).to_dict("records"),
        "outputs": [
            "persons.parquet",
            "periods.parquet",
            "attrition.parquet",
            "time_to_event.parquet",
            "group_sizes.parquet",
        ],
    }
