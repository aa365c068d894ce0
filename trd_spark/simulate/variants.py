"""The catalog of simulated sites: positions, alleles, platform membership, planted QC failures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark.simulate.persons import GROUPS

# GRCh38 autosome lengths (bp).
CHROM_LENGTHS = (
    248_956_422,
    242_193_529,
    198_295_559,
    190_214_555,
    181_538_259,
    170_805_979,
    159_345_973,
    145_138_636,
    138_394_717,
    133_797_422,
    135_086_622,
    133_275_309,
    114_364_328,
    107_043_718,
    101_991_189,
    90_338_345,
    83_257_441,
    80_373_285,
    58_617_616,
    64_444_167,
    46_709_983,
    50_818_468,
)
QC_RULES = ("multiallelic", "non_snv", "call_rate", "population_af", "overall_af", "excess_het")
# rules that need genotypes: a site built to fail one is a weight site (a SNP of the weight
# files that fails QC on the platforms), so the pipeline's QC, which examines weight sites,
# meets every one of them
ENTRY_RULES = QC_RULES[2:]
PLAIN_PAIRS = (
    ("A", "C"),
    ("A", "G"),
    ("C", "A"),
    ("C", "T"),
    ("G", "A"),
    ("G", "T"),
    ("T", "C"),
    ("T", "G"),
)
AMBIGUOUS_PAIRS = (("A", "T"), ("T", "A"), ("C", "G"), ("G", "C"))
INDELS = (("A", "AT"), ("AC", "A"), ("G", "GTT"), ("CTA", "C"), ("T", "TG"))
BAD_FRACTION = 0.05
HM3_FRACTION = 0.5
AMBIGUOUS_FRACTION = 0.06
ARRAY_ONLY_FRACTION = 0.01
ABSENT_WEIGHT_FRACTION = 0.07
# the array carries about 45% of the weight sites (HapMap3-like SNPs), more on some
# chromosomes than on others: a chromosome's share is 0.45 +- up to 0.15
ARRAY_WEIGHT_SHARE = 0.45
ARRAY_SHARE_SPREAD = 0.15
FST = {"afr": 0.12, "amr": 0.05, "eas": 0.14, "eur": 0.08, "mid": 0.07, "sas": 0.09, "oth": 0.03}


def draw_positions(rng: np.random.Generator, n: int, n_chromosomes: int) -> pd.DataFrame:
    """Unique sorted (contig, position) pairs spread over chromosomes by length.

    Parameters
    ----------
    rng : random generator.
    n : number of positions.
    n_chromosomes : use chromosomes 1..n_chromosomes.

    Returns
    -------
    DataFrame with chrom (int), contig (``chr<N>``), position, sorted.
    """
    lengths = np.array(CHROM_LENGTHS[:n_chromosomes], dtype=float)
    counts = np.floor(lengths / lengths.sum() * n).astype(int)
    counts[0] += n - counts.sum()
    frames = []
    for chrom, count in enumerate(counts, start=1):
        pool = rng.integers(100_000, int(lengths[chrom - 1]) - 100_000, size=count * 2)
        pos = np.unique(pool)[:count]
        while len(pos) < count:  # vanishingly rare at these densities
            pos = np.unique(np.concatenate([pos, rng.integers(100_000, 1_000_000, size=count)]))
            pos = pos[:count]
        frames.append(pd.DataFrame({"chrom": chrom, "position": np.sort(pos)}))
    table = pd.concat(frames, ignore_index=True)
    table["contig"] = "chr" + table["chrom"].astype(str)
    return table


def assign_kinds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Kind of each site: ``good``, a QC rule it is built to fail, ``array_only`` or ``absent``.

    ``absent`` sites exist only in the weight files (not genotyped anywhere).
    """
    n_bad = max(3, round(BAD_FRACTION / len(QC_RULES) * n))
    n_array_only = max(2, round(ARRAY_ONLY_FRACTION * n))
    n_absent = max(5, round(ABSENT_WEIGHT_FRACTION * HM3_FRACTION * n))
    kinds = (
        [rule for rule in QC_RULES for _ in range(n_bad)]
        + ["array_only"] * n_array_only
        + ["absent"] * n_absent
    )
    kinds += ["good"] * (n - len(kinds))
    return rng.permutation(np.array(kinds, dtype=object))


def draw_alleles(rng: np.random.Generator, kinds: np.ndarray, ambiguous: np.ndarray) -> tuple:
    """REF and ALT alleles per site (ALT ``C,G`` style for 3-allele rows)."""
    n = len(kinds)
    plain = np.array(PLAIN_PAIRS)[rng.integers(0, len(PLAIN_PAIRS), n)]
    amb = np.array(AMBIGUOUS_PAIRS)[rng.integers(0, len(AMBIGUOUS_PAIRS), n)]
    indel = np.array(INDELS, dtype=object)[rng.integers(0, len(INDELS), n)]
    ref = np.where(ambiguous, amb[:, 0], plain[:, 0]).astype(object)
    alt = np.where(ambiguous, amb[:, 1], plain[:, 1]).astype(object)
    is_indel = kinds == "non_snv"
    ref[is_indel], alt[is_indel] = indel[is_indel, 0], indel[is_indel, 1]
    multi = kinds == "multiallelic"
    third = {"A": "G", "C": "T", "G": "C", "T": "A"}
    alt[multi] = [
        f"{a},{third[a] if third[a] != r else 'A'}"
        for r, a in zip(ref[multi], alt[multi], strict=False)
    ]
    return ref, alt


def build_variant_table(rng: np.random.Generator, n_sites: int, n_chromosomes: int) -> pd.DataFrame:
    """The site catalog of the study, sorted by position.

    Parameters
    ----------
    rng : random generator.
    n_sites : number of catalog rows (genotyped sites plus weight-only ``absent`` sites).
    n_chromosomes : chromosomes used.

    Returns
    -------
    DataFrame: site, chrom, contig, position, ref, alt, rsid, kind, hm3 (weight site),
    ambiguous (A/T or C/G), on_wgs, on_array, planted_fail (None for good sites).
    """
    table = draw_positions(rng, n_sites, n_chromosomes)
    kinds = assign_kinds(rng, n_sites)
    good = np.isin(kinds, ["good", "absent"])
    ambiguous = good & (rng.random(n_sites) < AMBIGUOUS_FRACTION)
    table["ref"], table["alt"] = draw_alleles(rng, kinds, ambiguous)
    table["rsid"] = [f"rs{100_000 + 37 * i + 11}" for i in range(n_sites)]
    table["kind"] = kinds
    table["ambiguous"] = ambiguous
    table["hm3"] = (
        (kinds == "absent")
        | np.isin(kinds, ENTRY_RULES)
        | ((kinds == "good") & (rng.random(n_sites) < HM3_FRACTION))
    )
    table["on_wgs"] = ~np.isin(kinds, ["array_only", "absent"])
    weight_share = array_weight_shares(rng, n_chromosomes)[table["chrom"].to_numpy() - 1]
    array_share = np.where(table["hm3"], weight_share, np.where(kinds == "good", 0.4, 0.5))
    table["on_array"] = (kinds == "array_only") | (
        table["on_wgs"] & (rng.random(n_sites) < array_share)
    )
    table["planted_fail"] = [k if k in QC_RULES else None for k in kinds]
    table.insert(0, "site", np.arange(n_sites))
    return table


def array_weight_shares(rng: np.random.Generator, n_chromosomes: int) -> np.ndarray:
    """Share of each chromosome's weight sites the array carries: uneven, about 0.45 overall.

    The shares are spread evenly over 0.45 +- 0.15 and shuffled over the chromosomes, so
    their mean is 0.45 whatever the number of chromosomes.
    """
    if n_chromosomes == 1:
        return np.array([ARRAY_WEIGHT_SHARE])
    spread = np.linspace(-ARRAY_SHARE_SPREAD, ARRAY_SHARE_SPREAD, n_chromosomes)
    return ARRAY_WEIGHT_SHARE + rng.permutation(spread)


def draw_frequencies(rng: np.random.Generator, n_sites: int) -> np.ndarray:
    """ALT allele frequency per site and ancestry group (Balding-Nichols around an ancestral one).

    Returns
    -------
    Array (n_sites, len(GROUPS)), clipped to [0.03, 0.97] so good sites stay common.
    """
    ancestral = rng.uniform(0.06, 0.5, n_sites)
    ancestral = np.where(rng.random(n_sites) < 0.3, 1 - ancestral, ancestral)
    freqs = np.empty((n_sites, len(GROUPS)))
    for k, group in enumerate(GROUPS):
        f = FST[group]
        a, b = ancestral * (1 - f) / f, (1 - ancestral) * (1 - f) / f
        freqs[:, k] = rng.beta(a, b)
    return np.clip(freqs, 0.03, 0.97)
