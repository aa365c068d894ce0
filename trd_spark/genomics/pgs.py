"""Scoring one platform end to end: match, cache, score, assemble.

The steps are separate functions so the benchmark can time each of them.
"""

from __future__ import annotations

import hail as hl
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from trd_spark.genomics import scoring
from trd_spark.genomics.matching import match_weights


def match_report(counts_df: DataFrame, platform: str) -> pd.DataFrame:
    """The per-trait match report rows of one platform (pandas; one row per trait).

    Parameters
    ----------
    counts_df : per-trait counts from :func:`trd_spark.genomics.matching.match_weights`.
    platform : the platform name.

    Returns
    -------
    DataFrame with ``platform``, the counts and ``overlap`` = matched / in file.
    """
    report_df = counts_df.toPandas()
    report_df.insert(0, "platform", platform)
    report_df["overlap"] = report_df["n_matched"] / report_df["n_in_file"].clip(lower=1)
    for col in report_df.columns[2:-1]:
        report_df[col] = report_df[col].astype("int64")
    return report_df.sort_values("trait", ignore_index=True)


def restrict_to_matched(
    mt: hl.MatrixTable, matched_df: DataFrame, samples: list[str]
) -> hl.MatrixTable:
    """Keep only the sites some trait uses and the persons some cohort holds.

    Parameters
    ----------
    mt : the platform's genotypes (common shape).
    matched_df : matched weights with ``contig, position, ref, alt``.
    samples : the column keys (``s``) of persons to score.

    Returns
    -------
    The reduced MatrixTable (row order unchanged).
    """
    sites_df = matched_df.select("contig", "position", "ref", "alt").distinct()
    sites_ht = hl.Table.from_spark(sites_df)
    rg = mt.locus.dtype.reference_genome
    sites_ht = sites_ht.key_by(
        locus=hl.locus(sites_ht.contig, hl.int32(sites_ht.position), reference_genome=rg),
        alleles=[sites_ht.ref, sites_ht.alt],
    ).select()
    mt = mt.semi_join_rows(sites_ht)
    wanted = hl.literal(set(samples))
    return mt.filter_cols(wanted.contains(mt.s))


def score_platform(
    spark: SparkSession,
    cache: scoring.DosageCache,
    matched_df: DataFrame,
    traits: list[str],
    cohort_ids: dict[str, np.ndarray],
    fam_ids: list[str],
) -> dict[str, pd.DataFrame]:
    """Score every cohort of one platform from its dosage cache.

    Parameters
    ----------
    spark : the session.
    cache : the platform's dosage cache.
    matched_df : matched weights.
    traits : trait order.
    cohort_ids : cohort -> int64 person ids.
    fam_ids : the cache's person ids (``s``) in ``.fam`` order.

    Returns
    -------
    cohort -> the ``pgs/<cohort>.parquet`` table.
    """
    index_df = spark.read.parquet(cache.prefix + ".index.parquet")
    weights_df = scoring.weight_matrix_df(matched_df, index_df, traits)
    offsets, n_used = scoring.flip_offsets(matched_df, traits)
    position = {int(s): i for i, s in enumerate(fam_ids)}
    columns = {c: np.array([position[int(p)] for p in ids]) for c, ids in cohort_ids.items()}
    sums = scoring.score_cache(spark, cache, weights_df, columns, len(traits))
    return {
        c: scoring.assemble_scores(cohort_ids[c], sums[c], offsets, n_used, traits)
        for c in cohort_ids
    }


def match_and_report(
    weights_df: DataFrame, variants_df: DataFrame, keep_ambiguous: bool, platform: str
) -> tuple[DataFrame, pd.DataFrame]:
    """Match weights to a platform's QC'd sites and build its report.

    Parameters
    ----------
    weights_df : long weights.
    variants_df : QC'd sites with ``contig, chrom, position, ref, alt, rsid``.
    keep_ambiguous : keep A/T and C/G weights.
    platform : the platform name.

    Returns
    -------
    (persisted matched weights, match report rows).
    """
    matched_df, counts_df = match_weights(weights_df, variants_df, keep_ambiguous)
    matched_df = matched_df.persist()
    return matched_df, match_report(counts_df, platform)


def fam_sample_ids(mt: hl.MatrixTable) -> list[str]:
    """Column keys in MatrixTable order (the order export_plink writes the ``.fam``)."""
    return [str(s) for s in mt.s.collect()]
