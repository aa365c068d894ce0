"""Survival pieces against R (ties), lifelines' KM, scipy and hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from scipy import stats

from tests.helpers.stats_inputs import simulate_cohort_persons, simulate_time_to_event
from trd_spark.stats import survival
from trd_spark.stats.analysis import build_analysis_table
from trd_spark.stats.progression import (
    KM_COLUMNS,
    SURVIVAL_COLUMNS,
    analyse_trait,
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


def test_smaller_step_fallback_is_used_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    original = CoxPHFitter.fit

    def fail_default_step(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["fit_options"]["step_size"] == survival._STEP_SIZES[0]:
            raise ConvergenceError("planted failure")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CoxPHFitter, "fit", fail_default_step)
    data = ties_frame()
    fit = fit_cox(data, "time", "event", ["group1", "group2"])
    assert fit.step_size == survival._STEP_SIZES[1]
    golden = read("golden_cox.csv").query("model == 'ties'").set_index("term")
    np.testing.assert_allclose(fit.summary.coef, golden.coef, rtol=1e-5)


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


def test_analyse_trait_terms_and_education_direction() -> None:
    table, tte_df = survival_inputs()
    set_df, _ = build_survival_set(tte_df, table)
    covariates = ["age_at_diagnosis", "sex", *[f"pc{i}" for i in range(1, 17)]]
    rows, km = analyse_trait(set_df, "c", "educational_attainment", covariates, pooled=False)
    assert list(rows.columns) == SURVIVAL_COLUMNS
    assert rows.term.tolist() == ["pgs_20_80", "pgs_80_100", "pgs_per_sd"]
    assert rows.set_index("term").loc["pgs_80_100", "hr"] < 1  # planted log HR -0.35 per SD
    assert list(km.columns) == KM_COLUMNS
    assert set(km.stratum) == {"pgs_0_20", "pgs_20_80", "pgs_80_100"}
    sizes = km.groupby("stratum").at_risk.max()
    assert sizes.sum() == len(set_df)
