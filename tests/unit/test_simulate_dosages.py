"""Dosage drawing, planted QC failures and PLINK packing, checked by independent arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trd_spark.simulate.dosages import (
    PlatformPersons,
    draw_dosages,
    excess_het_p,
    failed_rules,
    missing_rows,
    plant_column,
)
from trd_spark.simulate.plink import pack_bed_rows


def brute_force_excess_het_p(n_aa: int, n_ab: int, n_bb: int) -> float:
    """Exact HWE het-count distribution by Levene's formula with integer arithmetic."""
    n = n_aa + n_ab + n_bb
    n_b = 2 * n_bb + n_ab
    probs = {}
    for het in range(n_b % 2, min(n_b, 2 * n - n_b) + 1, 2):
        hom_b = (n_b - het) // 2
        hom_a = n - het - hom_b
        if hom_a < 0 or hom_b < 0:
            continue
        ways = math.factorial(n) // (
            math.factorial(hom_a) * math.factorial(het) * math.factorial(hom_b)
        )
        probs[het] = ways * 2**het
    total = sum(probs.values())
    return sum(v for h, v in probs.items() if h >= n_ab) / total


@pytest.mark.parametrize(
    "counts", [(50, 40, 10), (10, 80, 10), (0, 30, 0), (90, 9, 1), (5, 20, 25)]
)
def test_excess_het_p_matches_levene_enumeration(counts):
    assert excess_het_p(*counts) == pytest.approx(brute_force_excess_het_p(*counts), rel=1e-9)


def decode_bed(raw: bytes, n_persons: int, n_sites: int) -> np.ndarray:
    """Decode SNP-major .bed bytes bit by bit (A1 = ALT): ALT count per person, -1 missing."""
    per_site = (n_persons + 3) // 4
    out = np.empty((n_persons, n_sites), dtype=int)
    meaning = {0b00: 2, 0b01: -1, 0b10: 1, 0b11: 0}
    for site in range(n_sites):
        for person in range(n_persons):
            byte = raw[site * per_site + person // 4]
            out[person, site] = meaning[(byte >> (2 * (person % 4))) & 0b11]
    return out


def test_pack_bed_rows_round_trips_through_bitwise_decoding():
    rng = np.random.default_rng(1)
    dosages = rng.integers(-1, 3, size=(11, 5)).astype(np.int8)
    raw = pack_bed_rows(dosages)
    assert len(raw) == 5 * 3
    np.testing.assert_array_equal(decode_bed(raw, 11, 5), dosages)


def test_draw_dosages_follow_group_frequencies_and_seed():
    freqs = np.array([[0.1, 0.6], [0.9, 0.3]])
    group = np.repeat([0, 1], 20_000)
    first = draw_dosages(np.random.default_rng(3), freqs, group)
    again = draw_dosages(np.random.default_rng(3), freqs, group)
    np.testing.assert_array_equal(first, again)
    for g in (0, 1):
        observed = first[group == g].mean(0) / 2
        np.testing.assert_allclose(observed, freqs[:, g], atol=0.01)
        het = (first[group == g] == 1).mean(0)
        np.testing.assert_allclose(het, 2 * freqs[:, g] * (1 - freqs[:, g]), atol=0.015)


def test_missing_rows_are_exact_and_distinct():
    for site in range(50):
        rows = missing_rows(site, 1000, 7)
        assert len(set(rows.tolist())) == 7 and rows.max() < 1000


def platform(n_per_group: tuple[int, ...], absent: int = 0) -> PlatformPersons:
    group = np.concatenate([np.full(n, g) for g, n in enumerate(n_per_group)])
    group[:absent] = -1
    return PlatformPersons(name="x", index=np.arange(len(group)), group=group)


def independent_summary(column: np.ndarray, group: np.ndarray) -> dict:
    """Call rate, overall AF and per-group AF/AC with plain loops."""
    column = column.astype(int)
    called = [d for d in column if d >= 0]
    per_group = {}
    for g in set(group.tolist()) - {-1}:
        calls = [d for d, k in zip(column, group, strict=True) if k == g and d >= 0]
        per_group[g] = (sum(calls) / (2 * len(calls)) if calls else 0.0, sum(calls))
    return {
        "call_rate": len(called) / len(column),
        "af": sum(called) / (2 * len(called)),
        "groups": per_group,
    }


@pytest.mark.parametrize("sizes", [(300, 120, 8, 40), (60, 30, 5, 10)])
def test_planted_columns_fail_their_rule_only(sizes):
    persons = platform(sizes, absent=3)
    rng = np.random.default_rng(5)
    drawn = draw_dosages(rng, np.full((1, len(sizes)), 0.3), persons.group.clip(0))[:, 0]
    for site in range(10):
        cr = plant_column("call_rate", site, drawn.copy(), persons)
        assert independent_summary(cr, persons.group)["call_rate"] < 0.99
        pop = independent_summary(
            plant_column("population_af", site, drawn, persons), persons.group
        )
        assert pop["call_rate"] == 1 and all(
            af <= 0.01 and ac <= 100 for af, ac in pop["groups"].values()
        )
        low = independent_summary(plant_column("overall_af", site, drawn, persons), persons.group)
        assert low["af"] <= 0.005 and any(af > 0.01 for af, _ in low["groups"].values())
        het = plant_column("excess_het", site, drawn, persons)
        counts = np.bincount(het, minlength=3)
        assert brute_force_excess_het_p(*counts) < 1e-6
        good = plant_column("good", site, drawn.copy(), persons)
        assert independent_summary(good, persons.group)["call_rate"] >= 0.995
        pop_col = plant_column("population_af", site, drawn, persons)
        low_col = plant_column("overall_af", site, drawn, persons)
        block = np.stack([good, cr, pop_col, low_col, het, good], axis=1)
        rules = failed_rules(block, np.array([True] * 5 + [False]), persons.group)
        assert rules == [None, "call_rate", "population_af", "overall_af", "excess_het", "non_snv"]
