"""The ``qc`` and ``score`` stages: the glue between the config and the genomics library.

``run_qc`` writes ``qc/variants_<platform>.parquet``, ``qc/summary.json``,
``qc/cohorts.parquet`` and ``qc/cohort_attrition.parquet``; ``run_score`` writes
``pgs/<cohort>.parquet`` and ``pgs/match_report.parquet``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import hail as hl
import numpy as np
import pandas as pd
from hail.utils.java import Env
from pyspark.sql import SparkSession

from trd_spark import storage
from trd_spark.config import Config, GenotypeSource
from trd_spark.disclosure.private import PRIVATE
from trd_spark.errors import InputError
from trd_spark.genomics import pgs, qc
from trd_spark.genomics.cohorts import CohortSpec, assign_cohorts, attach_pcs, person_ids_of
from trd_spark.genomics.liftover import liftover_weights
from trd_spark.genomics.pcs import compute_pcs
from trd_spark.genomics.readers import read_ancestry, read_genotypes
from trd_spark.genomics.weights import (
    list_weight_files,
    read_trait_catalog,
    read_weights,
    write_lifted,
)
from trd_spark.study import Layout, output_path

log = logging.getLogger(__name__)


def _spark() -> SparkSession:
    return Env.spark_session()


def _read_platform(source: GenotypeSource) -> hl.MatrixTable:
    return read_genotypes(
        source.path,
        source.format,
        source.reference_genome,
        source.sample_file,
        source.n_partitions,
    )


def _thresholds(config: Config) -> qc.QCThresholds:
    c = config.qc
    return qc.QCThresholds(
        min_pop_af=c.min_pop_af,
        min_pop_ac=c.min_pop_ac,
        min_af=c.min_af,
        min_call_rate=c.min_call_rate,
        excess_het_p=c.excess_het_p,
        multiallelic=c.multiallelic,
        snv_only=c.snv_only,
    )


def _groups(ancestry_df: pd.DataFrame | None, samples: list[str]) -> dict[str, str] | None:
    """Each sample's ancestry group for the population-AF rule (None: no ancestry file).

    Keyed by the MT's own spelling of the id, which may differ from the file's (``007``)."""
    if ancestry_df is None:
        return None
    by_id = dict(zip(ancestry_df["person_id"], ancestry_df["ancestry_pred"], strict=True))
    return {s: by_id[int(s)] for s in samples if int(s) in by_id}


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


def cache_column_order(samples: list[str], members_df: pd.DataFrame) -> list[int]:
    """Column indices of the cohort members, cohort by cohort (each cohort one contiguous run).

    Parameters
    ----------
    samples : the MatrixTable's column keys in order.
    members_df : ``person_id, cohort`` of this platform's cohort members.

    Returns
    -------
    Indices into ``samples``; persons in no cohort are left out of the cache.
    """
    column = {int(s): i for i, s in enumerate(samples)}
    ordered = members_df.assign(_col=members_df["person_id"].map(column))
    ordered = ordered.sort_values(["cohort", "_col"])
    return ordered["_col"].astype(int).tolist()


def _qc_platform(
    config: Config,
    platform: str,
    mt: hl.MatrixTable,
    samples: list[str],
    members_df: pd.DataFrame,
    ancestry_df: pd.DataFrame | None,
    qc_dir: str,
    weight_sites: qc.WeightSites | None,
) -> tuple[dict[str, int], pd.DataFrame | None]:
    """QC of one platform: sites, dosage cache of its cohort members, PCs without ancestry file.

    ``weight_sites`` (or None for every kept site) restricts the cache to the sites
    some weight may use; ``qc/variants_<platform>.parquet`` lists every kept site, with the
    site's row in the cache as ``var_idx`` (null when not cached).
    """
    log.info("qc: variant QC of platform %s", platform)
    sites_ht, counts = qc.run_variant_qc(mt, _groups(ancestry_df, samples), _thresholds(config))
    kept_mt = qc.kept_genotypes(mt, sites_ht, config.qc.multiallelic)
    cache_mt = kept_mt if weight_sites is None else qc.at_weight_sites(kept_mt, weight_sites)
    cache_mt = cache_mt.choose_cols(cache_column_order(samples, members_df))
    cache_prefix = storage.join(qc_dir, f"dosages_{platform}")
    cache = qc.write_dosage_cache(cache_mt, cache_prefix)
    counts["n_in_cache"] = cache.n_variants
    log.info(  # a count of persons: to the private log only (docs/disclosure.md)
        "qc: dosage cache of %d sites x %d persons written",
        cache.n_variants,
        cache.n_samples,
        extra=PRIVATE,
    )
    variants_df = qc.index_variants(qc.kept_sites_ht(sites_ht).to_spark(), cache_prefix)
    variants_df.orderBy("contig", "position").write.mode("overwrite").parquet(
        storage.join(qc_dir, f"variants_{platform}.parquet")
    )
    if ancestry_df is not None:
        return counts, None
    log.warning("no ancestry file given: computing 16 PCs from the %s genotypes", platform)
    return counts, compute_pcs(mt, sites_ht, config.analysis.n_pcs)


def _weight_sites(config: Config, scratch_dir: str) -> qc.WeightSites | None:
    """The weight files' sites for the cache restriction (None: cache every kept site).

    Only for weights on the genotypes' build; other platforms cache every kept site.
    """
    builds = {source.reference_genome for source in config.genotypes.values()}
    if config.qc.cache_sites == "all" or config.weights.reference_genome not in builds:
        return None
    if config.prscs is not None:  # the weights will be a subset of the LD panel's SNPs
        from trd_spark.prscs.ldref import find_panel

        snpinfo = find_panel(config.prscs.ld_ref).snpinfo
        log.info("qc: caching the sites of the LD panel's SNP table %s", snpinfo)
        return qc.read_snpinfo_sites(snpinfo, config.weights.reference_genome)
    _, files_df = _weight_files(config)
    folder = storage.join(scratch_dir, "weight_sites")
    log.info("qc: reading the sites of %d weight files (qc.cache_sites: weights)", len(files_df))
    pgs.write_weight_sites(_spark(), pgs.WeightFiles(files_df, weight_source(config)[1]), folder)
    return qc.read_weight_sites(folder + "/part-*.tsv", config.weights.reference_genome)


def run_qc(config: Config, out_dir: str) -> dict[str, Any]:
    """Cohorts, then per platform variant QC, the dosage cache and (without ancestry file) PCs.

    Parameters
    ----------
    config : the run's configuration.
    out_dir : staging folder; outputs go to ``out_dir/qc``.

    Returns
    -------
    Small summary for the manifest: counts per platform and per cohort.
    """
    qc_dir = storage.join(out_dir, "qc")
    storage.makedirs(qc_dir)
    ancestry_df = read_ancestry(config.ancestry, config.analysis.n_pcs) if config.ancestry else None
    genotypes = {platform: _read_platform(source) for platform, source in config.genotypes.items()}
    samples = {platform: [str(s) for s in mt.s.collect()] for platform, mt in genotypes.items()}
    persons = {platform: person_ids_of(ids, platform) for platform, ids in samples.items()}
    cohorts_df, attrition_df = assign_cohorts(persons, ancestry_df, _cohort_specs(config))
    summary: dict[str, Any] = {"rules": list(qc.QC_RULES), "platforms": {}}
    computed_pcs: dict[str, pd.DataFrame] = {}
    scratch_dir = storage.join(out_dir, "_scratch")
    weight_sites = _weight_sites(config, scratch_dir)
    for platform, source in config.genotypes.items():
        members_df = cohorts_df[(cohorts_df["platform"] == platform) & cohorts_df["cohort"].notna()]
        same_build = source.reference_genome == config.weights.reference_genome
        if weight_sites and not same_build:
            log.info("qc: weights need lift-over to %s; caching every kept site", platform)
        counts, pcs = _qc_platform(
            config, platform, genotypes[platform], samples[platform], members_df, ancestry_df,
            qc_dir, weight_sites if same_build else None,
        )  # fmt: skip
        summary["platforms"][platform] = counts
        if pcs is not None:
            computed_pcs[platform] = pcs
    if ancestry_df is not None:
        cohorts_df = attach_pcs(cohorts_df, ancestry_df, "ancestry_file", config.analysis.n_pcs)
    else:
        cohorts_df = _attach_computed(cohorts_df, computed_pcs, config.analysis.n_pcs)
    _write_qc_tables(qc_dir, cohorts_df, attrition_df, summary)
    storage.remove(scratch_dir)
    return {
        "variants": {p: c["n_kept"] for p, c in summary["platforms"].items()},
        "cohorts": cohorts_df["cohort"].value_counts().to_dict(),
    }


def _attach_computed(
    cohorts_df: pd.DataFrame, computed: dict[str, pd.DataFrame], n_pcs: int
) -> pd.DataFrame:
    """PCs computed per platform; a person on two platforms gets each platform's own PCs."""
    frames = []
    for platform, part_df in cohorts_df.groupby("platform", sort=False):
        frames.append(attach_pcs(part_df, computed.get(str(platform)), "computed", n_pcs))
    return pd.concat(frames, ignore_index=True)


def _write_qc_tables(
    qc_dir: str, cohorts_df: pd.DataFrame, attrition_df: pd.DataFrame, summary: dict[str, Any]
) -> None:
    storage.write_parquet(cohorts_df, storage.join(qc_dir, "cohorts.parquet"))
    storage.write_parquet(
        attrition_df.astype({"n_persons": "int64", "n_rows_dropped": "int64"}),
        storage.join(qc_dir, "cohort_attrition.parquet"),
    )
    storage.write_text(storage.join(qc_dir, "summary.json"), json.dumps(summary, indent=2))


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
    catalog_df = read_trait_catalog(config.weights.traits)
    traits = catalog_df["trait"].tolist()
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
    """Match weights, score every cohort for every trait, write ``pgs/``.

    Parameters
    ----------
    config : the run's configuration.
    out_dir : staging folder; outputs go to ``out_dir/pgs``.

    Returns
    -------
    Small summary: persons scored per cohort, traits, sites per platform.
    """
    spark = _spark()
    pgs_dir = storage.join(out_dir, "pgs")
    storage.makedirs(pgs_dir)
    qc_dir = storage.join(config.output_dir, "qc")
    cohorts_path = storage.join(qc_dir, "cohorts.parquet")
    if not storage.exists(cohorts_path):
        raise InputError(f"{cohorts_path} is missing; run the qc stage first")
    cohorts_df = storage.read_parquet(cohorts_path)
    traits, files_df = _weight_files(config)
    reports: list[pd.DataFrame] = []
    persons: dict[str, int] = {}
    sites: dict[str, int] = {}
    for platform, source in config.genotypes.items():
        members_df = cohorts_df[(cohorts_df["platform"] == platform) & cohorts_df["cohort"].notna()]
        if members_df.empty:
            continue
        log.info("score: matching and scoring platform %s", platform)
        scratch_dir = storage.join(out_dir, "_scratch", platform)
        weights = _platform_weights(config, source, files_df, scratch_dir)
        scores, report_df, n_sites = _score_one_platform(
            config, spark, platform, weights, traits, members_df, qc_dir, scratch_dir
        )
        reports.append(report_df)
        sites[platform] = n_sites
        for cohort, scores_df in scores.items():
            storage.write_parquet(scores_df, storage.join(pgs_dir, f"{cohort}.parquet"))
            persons[cohort] = len(scores_df)
        storage.remove(scratch_dir)
    storage.write_parquet(
        pd.concat(reports, ignore_index=True), storage.join(pgs_dir, "match_report.parquet")
    )
    return {"traits": len(traits), "persons": persons, "sites": sites}


def _score_one_platform(
    config: Config,
    spark: SparkSession,
    platform: str,
    weights: pgs.WeightFiles,
    traits: list[str],
    members_df: pd.DataFrame,
    qc_dir: str,
    scratch_dir: str,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, int]:
    summary = json.loads(storage.read_text(storage.join(qc_dir, "summary.json")))
    genotypes = pgs.QCdGenotypes(
        variants_path=storage.join(qc_dir, f"variants_{platform}.parquet"),
        cache_prefix=storage.join(qc_dir, f"dosages_{platform}"),
        n_variants=int(summary["platforms"][platform]["n_in_cache"]),
    )
    cohort_ids = {
        str(c): part["person_id"].to_numpy(dtype=np.int64)
        for c, part in members_df.groupby("cohort", sort=False)
    }
    scores, report_df = pgs.score_weights(
        spark,
        weights,
        genotypes,
        traits,
        cohort_ids,
        config.weights.keep_ambiguous,
        config.weights.min_overlap,
        scratch_dir,
        platform,
    )
    return scores, report_df, genotypes.n_variants
