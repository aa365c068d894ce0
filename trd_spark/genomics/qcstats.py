"""Per-site QC statistics of the dosage cache, computed in Spark tasks with numpy.

The qc stage decodes each platform's genotypes once: Hail writes the sites QC examines
as a 2-bit PLINK 1 cache (:func:`trd_spark.genomics.qc.write_dosage_cache`), and Spark
tasks read ranges of that cache, count genotypes per ancestry group with one matrix
product per block of sites, and apply the entry-level QC rules.  With PLINK 1 input the
tasks cut the cache from the input ``.bed`` themselves (:func:`cut_task`) and count the same
decoded codes.  The score stage then reads the same cache.

The rules and their order are ``docs/architecture.md``'s; the excess-heterozygosity
p-value is Hail's ``hardy_weinberg_test(..., one_sided=True)``: the exact Levene-Haldane
test with the mid-p correction, P(H > h) + P(H = h) / 2.

Like :mod:`trd_spark.genomics.scoring`, this module runs inside Spark's Python workers
and must not import Hail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy.special import gammaln

from trd_spark.genomics import taskio
from trd_spark.genomics.scoring import DosageCache, read_sites

# the rules that need genotypes, in the order they are applied (after multiallelic, non_snv)
ENTRY_RULES: tuple[str, ...] = ("call_rate", "population_af", "overall_af", "excess_het")
STATS_SCHEMA = pa.schema(
    [
        ("var_idx", pa.int64()),
        ("call_rate", pa.float64()),
        ("ac", pa.int64()),
        ("af", pa.float64()),
        ("het_p", pa.float64()),
        ("failed_rule", pa.string()),
    ]
)
# .bed 2-bit codes (A1 = ALT): 00 two ALT copies, 01 missing, 10 heterozygous, 11 no ALT
_HOM_ALT, _MISSING, _HET = 0, 1, 2
# per code: is heterozygous, is homozygous ALT, is called (float32, for matrix products)
_KIND_TABLES = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [1, 0, 1, 1]], dtype=np.float32)
_HWE_WINDOW_SD = 12.0  # Levene-Haldane terms kept around the mean, in SDs
_HWE_TERMS = 4_000_000  # sites x terms computed at once


@dataclass(frozen=True)
class EntryThresholds:
    """The entry-level QC thresholds of one platform, in plain values."""

    min_call_rate: float = 0.99
    population_af: bool = True
    min_pop_af: float = 0.01
    min_pop_ac: int = 100
    min_af: float = 0.005
    excess_het_p: float = 1e-6


@dataclass(frozen=True)
class GenotypeCounts:
    """Genotype counts of a block of sites: overall (sites,) and per group (sites x groups)."""

    n_samples: int
    n_called: np.ndarray
    n_het: np.ndarray
    n_hom_alt: np.ndarray
    group_ac: np.ndarray  # ALT alleles per group
    group_an: np.ndarray  # called alleles per group

    @property
    def ac(self) -> np.ndarray:
        """ALT allele count."""
        return self.n_het + 2 * self.n_hom_alt


def code_lookup_table() -> np.ndarray:
    """The four 2-bit codes packed in each possible ``.bed`` byte (256 x 4, uint8)."""
    return ((np.arange(256)[:, None] >> (2 * np.arange(4))[None, :]) & 3).astype(np.uint8)


def count_genotypes(codes: np.ndarray, one_hot: np.ndarray) -> GenotypeCounts:
    """Count genotypes of sites x persons 2-bit codes, overall and per group.

    Parameters
    ----------
    codes : sites x persons ``.bed`` codes.
    one_hot : persons x groups float32 membership (a person in no group: a row of zeros).

    Returns
    -------
    The counts, from one float32 matrix product per genotype kind against the group
    membership with a column of ones appended (the overall counts; exact below 2^24 persons).
    """
    members = np.hstack([one_hot.astype(np.float32), np.ones((len(one_hot), 1), np.float32)])
    het = _KIND_TABLES[0][codes] @ members
    hom_alt = _KIND_TABLES[1][codes] @ members
    called = _KIND_TABLES[2][codes] @ members
    het_n, hom_alt_n, called_n = (np.rint(x).astype(np.int64) for x in (het, hom_alt, called))
    return GenotypeCounts(
        n_samples=codes.shape[1],
        n_called=called_n[:, -1],
        n_het=het_n[:, -1],
        n_hom_alt=hom_alt_n[:, -1],
        group_ac=het_n[:, :-1] + 2 * hom_alt_n[:, :-1],
        group_an=2 * called_n[:, :-1],
    )


def excess_het_p(n_hom_ref: np.ndarray, n_het: np.ndarray, n_hom_alt: np.ndarray) -> np.ndarray:
    """:func:`excess_het_p_block` in chunks of sites that keep the term matrix near 4M entries."""
    n = n_hom_ref + n_het + n_hom_alt
    width = int(2 * _HWE_WINDOW_SD * (np.sqrt(max(int(n.max(initial=0)), 1) / 2) + 1))
    chunk = max(1, _HWE_TERMS // max(width, 1))
    parts = [
        excess_het_p_block(n_hom_ref[i : i + chunk], n_het[i : i + chunk], n_hom_alt[i : i + chunk])
        for i in range(0, len(n), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def excess_het_p_block(
    n_hom_ref: np.ndarray, n_het: np.ndarray, n_hom_alt: np.ndarray
) -> np.ndarray:
    """One-sided exact test of excess heterozygosity with the mid-p correction, per site.

    Under Hardy-Weinberg equilibrium the number of heterozygotes H given the allele
    counts follows the Levene-Haldane distribution; the p-value is
    P(H > h) + P(H = h) / 2.  Terms further than 12 SDs from the mean are left out
    (each below 1e-30 of the total), so a p-value below about 1e-30 may print as 0.

    Parameters
    ----------
    n_hom_ref, n_het, n_hom_alt : int arrays, one entry per site.

    Returns
    -------
    float64 p-values; 0.5 for a site without called genotypes or without a minor allele
    (where H can take one value only).
    """
    n = (n_hom_ref + n_het + n_hom_alt).astype(np.int64)
    n_alt = 2 * n_hom_alt + n_het
    n_minor = np.minimum(n_alt, 2 * n - n_alt).astype(np.int64)
    mean = n_minor * (2 * n - n_minor) / np.maximum(2 * n - 1, 1)
    half = np.ceil(_HWE_WINDOW_SD * (np.sqrt(mean) + 1.0)).astype(np.int64)
    parity = n_minor % 2
    low = np.maximum(parity, ((mean - half).astype(np.int64) // 2) * 2 + parity)
    high = np.minimum(n_minor, mean.astype(np.int64) + half)
    n_terms = np.maximum((high - low) // 2 + 1, 1)
    steps = np.arange(int(n_terms.max()))
    hets = low[:, None] + 2 * steps[None, :]
    valid = steps[None, :] < n_terms[:, None]
    hom_minor = (n_minor[:, None] - hets) // 2
    hom_major = n[:, None] - hets - hom_minor
    safe = valid & (hom_minor >= 0) & (hom_major >= 0)
    log_factorial = gammaln(np.arange(int(n.max(initial=0)) + 2, dtype=np.float64) + 1)
    top = len(log_factorial) - 1
    log_p = np.where(
        safe,
        hets * np.log(2.0)
        - log_factorial[np.clip(hom_minor, 0, top)]
        - log_factorial[np.clip(hets, 0, top)]
        - log_factorial[np.clip(hom_major, 0, top)],
        -np.inf,
    )
    prob = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    observed = n_het[:, None]
    above = np.where(hets > observed, prob, 0.0).sum(axis=1)
    at = np.where(hets == observed, prob, 0.0).sum(axis=1)
    p = (above + 0.5 * at) / prob.sum(axis=1)
    return np.where(n > 0, np.minimum(p, 1.0), 0.5)


def first_failed_rule(
    counts: GenotypeCounts, t: EntryThresholds, het_p: np.ndarray | None = None
) -> np.ndarray:
    """The first entry-level rule each site fails (object array; None when it passes).

    Parameters
    ----------
    counts : the sites' genotype counts.
    t : the thresholds.
    het_p : the sites' excess-heterozygosity p-values when already computed.

    Returns
    -------
    ``call_rate``, ``population_af``, ``overall_af``, ``excess_het`` or None per site.
    """
    call_rate = counts.n_called / max(counts.n_samples, 1)
    an = 2 * counts.n_called
    af = np.divide(counts.ac, an, out=np.zeros(len(an)), where=an > 0)
    group_af = np.divide(
        counts.group_ac, counts.group_an, out=np.zeros(counts.group_ac.shape, float),
        where=counts.group_an > 0,
    )  # fmt: skip
    population_ok = np.any((group_af > t.min_pop_af) | (counts.group_ac > t.min_pop_ac), axis=1)
    if het_p is None:
        n_hom_ref = counts.n_called - counts.n_het - counts.n_hom_alt
        het_p = excess_het_p(n_hom_ref, counts.n_het, counts.n_hom_alt)
    failed = np.full(len(an), None, dtype=object)
    checks = [
        ("call_rate", call_rate < t.min_call_rate),
        ("population_af", ~population_ok if t.population_af else np.zeros(len(an), bool)),
        ("overall_af", af <= t.min_af),
        ("excess_het", het_p < t.excess_het_p),
    ]
    for rule, fails in reversed(checks):  # the first rule in order wins
        failed[fails] = rule
    return failed


def site_stats(counts: GenotypeCounts, t: EntryThresholds, var_idx: np.ndarray) -> pa.Table:
    """The per-site QC table of one block (``STATS_SCHEMA``)."""
    an = 2 * counts.n_called
    n_hom_ref = counts.n_called - counts.n_het - counts.n_hom_alt
    het_p = excess_het_p(n_hom_ref, counts.n_het, counts.n_hom_alt)
    return pa.table(
        {
            "var_idx": pa.array(var_idx, pa.int64()),
            "call_rate": counts.n_called / max(counts.n_samples, 1),
            "ac": pa.array(counts.ac, pa.int64()),
            "af": pa.array(np.divide(counts.ac, an, out=np.full(len(an), np.nan), where=an > 0)),
            "het_p": het_p,
            "failed_rule": pa.array(first_failed_rule(counts, t, het_p), pa.string()),
        },
        schema=STATS_SCHEMA,
    )


def block_stats(
    cache: DosageCache, rows: np.ndarray, one_hot: np.ndarray, t: EntryThresholds
) -> pa.Table:
    """QC statistics of the cache's sites ``rows`` (sorted var_idx)."""
    codes = code_lookup_table()[read_sites(cache, rows)].reshape(len(rows), -1)
    return site_stats(count_genotypes(codes[:, : cache.n_samples], one_hot), t, rows)


def stats_task(
    cache: DosageCache, one_hot: np.ndarray, t: EntryThresholds, folder: str, block: int
) -> Callable[[Iterable[tuple[int, int]]], Iterator[dict[str, int]]]:
    """The function each Spark task runs: QC statistics of its ranges of cache sites,
    written as ``folder/part-<lo>.parquet``; yields the count of sites per failed rule."""

    def run(ranges: Iterable[tuple[int, int]]) -> Iterator[dict[str, int]]:
        for lo, hi in ranges:
            tables = [
                block_stats(cache, np.arange(start, min(start + block, hi)), one_hot, t)
                for start in range(lo, hi, block)
            ]
            table = pa.concat_tables(tables)
            taskio.write_table(f"{folder}/part-{lo:012d}.parquet", table)
            rules = table["failed_rule"].fill_null("kept").value_counts().to_pylist()
            yield {str(r["values"]): int(r["counts"]) for r in rules}

    return run


def unpack_codes(packed: np.ndarray, n_samples: int) -> np.ndarray:
    """Sites x persons 2-bit codes of packed ``.bed`` rows (padding bits dropped)."""
    return code_lookup_table()[packed].reshape(len(packed), -1)[:, :n_samples]


def pack_codes(codes: np.ndarray) -> np.ndarray:
    """Sites x persons 2-bit codes as ``.bed`` rows: four persons a byte, the first in the
    low bits, the last byte padded with zero bits (as PLINK and Hail write it)."""
    n_sites, n_samples = codes.shape
    padded = np.zeros((n_sites, -(-n_samples // 4) * 4), dtype=np.uint8)
    padded[:, :n_samples] = codes
    quads = padded.reshape(n_sites, -1, 4)
    return quads[..., 0] | (quads[..., 1] << 2) | (quads[..., 2] << 4) | (quads[..., 3] << 6)


def cut_task(
    source: DosageCache,
    columns: np.ndarray,
    one_hot: np.ndarray,
    t: EntryThresholds,
    stats_folder: str,
    bed_folder: str,
    block: int,
) -> Callable[[Iterable[tuple[int, np.ndarray]]], Iterator[dict[str, int]]]:
    """The function each Spark task runs when the input is a PLINK 1 ``.bed``: cut the
    dosage cache's sites from it and compute their QC statistics from the same decode.

    Each item is ``(lo, rows)``: the cache's sites ``lo .. lo + len(rows) - 1`` are the
    source's sites ``rows`` (sorted).  The task writes the sites' packed rows, persons in
    the cache's order ``columns``, as ``bed_folder/part-<lo>.bin`` (no magic number; the
    driver concatenates the parts) and their statistics as ``stats_folder/part-<lo>.parquet``;
    it yields the count of sites per failed rule.

    Parameters
    ----------
    source : the input ``.bed`` described as a cache (its persons and sites).
    columns : the source's person columns in the cache's order.
    one_hot : persons (cache order) x groups membership.
    t : the thresholds.
    stats_folder, bed_folder : where the parts go.
    block : sites decoded at once.
    """

    def run(items: Iterable[tuple[int, np.ndarray]]) -> Iterator[dict[str, int]]:
        for lo, rows in items:
            tables = []
            with taskio.open_output(f"{bed_folder}/part-{lo:012d}.bin") as out:
                for start in range(0, len(rows), block):
                    chunk = rows[start : start + block]
                    codes = unpack_codes(read_sites(source, chunk), source.n_samples)[:, columns]
                    out.write(pack_codes(codes).tobytes())
                    var_idx = np.arange(lo + start, lo + start + len(chunk))
                    tables.append(site_stats(count_genotypes(codes, one_hot), t, var_idx))
            table = pa.concat_tables(tables)
            taskio.write_table(f"{stats_folder}/part-{lo:012d}.parquet", table)
            rules = table["failed_rule"].fill_null("kept").value_counts().to_pylist()
            yield {str(r["values"]): int(r["counts"]) for r in rules}

    return run
