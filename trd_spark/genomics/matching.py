"""Allele matching of PGS weights to the QC'd genotype sites, per trait, in Spark.

A weight matches a site by rsID when both have one, else by chromosome and
position; the alleles then decide: effect allele = ALT (direct), effect allele =
REF (flipped: the score uses 2 - ALT dosage), or the same on the opposite strand.
Strand-ambiguous pairs (A/T, C/G) are dropped unless kept, and weights that occur
twice for a trait (same position, or matching one site twice) are dropped.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.errors import InputError

_COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}
REPORT_COLUMNS = [
    "platform",
    "trait",
    "n_in_file",
    "n_matched",
    "n_flipped",
    "n_ambiguous_dropped",
    "n_missing",
    "n_duplicates",
    "overlap",
]


def complement_expr(allele: Column) -> Column:
    """Base-wise strand complement of an allele string column."""
    return F.translate(allele, "ACGT", "TGCA")


def is_ambiguous_expr(a1: Column, a2: Column) -> Column:
    """True for A/T and C/G pairs, whose strand cannot be told from the alleles."""
    return (F.length(a1) == 1) & (F.length(a2) == 1) & (complement_expr(a1) == a2)


def flag_weights(weights_df: DataFrame, keep_ambiguous: bool) -> DataFrame:
    """Mark duplicate and strand-ambiguous weights.

    Parameters
    ----------
    weights_df : long weights (trait, chrom, pos, rsid, a1, a2, beta, ...); a
        ``duplicate`` column, when present, is used as is (the readers set it per file).
    keep_ambiguous : keep A/T and C/G weights.

    Returns
    -------
    The weights with ``wid`` (row id), ``duplicate`` and ``ambiguous_dropped`` (bool).
    """
    if "duplicate" not in weights_df.columns:
        counts_df = weights_df.groupBy("trait", "chrom", "pos").agg(F.count("*").alias("_n"))
        weights_df = (
            weights_df.join(counts_df, ["trait", "chrom", "pos"])
            .withColumn("duplicate", F.col("_n") > 1)
            .drop("_n")
        )
    ambiguous = is_ambiguous_expr(F.col("a1"), F.col("a2")) & F.lit(not keep_ambiguous)
    return weights_df.withColumn("wid", F.monotonically_increasing_id()).withColumn(
        "ambiguous_dropped", ambiguous & ~F.col("duplicate")
    )


def candidate_pairs(weights_df: DataFrame, variants_df: DataFrame) -> DataFrame:
    """Weight/site pairs that may match: same rsID when both have one, else same position.

    Parameters
    ----------
    weights_df : flagged weights, usable rows only.
    variants_df : QC'd sites: chrom, position, ref, alt, rsid.

    Returns
    -------
    Joined rows with the weight columns and the site's ``contig, position, ref, alt``.
    """
    sites_df = variants_df.select(
        "contig", "chrom", "position", "ref", "alt", F.col("rsid").alias("site_rsid")
    )
    by_rsid_df = weights_df.filter(F.col("rsid").isNotNull()).join(
        sites_df.filter(F.col("site_rsid").isNotNull()).drop("chrom"),
        F.col("rsid") == F.col("site_rsid"),
    )
    by_pos_df = (
        weights_df.join(
            sites_df.withColumnRenamed("chrom", "site_chrom"),
            (F.col("chrom") == F.col("site_chrom")) & (F.col("pos") == F.col("position")),
        )
        .filter(F.col("rsid").isNull() | F.col("site_rsid").isNull())
        .drop("site_chrom")
    )
    return by_rsid_df.unionByName(by_pos_df)


def classify_alleles(pairs_df: DataFrame) -> DataFrame:
    """Decide direct / flipped for each pair; pairs whose alleles disagree are removed.

    Parameters
    ----------
    pairs_df : output of :func:`candidate_pairs`.

    Returns
    -------
    Pairs with ``flipped`` (bool) and ``strand_flip`` (bool), one per weight (the
    same-strand reading wins over the complement).
    """
    a1, a2 = F.col("a1"), F.col("a2")
    c1, c2 = complement_expr(a1), complement_expr(a2)
    ref, alt = F.col("ref"), F.col("alt")
    ambiguous = is_ambiguous_expr(a1, a2)
    kinds = (
        F.when((a1 == alt) & (a2 == ref), F.lit(0))
        .when((a1 == ref) & (a2 == alt), F.lit(1))
        .when(~ambiguous & (c1 == alt) & (c2 == ref), F.lit(2))
        .when(~ambiguous & (c1 == ref) & (c2 == alt), F.lit(3))
    )
    classified_df = pairs_df.withColumn("kind", kinds).filter(F.col("kind").isNotNull())
    return classified_df.withColumn("flipped", F.col("kind") % 2 == 1).withColumn(
        "strand_flip", F.col("kind") >= 2
    )


def match_weights(
    weights_df: DataFrame, variants_df: DataFrame, keep_ambiguous: bool = False
) -> tuple[DataFrame, DataFrame]:
    """Match every trait's weights to the sites.

    Parameters
    ----------
    weights_df : long weights from :func:`trd_spark.genomics.weights.read_weights`.
    variants_df : QC'd sites (``qc/variants_<platform>.parquet``).
    keep_ambiguous : keep strand-ambiguous weights.

    Returns
    -------
    (matched: ``trait, contig, position, ref, alt, beta, flipped`` one row per used weight;
    per-trait counts: ``trait, n_in_file, n_matched, n_flipped, n_ambiguous_dropped,
    n_missing, n_duplicates``).
    """
    flagged_df = flag_weights(weights_df, keep_ambiguous).persist()
    usable_df = flagged_df.filter(~F.col("duplicate") & ~F.col("ambiguous_dropped"))
    classified_df = classify_alleles(candidate_pairs(usable_df, variants_df))
    site_key = ["trait", "contig", "position", "ref", "alt"]
    # one aggregation (no join back): a site that two weights of a trait match is dropped
    per_site_df = (
        classified_df.groupBy(site_key)
        .agg(
            F.count("*").alias("n_weights"),
            F.first("beta").alias("beta"),
            F.first("flipped").alias("flipped"),
        )
        .persist()
    )
    matched_df = per_site_df.filter(F.col("n_weights") == 1).select(*site_key, "beta", "flipped")
    return matched_df, _count_matches(flagged_df, per_site_df)


def _count_matches(flagged_df: DataFrame, per_site_df: DataFrame) -> DataFrame:
    file_df = flagged_df.groupBy("trait").agg(
        F.count("*").alias("n_in_file"),
        F.sum(F.col("duplicate").cast("long")).alias("n_dup_weights"),
        F.sum(F.col("ambiguous_dropped").cast("long")).alias("n_ambiguous_dropped"),
    )
    single = F.col("n_weights") == 1
    match_df = per_site_df.groupBy("trait").agg(
        F.sum(single.cast("long")).alias("n_matched"),
        F.sum((single & F.col("flipped")).cast("long")).alias("n_flipped"),
        F.sum(F.when(~single, F.col("n_weights")).otherwise(0)).alias("n_dup_sites"),
    )
    counts_df = file_df.join(match_df, "trait", "left").fillna(0)
    counts_df = counts_df.withColumn("n_duplicates", F.col("n_dup_weights") + F.col("n_dup_sites"))
    return counts_df.withColumn(
        "n_missing",
        F.col("n_in_file")
        - F.col("n_duplicates")
        - F.col("n_ambiguous_dropped")
        - F.col("n_matched"),
    ).select(
        "trait",
        "n_in_file",
        "n_matched",
        "n_flipped",
        "n_ambiguous_dropped",
        "n_missing",
        "n_duplicates",
    )


def check_overlap(report_df: object, min_overlap: float, platform: str) -> None:
    """Stop when a trait matched too few of its weights.

    Parameters
    ----------
    report_df : pandas match report with ``trait`` and ``overlap``.
    min_overlap : the smallest allowed fraction of a trait's weights matched.
    platform : for the message.
    """
    import pandas as pd

    assert isinstance(report_df, pd.DataFrame)
    low_df = report_df[report_df["overlap"] < min_overlap]
    if len(low_df):
        first = low_df.iloc[0]
        raise InputError(
            f"trait '{first['trait']}' on platform {platform}: only {first['n_matched']} of "
            f"{first['n_in_file']} weights ({first['overlap']:.1%}) match the QC'd genotypes, "
            f"below weights.min_overlap = {min_overlap}; check the build "
            "(weights.reference_genome, weights.chain_file) and the weight files, "
            "or lower weights.min_overlap"
        )
