"""The analyze stage: analysis tables, logistic grid, replication, Table 2, survival.

Reads ``qc/cohorts.parquet``, ``pgs/<cohort>.parquet``, ``phenotypes/persons.parquet``
and ``phenotypes/time_to_event.parquet`` under ``config.output_dir`` (all per-person
tables, read on the driver) and writes ``results/`` under ``out_dir``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from trd_spark import storage
from trd_spark.config import Config
from trd_spark.errors import InputError
from trd_spark.stats.analysis import AnalysisTable, build_analysis_table, replace_scores
from trd_spark.stats.calibration import CALIBRATION_COLUMNS, calibrate_platform
from trd_spark.stats.grid import (
    enumerate_designs,
    replicate,
    replicate_survival,
    run_association_grid,
    sensitivity_table,
)
from trd_spark.stats.progression import (
    ProgressionResults,
    SurvivalSet,
    build_survival_set,
    run_progression,
)
from trd_spark.study import (
    OUTPUT_TABLES,
    Layout,
    output_path,
    pooled_set_name,
    read_trait_catalog,
)

log = logging.getLogger(__name__)


def run_analyze(config: Config, out_dir: str) -> dict[str, Any]:
    """Run every statistical analysis of the study and write ``results/``.

    Parameters
    ----------
    config : the run's config (cohorts, analysis settings, trait catalog).
    out_dir : staging folder; results go to ``out_dir/results``.

    Returns
    -------
    Small summary: counts of models, flagged models, persons per cohort, seconds.
    """
    started = time.perf_counter()
    settings = config.analysis
    primary = (settings.primary_trd, settings.primary_trmdd)
    traits = read_trait_catalog(config.weights.traits).names
    log.info("analyze: building the per-cohort analysis tables (PGS: %s)", settings.pgs_adjust)
    tables, calibration_df = build_tables(config, traits)
    designs = enumerate_designs(
        list(tables), config.discovery_cohort, primary, settings.sex_stratified
    )
    log.info("analyze: logistic grid, %d designs x %d traits", len(designs), len(traits))
    associations_df = run_association_grid(
        tables, designs, settings.significance, settings.n_pcs, settings.max_iter, settings.tol
    ).assign(pgs_adjust=settings.pgs_adjust)
    log.info("analyze: Cox models, cox.zph, Kaplan-Meier curves and Schoenfeld residuals")
    progression, survival_attrition = analyse_progression(config, tables)
    log.info("analyze: replication meta-regressions and the sensitivity table")
    replication_df = pd.concat(
        [
            replicate(associations_df, config.discovery_cohort, primary),
            replicate_survival(progression.survival_df, survival_comparisons(config, tables)),
        ],
        ignore_index=True,
    )
    sensitivity_df = sensitivity_table(associations_df, config.discovery_cohort, primary)
    attrition_df = pd.DataFrame(
        [row for table in tables.values() for row in table.attrition] + survival_attrition,
        columns=["cohort", "step", "n_persons", "n_rows_dropped", "reason"],
    )
    results = {
        "associations": associations_df,
        "replication": replication_df,
        "sensitivity": sensitivity_df,
        "survival": progression.survival_df,
        "km": progression.km_df,
        "time_to_trd": progression.mean_df,
        "schoenfeld": progression.schoenfeld_df,
        "pgs_adjustment": calibration_df,
        "attrition": attrition_df,
        "traits": trait_presence(tables, traits),
    }
    write_results(results, out_dir)
    summary = summarize(results, tables, time.perf_counter() - started, settings.pgs_adjust)
    if summary["traits_in_some_cohorts_only"]:
        log.warning(
            "traits analysed only in the cohorts that have them: %s (see results/traits.parquet)",
            ", ".join(summary["traits_in_some_cohorts_only"]),
        )
    return summary


def read_stage_table(output_dir: str, relative: str, stage: str) -> pd.DataFrame:
    """A Parquet table an earlier stage wrote; a clear error when it is missing.

    Parameters
    ----------
    output_dir : the run's output folder.
    relative : path below it, a :class:`trd_spark.study.Layout` path.
    stage : the stage that writes it (named in the error).

    Returns
    -------
    DataFrame.
    """
    path = output_path(output_dir, relative)
    try:
        return storage.read_parquet(path)
    except FileNotFoundError as err:
        raise InputError(
            f"{path} not found; the analyze stage needs the {stage} stage's output: "
            f"run `trd-spark run --config ... --stages {stage}` first"
        ) from err


def build_tables(
    config: Config, traits: list[str]
) -> tuple[dict[str, AnalysisTable], pd.DataFrame]:
    """The analysis table of every configured cohort that has persons.

    Parameters
    ----------
    config : the run's config.
    traits : trait catalog.

    Returns
    -------
    (cohort name -> AnalysisTable (cohorts with nobody left are logged and skipped), the
    record of the ancestry calibration (CALIBRATION_COLUMNS; empty with pgs_adjust none)).
    """
    cohorts_df = read_stage_table(config.output_dir, Layout.COHORTS, "qc")
    persons_df = read_stage_table(config.output_dir, Layout.PERSONS, "phenotype")
    tables = {}
    for cohort in config.cohorts:
        pgs_df = read_stage_table(config.output_dir, Layout.pgs(cohort), "score")
        table = build_analysis_table(
            cohort, cohorts_df, pgs_df, persons_df, traits, config.analysis.n_pcs
        )
        if table.data_df.empty:
            log.warning("cohort %s has no persons left for analysis; skipped", cohort)
            continue
        tables[cohort] = table
    if config.discovery_cohort not in tables:
        raise InputError(
            f"discovery cohort {config.discovery_cohort} has no persons left after exclusions; "
            f"see {Layout.ANALYSIS_ATTRITION}"
        )
    return calibrate_tables(config, tables, traits)


def calibrate_tables(
    config: Config, tables: dict[str, AnalysisTable], traits: list[str]
) -> tuple[dict[str, AnalysisTable], pd.DataFrame]:
    """Replace the raw scores by their ancestry calibration (``analysis.pgs_adjust``).

    Fitted per genotyping platform over the analysed persons of its cohorts
    (:func:`trd_spark.stats.calibration.calibrate_platform`).

    Parameters
    ----------
    config : the run's config.
    tables : the analysis tables, raw scores.
    traits : trait catalog.

    Returns
    -------
    (tables with calibrated, re-standardized scores, the calibration record); the tables
    unchanged and an empty record with ``none``.
    """
    method = config.analysis.pgs_adjust
    if method == "none":
        return tables, pd.DataFrame(columns=CALIBRATION_COLUMNS)
    by_platform: dict[str, list[str]] = {}
    for cohort in tables:
        by_platform.setdefault(config.cohorts[cohort].genotypes, []).append(cohort)
    calibrated, records = dict(tables), []
    for platform, members in by_platform.items():
        scores_df = pd.concat([tables[c].raw_pgs_df for c in members], ignore_index=True)
        pcs_df = pd.concat([tables[c].data_df for c in members], ignore_index=True)
        result = calibrate_platform(
            platform, scores_df, pcs_df, traits, method, config.analysis.pgs_adjust_pcs
        )
        records.append(result.summary_df)
        for cohort in members:
            calibrated[cohort] = replace_scores(tables[cohort], result.scores_df)
    return calibrated, pd.concat(records, ignore_index=True)


def analyse_progression(
    config: Config, tables: dict[str, AnalysisTable]
) -> tuple[ProgressionResults, list[dict[str, object]]]:
    """Survival sets per cohort and pooled per platform with two or more cohorts.

    Parameters
    ----------
    config : the run's config.
    tables : analysis tables.

    Returns
    -------
    (the survival results, attrition rows).
    """
    tte_df = read_stage_table(config.output_dir, Layout.TIME_TO_EVENT, "phenotype")
    adjust = config.analysis.pgs_adjust
    sets: list[SurvivalSet] = []
    frames: dict[str, pd.DataFrame] = {}
    attrition: list[dict[str, object]] = []
    for cohort, table in tables.items():
        set_df, rows = build_survival_set(tte_df, table)
        frames[cohort] = set_df
        sets.append(SurvivalSet(cohort, set_df, table.traits, pgs_adjust=adjust))
        attrition += rows
    for platform, members in platform_groups(config, list(tables)).items():
        traits = [
            t for t in tables[members[0]].traits if all(t in tables[m].traits for m in members)
        ]
        pooled_df = pd.concat([frames[m] for m in members], ignore_index=True)
        # a calibrated PGS has one scale across cohorts; a raw one is cut within each cohort
        sets.append(SurvivalSet(pooled_set_name(platform), pooled_df, traits, pooled=True,
                                within_cohort=adjust == "none", pgs_adjust=adjust))  # fmt: skip
    percentiles = tuple(config.analysis.strata_percentiles)
    if len(percentiles) != 2:
        raise InputError("analysis.strata_percentiles must hold two percentiles, e.g. [20, 80]")
    progression = run_progression(
        sets, config.analysis.n_pcs, (percentiles[0], percentiles[1]), config.report.km_traits
    )
    return progression, attrition


def survival_comparisons(config: Config, tables: dict[str, AnalysisTable]) -> list[tuple[str, str]]:
    """(replication set, reference set) pairs of the survival replication.

    Every other cohort against the discovery cohort, and every cohort outside a pooled set
    that holds the discovery cohort against that pooled set (the paper's survival analysis
    pooled its WGS cohorts).

    Parameters
    ----------
    config : the run's config.
    tables : analysed cohorts.

    Returns
    -------
    list of (cohort, reference) pairs.
    """
    discovery = config.discovery_cohort
    pairs = [(c, discovery) for c in tables if c != discovery]
    for platform, members in platform_groups(config, list(tables)).items():
        if discovery in members:
            pairs += [(c, pooled_set_name(platform)) for c in tables if c not in members]
    return pairs


def platform_groups(config: Config, cohorts: list[str]) -> dict[str, list[str]]:
    """Platforms with two or more analysed cohorts (pooled with cohort as a Cox stratum).

    Parameters
    ----------
    config : the run's config.
    cohorts : analysed cohorts.

    Returns
    -------
    platform name -> its cohorts.
    """
    groups: dict[str, list[str]] = {}
    for cohort in cohorts:
        groups.setdefault(config.cohorts[cohort].genotypes, []).append(cohort)
    return {p: members for p, members in groups.items() if len(members) >= 2 and p not in cohorts}


def trait_presence(tables: dict[str, AnalysisTable], traits: list[str]) -> pd.DataFrame:
    """Which catalog traits were analysed in which cohort (a trait in one cohort only shows).

    Parameters
    ----------
    tables : analysis tables.
    traits : the catalog.

    Returns
    -------
    DataFrame trait, cohort, present, constant.
    """
    rows = [
        {
            "trait": t,
            "cohort": c,
            "present": t in table.traits,
            "constant": t in table.constant_traits,
        }
        for c, table in tables.items()
        for t in traits
    ]
    return pd.DataFrame(rows, columns=["trait", "cohort", "present", "constant"])


# results table -> where it goes (the layout's names, but attrition and traits are the
# analysis stage's own)
_LAYOUT_RESULTS = (
    "associations", "replication", "sensitivity", "survival", "km", "time_to_trd",
    "schoenfeld", "pgs_adjustment",
)  # fmt: skip
RESULT_FILES: dict[str, str] = {
    **{name: OUTPUT_TABLES[name] for name in _LAYOUT_RESULTS},
    "attrition": Layout.ANALYSIS_ATTRITION,
    "traits": Layout.ANALYSED_TRAITS,
}


def write_results(results: dict[str, pd.DataFrame], out_dir: str) -> None:
    """Each results table where :data:`RESULT_FILES` puts it under ``out_dir``."""
    for name, frame in results.items():
        storage.write_parquet(frame, output_path(out_dir, RESULT_FILES[name]))


def summarize(
    results: dict[str, pd.DataFrame],
    tables: dict[str, AnalysisTable],
    seconds: float,
    pgs_adjust: str = "none",
) -> dict[str, Any]:
    """The small dict that goes into the stage manifest (``pgs_adjust``: the PGS calibration
    every result used)."""
    associations_df = results["associations"]
    presence_df = results["traits"]
    partial = presence_df.groupby("trait").present.agg(lambda s: 0 < s.sum() < len(s))
    return {
        "persons": {c: len(t.data_df) for c, t in tables.items()},
        "models": len(associations_df),
        "models_flagged": int((~associations_df.converged).sum()),
        "significant": int(associations_df.significant.sum()),
        "traits_in_some_cohorts_only": sorted(partial[partial].index),
        "cox_rows": len(results["survival"]),
        "cox_flagged": int((results["survival"].status != "ok").sum()),
        "pgs_adjust": pgs_adjust,
        "seconds": round(seconds, 2),
    }
