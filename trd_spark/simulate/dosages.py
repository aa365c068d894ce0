"""Genotype dosages in numpy: drawing, planted QC failures, controlled missingness, QC re-check.

Dosages are ALT-allele counts (int8), -1 for a missing call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from trd_spark.simulate.persons import GROUPS

MISSING = -1
GOOD_MAX_MISSING = 0.005  # good sites keep call rate >= 99.5%
BAD_CALL_RATE_MISSING = 0.05  # call_rate sites: 95% called
EXCESS_HET_SHARE = 17  # of every 20 persons heterozygous at excess_het sites
MIN_CALL_RATE = 0.99
MIN_POP_AF, MIN_POP_AC, MIN_AF, EXCESS_HET_P = 0.01, 100, 0.005, 1e-6


@dataclass(frozen=True)
class PlatformPersons:
    """The persons of one platform, in MatrixTable column order, with their QC groups."""

    name: str
    index: np.ndarray  # row numbers into the study's person table
    group: np.ndarray  # index into GROUPS as the ancestry file says; -1 when absent
    population_af: bool = True  # the platform's QC applies the population-AF rule

    @property
    def n(self) -> int:
        """Number of persons on the platform."""
        return len(self.index)

    def members(self, group: int) -> np.ndarray:
        """Platform-local positions of the persons assigned to ``group``."""
        return np.flatnonzero(self.group == group)

    def group_sizes(self) -> np.ndarray:
        """Persons per group (GROUPS order)."""
        return np.bincount(self.group[self.group >= 0], minlength=len(GROUPS))


def draw_dosages(rng: np.random.Generator, freqs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """ALT dosages under Hardy-Weinberg within each person's ancestry group.

    Parameters
    ----------
    rng : random generator.
    freqs : (n_sites, n_groups) ALT frequencies.
    group : (n_persons,) group index of each person.

    Returns
    -------
    int8 array (n_persons, n_sites).
    """
    p = freqs[:, group].T.astype(np.float32)
    draws = rng.random((2, *p.shape), dtype=np.float32)
    return ((draws[0] < p).astype(np.int8) + (draws[1] < p).astype(np.int8)).astype(np.int8)


def missing_rows(site: int, n_persons: int, n_missing: int) -> np.ndarray:
    """Which persons miss a call at a site: evenly spaced, shifted by the site number.

    Chosen by arithmetic rather than coin flips so the count per site is exact.
    """
    if n_missing <= 0:
        return np.zeros(0, dtype=np.int64)
    step = max(1, n_persons // n_missing)
    return (site * 7_919 + np.arange(n_missing) * step) % n_persons


def plant_carriers(n_persons: int, carriers: np.ndarray) -> np.ndarray:
    """A site with heterozygous ``carriers`` and everyone else homozygous REF."""
    column = np.zeros(n_persons, dtype=np.int8)
    column[carriers] = 1
    return column


def plant_column(rule: str, site: int, dosage: np.ndarray, persons: PlatformPersons) -> np.ndarray:
    """The genotypes of one site on one platform, built to fail ``rule`` (or kept as drawn).

    Parameters
    ----------
    rule : planted QC rule, or ``good``/``non_snv`` for sites kept as drawn.
    site : site number (seeds the deterministic choices).
    dosage : drawn dosages of the platform's persons for this site.
    persons : the platform's persons.

    Returns
    -------
    int8 column with -1 for missing calls.
    """
    n = persons.n
    column = dosage
    if rule == "population_af":
        largest = persons.members(int(np.argmax(persons.group_sizes())))
        column = plant_carriers(n, largest[[site % len(largest)]])
    elif rule == "overall_af":
        column = plant_carriers(n, overall_af_carriers(site, persons))
    elif rule == "excess_het":
        column = ((np.arange(n) + site) % 20 < EXCESS_HET_SHARE).astype(np.int8)
    elif rule == "call_rate":
        column[missing_rows(site, n, int(np.ceil(BAD_CALL_RATE_MISSING * n)))] = MISSING
    else:
        max_missing = int(np.floor(GOOD_MAX_MISSING * n))
        column[missing_rows(site, n, site % (max_missing + 1))] = MISSING
    return column


def overall_af_carriers(site: int, persons: PlatformPersons) -> np.ndarray:
    """Carriers that make ALT common (> 1%) in the smallest group yet <= 0.5% overall."""
    sizes = persons.group_sizes()
    sizes_pos = np.where(sizes > 0, sizes, np.iinfo(np.int64).max)
    members = persons.members(int(np.argmin(sizes_pos)))
    n_g = len(members)
    wanted = max(int(np.ceil(0.1 * n_g)), int(np.floor(0.02 * n_g)) + 1)
    count = min(wanted, int(np.floor(0.01 * persons.n)), n_g)
    start = site % n_g
    return members[(start + np.arange(count)) % n_g]


def excess_het_p(n_hom_ref: int, n_het: int, n_hom_alt: int) -> float:
    """One-sided exact Hardy-Weinberg p-value for too many heterozygotes (Wigginton et al. 2005).

    Returns
    -------
    P(heterozygote count >= observed | allele counts), under HWE.
    """
    n = n_hom_ref + n_het + n_hom_alt
    n_alt = 2 * n_hom_alt + n_het
    n_minor = min(n_alt, 2 * n - n_alt)
    if n == 0 or n_minor == 0:
        return 1.0
    hets = np.arange(n_minor % 2, n_minor + 1, 2)
    hom_minor = (n_minor - hets) // 2
    hom_major = n - hets - hom_minor
    log_p = hets * np.log(2) - gammaln(hom_minor + 1) - gammaln(hets + 1) - gammaln(hom_major + 1)
    prob = np.exp(log_p - log_p.max())
    return float(prob[hets >= n_het].sum() / prob.sum())


def expected_rule(kind: str, population_af: bool) -> str | None:
    """The QC rule a site built as ``kind`` fails on a platform (None for a good site).

    Without the population-AF rule (arrays), a site built to fail it, one carrier among
    all, fails the overall-AF rule instead.
    """
    if kind == "population_af" and not population_af:
        return "overall_af"
    return kind if kind not in ("good", "array_only") else None


def failed_rules(
    columns: np.ndarray, is_snv: np.ndarray, group: np.ndarray, population_af: bool = True
) -> list[str | None]:
    """The first QC rule (architecture order, after ``multiallelic``) each biallelic site fails.

    Parameters
    ----------
    columns : (n_persons, n_sites) dosages of the platform's persons (-1 missing).
    is_snv : (n_sites,) whether REF and ALT are single bases.
    group : (n_persons,) group index per person (-1 unassigned).
    population_af : whether the platform applies the population-AF rule.

    Returns
    -------
    Per site ``non_snv``, ``call_rate``, ``population_af``, ``overall_af``, ``excess_het`` or None.
    """
    one_hot = group_one_hot(group)
    called = columns >= 0
    n_called = called.sum(0)
    alt = np.where(called, columns, 0).astype(np.float64)
    # (sites x persons) @ (persons x groups), transposed: BLAS is far slower the other way round
    ac_group = (alt.T @ one_hot).T
    an_group = 2 * (called.astype(np.float64).T @ one_hot).T
    af_group = np.divide(ac_group, an_group, out=np.zeros_like(ac_group), where=an_group > 0)
    population_ok = np.any((af_group > MIN_POP_AF) | (ac_group > MIN_POP_AC), axis=0)
    af = alt.sum(0, dtype=np.float64) / np.maximum(2 * n_called, 1)
    n_het = (columns == 1).sum(0)
    n_hom_alt = (columns == 2).sum(0)
    rules: list[str | None] = []
    for j in range(columns.shape[1]):
        if not is_snv[j]:
            rules.append("non_snv")
        elif n_called[j] / columns.shape[0] < MIN_CALL_RATE:
            rules.append("call_rate")
        elif population_af and not population_ok[j]:
            rules.append("population_af")
        elif af[j] <= MIN_AF:
            rules.append("overall_af")
        elif too_heterozygous(
            int(n_called[j] - n_het[j] - n_hom_alt[j]), int(n_het[j]), int(n_hom_alt[j])
        ):
            rules.append("excess_het")
        else:
            rules.append(None)
    return rules


def too_heterozygous(n_hom_ref: int, n_het: int, n_hom_alt: int) -> bool:
    """Whether the one-sided excess-heterozygosity p-value is below the QC threshold."""
    n = n_hom_ref + n_het + n_hom_alt
    p = (2 * n_hom_alt + n_het) / (2 * n)
    if n_het <= 2 * p * (1 - p) * n:  # at or below expectation the one-sided p is near 1/2 or more
        return False
    return excess_het_p(n_hom_ref, n_het, n_hom_alt) < EXCESS_HET_P


def group_one_hot(group: np.ndarray) -> np.ndarray:
    """(n_persons, n_groups) float indicator of assigned groups (unassigned rows all zero)."""
    one_hot = np.zeros((len(group), len(GROUPS)))
    assigned = group >= 0
    one_hot[np.flatnonzero(assigned), group[assigned]] = 1.0
    return one_hot
