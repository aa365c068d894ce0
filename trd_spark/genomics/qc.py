"""Variant QC: the study's site filters, applied in a fixed order, each counted.

Rules, in order (each counts the sites it removes among those still left):
``multiallelic``, ``non_snv``, ``call_rate``, ``population_af``, ``overall_af``,
``excess_het``.  The first two need only the sites; the others need genotypes.

The genotypes are decoded once per platform.  The site rules run on the rows alone
(Spark; on the driver when the rows come from a PLINK ``.bim`` already read there); the
sites left that some weight file names (``qc.cache_sites: weights``, or every
such site with ``all``) are written by Hail as a 2-bit PLINK 1 dosage cache of every person
of the platform; Spark tasks then compute each cached site's QC statistics from the cache
(:mod:`trd_spark.genomics.qcstats`).  PLINK 1 input needs no Hail for this: Spark tasks cut
the cache from the input ``.bed`` and compute the statistics from the same decode
(:func:`cut_dosage_cache`).  The score stage reads the same cache.  Sites no
weight file names are counted as ``outside_weights`` and not examined further: a whole
genome's QC would cost more than the scores it serves.
"""

from __future__ import annotations

from dataclasses import dataclass

import hail as hl
import numpy as np
import pandas as pd
import pyarrow as pa
from hail.utils.java import Env
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)
from pyspark.sql.window import Window

from trd_spark import storage
from trd_spark.genomics import qcstats, taskio
from trd_spark.genomics.readers import contig_recoding
from trd_spark.genomics.scoring import DosageCache, block_size, site_ranges
from trd_spark.spark_settings import sql_settings

QC_RULES: tuple[str, ...] = (
    "multiallelic",
    "non_snv",
    "call_rate",
    "population_af",
    "overall_af",
    "excess_het",
)
SITE_RULES: tuple[str, ...] = ("multiallelic", "non_snv")
OUTSIDE_WEIGHTS = "outside_weights"  # summary key: sites no weight file names (not examined)
METRICS = ("call_rate", "ac", "af", "het_p")  # per-site QC metrics kept in the variants table
VARIANT_COLUMNS = ("contig", "chrom", "position", "ref", "alt", "rsid", "var_idx", *METRICS)
VARIANTS_SCHEMA = pa.schema(
    [
        *((name, pa.string()) for name in ("contig", "chrom")),
        ("position", pa.int32()),
        *((name, pa.string()) for name in ("ref", "alt", "rsid")),
        *((f.name, f.type) for f in qcstats.STATS_SCHEMA if f.name in ("var_idx", *METRICS)),
    ]
)  # the kept-sites table's columns (VARIANT_COLUMNS) as Spark writes them
_SNV_BASES = "^[ACGT]$"
_BED_MAGIC = b"\x6c\x1b\x01"
_ARROW = "spark.sql.execution.arrow.pyspark.enabled"
_ROWS_SCHEMA = (
    "row_idx long, contig string, chrom string, position int, ref string, alt string, "
    "n_alleles int, rsid string"
)


@dataclass(frozen=True)
class QCThresholds:
    """Plain thresholds of one platform's variant QC (copied from the config by the stage)."""

    population_af: bool = True
    min_pop_af: float = 0.01
    min_pop_ac: int = 100
    min_af: float = 0.005
    min_call_rate: float = 0.99
    excess_het_p: float = 1e-6
    multiallelic: str = "drop"
    snv_only: bool = True

    def entry_thresholds(self) -> qcstats.EntryThresholds:
        """The thresholds of the rules that need genotypes."""
        return qcstats.EntryThresholds(
            min_call_rate=self.min_call_rate,
            population_af=self.population_af,
            min_pop_af=self.min_pop_af,
            min_pop_ac=self.min_pop_ac,
            min_af=self.min_af,
            excess_het_p=self.excess_het_p,
        )

    def rules(self) -> list[str]:
        """The rules applied, in order."""
        return [r for r in QC_RULES if r != "population_af" or self.population_af]


def split_multiallelic(mt: hl.MatrixTable) -> hl.MatrixTable:
    """Split multi-allelic rows into bi-allelic ones (``rsid`` and ``GT`` kept)."""
    mt = hl.split_multi_hts(mt.annotate_rows(), keep_star=False)
    return mt.select_rows("rsid").select_entries("GT")


def prepare_genotypes(mt: hl.MatrixTable, multiallelic: str) -> hl.MatrixTable:
    """The genotypes QC numbers its rows in: split first when ``multiallelic='split'``."""
    return split_multiallelic(mt) if multiallelic == "split" else mt


def site_rows_df(mt: hl.MatrixTable) -> DataFrame:
    """Every row of ``mt`` as a Spark DataFrame (no genotypes are read).

    Returns
    -------
    ``row_idx`` (the row's index in ``mt``), ``contig``, ``chrom`` (no ``chr``; ``MT`` for
    the mitochondrion), ``position``, ``ref``, ``alt`` (the first ALT), ``n_alleles``, ``rsid``.
    """
    rows_ht = mt.rows().add_index("row_idx").key_by()
    chrom = rows_ht.locus.contig.replace("^chr", "")
    rows_ht = rows_ht.select(
        row_idx=rows_ht.row_idx,
        contig=rows_ht.locus.contig,
        chrom=hl.if_else(chrom == "M", "MT", chrom),
        position=rows_ht.locus.position,
        ref=rows_ht.alleles[0],
        alt=hl.or_missing(hl.len(rows_ht.alleles) > 1, rows_ht.alleles[1]),
        n_alleles=hl.len(rows_ht.alleles),
        rsid=rows_ht.rsid,
    )
    return rows_ht.to_spark()


def site_rule_df(rows_df: DataFrame, multiallelic: str, snv_only: bool) -> DataFrame:
    """``rows_df`` with ``site_rule``: ``multiallelic``, ``non_snv`` or null.

    A row is multi-allelic when it has more than two alleles or its locus is on more than
    one row (``multiallelic='drop'``; after a split every row is bi-allelic).
    """
    per_locus = F.count(F.lit(1)).over(Window.partitionBy("contig", "position"))
    multi = (F.col("n_alleles") > 2) | (per_locus > 1) if multiallelic == "drop" else F.lit(False)
    snv = F.col("ref").rlike(_SNV_BASES) & F.coalesce(F.col("alt").rlike(_SNV_BASES), F.lit(False))
    non_snv = ~snv if snv_only else F.col("alt").isNull()
    rule = F.when(multi, "multiallelic").when(non_snv, "non_snv")
    return rows_df.withColumn("site_rule", rule)


def read_weight_sites_df(spark: SparkSession, folder: str) -> DataFrame:
    """The weight files' sites as :func:`trd_spark.genomics.pgs.write_weight_sites` wrote
    them to ``folder``: ``chrom``, ``position``, ``rsid`` (null for none)."""
    return spark.read.schema("chrom string, position long, rsid string").parquet(folder)


def read_snpinfo_sites_df(spark: SparkSession, snpinfo: str) -> DataFrame:
    """The sites of an LD panel's SNP table (``CHR SNP BP ...``, whitespace-separated, with a
    header), shaped as :func:`read_weight_sites_df`.

    With a ``prscs`` section the weights are not written yet when qc runs; they will be a
    subset of the panel's SNPs, so QC examines and caches the panel's sites.
    """
    lines = spark.read.text(snpinfo).where(F.trim("value") != "")
    fields = F.split(F.trim("value"), r"\s+")
    header = F.upper(fields.getItem(0)) == "CHR"
    chrom = F.regexp_replace(fields.getItem(0), "^chr", "")
    return lines.where(~header).select(
        F.when(chrom == "M", "MT").otherwise(chrom).alias("chrom"),
        fields.getItem(2).cast("long").alias("position"),
        fields.getItem(1).alias("rsid"),
    )


def mark_weight_sites(rows_df: DataFrame, weight_sites_df: DataFrame | None) -> DataFrame:
    """``rows_df`` with ``at_weight``: some weight file names the row's position or rsID
    (matching decides the alleles later).  None for ``weight_sites_df``: every row."""
    if weight_sites_df is None:
        return rows_df.withColumn("at_weight", F.lit(True))
    by_position = weight_sites_df.select("chrom", "position").distinct()
    by_rsid = weight_sites_df.where(F.col("rsid").isNotNull()).select("rsid").distinct()
    marked = rows_df.join(
        by_position.withColumn("_at_position", F.lit(True)), ["chrom", "position"], "left"
    ).join(by_rsid.withColumn("_at_rsid", F.lit(True)), "rsid", "left")
    at_weight = F.coalesce(F.col("_at_position"), F.lit(False)) | F.coalesce(
        F.col("_at_rsid"), F.lit(False)
    )
    return marked.withColumn("at_weight", at_weight).drop("_at_position", "_at_rsid")


@dataclass(frozen=True)
class ExaminedSites:
    """The rows QC examines with genotypes, and how many rows each earlier step removed."""

    row_idx: np.ndarray  # sorted: the rows to write to the cache
    counts: dict[str, int]  # n_input, multiallelic, non_snv, outside_weights
    # the examined rows: row_idx, var_idx (the row in the cache), contig ... rsid; in Spark
    # (rows read by Hail) or on the driver (rows from a PLINK .bim), exactly one of them
    rows_df: DataFrame | None = None
    rows: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if (self.rows_df is None) == (self.rows is None):
            raise ValueError("examined sites are either a Spark or a pandas table")


def examined_sites(
    rows_df: DataFrame, weight_sites_df: DataFrame | None, thresholds: QCThresholds
) -> ExaminedSites:
    """Apply the site rules and the weight-site restriction; number the rows left.

    Parameters
    ----------
    rows_df : :func:`site_rows_df` of the platform.
    weight_sites_df : the weight files' sites, or None to examine every site.
    thresholds : the platform's QC settings.

    Returns
    -------
    The examined rows (``var_idx`` = their order, which is the cache's) and the counts.
    """
    marked = mark_weight_sites(
        site_rule_df(rows_df, thresholds.multiallelic, thresholds.snv_only), weight_sites_df
    )
    outcome = F.coalesce(
        F.col("site_rule"), F.when(~F.col("at_weight"), OUTSIDE_WEIGHTS), F.lit("examined")
    )
    spark = Env.spark_session()
    # one job: each row's outcome (the tally and the examined rows come from the same pass);
    # through Arrow both ways (row by row, 10^5 rows cost seconds)
    with sql_settings(spark, {_ARROW: "true"}):
        outcomes = marked.select("row_idx", outcome.alias("outcome")).toPandas()
        row_idx, counts = number_examined(outcomes["row_idx"], outcomes["outcome"])
        numbering = spark.createDataFrame(
            pd.DataFrame({"row_idx": row_idx, "var_idx": np.arange(len(row_idx), dtype=np.int64)})
        )
    return ExaminedSites(row_idx, counts, rows_df=rows_df.join(numbering, "row_idx"))


def number_examined(row_idx: pd.Series, outcome: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """The sorted rows whose outcome is ``examined``, and the summary counts of the outcomes
    (``n_input`` and one count per site rule and ``outside_weights``)."""
    tally = outcome.value_counts().to_dict()
    examined = np.sort(row_idx[outcome == "examined"].to_numpy(np.int64))
    counts = {"n_input": int(sum(tally.values()))}
    counts.update({key: int(tally.get(key, 0)) for key in (*SITE_RULES, OUTSIDE_WEIGHTS)})
    return examined, counts


def site_outcomes_local(
    rows: pd.DataFrame, weight_sites: pd.DataFrame | None, thresholds: QCThresholds
) -> pd.Series:
    """Each row's outcome as :func:`examined_sites` finds it, computed on the driver.

    For rows that are already on the driver (a PLINK ``.bim``): the same rules as
    :func:`site_rule_df` and :func:`mark_weight_sites` in pandas, with no Spark job.

    Parameters
    ----------
    rows : :func:`plink_site_rows` (the columns of :func:`site_rows_df`).
    weight_sites : ``chrom``, ``position``, ``rsid`` (None: no rsID) of the weight files,
        or None to examine every site.
    thresholds : the platform's QC settings.

    Returns
    -------
    ``multiallelic``, ``non_snv``, ``outside_weights`` or ``examined`` per row of ``rows``.
    """
    if thresholds.multiallelic == "drop":
        per_locus = rows.groupby(["contig", "position"])["row_idx"].transform("size")
        multi = (rows["n_alleles"] > 2) | (per_locus > 1)
    else:
        multi = pd.Series(False, index=rows.index)
    if thresholds.snv_only:  # the pattern Spark's rlike applies, searched the same way
        snv = rows["ref"].str.contains(_SNV_BASES, na=False) & rows["alt"].str.contains(
            _SNV_BASES, na=False
        )
        non_snv = ~snv
    else:
        non_snv = rows["alt"].isna()
    if weight_sites is None:
        at_weight = pd.Series(True, index=rows.index)
    else:
        located = weight_sites.dropna(subset=["chrom", "position"])
        at_position = pd.MultiIndex.from_arrays(
            [rows["chrom"], rows["position"].astype(np.int64)]
        ).isin(
            pd.MultiIndex.from_arrays(
                [located["chrom"].astype(str), located["position"].astype(np.int64)]
            )
        )
        named = set(weight_sites["rsid"].dropna())
        at_weight = pd.Series(at_position, index=rows.index) | (
            rows["rsid"].notna() & rows["rsid"].isin(named)
        )
    outcome = np.select(
        [multi.to_numpy(bool), non_snv.to_numpy(bool), ~at_weight.to_numpy(bool)],
        ["multiallelic", "non_snv", OUTSIDE_WEIGHTS],
        "examined",
    )
    return pd.Series(outcome, index=rows.index)


def examined_sites_local(
    rows: pd.DataFrame, weight_sites_df: DataFrame | None, thresholds: QCThresholds
) -> ExaminedSites:
    """:func:`examined_sites` for rows on the driver (:func:`site_outcomes_local`): one
    small Spark job collects the weight files' sites (through Arrow: row by row, 10^5 rows
    cost seconds) instead of joins over every row."""
    weight_sites = None
    if weight_sites_df is not None:
        with sql_settings(weight_sites_df.sparkSession, {_ARROW: "true"}):
            weight_sites = weight_sites_df.toPandas()
    outcome = site_outcomes_local(rows, weight_sites, thresholds)
    row_idx, counts = number_examined(rows["row_idx"], outcome)
    examined = rows.iloc[row_idx].assign(var_idx=np.arange(len(row_idx), dtype=np.int64))
    return ExaminedSites(row_idx, counts, rows=examined)


def write_dosage_cache(
    mt: hl.MatrixTable, row_idx: np.ndarray, columns: list[int], prefix: str
) -> DosageCache:
    """Write rows ``row_idx`` x columns ``columns`` of ``mt`` as a PLINK 1 fileset.

    The rows keep their order, so the cache's site ``i`` is the ``i``-th of ``row_idx``
    (its ``var_idx``); the ``.bim`` id is the source row index.  Hail's Scala writer
    decodes the genotypes once; the QC statistics and the scores read the result.

    Parameters
    ----------
    mt : bi-allelic rows in the common shape (numbered as :func:`site_rows_df` numbers them).
    row_idx : sorted row indices to keep.
    columns : column indices in the order the cache holds them.
    prefix : output prefix (local or remote path).

    Returns
    -------
    The cache.
    """
    indexed_mt = mt.add_row_index("row_idx")
    wanted = hl.literal(set(row_idx.tolist()), dtype=hl.tset(hl.tint64))
    cache_mt = indexed_mt.filter_rows(wanted.contains(indexed_mt.row_idx)).choose_cols(columns)
    hl.export_plink(cache_mt, prefix, ind_id=cache_mt.s, varid=hl.str(cache_mt.row_idx))
    return DosageCache(prefix, len(columns), len(row_idx))


@dataclass(frozen=True)
class PlinkSource:
    """A platform read from a PLINK 1 fileset: its ``.bed`` is already a 2-bit site-major
    file, so the dosage cache is cut from it without Hail (:func:`cut_dosage_cache`)."""

    prefix: str  # <prefix>.bed/.bim/.fam
    reference_genome: str


def plink_site_rows(source: PlinkSource, n_samples: int) -> pd.DataFrame | None:
    """The rows of :func:`site_rows_df`, read from the ``.bim`` (``row_idx`` = its line).

    Hail's ``import_plink`` numbers the rows in the ``.bim``'s order when that order is
    its row key's (contig in the reference's order, position, REF, ALT); ALT is the
    ``.bim``'s A1 and REF its A2.  Returns None (use Hail's rows and writer) when the
    ``.bim`` is not in that order, names a contig the reference lacks, or the ``.bed``'s
    size does not fit the ``.bim`` and ``n_samples`` persons.
    """
    bim = pd.read_csv(
        storage.open_bytes(source.prefix + ".bim"), sep=r"\s+", header=None,
        names=["contig", "rsid", "cm", "position", "alt", "ref"], keep_default_na=False,
        dtype={"contig": str, "rsid": str, "cm": str, "position": np.int64, "alt": str,
               "ref": str},
    )  # fmt: skip
    recoding = contig_recoding(source.reference_genome) or {}
    contig = bim["contig"].map(lambda c: recoding.get(c, c))
    order = {name: i for i, name in enumerate(hl.get_reference(source.reference_genome).contigs)}
    contig_idx = contig.map(order)
    width = (n_samples + 3) // 4
    expected_size = len(_BED_MAGIC) + len(bim) * width
    if contig_idx.isna().any() or storage.file_size(source.prefix + ".bed") != expected_size:
        return None
    keys = pd.DataFrame(
        {"c": contig_idx.astype(np.int64), "p": bim["position"], "r": bim["ref"], "a": bim["alt"]}
    )
    if not keys.sort_values(["c", "p", "r", "a"], kind="stable").index.equals(keys.index):
        return None
    chrom = contig.str.replace("^chr", "", regex=True)
    rsid = bim["rsid"].astype(object)
    rsid.loc[rsid == "."] = None
    return pd.DataFrame(
        {
            "row_idx": np.arange(len(bim), dtype=np.int64),
            "contig": contig,
            "chrom": chrom.where(chrom != "M", "MT"),
            "position": bim["position"].astype(np.int32),
            "ref": bim["ref"],
            "alt": bim["alt"],
            "n_alleles": np.full(len(bim), 2, dtype=np.int32),
            "rsid": rsid,
        }
    )


def cut_dosage_cache(
    spark: SparkSession,
    source: PlinkSource,
    site_rows: pd.DataFrame,
    row_idx: np.ndarray,
    n_source_samples: int,
    columns: list[int],
    fam_ids: list[str],
    groups: list[str | None],
    thresholds: QCThresholds,
    prefix: str,
    scratch_dir: str,
    sites_per_task: int = 25_000,
) -> tuple[DosageCache, dict[str, int]]:
    """Cut the dosage cache from the input ``.bed`` and compute the QC statistics of its
    sites in the same Spark tasks (one decode).

    The cache is byte for byte what :func:`write_dosage_cache` writes from the same
    genotypes: the ``.bim`` holds ALT as A1, so the input's codes keep their meaning.

    Parameters
    ----------
    spark : the session.
    source : the input fileset.
    site_rows : :func:`plink_site_rows` of the input.
    row_idx : sorted input rows to keep (the cache's sites in order).
    n_source_samples : persons in the input's ``.fam``.
    columns : the input's person columns in the cache's order.
    fam_ids : the cache's person ids (``columns``' ids).
    groups : each cache column's ancestry group (None: in no group).
    thresholds : the platform's QC settings.
    prefix : the cache's prefix.
    scratch_dir : the stage's scratch; ``site_stats/`` (``qcstats.STATS_SCHEMA``) is left
        there for the caller, ``bed_parts/`` is removed.
    sites_per_task : cache sites per task.

    Returns
    -------
    The cache and the number of sites per first failed rule (``kept`` for those that pass).
    """
    stats_dir, parts_dir = (storage.join(scratch_dir, name) for name in ("site_stats", "bed_parts"))
    for folder in (stats_dir, parts_dir):
        storage.remove(folder)
        storage.makedirs(folder)
    source_bed = DosageCache(source.prefix, n_source_samples, len(site_rows))
    sc = spark.sparkContext
    n_tasks = max(sc.defaultParallelism, -(-len(row_idx) // sites_per_task))
    items = [(lo, row_idx[lo:hi]) for lo, hi in site_ranges(len(row_idx), n_tasks)]
    one_hot, _ = group_one_hot(groups)
    task = qcstats.cut_task(
        source_bed, np.asarray(columns, dtype=np.int64), one_hot,
        thresholds.entry_thresholds(), stats_dir, parts_dir, block_size(len(columns)),
    )  # fmt: skip
    tallies = sc.parallelize(items, max(len(items), 1)).mapPartitions(task).collect()
    parts = [storage.join(parts_dir, f"part-{lo:012d}.bin") for lo, _ in items]
    taskio.concatenate(parts, prefix + ".bed", _BED_MAGIC)
    storage.remove(parts_dir)
    kept = site_rows.iloc[row_idx]
    bim = (
        kept["contig"] + "\t" + kept["row_idx"].astype(str) + "\t0.0\t"
        + kept["position"].astype(str) + "\t" + kept["alt"] + "\t" + kept["ref"] + "\n"
    )  # fmt: skip
    storage.write_text(prefix + ".bim", "".join(bim.tolist()))
    storage.write_text(prefix + ".fam", "".join(f"0\t{s}\t0\t0\t0\tNA\n" for s in fam_ids))
    counts: dict[str, int] = {}
    for tally in tallies:
        for rule, n in tally.items():
            counts[rule] = counts.get(rule, 0) + n
    return DosageCache(prefix, len(columns), len(row_idx)), counts


def group_one_hot(groups: list[str | None]) -> tuple[np.ndarray, list[str]]:
    """Persons x groups float32 membership of the cache's columns (a person in no group:
    zeros) and the group names."""
    names = sorted({g for g in groups if g is not None})
    one_hot = np.zeros((len(groups), len(names)), dtype=np.float32)
    for i, group in enumerate(groups):
        if group is not None:
            one_hot[i, names.index(group)] = 1.0
    return one_hot, names


def compute_site_stats(
    spark: SparkSession,
    cache: DosageCache,
    groups: list[str | None],
    thresholds: QCThresholds,
    folder: str,
    sites_per_task: int = 25_000,
) -> dict[str, int]:
    """QC statistics of every cached site, one Spark job over the cache.

    Parameters
    ----------
    spark : the session.
    cache : the dosage cache.
    groups : each cache column's ancestry group (None: in no group; counts only overall).
    thresholds : the platform's QC settings.
    folder : where the tasks write ``part-*.parquet`` (``qcstats.STATS_SCHEMA``).
    sites_per_task : cache sites per task.

    Returns
    -------
    Number of sites per first failed rule (``kept`` for those that pass).
    """
    storage.remove(folder)
    storage.makedirs(folder)
    sc = spark.sparkContext
    n_tasks = max(sc.defaultParallelism, -(-cache.n_variants // sites_per_task))
    ranges = site_ranges(cache.n_variants, n_tasks)
    one_hot, _ = group_one_hot(groups)
    task = qcstats.stats_task(
        cache, one_hot, thresholds.entry_thresholds(), folder, block_size(cache.n_samples)
    )
    tallies = sc.parallelize(ranges, max(len(ranges), 1)).mapPartitions(task).collect()
    counts: dict[str, int] = {}
    for tally in tallies:
        for rule, n in tally.items():
            counts[rule] = counts.get(rule, 0) + n
    return counts


def write_kept_variants(examined: ExaminedSites, stats_dir: str, variants_path: str) -> None:
    """Write the sites that pass every rule, with their QC metrics (``VARIANT_COLUMNS``),
    in cache order, as a folder of Parquet: by Spark for rows in Spark, by pyarrow (one
    part, the same column types) for rows on the driver."""
    if examined.rows_df is not None:
        stats_df = Env.spark_session().read.parquet(stats_dir)
        joined_df = examined.rows_df.join(stats_df, "var_idx")
        kept_df = joined_df.where(F.col("failed_rule").isNull()).select(*VARIANT_COLUMNS)
        kept_df.orderBy("var_idx").write.mode("overwrite").parquet(variants_path)
        return
    assert examined.rows is not None
    stats = (
        storage.read_parquet(stats_dir)
        if storage.list_files(stats_dir)
        else qcstats.STATS_SCHEMA.empty_table().to_pandas()
    )
    joined = examined.rows.merge(stats, on="var_idx")
    kept = joined[joined["failed_rule"].isna()].sort_values("var_idx")
    storage.remove(variants_path)
    storage.makedirs(variants_path)
    storage.write_parquet(
        kept[list(VARIANT_COLUMNS)], storage.join(variants_path, "part-00000.parquet"),
        VARIANTS_SCHEMA,
    )  # fmt: skip


def summary_counts(
    examined: ExaminedSites, entry_counts: dict[str, int], thresholds: QCThresholds
) -> dict[str, int | str]:
    """One platform's ``qc/summary.json`` entry: rows in, removed by each step, kept.

    A rule the platform does not apply shows as ``off``.
    """
    counts: dict[str, int | str] = dict(examined.counts)
    for rule in qcstats.ENTRY_RULES:
        counts[rule] = entry_counts.get(rule, 0) if rule in thresholds.rules() else "off"
    counts["n_kept"] = entry_counts.get("kept", 0)
    counts["n_in_cache"] = len(examined.row_idx)
    return counts


@dataclass(frozen=True)
class PlatformQC:
    """What QC of one platform produced."""

    counts: dict[str, int | str]  # the platform's entry of qc/summary.json
    cache: DosageCache
    fam_ids: list[str]  # the cache's person ids, in column order


def qc_genotypes(
    mt: hl.MatrixTable,
    columns: list[int],
    groups: list[str | None],
    weight_sites_df: DataFrame | None,
    thresholds: QCThresholds,
    cache_prefix: str,
    variants_path: str,
    scratch_dir: str,
    plink: PlinkSource | None = None,
) -> PlatformQC:
    """The whole QC of one platform: site rules, the dosage cache, the QC statistics, and
    ``variants_path`` (the kept sites with their metrics and ``var_idx``).

    Parameters
    ----------
    mt : the platform's genotypes (:func:`prepare_genotypes`).
    columns : column indices of ``mt`` in the order the cache holds them.
    groups : each cache column's ancestry group for the population-AF rule (None: none).
    weight_sites_df : the weight files' sites, or None to examine every site.
    thresholds : the platform's QC settings.
    cache_prefix, variants_path : where the cache and the kept sites go.
    scratch_dir : for the per-task statistics (removed by the caller).
    plink : the PLINK 1 fileset ``mt`` was read from (unsplit rows): the site rows come
        from its ``.bim`` and the cache is cut from its ``.bed`` (:func:`cut_dosage_cache`)
        when the ``.bim`` is in Hail's row order.

    Returns
    -------
    The summary counts, the cache and its person ids.
    """
    spark = Env.spark_session()
    samples = mt.s.collect()
    fam_ids = [str(samples[i]) for i in columns]
    stats_dir = storage.join(scratch_dir, "site_stats")
    site_rows = plink_site_rows(plink, len(samples)) if plink is not None else None
    if plink is not None and site_rows is not None:
        examined = examined_sites_local(site_rows, weight_sites_df, thresholds)
        cache, entry_counts = cut_dosage_cache(
            spark, plink, site_rows, examined.row_idx, len(samples), columns, fam_ids, groups,
            thresholds, cache_prefix, scratch_dir,
        )  # fmt: skip
    else:
        rows_df = site_rows_df(mt).persist()
        examined = examined_sites(rows_df, weight_sites_df, thresholds)
        cache = write_dosage_cache(mt, examined.row_idx, columns, cache_prefix)
        entry_counts = compute_site_stats(spark, cache, groups, thresholds, stats_dir)
    write_kept_variants(examined, stats_dir, variants_path)
    if site_rows is None:
        rows_df.unpersist()  # Hail's rows were read twice: outcomes, then the kept sites
    storage.remove(stats_dir)
    return PlatformQC(summary_counts(examined, entry_counts, thresholds), cache, fam_ids)
