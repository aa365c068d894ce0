"""The ``qc`` and ``score`` stages: the glue between the config and the genomics library.

``run_qc`` writes ``qc/variants_<platform>.parquet``, the dosage caches, ``qc/summary.json``,
``qc/cohorts.parquet`` and ``qc/cohort_attrition.parquet``; ``run_score`` writes
``pgs/<cohort>.parquet`` and ``pgs/match_report.parquet``.  Paths come from
:class:`trd_spark.study.Layout`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from typing import Any

import hail as hl
import numpy as np
import pandas as pd
from hail.utils.java import Env
from pyspark.sql import DataFrame, SparkSession

from trd_spark import storage
from trd_spark.config import Config, GenotypeSource
from trd_spark.disclosure.private import PRIVATE
from trd_spark.errors import InputError
from trd_spark.genomics import pcs, pgs, qc
from trd_spark.genomics.cohorts import (
    CohortSpec,
    assign_cohorts,
    attach_pcs,
    pcs_attrition,
    person_ids_of,
)
from trd_spark.genomics.liftover import liftover_weights
from trd_spark.genomics.readers import read_ancestry, read_genotypes
from trd_spark.genomics.scoring import DosageCache
from trd_spark.genomics.weights import list_weight_files, read_weights, write_lifted
from trd_spark.study import Layout, output_path, read_trait_catalog

log = logging.getLogger(__name__)


def _spark() -> SparkSession:
    return Env.spark_session()


@dataclass(frozen=True)
class Platform:
    """One platform's genotypes as the qc stage reads them."""

    name: str
    mt: hl.MatrixTable
    samples: list[str]  # the MatrixTable's column keys, in order
    thresholds: qc.QCThresholds
    plink: qc.PlinkSource | None = None  # the fileset, when the genotypes are PLINK 1


def read_platform(config: Config, name: str) -> Platform:
    """The platform's genotypes (split first when its QC splits multi-allelic sites)."""
    source = config.genotypes[name]
    settings = config.platform_qc(name)
    mt = read_genotypes(
        source.path, source.format, source.reference_genome, source.sample_file,
        source.n_partitions,
    )  # fmt: skip
    mt = qc.prepare_genotypes(mt, settings.multiallelic)
    # the library's thresholds are the config's QC keys of the same names
    thresholds = qc.QCThresholds(
        **{f.name: getattr(settings, f.name) for f in fields(qc.QCThresholds)}
    )
    plink = None
    if source.format == "plink":
        prefix = source.path[: -len(".bed")] if source.path.endswith(".bed") else source.path
        plink = qc.PlinkSource(prefix, source.reference_genome)
    return Platform(name, mt, [str(s) for s in mt.s.collect()], thresholds, plink)


def _cohort_specs(config: Config) -> list[CohortSpec]:
    return [
        CohortSpec(
            name,
            rule.genotypes,
            tuple(rule.ancestry) if rule.ancestry else None,
            tuple(rule.exclude_in),
        )
        for name, rule in config.cohorts.items()
    ]


def cache_column_order(samples: list[str], platform_df: pd.DataFrame) -> list[int]:
    """Column indices of the platform's persons: cohort members cohort by cohort (each cohort
    one contiguous run), then the persons in no cohort.

    Parameters
    ----------
    samples : the MatrixTable's column keys in order.
    platform_df : ``person_id, cohort`` of every person genotyped on the platform.

    Returns
    -------
    Indices into ``samples``.
    """
    column = {int(s): i for i, s in enumerate(samples)}
    ordered = platform_df.assign(
        _col=platform_df["person_id"].map(column), _none=platform_df["cohort"].isna()
    )
    ordered = ordered.sort_values(["_none", "cohort", "_col"], na_position="last")
    return ordered["_col"].astype(int).tolist()


def qc_groups(platform_df: pd.DataFrame, fam_ids: list[str], with_file: bool) -> list[str | None]:
    """Each cache column's group for the population-AF rule: the ancestry file's group (None
    when absent), or one group ``all`` for everyone when no ancestry file is given."""
    if not with_file:
        return ["all"] * len(fam_ids)
    group = dict(zip(platform_df["person_id"], platform_df["ancestry_pred"], strict=True))
    return [None if pd.isna(group[int(s)]) else str(group[int(s)]) for s in fam_ids]


def qc_platform(
    config: Config,
    platform: Platform,
    platform_df: pd.DataFrame,
    weight_sites_df: DataFrame | None,
    out_dir: str,
) -> qc.PlatformQC:
    """QC of one platform, its cache holding its cohort members first (cohort by cohort)."""
    log.info("qc: site rules, dosage cache and QC statistics of platform %s", platform.name)
    order = cache_column_order(platform.samples, platform_df)
    fam_ids = [platform.samples[i] for i in order]
    result = qc.qc_genotypes(
        platform.mt,
        order,
        qc_groups(platform_df, fam_ids, config.ancestry is not None),
        weight_sites_df,
        platform.thresholds,
        output_path(out_dir, Layout.dosage_cache(platform.name)),
        output_path(out_dir, Layout.qc_variants(platform.name)),
        output_path(out_dir, f"{Layout.SCRATCH}/{platform.name}"),
        platform.plink,
    )
    log.info("qc: %s: %s", platform.name, result.counts)
    log.info(  # a count of persons: to the private log only (docs/disclosure.md)
        "qc: dosage cache of %d sites x %d persons written",
        result.cache.n_variants,
        result.cache.n_samples,
        extra=PRIVATE,
    )
    return result


def platform_pcs(
    config: Config,
    platform_df: pd.DataFrame,
    cache: DosageCache,
    fam_ids: list[str],
    variants_path: str,
    needing: list[str],
) -> pd.DataFrame | None:
    """PCs of the members of the platform's cohorts that need them (None: no such cohort)."""
    plan = pcs.plan_pcs(platform_df, needing)
    if plan is None:
        return None
    where = "persons outside those cohorts" if plan.outside else "the cohorts' own members"
    log.info("qc: PCs computed for cohorts %s from a PCA of %s", ", ".join(needing), where)
    log.info(  # counts of persons: to the private log only (docs/disclosure.md)
        "qc: PCs for %d persons from a PCA of %d reference persons",
        len(plan.targets), len(plan.reference), extra=PRIVATE,
    )  # fmt: skip
    sites = pcs.choose_pca_sites(_spark().read.parquet(variants_path))
    return pcs.compute_pcs(cache, fam_ids, plan, sites, config.analysis.n_pcs)


def weight_sites_df(config: Config, scratch_dir: str) -> DataFrame | None:
    """The weight files' sites, which QC examines (None: every site, ``qc.cache_sites: all``
    on every platform)."""
    if all(config.platform_qc(p).cache_sites == "all" for p in config.genotypes):
        return None
    if config.prscs is not None:  # the weights will be a subset of the LD panel's SNPs
        from trd_spark.prscs.ldref import find_panel

        snpinfo = find_panel(config.prscs.ld_ref).snpinfo
        log.info("qc: examining the sites of the LD panel's SNP table %s", snpinfo)
        return qc.read_snpinfo_sites_df(_spark(), snpinfo)
    _, files_df = _weight_files(config)
    folder = storage.join(scratch_dir, "weight_sites")
    log.info("qc: reading the sites of %d weight files (qc.cache_sites: weights)", len(files_df))
    pgs.write_weight_sites(_spark(), pgs.WeightFiles(files_df, weight_source(config)[1]), folder)
    return qc.read_weight_sites_df(_spark(), folder)


def _sites_for(config: Config, platform: str, sites_df: DataFrame | None) -> DataFrame | None:
    """The weight sites to restrict a platform to; None (every site) when its QC examines all
    sites or its build differs from the weights' (they are lifted over at scoring)."""
    source = config.genotypes[platform]
    same_build = source.reference_genome == config.weights.reference_genome
    if config.platform_qc(platform).cache_sites == "all" or not same_build:
        return None
    return sites_df


def run_qc(config: Config, out_dir: str) -> dict[str, Any]:
    """Cohorts, then per platform the site rules, the dosage cache, the QC statistics and
    the PCs of the cohorts whose members lack ancestry-file PCs.

    Parameters
    ----------
    config : the run's configuration.
    out_dir : staging folder; outputs go to ``out_dir/qc``.

    Returns
    -------
    Small summary for the manifest: counts per platform and per cohort.
    """
    qc_dir = output_path(out_dir, "qc")
    scratch_dir = output_path(out_dir, Layout.SCRATCH)
    storage.makedirs(qc_dir)
    n_pcs = config.analysis.n_pcs
    ancestry_df = read_ancestry(config.ancestry, n_pcs) if config.ancestry else None
    if ancestry_df is None:
        log.warning("no ancestry file given: PCs are computed from the genotypes")
    platforms = {name: read_platform(config, name) for name in config.genotypes}
    persons = {name: person_ids_of(p.samples, name) for name, p in platforms.items()}
    cohorts_df, attrition_df = assign_cohorts(persons, ancestry_df, _cohort_specs(config))
    cohorts_df = attach_pcs(cohorts_df, ancestry_df, None, n_pcs)
    needing = pcs.cohorts_needing_pcs(cohorts_df, n_pcs)
    sites_df = weight_sites_df(config, scratch_dir)
    summary: dict[str, Any] = {"rules": list(qc.QC_RULES), "platforms": {}, "policy": {}}
    computed: list[pd.DataFrame] = []
    for name, platform in platforms.items():
        platform_df = cohorts_df[cohorts_df["platform"] == name]
        result = qc_platform(
            config, platform, platform_df, _sites_for(config, name, sites_df), out_dir
        )
        summary["platforms"][name] = result.counts
        summary["policy"][name] = {
            "rules": platform.thresholds.rules(),
            "min_overlap": config.platform_min_overlap(name),
        }
        variants_path = output_path(out_dir, Layout.qc_variants(name))
        pcs_df = platform_pcs(
            config, platform_df, result.cache, result.fam_ids, variants_path, needing
        )
        if pcs_df is not None:
            computed.append(pcs_df.assign(platform=name))
    computed_df = pd.concat(computed, ignore_index=True) if computed else None
    cohorts_df = attach_pcs(cohorts_df.drop(columns=_pc_columns(cohorts_df)), ancestry_df,
                            computed_df, n_pcs)  # fmt: skip
    attrition_df = pd.concat([attrition_df, pd.DataFrame(pcs_attrition(cohorts_df))])
    _write_qc_tables(out_dir, cohorts_df, attrition_df, summary)
    storage.remove(scratch_dir)
    return {
        "variants": {p: c["n_kept"] for p, c in summary["platforms"].items()},
        "cohorts": cohorts_df["cohort"].value_counts().to_dict(),
        "pcs_source": cohorts_df["pcs_source"].value_counts().to_dict(),
    }


def _pc_columns(cohorts_df: pd.DataFrame) -> list[str]:
    return [
        c for c in cohorts_df.columns if c == "pcs_source" or (c[:2] == "pc" and c[2:].isdigit())
    ]


def _write_qc_tables(
    out_dir: str, cohorts_df: pd.DataFrame, attrition_df: pd.DataFrame, summary: dict[str, Any]
) -> None:
    storage.write_parquet(cohorts_df, output_path(out_dir, Layout.COHORTS))
    storage.write_parquet(
        attrition_df.astype({"n_persons": "int64", "n_rows_dropped": "int64"}),
        output_path(out_dir, Layout.COHORT_ATTRITION),
    )
    storage.write_text(output_path(out_dir, Layout.QC_SUMMARY), json.dumps(summary, indent=2))


# ---------------------------------------------------------------------------
# score
# ---------------------------------------------------------------------------


def weight_source(config: Config) -> tuple[str, str]:
    """Folder and format of the weight files the score stage reads: those the weights stage
    computed when the config has a ``prscs`` section, else ``weights.path``."""
    if config.prscs is not None:
        return output_path(config.output_dir, Layout.WEIGHTS), "prscs"
    if config.weights.path is None:
        raise InputError("the config names no weights: give weights.path or a prscs section")
    return config.weights.path, config.weights.format


def _weight_files(config: Config) -> tuple[list[str], pd.DataFrame]:
    traits = read_trait_catalog(config.weights.traits).names
    folder, fmt = weight_source(config)
    if config.prscs is not None and not storage.exists(folder):
        raise InputError(f"{folder} is missing; run the weights stage first")
    return traits, list_weight_files(folder, fmt, traits)


def _platform_weights(
    config: Config, source: GenotypeSource, files_df: pd.DataFrame, scratch_dir: str
) -> pgs.WeightFiles:
    """The weight files as they are, or lifted over to the platform's build."""
    fmt = weight_source(config)[1]
    if config.weights.reference_genome == source.reference_genome:
        return pgs.WeightFiles(files_df, fmt)
    if not config.weights.chain_file:
        raise InputError(
            f"weights are on {config.weights.reference_genome} but genotypes {source.path} are on "
            f"{source.reference_genome}; give weights.chain_file to lift the weights over"
        )
    log.info("score: lifting the weights over to %s", source.reference_genome)
    lifted_df = liftover_weights(
        read_weights(_spark(), files_df, fmt),
        config.weights.reference_genome,
        source.reference_genome,
        config.weights.chain_file,
    )
    folder = storage.join(scratch_dir, f"lifted_{source.reference_genome}")
    return pgs.WeightFiles(write_lifted(lifted_df, folder), "lifted")


def run_score(config: Config, out_dir: str) -> dict[str, Any]:
    """Match weights, score every cohort for every trait above its platform's floor, write
    ``pgs/``.

    Parameters
    ----------
    config : the run's configuration.
    out_dir : staging folder; outputs go to ``out_dir/pgs``.

    Returns
    -------
    Small summary: persons scored per cohort, traits, sites per platform, traits skipped
    per platform for too little overlap.
    """
    storage.makedirs(output_path(out_dir, "pgs"))
    cohorts_path = output_path(config.output_dir, Layout.COHORTS)
    if not storage.exists(cohorts_path):
        raise InputError(f"{cohorts_path} is missing; run the qc stage first")
    cohorts_df = storage.read_parquet(cohorts_path)
    summary = json.loads(storage.read_text(output_path(config.output_dir, Layout.QC_SUMMARY)))
    traits, files_df = _weight_files(config)
    reports: list[pd.DataFrame] = []
    result: dict[str, Any] = {"traits": len(traits), "persons": {}, "sites": {}, "skipped": {}}
    for platform, source in config.genotypes.items():
        members_df = cohorts_df[(cohorts_df["platform"] == platform) & cohorts_df["cohort"].notna()]
        if members_df.empty:
            continue
        log.info("score: matching and scoring platform %s", platform)
        scratch_dir = output_path(out_dir, f"{Layout.SCRATCH}/{platform}")
        genotypes = pgs.QCdGenotypes(
            variants_path=output_path(config.output_dir, Layout.qc_variants(platform)),
            cache_prefix=output_path(config.output_dir, Layout.dosage_cache(platform)),
            n_variants=int(summary["platforms"][platform]["n_in_cache"]),
        )
        cohort_ids = {
            str(c): part["person_id"].to_numpy(dtype=np.int64)
            for c, part in members_df.groupby("cohort", sort=False)
        }
        scores, report_df = pgs.score_weights(
            _spark(), _platform_weights(config, source, files_df, scratch_dir), genotypes,
            traits, cohort_ids, config.weights.keep_ambiguous,
            config.platform_min_overlap(platform), scratch_dir, platform,
        )  # fmt: skip
        reports.append(report_df)
        result["sites"][platform] = genotypes.n_variants
        result["skipped"][platform] = report_df.loc[~report_df["scored"], "trait"].tolist()
        for cohort, scores_df in scores.items():
            storage.write_parquet(scores_df, output_path(out_dir, Layout.pgs(cohort)))
            result["persons"][cohort] = len(scores_df)
        storage.remove(scratch_dir)
    storage.write_parquet(
        pd.concat(reports, ignore_index=True), output_path(out_dir, Layout.MATCH_REPORT)
    )
    return result
