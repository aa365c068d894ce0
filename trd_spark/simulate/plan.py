"""Planned demography, status group and timing of each person with EHR.

Status comes from the true genetic values: MDD by a logistic liability (exact counts per cohort),
TRD among treated MDD by an exponential proportional-hazards time to TRD that must fall within
the person's follow-up.  The EHR writer then builds events that realise the plan, and the truth
is recomputed from those events.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from trd_spark.simulate.scales import GroupFractions

EPOCH = dt.date(1970, 1, 1)
CUTOFF = dt.date(2022, 6, 30)
EARLIEST = dt.date(1984, 1, 1)
FEMALE_LOG_OR_MDD = 0.45
FEMALE_SHARE = 0.56
# log hazard of time to TRD by ancestry (relative to European): fewer recorded medication
# switches outside the European group, a confounder for pooled analyses of raw scores
ANCESTRY_LOG_HR_TRD = {
    "afr": -0.5, "amr": -0.3, "eas": -0.4, "eur": 0.0, "mid": -0.2, "sas": -0.3, "oth": -0.1,
}  # fmt: skip


def day_number(date: dt.date) -> int:
    """Days since 1970-01-01."""
    return (date - EPOCH).days


def draw_demography(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Sex (female / male) and year of birth (median age ~57 at the cutoff)."""
    female = rng.random(n) < FEMALE_SHARE
    age = np.clip(np.round(rng.normal(56, 15, n)), 19, 89).astype(int)
    return pd.DataFrame({"female": female, "year_of_birth": CUTOFF.year - age})


def draw_observation(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """End of observation and EHR length in days (about 12 +- 9 years)."""
    cutoff = day_number(CUTOFF)
    recent = np.where(rng.random(n) < 0.35, 0, np.round(rng.exponential(300, n))).astype(int)
    end = cutoff - recent
    length = np.round(np.clip(rng.normal(12, 9, n), 0.7, 38) * 365.25).astype(int)
    length = np.minimum(length, end - day_number(EARLIEST))
    return end, length


def select_top(rng: np.random.Generator, score: np.ndarray, count: int) -> np.ndarray:
    """Boolean mask of the ``count`` largest of score + logistic noise (a logistic model with
    the intercept that yields exactly ``count`` cases)."""
    noisy = score + rng.logistic(size=len(score))
    mask = np.zeros(len(score), dtype=bool)
    if count > 0:
        mask[np.argsort(-noisy, kind="stable")[:count]] = True
    return mask


def plan_unit(
    rng: np.random.Generator,
    gv: np.ndarray,
    female: np.ndarray,
    effects_df: pd.DataFrame,
    fractions: GroupFractions,
    follow_up_cap: np.ndarray,
    log_hr_offset: np.ndarray | None = None,
) -> pd.DataFrame:
    """Plan the status group of the persons of one cohort.

    Parameters
    ----------
    rng : random generator.
    gv : (n, n_traits) standardised true genetic values.
    female : (n,) sex.
    effects_df : planted effects (log_or_mdd, log_hr_time_to_trd per trait).
    fractions : planned shares of the groups.
    follow_up_cap : (n,) longest possible follow-up from first MDD date (days).
    log_hr_offset : (n,) log hazard of time to TRD beyond the genetic values (ancestry).

    Returns
    -------
    group (non_mdd / trmdd / trd / mdd_untreated / mdd_psych), follow_up (days from first MDD
    date to end of observation), time_to_trd (days, TRD only).
    """
    n = len(gv)
    liability = gv @ effects_df["log_or_mdd"].to_numpy() + FEMALE_LOG_OR_MDD * female
    n_mdd = round((1 - fractions.non_mdd) * n)
    mdd = select_top(rng, liability, n_mdd)
    group = np.where(mdd, "trmdd", "non_mdd").astype(object)
    mdd_rows = rng.permutation(np.flatnonzero(mdd))
    n_untreated, n_psych = round(fractions.mdd_untreated * n), round(fractions.mdd_psych * n)
    group[mdd_rows[:n_untreated]] = "mdd_untreated"
    group[mdd_rows[n_untreated : n_untreated + n_psych]] = "mdd_psych"
    follow_up = np.minimum(np.round(rng.uniform(220, 3350, n)), follow_up_cap).astype(int)
    treated = np.flatnonzero(group == "trmdd")
    offset = np.zeros(n) if log_hr_offset is None else log_hr_offset
    hazard = np.exp(gv[treated] @ effects_df["log_hr_time_to_trd"].to_numpy() + offset[treated])
    base = rng.exponential(size=len(treated)) / hazard
    ratio = base / follow_up[treated]
    n_trd = min(round(fractions.trd * n), len(treated))
    time_to_trd = np.full(n, np.nan)
    if n_trd > 0:
        order = np.argsort(ratio, kind="stable")
        rate = ratio[order[n_trd - 1]]
        chosen = treated[order[:n_trd]]
        group[chosen] = "trd"
        time_to_trd[chosen] = np.maximum(1, np.ceil(base[order[:n_trd]] / rate))
    time_to_trd = np.minimum(time_to_trd, follow_up)
    return pd.DataFrame({"group": group, "follow_up": follow_up, "time_to_trd": time_to_trd})


def plan_persons(
    rng: np.random.Generator,
    persons_df: pd.DataFrame,
    gv: np.ndarray,
    effects_df: pd.DataFrame,
    fractions: GroupFractions,
) -> pd.DataFrame:
    """Demography, observation window and planned group of every person.

    Parameters
    ----------
    rng : random generator.
    persons_df : the study's persons (cohort, has_ehr).
    gv : standardised true genetic values, rows as persons_df.
    effects_df : planted effects.
    fractions : planned group shares (applied within each cohort).

    Returns
    -------
    persons_df plus female, year_of_birth, obs_end, obs_length, group (None without EHR),
    follow_up, time_to_trd.
    """
    plan_df = persons_df.copy().reset_index(drop=True)
    demo_df = draw_demography(rng, len(plan_df))
    plan_df["female"], plan_df["year_of_birth"] = demo_df["female"], demo_df["year_of_birth"]
    plan_df["obs_end"], plan_df["obs_length"] = draw_observation(rng, len(plan_df))
    plan_df["group"], plan_df["follow_up"], plan_df["time_to_trd"] = None, 0, np.nan
    unit = plan_df["cohort"].fillna("none").to_numpy()
    for name in sorted(set(unit)):
        rows = np.flatnonzero((unit == name) & plan_df["has_ehr"].to_numpy())
        cap = plan_df["obs_length"].to_numpy()[rows] - 60
        unit_df = plan_unit(
            rng,
            gv[rows],
            demo_df["female"].to_numpy()[rows],
            effects_df,
            fractions,
            np.maximum(cap, 30),
            plan_df["ancestry"].map(ANCESTRY_LOG_HR_TRD).to_numpy(float)[rows],
        )
        for column in unit_df.columns:
            plan_df.loc[rows, column] = unit_df[column].to_numpy()
    plan_df["follow_up"] = plan_df["follow_up"].astype(int)
    return plan_df
