"""Statistics against R golden values (tests/r/golden.R wrote them from the inputs beside it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trd_spark.stats.cox import CoxProblem, fit_cox_batch, scaled_schoenfeld
from trd_spark.stats.grid import replicate_survival
from trd_spark.stats.logistic import fit_logistic_batch
from trd_spark.stats.meta import fit_meta_regression
from trd_spark.stats.progression import SurvivalSet, run_progression
from trd_spark.stats.survival import cox_zph, fit_cox, kaplan_meier, pgs_strata

R_DIR = Path(__file__).resolve().parents[1] / "r"
COVARIATES = ["pc1", "pc2", "pc3", "sex", "age"]
COX_COVARIATES = ["age_at_diagnosis", "sex", "pc1", "pc2"]


def read(name: str) -> pd.DataFrame:
    """An input or golden file; R's right-aligned numbers and "NA" become floats."""
    frame = pd.read_csv(R_DIR / name)
    for column in frame.select_dtypes(include="object").columns:
        stripped = frame[column].str.strip()
        numeric = pd.to_numeric(stripped.replace("NA", "nan"), errors="coerce")
        if numeric.notna().sum() == (stripped != "NA").sum():
            frame[column] = numeric
    return frame


def test_logistic_matches_r_glm() -> None:
    data = read("logistic_input.csv")
    golden = read("golden_logistic.csv").set_index("model")
    C = np.column_stack([np.ones(len(data)), data[COVARIATES].to_numpy(float)])
    pgs = data[["pgs1", "pgs2", "pgs3"]].to_numpy(float)
    fit = fit_logistic_batch(data.y.to_numpy(), C, pgs)
    expected = golden.loc[["pgs1", "pgs2", "pgs3"]]
    np.testing.assert_allclose(fit.beta[:, 0], expected.beta, rtol=1e-6)
    np.testing.assert_allclose(fit.se[:, 0], expected.se, rtol=1e-6)
    np.testing.assert_array_equal(fit.n_iter, expected.iter)
    assert fit.converged.all()


def test_interaction_matches_r_glm() -> None:
    data = read("logistic_input.csv")
    golden = read("golden_logistic.csv").set_index("model")
    C = np.column_stack([np.ones(len(data)), data[COVARIATES].to_numpy(float)])
    pgs = data[["pgs1", "pgs2", "pgs3"]].to_numpy(float)
    specific = np.stack([pgs, pgs * data.sex.to_numpy(float)[:, None]], axis=2)
    fit = fit_logistic_batch(data.y.to_numpy(), C, specific)
    expected = golden.loc[["pgs1_x_sex", "pgs2_x_sex", "pgs3_x_sex"]]
    np.testing.assert_allclose(fit.beta[:, 1], expected.beta, rtol=1e-6)
    np.testing.assert_allclose(fit.se[:, 1], expected.se, rtol=1e-6)


@pytest.mark.parametrize("name", ["moderated", "noise", "flat"])
def test_meta_regression_matches_metafor(name: str) -> None:
    data = read("meta_input.csv").query("set == @name")
    golden = read("golden_meta.csv").set_index("set").loc[name]
    fit = fit_meta_regression(data.yi.to_numpy(), data.vi.to_numpy(), data.x.to_numpy())
    assert fit.k == golden.k
    for field in ("tau2", "tau2_null", "r2", "qe", "qe_p", "qm", "qm_p"):
        assert getattr(fit, field) == pytest.approx(golden[field], rel=1e-4), field
    np.testing.assert_allclose(fit.beta, [golden.b0, golden.b1], rtol=1e-4)
    np.testing.assert_allclose(fit.se, [golden.b0_se, golden.b1_se], rtol=1e-4)
    slope = fit.slope_summary()
    assert slope["slope_ci_low"] == pytest.approx(golden.b1_ci_low, rel=1e-4)
    assert slope["slope_ci_high"] == pytest.approx(golden.b1_ci_high, rel=1e-4)
    assert slope["slope_p"] == pytest.approx(golden.b1_p, rel=1e-4)
    assert fit.converged


def cox_frame() -> pd.DataFrame:
    data = read("cox_input.csv")
    groups = pgs_strata(data.pgs.to_numpy())
    np.testing.assert_array_equal(groups, data.pgs_group)  # type-7 cut points as R
    data["pgs_group1"] = (groups == 1).astype(float)
    data["pgs_group2"] = (groups == 2).astype(float)
    return data


@pytest.mark.parametrize(
    ("model", "first", "strata"),
    [
        ("strata", ["pgs_group1", "pgs_group2"], None),
        ("per_sd", ["pgs_sd"], None),
        ("pooled", ["pgs_group1", "pgs_group2"], ["cohort"]),
    ],
)
def test_cox_and_zph_match_r(model: str, first: list[str], strata: list[str] | None) -> None:
    data = cox_frame()
    covariates = [*first, *COX_COVARIATES]
    fit = fit_cox(data, "time", "event", covariates, strata=strata)
    golden = read("golden_cox.csv").query("model == @model").set_index("term")
    np.testing.assert_allclose(fit.summary.coef, golden.loc[covariates, "coef"], rtol=1e-5)
    np.testing.assert_allclose(fit.summary.se, golden.loc[covariates, "se"], rtol=1e-5)
    terms = {"pgs": list(range(len(first)))} | {
        name: [len(first) + i] for i, name in enumerate(COX_COVARIATES)
    }
    zph = cox_zph(
        data.time.to_numpy(),
        data.event.to_numpy(),
        data[covariates].to_numpy(float),
        fit.beta,
        terms,
        strata=None if strata is None else data.cohort.to_numpy(),
    )
    golden_zph = read("golden_zph.csv").query("model == @model").set_index("term")
    golden_zph = golden_zph.rename(index={"pgs_group": "pgs", "pgs_sd": "pgs"})
    for term in [*terms, "GLOBAL"]:
        assert zph.loc[term, "chisq"] == pytest.approx(golden_zph.loc[term, "chisq"], rel=1e-4)
        assert zph.loc[term, "df"] == golden_zph.loc[term, "df"]


def test_kaplan_meier_matches_survfit_loglog() -> None:
    data = read("km_input.csv")
    golden = read("golden_km.csv")
    for group, expected in golden.groupby("group"):
        rows = data.group == group
        curve = kaplan_meier(data.time[rows].to_numpy(), data.event[rows].to_numpy())
        np.testing.assert_array_equal(curve.time, expected.time)
        np.testing.assert_array_equal(curve.at_risk, expected.n_risk)
        np.testing.assert_allclose(curve.survival, expected.surv, rtol=1e-10)
        np.testing.assert_allclose(curve.ci_low, expected.lower, rtol=1e-8)
        np.testing.assert_allclose(curve.ci_high, expected.upper, rtol=1e-8)


def test_survival_replication_matches_coxph_and_metafor() -> None:
    """log HR per SD of 20 PGS per cohort (coxph), then rma of one cohort's on the other's."""
    data = read("cox_replication_input.csv").rename(columns={"time": "time_days"})
    traits = [f"pgs{k}" for k in range(1, 21)]
    sets = [SurvivalSet(c, data[data.cohort == c], traits) for c in ("discovery", "replication")]
    survival_df = run_progression(sets, n_pcs=2).survival_df
    per_sd = survival_df[survival_df.term == "pgs_per_sd"].set_index(["cohort", "trait"])
    golden = read("golden_cox_replication.csv").set_index(["cohort", "trait"])
    np.testing.assert_allclose(per_sd.loc[golden.index, "coef"], golden.coef, rtol=1e-5)
    np.testing.assert_allclose(per_sd.loc[golden.index, "se"], golden.se, rtol=1e-5)
    row = replicate_survival(survival_df, [("replication", "discovery")]).iloc[0]
    expected = read("golden_meta_cox.csv").iloc[0]
    assert (row.analysis, row.contrast, row.k) == ("survival", "time_to_trd", 20)
    for field in ("tau2", "tau2_null", "r2", "qe", "qe_p", "qm", "qm_p", "intercept",
                  "intercept_se", "slope", "slope_se", "slope_ci_low", "slope_ci_high",
                  "slope_p"):  # fmt: skip
        assert row[field] == pytest.approx(expected[field], rel=1e-4), field


SCHOENFELD_MODELS = [
    ("strata", ["pgs_group1", "pgs_group2"], None),
    ("per_sd", ["pgs_sd"], None),
    ("pooled", ["pgs_group1", "pgs_group2"], "cohort"),
]


@pytest.mark.parametrize(("model", "first", "strata"), SCHOENFELD_MODELS)
def test_scaled_schoenfeld_matches_cox_zph(
    model: str, first: list[str], strata: str | None
) -> None:
    """cox.zph(fit, transform = "km", terms = FALSE): $time, $x and $y of the PGS columns."""
    data = cox_frame()
    problem = CoxProblem(
        data.time.to_numpy(), data.event.to_numpy(), data[COX_COVARIATES].to_numpy(float),
        data[first].to_numpy(float)[:, None, :], None if strata is None else data[strata].to_numpy(),
    )  # fmt: skip
    fit, sums = fit_cox_batch(problem)
    time, x, y = scaled_schoenfeld(problem, fit.beta, sums, list(range(len(first))))
    golden = read("golden_schoenfeld.csv").query("model == @model")
    for j, term in enumerate(first):
        expected = golden[golden.term == term]
        np.testing.assert_allclose(time, expected.time, rtol=1e-12)
        np.testing.assert_allclose(x, expected.x, atol=1e-12)
        np.testing.assert_allclose(y[:, 0, j], expected.y, rtol=1e-4, atol=1e-8)


def test_scaled_schoenfeld_with_tied_times_matches_cox_zph() -> None:
    data = read("km_input.csv")
    groups = np.column_stack([data.group == 1, data.group == 2]).astype(float)
    problem = CoxProblem(data.time.to_numpy(), data.event.to_numpy(), np.zeros((len(data), 0)),
                         groups[:, None, :])  # fmt: skip
    fit, sums = fit_cox_batch(problem)
    time, x, y = scaled_schoenfeld(problem, fit.beta, sums, [0, 1])
    golden = read("golden_schoenfeld.csv").query("model == 'ties'")
    for j, term in enumerate(["group1", "group2"]):
        expected = golden[golden.term == term]
        np.testing.assert_array_equal(time, expected.time)
        np.testing.assert_allclose(x, expected.x, atol=1e-12)
        np.testing.assert_allclose(y[:, 0, j], expected.y, rtol=1e-4, atol=1e-8)
