"""The expected marginal per-SD effect of a PGS fitted alone (trd_spark.simulate.marginal),
checked by simulation: outcomes drawn from the planted joint model, each standardised score
fitted alone with statsmodels (Logit, PHReg), the fits compared with the formula within
Monte Carlo error; the naive planted-times-r value is shown to miss where clusters matter."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.duration.hazard_regression import PHReg

from trd_spark.simulate.marginal import (
    cluster_mask,
    marginal_slopes,
    set_moments,
    standardise,
    trmdd_vs_non_mdd_beta,
)
from trd_spark.simulate.weights import GENETIC_CLUSTERS

TRAITS = ["educational_attainment", "cognitive_performance", "intelligence", "height"]
R_PGS = 0.8


def draw_world(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True values with the simulator's cluster structure, noisy scores, two strata."""
    shared = rng.standard_normal(n)
    own = rng.standard_normal((n, len(TRAITS)))
    weights = np.array([GENETIC_CLUSTERS["education_cognition"].get(t, 0.0) for t in TRAITS])
    gv = np.sqrt(weights) * shared[:, None] + np.sqrt(1 - weights) * own
    score = R_PGS * gv + np.sqrt(1 - R_PGS**2) * rng.standard_normal((n, len(TRAITS)))
    strata = np.where(rng.random(n) < 0.3, "a", "b")
    score[strata == "a"] += 0.5  # a mean shift between strata, removed within strata
    return gv, standardise(score), strata


def test_cluster_mask_and_moments_match_numpy() -> None:
    rng = np.random.default_rng(1)
    gv, z, strata = draw_world(rng, 2_000)
    mask = cluster_mask(TRAITS)
    assert mask[:3, :3].all() and mask[3, 3] and not mask[3, :3].any() and not mask[:3, 3].any()
    moments = set_moments(z, gv, strata, TRAITS)
    # independent: within-stratum covariance by numpy.cov over the stratum-centred columns
    centred_z, centred_g = z.copy(), gv.copy()
    for s in ("a", "b"):
        centred_z[strata == s] -= z[strata == s].mean(0)
        centred_g[strata == s] -= gv[strata == s].mean(0)
    full = np.cov(centred_z.T, centred_g.T, bias=True)[:4, 4:]
    np.testing.assert_allclose(moments.cross[:3, :3], full[:3, :3], atol=1e-12)
    assert moments.cross[3, 0] == 0.0 and moments.gv_cov[0, 3] == 0.0
    np.testing.assert_allclose(moments.cross[3, 3], full[3, 3], atol=1e-12)


def test_logistic_marginal_slope_matches_simulation() -> None:
    rng = np.random.default_rng(7)
    n = 120_000
    gv, z, strata = draw_world(rng, n)
    beta = np.array([0.3, 0.2, -0.1, 1.0])
    y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + gv @ beta)))).astype(float)
    expected = marginal_slopes(set_moments(z, gv, strata, TRAITS), beta, "logit")
    naive = beta * R_PGS
    misses_naive = 0
    for k in range(len(TRAITS)):
        design = sm.add_constant(np.column_stack([z[:, k], strata == "a"]).astype(float))
        fit = sm.Logit(y, design).fit(disp=0)
        estimate, se = fit.params[1], fit.bse[1]
        assert abs(estimate - expected[k]) < 3.5 * se, (TRAITS[k], estimate, expected[k], se)
        misses_naive += abs(estimate - naive[k]) > 5 * se
    # the planted value times r is not what a PGS fitted alone estimates in a cluster
    assert misses_naive >= 2


def test_logit_attenuation_is_needed() -> None:
    """Without the 1 / sqrt(1 + c^2 var(rest)) factor the slope of a PGS whose trait carries
    a small part of a large liability is too large by many SEs."""
    rng = np.random.default_rng(11)
    n = 120_000
    gv, z, strata = draw_world(rng, n)
    beta = np.array([0.0, 0.0, 0.0, 1.5])
    y = (rng.random(n) < 1 / (1 + np.exp(-(gv @ beta)))).astype(float)
    moments = set_moments(z, gv, strata, TRAITS)
    fit = sm.Logit(y, sm.add_constant(z[:, 3])).fit(disp=0)
    with_factor = marginal_slopes(moments, beta, "logit")[3]
    without = marginal_slopes(moments, beta, "log_hazard")[3]  # gamma alone
    assert abs(fit.params[1] - with_factor) < 3.5 * fit.bse[1]
    assert abs(fit.params[1] - without) > 10 * fit.bse[1]


def test_cox_marginal_slope_matches_simulation() -> None:
    rng = np.random.default_rng(3)
    n = 40_000
    gv, z, strata = draw_world(rng, n)
    beta = np.array([0.25, 0.15, -0.1, 0.0])
    time = rng.exponential(size=n) / np.exp(gv @ beta)
    follow_up = rng.uniform(0.1, 0.6, n)  # about a quarter convert within follow-up
    event = (time <= follow_up).astype(float)
    observed = np.minimum(time, follow_up)
    assert 0.15 < event.mean() < 0.4
    expected = marginal_slopes(set_moments(z, gv, strata, TRAITS), beta, "log_hazard")
    for k in range(len(TRAITS)):
        fit = PHReg(observed, z[:, [k]], status=event).fit()
        estimate, se = fit.params[0], fit.bse[0]
        assert abs(estimate - expected[k]) < 3.5 * se, (TRAITS[k], estimate, expected[k], se)
    assert abs(expected[3]) < 1e-12  # no planted effect, no cluster partner: exactly null


def test_trmdd_vs_non_mdd_accounts_for_trd_removal() -> None:
    """trMDD vs non-MDD among MDD persons thinned by TRD: the fitted log OR of each true value
    (jointly) matches log_or_mdd - H log_hr, H = -log(1 - TRD share among the treated)."""
    rng = np.random.default_rng(5)
    n = 200_000
    gv = rng.standard_normal((n, 2))
    log_or_mdd, log_hr = np.array([0.2, 0.0]), np.array([0.25, 0.3])
    mdd = rng.random(n) < 1 / (1 + np.exp(-(-0.3 + gv @ log_or_mdd)))
    rate = 0.35  # cumulative baseline hazard within follow-up
    trd = mdd & (rng.exponential(size=n) < rate * np.exp(gv @ log_hr))
    share = trd.sum() / mdd.sum()
    keep = ~trd
    fit = sm.Logit(mdd[keep].astype(float), sm.add_constant(gv[keep])).fit(disp=0)
    expected = trmdd_vs_non_mdd_beta(log_or_mdd, log_hr, share)
    for k in range(2):
        assert abs(fit.params[1 + k] - expected[k]) < 3.5 * fit.bse[1 + k], (k, fit.params)
    assert abs(fit.params[2]) > 10 * fit.bse[2]  # the TRD removal matters
    with pytest.raises(ValueError, match="TRD share"):
        trmdd_vs_non_mdd_beta(log_or_mdd, log_hr, 1.0)
