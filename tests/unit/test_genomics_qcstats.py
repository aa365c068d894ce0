"""QC statistics of the dosage cache against loops, exact fractions and hand-made rows."""

from __future__ import annotations

from fractions import Fraction
from math import factorial

import numpy as np
import pytest

from tests.helpers.plink_bed import write_bed
from trd_spark.genomics import qcstats, scoring


def levene_haldane_mid_p(n_hom_ref: int, n_het: int, n_hom_alt: int) -> float:
    """P(H > h) + P(H = h) / 2 under HWE, with exact rational arithmetic."""
    n = n_hom_ref + n_het + n_hom_alt
    n_alt = 2 * n_hom_alt + n_het
    n_minor = min(n_alt, 2 * n - n_alt)
    if n == 0:
        return 0.5
    weights = {}
    for het in range(n_minor % 2, n_minor + 1, 2):
        hom_minor = (n_minor - het) // 2
        hom_major = n - het - hom_minor
        weights[het] = Fraction(
            factorial(n) * 2**het, factorial(hom_minor) * factorial(het) * factorial(hom_major)
        )
    total = sum(weights.values())
    above = sum(w for h, w in weights.items() if h > n_het)
    return float((above + weights.get(n_het, Fraction(0)) / 2) / total)


def test_excess_het_p_equals_exact_fractions():
    rng = np.random.default_rng(1)
    rows = [(0, 0, 0), (10, 0, 0), (0, 10, 0), (0, 0, 7), (5, 1, 0), (37, 200, 85), (60, 20, 20)]
    rows += [tuple(int(x) for x in rng.integers(0, 60, 3)) for _ in range(60)]
    counts = np.array(rows)
    got = qcstats.excess_het_p(counts[:, 0], counts[:, 1], counts[:, 2])
    want = np.array([levene_haldane_mid_p(*row) for row in rows])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)


def test_excess_het_p_in_chunks_equals_one_block():
    rng = np.random.default_rng(2)
    counts = rng.integers(0, 4000, size=(3000, 3))
    whole = qcstats.excess_het_p_block(counts[:, 0], counts[:, 1], counts[:, 2])
    chunked = qcstats.excess_het_p(counts[:, 0], counts[:, 1], counts[:, 2])
    np.testing.assert_allclose(chunked, whole, rtol=1e-12)


def test_count_genotypes_equals_a_loop():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, size=(30, 23)).astype(np.uint8)
    group = rng.integers(-1, 3, size=23)
    one_hot = np.zeros((23, 3), np.float32)
    one_hot[group >= 0, group[group >= 0]] = 1
    counts = qcstats.count_genotypes(codes, one_hot)
    alt_of_code = {0: 2, 2: 1, 3: 0}
    for site in range(30):
        calls = [(alt_of_code[c], g) for c, g in zip(codes[site], group, strict=True) if c != 1]
        assert counts.n_called[site] == len(calls)
        assert counts.ac[site] == sum(a for a, _ in calls)
        assert counts.n_het[site] == sum(a == 1 for a, _ in calls)
        for g in range(3):
            assert counts.group_ac[site, g] == sum(a for a, gg in calls if gg == g)
            assert counts.group_an[site, g] == 2 * sum(gg == g for _, gg in calls)


def counts_of(rows: list[tuple[int, int, int, int]], groups: list[list[tuple[int, int]]]):
    """Counts from (n_samples, hom_ref, het, hom_alt) rows and per-group (ac, an) pairs."""
    return qcstats.GenotypeCounts(
        n_samples=rows[0][0],
        n_called=np.array([r[1] + r[2] + r[3] for r in rows]),
        n_het=np.array([r[2] for r in rows]),
        n_hom_alt=np.array([r[3] for r in rows]),
        group_ac=np.array([[ac for ac, _ in g] for g in groups]),
        group_an=np.array([[an for _, an in g] for g in groups]),
    )


def test_rules_apply_in_order_and_population_af_can_be_off():
    rows = [
        (1000, 900, 90, 5),  # call rate 0.995, common: kept
        (1000, 900, 80, 5),  # call rate 0.985 (and everything else): call_rate first
        (1000, 999, 1, 0),  # one carrier: AF 0.0005, no group above 1% or AC 100
        (1000, 995, 5, 0),  # AF 0.0025 overall, 5 of 400 alleles in a small group
        (1000, 100, 900, 0),  # far too many heterozygotes
    ]
    groups = [
        [(100, 1000), (0, 1000)],
        [(90, 980), (0, 1000)],
        [(1, 1000), (0, 1000)],
        [(0, 1600), (5, 400)],
        [(500, 1000), (400, 1000)],
    ]
    counts = counts_of(rows, groups)
    with_pop = qcstats.first_failed_rule(counts, qcstats.EntryThresholds())
    assert with_pop.tolist() == [None, "call_rate", "population_af", "overall_af", "excess_het"]
    without = qcstats.first_failed_rule(counts, qcstats.EntryThresholds(population_af=False))
    assert without.tolist() == [None, "call_rate", "overall_af", "overall_af", "excess_het"]


def test_block_stats_from_a_packed_cache(tmp_path):
    rows = [[2, 1, None, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0], [None, None, 2, 2, 1, 0, 1]]
    write_bed(tmp_path / "c.bed", rows)
    cache = scoring.DosageCache(str(tmp_path / "c"), n_samples=7, n_variants=3)
    one_hot = np.ones((7, 1), np.float32)
    table = qcstats.block_stats(cache, np.arange(3), one_hot, qcstats.EntryThresholds())
    assert table["var_idx"].to_pylist() == [0, 1, 2]
    assert table["call_rate"].to_pylist() == pytest.approx([6 / 7, 1.0, 5 / 7])
    assert table["ac"].to_pylist() == [5, 0, 6]
    assert table["af"].to_pylist() == pytest.approx([5 / 12, 0.0, 0.6])
    # site 1 has no ALT allele in the one group: the population-AF rule removes it first
    assert table["failed_rule"].to_pylist() == ["call_rate", "population_af", "call_rate"]
    want = levene_haldane_mid_p(1, 2, 2)
    assert table["het_p"][2].as_py() == pytest.approx(want, rel=1e-12)


def test_far_from_equilibrium_the_p_value_is_tiny_not_wrong():
    # 700 of 1000 heterozygous at AF 0.4: beyond the window the p-value is below 1e-30
    p = qcstats.excess_het_p(np.array([250]), np.array([700]), np.array([50]))[0]
    assert 0 <= p < 1e-30 and levene_haldane_mid_p(250, 700, 50) < 1e-30


@pytest.mark.parametrize("n", [1, 4, 7, 9])
def test_pack_codes_writes_bed_rows(n):
    """Four persons a byte, the first in the low bits, zero padding; unpacking inverts it."""
    rng = np.random.default_rng(n)
    codes = rng.integers(0, 4, size=(5, n)).astype(np.uint8)
    packed = qcstats.pack_codes(codes)
    assert packed.shape == (5, (n + 3) // 4)
    for site in range(5):
        for person in range(4 * packed.shape[1]):
            code = (int(packed[site, person // 4]) >> (2 * (person % 4))) & 3
            assert code == (codes[site, person] if person < n else 0)
    np.testing.assert_array_equal(qcstats.unpack_codes(packed, n), codes)
