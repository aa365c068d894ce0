"""The PGS engine: a compact dosage cache, then blocked matrix products in Spark tasks.

Why this design (measured, see ``benchmarks/pgs_bench.py``): Hail's per-entry
arithmetic for 61 traits is 20x slower than plink2, while writing the QC'd sites
once as a PLINK 1 ``.bed`` (2 bits per genotype, Hail's Scala writer) is cheap.
The qc stage writes that cache; scoring then reads ranges of it inside Spark
tasks, decodes them with a lookup table and multiplies each block of dosages by
the block's K-column weight matrix with BLAS.  Every task returns one
persons x traits partial sum per cohort, summed with ``reduceByKey``: the driver
holds persons x traits numbers, never anything that grows with the variants.

Missing genotypes are mean-imputed per cohort from the cohort's own allele
frequency, as ``plink2 --keep <cohort> --score`` does.  Flipped weights (effect
allele = REF) enter as ``beta * (2 - d) = 2 beta - beta d``: a negated weight
plus a constant per trait.

This module and :mod:`trd_spark.genomics.pgs` run inside Spark's Python workers:
they must not import Hail (seconds per worker); the cache is written by
:func:`trd_spark.genomics.qc.write_dosage_cache`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from trd_spark.genomics import taskio
from trd_spark.uri import is_remote

# Hail's export_plink writes ALT as the first allele of the .bim (PLINK's A1), so
# .bed code 00 (homozygous A1) is two ALT copies.
_CODE_TO_ALT_DOSAGE = np.array([2.0, np.nan, 1.0, 0.0])
_BED_MAGIC = b"\x6c\x1b\x01"
_MAX_GAP_SITES = 16  # remote reads: sites closer than this are fetched in one request


@dataclass(frozen=True)
class DosageCache:
    """Where a dosage cache lives and its shape."""

    prefix: str  # <prefix>.bed/.bim/.fam; site i of the .bed has var_idx i
    n_samples: int
    n_variants: int

    @property
    def bed(self) -> str:
        """The ``.bed`` file."""
        return self.prefix + ".bed"

    @property
    def bytes_per_site(self) -> int:
        """Bytes of one site's genotypes in the ``.bed``."""
        return (self.n_samples + 3) // 4


def bed_lookup_table() -> np.ndarray:
    """ALT dosage of the four genotypes packed in each possible ``.bed`` byte (256 x 4)."""
    codes = (np.arange(256)[:, None] >> (2 * np.arange(4))[None, :]) & 3
    return _CODE_TO_ALT_DOSAGE[codes]


def open_dosage_cache(prefix: str, n_variants: int) -> tuple[DosageCache, list[str]]:
    """Describe an existing cache and return its person ids in ``.fam`` order.

    Raises
    ------
    ValueError when the ``.bed`` size does not fit ``n_variants`` sites of the ``.fam``'s persons.
    """
    fam = pd.read_csv(
        taskio.open_text(prefix + ".fam"), sep=r"\s+", header=None, dtype=str, usecols=[1]
    )
    ids = fam[1].tolist()
    cache = DosageCache(prefix, len(ids), n_variants)
    expected = len(_BED_MAGIC) + n_variants * cache.bytes_per_site
    size = taskio.file_size(cache.bed)
    if size != expected:
        raise ValueError(
            f"{cache.bed} holds {size} bytes; {n_variants} sites x {len(ids)} persons need "
            f"{expected}: the cache does not belong to this QC output; rerun the qc stage"
        )
    return cache, ids


def read_sites(cache: DosageCache, rows: np.ndarray) -> np.ndarray:
    """The packed ``.bed`` bytes of the sites ``rows`` (sorted), one row of bytes per site."""
    width = cache.bytes_per_site
    if not is_remote(cache.bed):
        packed = np.memmap(cache.bed, dtype=np.uint8, mode="r", offset=len(_BED_MAGIC))
        return np.asarray(packed.reshape(-1, width)[rows])
    out = np.empty((len(rows), width), dtype=np.uint8)
    breaks = np.nonzero(np.diff(rows) > _MAX_GAP_SITES)[0] + 1
    for run in np.split(np.arange(len(rows)), breaks):
        first, last = int(rows[run[0]]), int(rows[run[-1]])
        raw = taskio.read_range(
            cache.bed, len(_BED_MAGIC) + first * width, (last - first + 1) * width
        )
        out[run] = np.frombuffer(raw, dtype=np.uint8).reshape(-1, width)[rows[run] - first]
    return out


Columns = slice | np.ndarray  # a cohort's person columns: a slice when they are contiguous


def cohort_columns(positions: np.ndarray) -> Columns:
    """Person columns as a slice when they are one contiguous, ordered run (no copy needed)."""
    if len(positions) and np.array_equal(positions, np.arange(positions[0], positions[-1] + 1)):
        return slice(int(positions[0]), int(positions[-1]) + 1)
    return positions


def n_columns(columns: Columns) -> int:
    """Number of persons in a cohort's columns."""
    if isinstance(columns, slice):
        return int(columns.stop) - int(columns.start)
    return len(columns)


def impute_and_multiply(dosages: np.ndarray, weights: np.ndarray, columns: Columns) -> np.ndarray:
    """Partial scores of one cohort for one block of sites.

    Parameters
    ----------
    dosages : sites x all persons ALT dosages, NaN where missing; the cohort's columns
        are overwritten (missing set to the cohort's mean).
    weights : sites x K signed weights.
    columns : the cohort's person columns.

    Returns
    -------
    cohort persons x K partial sums, missing dosages set to the cohort's mean dosage.
    """
    block = dosages[:, columns]  # a view for a slice, a copy for an index array
    missing = np.isnan(block)
    if missing.any():
        np.copyto(block, 0.0, where=missing)
        called = block.shape[1] - missing.sum(axis=1)
        mean = block.sum(axis=1) / np.maximum(called, 1)
        np.copyto(block, mean[:, None], where=missing)
    return block.T @ weights


def weight_block(
    var_idx: np.ndarray, trait_idx: np.ndarray, weight: np.ndarray, n_traits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dense weights of the sites some trait uses: (sorted sites, sites x K matrix).

    Linear in the number of weights (no sort): sites are marked in a range-sized mask.
    """
    if len(var_idx) == 0:
        return np.zeros(0, np.int64), np.zeros((0, n_traits))
    first = int(var_idx.min())
    offset = var_idx - first
    used = np.zeros(int(offset.max()) + 1, dtype=bool)
    used[offset] = True
    row_of = np.cumsum(used) - 1
    matrix = np.zeros((int(used.sum()), n_traits))
    matrix[row_of[offset], trait_idx] = weight
    return first + np.flatnonzero(used), matrix


def score_range(
    cache: DosageCache,
    sites: np.ndarray,
    weights: np.ndarray,
    cohorts: dict[str, Columns],
    block: int,
) -> dict[str, np.ndarray]:
    """Sums of signed weight x dosage over ``sites`` for every cohort, ``block`` sites at a time."""
    lookup = bed_lookup_table()
    n_traits = weights.shape[1]
    sums = {name: np.zeros((n_columns(cols), n_traits)) for name, cols in cohorts.items()}
    for start in range(0, len(sites), block):
        rows = sites[start : start + block]
        packed = read_sites(cache, rows)
        dosages = lookup[packed].reshape(len(rows), -1)[:, : cache.n_samples]
        for name, cols in cohorts.items():
            sums[name] += impute_and_multiply(dosages, weights[start : start + block], cols)
    return sums


def block_size(n_samples: int) -> int:
    """Sites decoded at once: about 64 MB of float64 dosages."""
    return max(64, min(4096, 8_000_000 // max(n_samples, 1)))


def site_ranges(n_variants: int, n_tasks: int) -> list[tuple[int, int]]:
    """``n_tasks`` contiguous ``[lo, hi)`` ranges of site indices covering the cache."""
    step = max(1, math.ceil(n_variants / max(n_tasks, 1)))
    return [(lo, min(lo + step, n_variants)) for lo in range(0, n_variants, step)]


def _score_task(
    cache: DosageCache, matched_dir: str, n_traits: int, cohorts: dict[str, Columns]
) -> Callable[[Iterable[tuple[int, int]]], Iterator[tuple[str, bytes]]]:
    """The function each Spark task runs on its ranges of sites."""

    def score(ranges: Iterable[tuple[int, int]]) -> Iterator[tuple[str, bytes]]:
        total = {name: np.zeros((n_columns(cols), n_traits)) for name, cols in cohorts.items()}
        for lo, hi in ranges:
            var_idx, trait_idx, weight = taskio.read_matched(matched_dir, lo, hi)
            if len(var_idx) == 0:
                continue
            sites, matrix = weight_block(var_idx, trait_idx, weight, n_traits)
            part = score_range(cache, sites, matrix, cohorts, block_size(cache.n_samples))
            for name in total:
                total[name] += part[name]
        for name, sums in total.items():
            yield name, sums.tobytes()

    return score


def score_cache(
    spark: SparkSession,
    cache: DosageCache,
    matched_dir: str,
    cohorts: dict[str, np.ndarray],
    n_traits: int,
    sites_per_task: int = 25_000,
) -> dict[str, np.ndarray]:
    """Raw PGS sums (without flip offsets) for every cohort in one pass over the cache.

    Parameters
    ----------
    spark : the session.
    cache : the dosage cache.
    matched_dir : folder of matched weights (``var_idx, trait_idx, w``) from matching.
    cohorts : cohort -> person columns in the cache's ``.fam`` order (disjoint).
    n_traits : K.
    sites_per_task : cache sites per Spark task.

    Returns
    -------
    cohort -> persons x K array of sums of signed weight x ALT dosage.
    """
    sc = spark.sparkContext
    n_tasks = max(sc.defaultParallelism, math.ceil(cache.n_variants / sites_per_task))
    ranges = site_ranges(cache.n_variants, n_tasks)
    columns = {name: cohort_columns(positions) for name, positions in cohorts.items()}
    task = _score_task(cache, matched_dir, n_traits, columns)
    totals = (
        sc.parallelize(ranges, len(ranges))
        .mapPartitions(task)
        .reduceByKey(_add_blobs, numPartitions=max(1, min(len(cohorts), len(ranges))))
        .collect()
    )
    out = {name: np.zeros((len(cols), n_traits)) for name, cols in cohorts.items()}
    for name, blob in totals:
        out[name] = np.frombuffer(blob, dtype=np.float64).reshape(out[name].shape).copy()
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
