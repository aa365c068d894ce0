"""Headline results of the run next to those published by Xu et al. (JAMA Psychiatry 2025).

The published numbers are the paper's point estimates (``docs/the-study.md``); on
synthetic data with planted effects the run should agree in direction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark import published

PUBLISHED_TRD_VS_TRMDD_OR = published.TRD_VS_TRMDD_OR
PUBLISHED_HR_TOP_QUINTILE = published.HR_TOP_QUINTILE


def compare_odds_ratios(primary_df: pd.DataFrame, discovery: str) -> pd.DataFrame:
    """The run's TRD vs trMDD odds ratios beside the published ones.

    Parameters
    ----------
    primary_df : associations of the primary definitions, stratum ``all``.
    discovery : the discovery cohort.

    Returns
    -------
    Columns trait, published, estimate, ci_low, ci_high, p, same_direction
    (traits the run did not analyse are left out).
    """
    rows_df = primary_df[
        (primary_df["cohort"] == discovery) & (primary_df["contrast"] == "TRD_vs_trMDD")
    ]
    return _beside_published(
        rows_df.rename(columns={"odds_ratio": "estimate"}), PUBLISHED_TRD_VS_TRMDD_OR
    )


def compare_hazard_ratios(survival_df: pd.DataFrame, cohort: str) -> pd.DataFrame:
    """The run's top-vs-bottom-quintile hazard ratios beside the published ones.

    Parameters
    ----------
    survival_df : ``results/survival.parquet``.
    cohort : the survival set to compare (the pooled WGS set when there is one).

    Returns
    -------
    Columns as ``compare_odds_ratios``.
    """
    rows_df = survival_df[(survival_df["cohort"] == cohort) & (survival_df["term"] == "pgs_80_100")]
    return _beside_published(rows_df.rename(columns={"hr": "estimate"}), PUBLISHED_HR_TOP_QUINTILE)


def _beside_published(rows_df: pd.DataFrame, published: dict[str, float]) -> pd.DataFrame:
    columns = ["trait", "estimate", "ci_low", "ci_high", "p"]
    found_df = rows_df[rows_df["trait"].isin(list(published))][columns]
    found_df = found_df.assign(published=found_df["trait"].map(published))
    same = np.sign(np.log(found_df["estimate"])) == np.sign(np.log(found_df["published"]))
    found_df = found_df.assign(same_direction=same.to_numpy())
    order = {trait: i for i, trait in enumerate(published)}
    found_df = found_df.sort_values("trait", key=lambda s: s.map(order))
    return found_df[["trait", "published", *columns[1:], "same_direction"]].reset_index(drop=True)
