"""The PGS engine: a compact dosage cache, then blocked matrix products in Spark tasks.

Why this design (measured, see ``benchmarks/pgs_bench.py``): Hail's per-entry
arithmetic for 61 traits is 20x slower than plink2, while writing the QC'd,
matched sites once as a PLINK 1 ``.bed`` (2 bits per genotype, Hail's Scala
writer) is cheap.  Scoring then reads blocks of that file inside Spark tasks,
decodes them with a lookup table and multiplies the dosage block by the
block's K-column weight matrix with BLAS.  Every task returns one
persons x traits partial sum per cohort, summed with ``reduceByKey``: the driver
holds persons x traits numbers, never anything that grows with the variants.

Missing genotypes are mean-imputed per cohort from the cohort's own allele
frequency, as ``plink2 --keep <cohort> --score`` does.  Flipped weights (effect
allele = REF) enter as ``beta * (2 - d) = 2 beta - beta d``: a negated weight
plus a constant per trait.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import hail as hl
import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

# Hail's export_plink writes ALT as the first allele of the .bim (PLINK's A1), so
# .bed code 00 (homozygous A1) is two ALT copies.
_CODE_TO_ALT_DOSAGE = np.array([2.0, np.nan, 1.0, 0.0])
_BED_MAGIC = b"\x6c\x1b\x01"


@dataclass(frozen=True)
class DosageCache:
    """Where a dosage cache lives and its shape."""

    prefix: str  # <prefix>.bed/.bim/.fam and <prefix>.index.parquet
    n_samples: int
    n_variants: int


def bed_lookup_table() -> np.ndarray:
    """ALT dosage of the four genotypes packed in each possible ``.bed`` byte (256 x 4)."""
    codes = (np.arange(256)[:, None] >> (2 * np.arange(4))[None, :]) & 3
    return _CODE_TO_ALT_DOSAGE[codes]


def write_dosage_cache(mt: hl.MatrixTable, prefix: str) -> DosageCache:
    """Write the sites and persons to score as a PLINK 1 fileset plus a site index.

    Parameters
    ----------
    mt : bi-allelic genotypes (common shape), already restricted to what will be scored.
    prefix : output prefix (local or remote path).

    Returns
    -------
    The cache description; ``<prefix>.index.parquet`` holds ``var_idx, contig, position,
    ref, alt`` with ``var_idx`` the row of the site in the ``.bed``.
    """
    mt = mt.add_row_index("var_idx")
    hl.export_plink(mt, prefix, ind_id=mt.s, varid=hl.str(mt.var_idx))
    index_ht = mt.rows().key_by()
    index_ht = index_ht.select(
        var_idx=index_ht.var_idx,
        contig=index_ht.locus.contig,
        position=index_ht.locus.position,
        ref=index_ht.alleles[0],
        alt=index_ht.alleles[1],
    )
    index_ht.to_spark().write.mode("overwrite").parquet(prefix + ".index.parquet")
    n_variants, n_samples = mt.count()
    return DosageCache(prefix=prefix, n_samples=n_samples, n_variants=n_variants)


def weight_matrix_df(matched_df: DataFrame, index_df: DataFrame, traits: list[str]) -> DataFrame:
    """One row per cached site with its signed weights for every trait.

    Parameters
    ----------
    matched_df : ``trait, contig, position, ref, alt, beta, flipped`` from matching.
    index_df : the cache's site index.
    traits : trait order of the weight vectors.

    Returns
    -------
    DataFrame ``var_idx`` (long), ``w`` (array<double>, length K; 0 where a trait has no
    weight), ``beta`` negated for flipped weights.
    """
    signed_df = matched_df.join(index_df, ["contig", "position", "ref", "alt"]).select(
        "var_idx",
        "trait",
        F.when(F.col("flipped"), -F.col("beta")).otherwise(F.col("beta")).alias("w"),
    )
    wide_df = signed_df.groupBy("var_idx").pivot("trait", list[Any](traits)).agg(F.first("w"))
    return wide_df.select(
        "var_idx", F.array(*[F.coalesce(F.col(f"`{t}`"), F.lit(0.0)) for t in traits]).alias("w")
    )


def flip_offsets(matched_df: DataFrame, traits: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per trait: the constant ``sum 2 beta`` over flipped weights, and the variants used.

    Parameters
    ----------
    matched_df : matched weights.
    traits : trait order.

    Returns
    -------
    (offsets, n_used), each a length-K array.
    """
    rows = (
        matched_df.groupBy("trait")
        .agg(
            F.sum(F.when(F.col("flipped"), 2.0 * F.col("beta")).otherwise(0.0)).alias("offset"),
            F.count("*").alias("n"),
        )
        .collect()
    )
    by_trait = {r["trait"]: (r["offset"], r["n"]) for r in rows}
    offsets = np.array([by_trait.get(t, (0.0, 0))[0] for t in traits], dtype=np.float64)
    n_used = np.array([by_trait.get(t, (0.0, 0))[1] for t in traits], dtype=np.int64)
    return offsets, n_used


def _read_range(path: str, offset: int, nbytes: int) -> bytes:
    if "://" in path:
        from pyarrow import fs

        filesystem, inner = fs.FileSystem.from_uri(path)
        with filesystem.open_input_file(inner) as handle:
            return bytes(handle.read_at(nbytes, offset))
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(nbytes)


def impute_and_multiply(
    dosages: np.ndarray, weights: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """Partial scores of one cohort for one block of sites.

    Parameters
    ----------
    dosages : sites x all persons ALT dosages, NaN where missing.
    weights : sites x K signed weights.
    columns : the cohort's person columns.

    Returns
    -------
    cohort persons x K partial sums, missing dosages set to the cohort's mean dosage.
    """
    block = dosages[:, columns]
    missing = np.isnan(block)
    if missing.any():
        called = block.shape[1] - missing.sum(axis=1)
        mean = np.where(missing, 0.0, block).sum(axis=1) / np.maximum(called, 1)
        block = np.where(missing, mean[:, None], block)
    return block.T @ weights


def _score_partition_fn(
    bed_path: str, n_samples: int, n_traits: int, cohorts: dict[str, np.ndarray], block: int
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each Spark task runs on its range of sites."""
    bytes_per_site = (n_samples + 3) // 4

    def score(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        lookup = bed_lookup_table()
        sums = {name: np.zeros((len(cols), n_traits)) for name, cols in cohorts.items()}
        for batch in batches:
            var_idx = batch.column("var_idx").to_numpy()
            weights = batch.column("w").flatten().to_numpy().reshape(-1, n_traits)
            for start in range(0, len(var_idx), block):
                idx = var_idx[start : start + block]
                first, last = int(idx.min()), int(idx.max())
                raw = _read_range(
                    bed_path, 3 + first * bytes_per_site, (last - first + 1) * bytes_per_site
                )
                packed = np.frombuffer(raw, dtype=np.uint8).reshape(-1, bytes_per_site)
                dosages = lookup[packed[idx - first]].reshape(len(idx), -1)[:, :n_samples]
                for name, cols in cohorts.items():
                    sums[name] += impute_and_multiply(dosages, weights[start : start + block], cols)
        names = list(sums)
        yield pa.RecordBatch.from_arrays(
            [pa.array(names), pa.array([sums[n].tobytes() for n in names], pa.large_binary())],
            ["cohort", "sums"],
        )

    return score


def score_cache(
    spark: SparkSession,
    cache: DosageCache,
    weights_df: DataFrame,
    cohorts: dict[str, np.ndarray],
    n_traits: int,
    sites_per_partition: int = 25_000,
) -> dict[str, np.ndarray]:
    """Raw PGS sums (without flip offsets) for every cohort in one pass over the cache.

    Parameters
    ----------
    spark : the session.
    cache : the dosage cache.
    weights_df : ``var_idx, w`` from :func:`weight_matrix_df`.
    cohorts : cohort -> person columns in the cache's ``.fam`` order (disjoint).
    n_traits : K.
    sites_per_partition : work per Spark task.

    Returns
    -------
    cohort -> persons x K array of sums of signed weight x ALT dosage.
    """
    n_parts = max(
        spark.sparkContext.defaultParallelism, math.ceil(cache.n_variants / sites_per_partition)
    )
    block = max(64, min(4096, 8_000_000 // max(cache.n_samples, 1)))
    ranged_df = weights_df.repartitionByRange(n_parts, "var_idx").sortWithinPartitions("var_idx")
    score = _score_partition_fn(cache.prefix + ".bed", cache.n_samples, n_traits, cohorts, block)
    partial_df = ranged_df.mapInArrow(score, "cohort string, sums binary")
    shapes = {name: (len(cols), n_traits) for name, cols in cohorts.items()}
    totals = (
        partial_df.rdd.map(lambda r: (r["cohort"], bytes(r["sums"])))
        .reduceByKey(_add_blobs)
        .collect()
    )
    out = {name: np.zeros(shape) for name, shape in shapes.items()}
    for name, blob in totals:
        out[name] = np.frombuffer(blob, dtype=np.float64).reshape(shapes[name]).copy()
    return out


def _add_blobs(left: bytes, right: bytes) -> bytes:
    return (
        np.frombuffer(left, dtype=np.float64) + np.frombuffer(right, dtype=np.float64)
    ).tobytes()


def assemble_scores(
    person_ids: np.ndarray,
    sums: np.ndarray,
    offsets: np.ndarray,
    n_used: np.ndarray,
    traits: list[str],
) -> pd.DataFrame:
    """The ``pgs/<cohort>.parquet`` table.

    Parameters
    ----------
    person_ids : int64 ids of the cohort, in the row order of ``sums``.
    sums : persons x K sums from :func:`score_cache`.
    offsets : per-trait constants of flipped weights.
    n_used : per-trait variants used.
    traits : trait names.

    Returns
    -------
    DataFrame ``person_id``, then per trait ``<trait>`` (raw sum), ``<trait>_n`` (int64),
    ``<trait>_z`` (standardised within the cohort: mean 0, sample SD 1; 0 when constant).
    """
    raw = sums + offsets[None, :]
    sd = raw.std(axis=0, ddof=1) if len(raw) > 1 else np.zeros(len(traits))
    z = (raw - raw.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    columns: dict[str, object] = {"person_id": np.asarray(person_ids, dtype=np.int64)}
    for k, trait in enumerate(traits):
        columns[trait] = raw[:, k]
        columns[f"{trait}_n"] = np.full(len(raw), n_used[k], dtype=np.int64)
        columns[f"{trait}_z"] = z[:, k]
    return pd.DataFrame(columns)
