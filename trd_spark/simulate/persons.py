"""Who is in the synthetic study: platform, ancestry, sex, birth year, EHR presence."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark.simulate.scales import Scale

GROUPS = ("afr", "amr", "eas", "eur", "mid", "sas", "oth")
DIVERSE_SHARES = {"afr": 0.42, "amr": 0.33, "eas": 0.06, "mid": 0.03, "sas": 0.05, "oth": 0.11}
ARRAY_SHARES = {
    "afr": 0.2,
    "amr": 0.18,
    "eas": 0.03,
    "eur": 0.5,
    "mid": 0.02,
    "sas": 0.02,
    "oth": 0.05,
}
FIRST_PERSON_ID = 1_000_000
# All of Us ships ancestry predictions for its WGS samples only: array-only persons are never
# in the file, and a few WGS persons have no row either
WGS_ABSENT_FROM_ANCESTRY_FILE = 0.005
# share of WGS persons also genotyped on the array (on All of Us most are; they are the
# array's own PCA reference and never in the microarray cohort, which excludes WGS persons)
WGS_ON_ARRAY = 0.4


def draw_groups(rng: np.random.Generator, n: int, shares: dict[str, float]) -> np.ndarray:
    """Ancestry groups for ``n`` persons, matching ``shares`` as closely as whole numbers allow.

    Parameters
    ----------
    rng : random generator.
    n : number of persons.
    shares : group -> share (sums to 1).

    Returns
    -------
    Array of group names, shuffled.
    """
    names = list(shares)
    counts = np.floor(np.array([shares[g] for g in names]) * n).astype(int)
    counts[np.argmax(counts)] += n - counts.sum()
    labels = np.repeat(np.array(names, dtype=object), counts)
    return rng.permutation(labels)


def build_persons(rng: np.random.Generator, scale: Scale) -> pd.DataFrame:
    """One row per person of the study, sorted by ``person_id``.

    Parameters
    ----------
    rng : random generator.
    scale : study sizes.

    Returns
    -------
    DataFrame with person_id, platform (wgs / array / None), ancestry (true group),
    in_ancestry_file, on_array (genotyped on the array: array persons and some WGS persons),
    has_ehr, cohort (the study cohort the person belongs to, None when none).
    """
    parts = [
        ("wgs", np.full(scale.n_wgs_eur, "eur", dtype=object)),
        ("wgs", draw_groups(rng, scale.n_wgs_diverse, DIVERSE_SHARES)),
        ("array", draw_groups(rng, scale.n_array, ARRAY_SHARES)),
        (None, draw_groups(rng, scale.n_ehr_only, ARRAY_SHARES)),
    ]
    platform = np.concatenate([np.full(len(g), p, dtype=object) for p, g in parts])
    ancestry = np.concatenate([g for _, g in parts])
    # persons in `person` without any EHR row: genotyped ones, then ones with neither
    no_ehr_platform = np.where(np.arange(scale.n_no_ehr) % 3 == 2, "array", "wgs")
    n_without = scale.n_no_ehr + scale.n_person_only
    no_ehr_ancestry = draw_groups(rng, n_without, ARRAY_SHARES)
    platform = np.concatenate(
        [platform, no_ehr_platform.astype(object), np.full(scale.n_person_only, None)]
    )
    ancestry = np.concatenate([ancestry, no_ehr_ancestry])
    has_ehr = np.ones(len(platform), dtype=bool)
    has_ehr[len(platform) - n_without :] = False
    persons_df = pd.DataFrame({"platform": platform, "ancestry": ancestry, "has_ehr": has_ehr})
    persons_df["person_id"] = FIRST_PERSON_ID + rng.permutation(len(persons_df)).astype(np.int64)
    persons_df = persons_df.sort_values("person_id", ignore_index=True)
    persons_df["in_ancestry_file"] = mark_ancestry_absentees(rng, persons_df)
    persons_df["on_array"] = mark_array_persons(rng, persons_df)
    persons_df["cohort"] = assign_cohorts(persons_df)
    return persons_df[
        ["person_id", "platform", "ancestry", "in_ancestry_file", "on_array", "has_ehr", "cohort"]
    ]


def mark_ancestry_absentees(rng: np.random.Generator, persons_df: pd.DataFrame) -> np.ndarray:
    """Who is in ``ancestry_preds.tsv``: WGS persons but ~0.5% of them (at least one).

    Returns
    -------
    Boolean array: True when the person is in the ancestry file.
    """
    wgs = (persons_df["platform"] == "wgs").to_numpy()
    present = wgs.copy()
    n_absent = max(1, round(WGS_ABSENT_FROM_ANCESTRY_FILE * wgs.sum()))
    present[rng.choice(np.flatnonzero(wgs), size=n_absent, replace=False)] = False
    return present


def mark_array_persons(rng: np.random.Generator, persons_df: pd.DataFrame) -> np.ndarray:
    """Who is genotyped on the array: every array person and ~40% of the WGS persons."""
    wgs = (persons_df["platform"] == "wgs").to_numpy()
    return (persons_df["platform"] == "array").to_numpy() | (
        wgs & (rng.random(len(persons_df)) < WGS_ON_ARRAY)
    )


def assign_cohorts(persons_df: pd.DataFrame) -> np.ndarray:
    """The study cohort of each person, as the default config's rules select them.

    Returns
    -------
    Array of ``wgs_european`` / ``wgs_diverse`` / ``microarray`` / None.
    """
    wgs = (persons_df["platform"] == "wgs").to_numpy()
    known = persons_df["in_ancestry_file"].to_numpy()
    eur = (persons_df["ancestry"] == "eur").to_numpy()
    cohort = np.full(len(persons_df), None, dtype=object)
    cohort[wgs & known & eur] = "wgs_european"
    cohort[wgs & known & ~eur] = "wgs_diverse"
    cohort[(persons_df["platform"] == "array").to_numpy()] = "microarray"
    return cohort
