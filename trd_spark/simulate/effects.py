"""The planted effects per trait: MDD risk, TRD vs trMDD, and the hazard of time to TRD."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark.published import TRD_VS_TRMDD_OR
from trd_spark.simulate.weights import GENETIC_CLUSTERS, PLANTED_SHIFT

# d logit P(TRD) / d log-hazard for an exponential time to TRD with ~20-30% converting within
# follow-up: the hazard effect that yields the study's odds ratio.
LOGIT_PER_LOG_HAZARD = 1.1
MDD_LOG_OR = {
    "psychiatric": 0.15,
    "substance_use": 0.08,
    "temperament": 0.10,
    "sleep": 0.10,
    "personality": 0.07,
    "metabolic_somatic_inflammation": 0.05,
}
N_RISK_PERSONALITY, N_RISK_METABOLIC = 12, 6


def mdd_log_or(traits_df: pd.DataFrame) -> np.ndarray:
    """Planted log OR of MDD per SD: about two thirds of the traits raise MDD risk."""
    values = np.zeros(len(traits_df))
    rank_in_domain = traits_df.groupby("domain").cumcount().to_numpy()
    for i, (trait, domain) in enumerate(zip(traits_df["trait"], traits_df["domain"], strict=False)):
        limit = {
            "personality": N_RISK_PERSONALITY,
            "metabolic_somatic_inflammation": N_RISK_METABOLIC,
        }
        if domain in MDD_LOG_OR and rank_in_domain[i] < limit.get(domain, 99):
            values[i] = MDD_LOG_OR[domain]
        if trait in ("major_depression", "neuroticism"):
            values[i] = 0.2
        if domain == "education_cognition":
            values[i] = -0.06
    return values


def build_effects(traits_df: pd.DataFrame) -> pd.DataFrame:
    """The planted effects table (one row per trait, per SD of the true genetic value).

    Parameters
    ----------
    traits_df : the trait catalog (trait, domain).

    Returns
    -------
    trait, domain, log_or_mdd, log_or_trd_vs_trmdd (study target), log_hr_time_to_trd
    (the exact hazard effect used to draw time to TRD), genetic_cluster (traits sharing a
    genetic component; empty for none), ancestry_shift_planted (a trait built with a large
    raw-score mean shift between ancestry groups and no effect on TRD).
    """
    trd = np.array([np.log(TRD_VS_TRMDD_OR.get(t, 1.0)) for t in traits_df["trait"]])
    cluster_of = {t: c for c, members in GENETIC_CLUSTERS.items() for t in members}
    planted = traits_df["trait"].isin(list(PLANTED_SHIFT)).to_numpy()
    if np.any(trd[planted] != 0):
        raise ValueError("a trait planted with an ancestry mean shift must not affect TRD")
    return pd.DataFrame(
        {
            "trait": traits_df["trait"].to_numpy(),
            "domain": traits_df["domain"].to_numpy(),
            "log_or_mdd": mdd_log_or(traits_df),
            "log_or_trd_vs_trmdd": trd,
            "log_hr_time_to_trd": trd / LOGIT_PER_LOG_HAZARD,
            "genetic_cluster": [cluster_of.get(t, "") for t in traits_df["trait"]],
            "ancestry_shift_planted": planted,
        }
    )
