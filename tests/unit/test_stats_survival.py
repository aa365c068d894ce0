"""Survival pieces against R (ties), lifelines' KM, scipy and hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from scipy import stats

from tests.helpers.stats_inputs import simulate_cohort_persons, simulate_time_to_event
from trd_spark.stats.analysis import build_analysis_table
from trd_spark.stats.cox import CoxProblem, fit_cox_batch
from trd_spark.stats.progression import (
    KM_COLUMNS,
    SURVIVAL_COLUMNS,
    SurvivalSet,
    analyse_set,
    build_survival_set,
)
from trd_spark.stats.survival import cox_zph, fit_cox, kaplan_meier, mean_time_to_event, pgs_strata

from .test_stats_reference import read


def ties_frame() -> pd.DataFrame:
    data = read("km_input.csv")
    data["group1"] = (data.group == 1).astype(float)
    data["group2"] = (data.group == 2).astype(float)
    return data


def test_cox_and_zph_with_tied_times_match_r() -> None:
    data = ties_frame()
    fit = fit_cox(data, "time", "event", ["group1", "group2"])
    golden = read("golden_cox.csv").query("model == 'ties'").set_index("term")
    np.testing.assert_allclose(fit.summary.coef, golden.coef, rtol=1e-5)
    np.testing.assert_allclose(fit.summary.se, golden.se, rtol=1e-5)
    zph = cox_zph(data.time, data.event, data[["group1", "group2"]].to_numpy(), fit.beta,
                  {"group": [0, 1]})  # fmt: skip
    golden_zph = read("golden_zph.csv").query("model == 'ties'").set_index("term")
    assert zph.loc["group", "chisq"] == pytest.approx(golden_zph.loc["group", "chisq"], rel=1e-4)
    assert zph.loc["group", "df"] == 2


def simulated_batch(n: int = 900, k: int = 5, seed: int = 4):
    """Integer (tied) times, two strata, k PGS, three shared covariates."""
    rng = np.random.default_rng(seed)
    pgs = rng.normal(size=(n, k))
    covariates = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), rng.normal(size=n)])
    strata = np.where(rng.random(n) < 0.4, "b", "a")
    hazard = 0.002 * np.exp(0.4 * pgs[:, 0] + 0.3 * covariates[:, 1] + 0.5 * (strata == "b"))
    event_time = rng.exponential(1 / hazard)
    censor = rng.uniform(100, 900, n)
    time = np.ceil(np.minimum(event_time, censor))
    return time, (event_time <= censor).astype(float), covariates, pgs, strata


def lifelines_fit(frame: pd.DataFrame, strata: list[str] | None) -> pd.DataFrame:
    from lifelines import CoxPHFitter

    fitter = CoxPHFitter().fit(
        frame, duration_col="time", event_col="event", strata=strata,
        fit_options={"precision": 1e-12, "max_steps": 200},
    )  # fmt: skip
    return fitter.summary


@pytest.mark.parametrize("stratified", [False, True])
def test_batch_equals_lifelines_one_model_at_a_time(stratified: bool) -> None:
    time, event, covariates, pgs, strata = simulated_batch()
    problem = CoxProblem(time, event, covariates, pgs, strata if stratified else None)
    fit, _ = fit_cox_batch(problem)
    assert fit.converged.all()
    assert fit.n_events == int(event.sum())
    for k in range(pgs.shape[1]):
        frame = pd.DataFrame({"time": time, "event": event, "g": pgs[:, k], "c1": covariates[:, 0],
                              "c2": covariates[:, 1], "c3": covariates[:, 2], "s": strata})  # fmt: skip
        if not stratified:
            frame = frame.drop(columns="s")
        expected = lifelines_fit(frame, ["s"] if stratified else None)
        np.testing.assert_allclose(fit.beta[k], expected["coef"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(fit.se[k], expected["se(coef)"], rtol=1e-6)


def binary_effect(effect: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    x = (rng.random(300) < 0.1).astype(float)
    event_time = rng.exponential(1 / np.exp(effect * x))
    return np.minimum(event_time, 2.0), (event_time <= 2.0).astype(float), x


def test_step_halving_reaches_the_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    """A strong effect of a rare binary covariate makes full Newton steps from zero lower the
    log partial likelihood; halving them (as coxph.fit) still reaches the maximum."""
    time, event, x = binary_effect(6.0)
    calls = []
    evaluate = CoxProblem.evaluate
    monkeypatch.setattr(
        CoxProblem, "evaluate", lambda self, b: calls.append(1) or evaluate(self, b)
    )
    fit, _ = fit_cox_batch(CoxProblem(time, event, np.zeros((len(x), 0)), x[:, None]))
    assert len(calls) > fit.n_iter[0] + 1  # some steps were halved
    expected = lifelines_fit(pd.DataFrame({"time": time, "event": event, "x": x}), None)
    assert fit.status[0] == "ok"
    np.testing.assert_allclose(fit.beta[0, 0], expected.loc["x", "coef"], rtol=1e-6)
    np.testing.assert_allclose(fit.se[0, 0], expected.loc["x", "se(coef)"], rtol=1e-6)


def test_monotone_likelihood_is_flagged() -> None:
    """Every event among x = 1 before any among x = 0: the coefficient is infinite."""
    time, event, x = binary_effect(8.0)
    assert time[x == 1].max() < time[(x == 0) & (event == 1)].min()
    fit, _ = fit_cox_batch(CoxProblem(time, event, np.zeros((len(x), 0)), x[:, None]))
    assert fit.status.tolist() == ["monotone_likelihood"]
    assert not fit.converged[0]


def test_constant_column_is_flagged_singular() -> None:
    time, event, covariates, pgs, _ = simulated_batch(k=2)
    pgs[:, 1] = 1.0
    fit, _ = fit_cox_batch(CoxProblem(time, event, covariates, pgs))
    assert fit.status.tolist() == ["ok", "singular"]


def test_kaplan_meier_equals_lifelines() -> None:
    data = read("km_input.csv")
    curve = kaplan_meier(data.time.to_numpy(), data.event.to_numpy())
    km = KaplanMeierFitter().fit(data.time, data.event)
    expected = km.survival_function_.loc[curve.time, "KM_estimate"].to_numpy()
    np.testing.assert_allclose(curve.survival, expected, rtol=1e-12)


def test_mean_time_to_event_t_interval() -> None:
    time = np.array([10.0, 50, 30, 80, 5, 40])
    status = np.array([1, 0, 1, 1, 0, 1])
    out = mean_time_to_event(time, status)
    events = np.array([10.0, 30, 80, 40])
    low, high = stats.t.interval(0.95, 3, loc=events.mean(), scale=stats.sem(events))
    assert out["n_events"] == 4
    assert out["mean_days"] == pytest.approx(40.0)
    assert out["ci_low"] == pytest.approx(low)
    assert out["ci_high"] == pytest.approx(high)


def test_pgs_strata_closed_on_the_right() -> None:
    values = np.arange(1.0, 11.0)  # type-7 q20 = 2.8, q80 = 8.2
    assert pgs_strata(values).tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 2, 2]
    tied = np.array([1.0, 2, 2, 2, 2, 3, 4, 5, 6, 7])  # q20 = 2 exactly: ties stay in [min, q20]
    assert pgs_strata(tied).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 2, 2]


def survival_inputs(n: int = 4000):
    rng = np.random.default_rng(8)
    traits = ["educational_attainment", "insomnia", "height"]
    pgs_df, persons_df = simulate_cohort_persons(rng, "c", n, 1, traits)
    tte_df = simulate_time_to_event(rng, persons_df)
    pcs = [f"pc{i}" for i in range(1, 17)]
    cohorts_df = pd.DataFrame(
        {"person_id": pgs_df.person_id, "cohort": "c"} | {pc: rng.normal(size=n) for pc in pcs}
    )
    table = build_analysis_table("c", cohorts_df, pgs_df, persons_df, traits)
    return table, tte_df


def test_survival_set_counts_exclusions() -> None:
    table, tte_df = survival_inputs()
    set_df, rows = build_survival_set(tte_df, table)
    in_sample = tte_df[tte_df.person_id.isin(table.data_df.person_id)]
    steps = pd.DataFrame(rows).set_index("step")
    assert steps.loc["survival_subset", "n_persons"] == len(in_sample)
    n_prevalent = int((in_sample.exclusion == "prevalent").sum())
    assert steps.loc["survival_prevalent", "n_rows_dropped"] == n_prevalent
    assert len(set_df) == len(in_sample) - n_prevalent
    assert set_df.included.all()


def test_analyse_set_terms_and_education_direction() -> None:
    table, tte_df = survival_inputs()
    set_df, _ = build_survival_set(tte_df, table)
    covariates = ["age_at_diagnosis", "sex", *[f"pc{i}" for i in range(1, 17)]]
    rows, km, resid = analyse_set(SurvivalSet("c", set_df, table.traits), covariates,
                                  schoenfeld_traits=["insomnia"])  # fmt: skip
    assert list(rows.columns) == SURVIVAL_COLUMNS
    assert rows.trait.tolist() == [t for t in table.traits for _ in range(3)]
    assert rows.term.tolist() == ["pgs_20_80", "pgs_80_100", "pgs_per_sd"] * 3
    assert (rows.status == "ok").all()
    education = rows[rows.trait == "educational_attainment"].set_index("term")
    assert education.loc["pgs_80_100", "hr"] < 1  # planted log HR -0.35 per SD
    assert list(km.columns) == KM_COLUMNS
    assert set(km.stratum) == {"pgs_0_20", "pgs_20_80", "pgs_80_100"}
    sizes = km[km.trait == "insomnia"].groupby("stratum").at_risk.max()
    assert sizes.sum() == len(set_df)
    assert set(resid.trait) == {"insomnia"}
    assert set(resid.term) == {"pgs_20_80", "pgs_80_100", "pgs_per_sd"}
    assert (resid.groupby("term").size() == set_df.event.sum()).all()


def test_analyse_set_matches_fit_cox_per_trait() -> None:
    """The batch over traits equals one model at a time (per SD, scaled by the sample SD)."""
    table, tte_df = survival_inputs(1500)
    set_df, _ = build_survival_set(tte_df, table)
    covariates = ["age_at_diagnosis", "sex", *[f"pc{i}" for i in range(1, 17)]]
    rows, _, _ = analyse_set(SurvivalSet("c", set_df, table.traits), covariates)
    for trait in table.traits:
        values = set_df[trait]
        frame = set_df.assign(pgs_per_sd=(values - values.mean()) / values.std(ddof=1))
        fit = fit_cox(frame, "time_days", "event", ["pgs_per_sd", *covariates])
        got = rows[(rows.trait == trait) & (rows.term == "pgs_per_sd")].iloc[0]
        assert got.coef == pytest.approx(fit.summary.loc["pgs_per_sd", "coef"], rel=1e-7)
        assert got.se == pytest.approx(fit.summary.loc["pgs_per_sd", "se"], rel=1e-7)


def strata_fit(frame: pd.DataFrame, groups: np.ndarray, covariates: list[str]) -> pd.DataFrame:
    """fit_cox with hand-made stratum dummies and cohort as the Cox stratum."""
    frame = frame.assign(d1=(groups == 1).astype(float), d2=(groups == 2).astype(float))
    return fit_cox(frame, "time_days", "event", ["d1", "d2", *covariates], ["cohort"]).summary


def test_pooled_set_cuts_strata_within_each_cohort() -> None:
    table, tte_df = survival_inputs(3000)
    set_df, _ = build_survival_set(tte_df, table)
    cohort = np.where(np.arange(len(set_df)) % 2 == 0, "a", "b")
    # cohort b's raw PGS is shifted up by 5 SD: pooled cut points sort persons by cohort
    shifted = set_df.assign(cohort=cohort)
    shifted["height"] = shifted.height + np.where(cohort == "b", 5 * shifted.height.std(), 0.0)
    covariates = ["age_at_diagnosis", "sex"]
    for within in (True, False):
        survival_set = SurvivalSet("ab", shifted, ["height"], pooled=True, within_cohort=within)
        rows, _, _ = analyse_set(survival_set, covariates)
        rows = rows.set_index("term")
        values = shifted.height.to_numpy()
        if within:
            groups = np.zeros(len(values), dtype=int)
            for label in ("a", "b"):
                groups[cohort == label] = pgs_strata(values[cohort == label])
        else:
            groups = pgs_strata(values)
        expected = strata_fit(shifted, groups, covariates)
        assert rows.loc["pgs_20_80", "coef"] == pytest.approx(expected.loc["d1", "coef"], rel=1e-7)
        assert rows.loc["pgs_80_100", "se"] == pytest.approx(expected.loc["d2", "se"], rel=1e-7)
        assert set(rows.pgs_scale) == {"within_cohort" if within else "within_set"}


def test_trait_missing_for_some_persons_is_fitted_on_those_who_have_it() -> None:
    table, tte_df = survival_inputs(2000)
    set_df, _ = build_survival_set(tte_df, table)
    set_df.loc[set_df.index[:100], "height"] = np.nan
    covariates = ["age_at_diagnosis", "sex"]
    rows, _, _ = analyse_set(SurvivalSet("c", set_df, table.traits), covariates)
    per_sd = rows[rows.term == "pgs_per_sd"].set_index("trait")
    assert per_sd.loc["height", "n"] == len(set_df) - 100
    assert per_sd.loc["insomnia", "n"] == len(set_df)
    kept = set_df.iloc[100:]
    frame = kept.assign(pgs_per_sd=(kept.height - kept.height.mean()) / kept.height.std(ddof=1))
    fit = fit_cox(frame, "time_days", "event", ["pgs_per_sd", *covariates])
    assert per_sd.loc["height", "coef"] == pytest.approx(fit.beta[0], rel=1e-7)
