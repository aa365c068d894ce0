"""trd_spark.report.truth on hand-made tables: which expected value each estimate is set
beside (the simulator's expected marginal effect, else the older fallbacks), the null rule,
and the coverage counts recomputed here with scipy and numpy."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from trd_spark.report import truth

TRAITS = ["a", "b", "c", "d", "e", "f"]


def effects() -> pd.DataFrame:
    """a planted; b its cluster partner (nothing planted, a marginal effect); c-f null but f
    has an MDD effect."""
    return pd.DataFrame(
        {
            "trait": TRAITS,
            "log_or_mdd": [0.0, 0.0, 0.0, 0.0, 0.0, 0.3],
            "log_or_trd_vs_trmdd": [0.2, 0.0, 0.0, 0.0, 0.0, 0.0],
            "log_hr_time_to_trd": [0.18, 0.0, 0.0, 0.0, 0.0, 0.0],
            "pgs_r_wgs": 0.8,
            "marginal_log_or_trd_vs_trmdd_wgs_european": [0.3, 0.25, 0, 0, 0, 0],
            "marginal_log_or_mdd_wgs_european": [-0.07, -0.06, 0, 0, 0, 0.24],
            "marginal_log_hr_wgs": [0.27, 0.22, 0, 0, 0, 0],
        }
    )


def estimates(cohort: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    beta = rng.normal(0.1, 0.15, len(TRAITS))
    se = np.full(len(TRAITS), 0.05)
    p = 2 * stats.norm.sf(np.abs(beta / se))
    return pd.DataFrame({"cohort": cohort, "trait": TRAITS, "beta": beta, "se": se, "p": p})


def test_estimates_sit_beside_the_expected_marginal_effects():
    effects_df = effects()
    est = {
        "trd_vs_trmdd": pd.concat([estimates("wgs_european", 1), estimates("wgs_diverse", 2)]),
        "mdd": estimates("wgs_european", 3),
        "time_to_trd": estimates("wgs", 4),
    }
    platforms = {"wgs_european": "wgs", "wgs_diverse": "wgs", "wgs": "wgs"}
    beside_df = truth.beside_truth(effects_df, est, platforms, 1e-5)
    for (outcome, cohort), rows_df in beside_df.groupby(["outcome", "cohort"]):
        column = {"trd_vs_trmdd": "marginal_log_or_trd_vs_trmdd", "mdd": "marginal_log_or_mdd",
                  "time_to_trd": "marginal_log_hr"}[outcome] + f"_{cohort}"  # fmt: skip
        planted = {"trd_vs_trmdd": "log_or_trd_vs_trmdd", "mdd": "log_or_mdd",
                   "time_to_trd": "log_hr_time_to_trd"}[outcome]  # fmt: skip
        merged_df = rows_df.merge(effects_df, on="trait")
        if column in effects_df:
            expected = merged_df[column].to_numpy()
            assert set(rows_df["expected_from"]) == {column}
            assert len(rows_df) == len(TRAITS)  # MDD: every trait, TRD effects included
        else:  # WGS Diverse: no marginal column, the planted effect times r on its platform
            expected = merged_df[planted].to_numpy() * 0.8
            assert set(rows_df["expected_from"]) == {f"{planted} × pgs_r_wgs"}
        np.testing.assert_allclose(rows_df["expected"], expected)
        est_df = est[outcome][est[outcome]["cohort"] == cohort].set_index("trait")
        beta, se = est_df.loc[rows_df["trait"], "beta"], est_df.loc[rows_df["trait"], "se"]
        low, high = stats.norm.interval(0.95, loc=beta, scale=se)
        np.testing.assert_array_equal(rows_df["covered"], (low <= expected) & (expected <= high))
        np.testing.assert_array_equal(
            rows_df["null"], (merged_df[planted].to_numpy() == 0) & (expected == 0)
        )
    trd = beside_df[(beside_df["outcome"] == "trd_vs_trmdd")
                    & (beside_df["cohort"] == "wgs_european")].set_index("trait")  # fmt: skip
    assert not trd.loc["b", "null"] and trd.loc["c", "null"]  # the cluster partner is not null
    summary_df = truth.coverage_summary(beside_df, ["wgs_european", "wgs_diverse", "wgs"])
    row = summary_df[(summary_df["outcome"] == "trd_vs_trmdd")
                     & (summary_df["cohort"] == "wgs_european")].iloc[0]  # fmt: skip
    assert row["n_planted"] == 2 and row["n_null"] == 4
    same_sign = int((np.sign(trd.loc[["a", "b"], "beta"]) == 1).sum())
    assert row["n_planted_same_sign"] == same_sign
    assert row["n_covered"] == int(trd["covered"].sum())
    assert row["n_null_nominal"] == int((trd.loc[["c", "d", "e", "f"], "p"] < 0.05).sum())


def test_older_studies_compare_mdd_only_without_trd_effects():
    effects_df = effects().drop(columns=["marginal_log_or_mdd_wgs_european"])
    beside_df = truth.beside_truth(
        effects_df, {"mdd": estimates("wgs_european", 3)}, {"wgs_european": "wgs"}, 1e-5
    )
    assert sorted(beside_df["trait"]) == ["b", "c", "d", "e", "f"]  # a has a TRD effect
    np.testing.assert_allclose(beside_df.set_index("trait").loc["f", "expected"], 0.3 * 0.8)
