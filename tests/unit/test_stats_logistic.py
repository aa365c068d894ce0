"""Batched logistic regression against statsmodels GLM(Binomial), one model at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from trd_spark.errors import InputError
from trd_spark.stats.logistic import fit_logistic_batch, wald_summary


def make_data(n: int = 800, k: int = 6, p: int = 5, seed: int = 3):
    rng = np.random.default_rng(seed)
    C = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    G = rng.normal(size=(n, k))
    eta = -0.7 + 0.5 * G[:, 0] - 0.3 * G[:, 1] + C[:, 1:] @ rng.normal(scale=0.3, size=p - 1)
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return y, C, G


def statsmodels_fit(y, X):
    return sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12, maxiter=100)


def test_batch_equals_statsmodels_glm() -> None:
    y, C, G = make_data()
    fit = fit_logistic_batch(y, C, G)
    for k in range(G.shape[1]):
        ref = statsmodels_fit(y, np.column_stack([G[:, k], C]))
        np.testing.assert_allclose(fit.beta[k], ref.params, rtol=1e-6)
        np.testing.assert_allclose(fit.se[k], ref.bse, rtol=1e-6)
        assert fit.deviance[k] == pytest.approx(ref.deviance, rel=1e-9)
    assert fit.converged.all()
    assert (fit.status == "ok").all()


def test_missing_pgs_uses_complete_cases_per_model() -> None:
    y, C, G = make_data(seed=5)
    G[::7, 2] = np.nan
    G[::11, 4] = np.nan
    fit = fit_logistic_batch(y, C, G)
    for k in (2, 4):
        rows = np.isfinite(G[:, k])
        ref = statsmodels_fit(y[rows], np.column_stack([G[rows, k], C[rows]]))
        np.testing.assert_allclose(fit.beta[k], ref.params, rtol=1e-6)
        np.testing.assert_allclose(fit.se[k], ref.bse, rtol=1e-6)
        assert fit.n_obs[k] == rows.sum()


def test_two_specific_columns_equal_statsmodels_interaction() -> None:
    y, C, G = make_data(seed=9)
    sex = C[:, 1] > 0
    C = np.column_stack([C, sex.astype(float)])
    specific = np.stack([G, G * sex[:, None]], axis=2)
    fit = fit_logistic_batch(y, C, specific)
    for k in range(G.shape[1]):
        ref = statsmodels_fit(y, np.column_stack([G[:, k], G[:, k] * sex, C]))
        np.testing.assert_allclose(fit.beta[k], ref.params, rtol=1e-6)
        np.testing.assert_allclose(fit.se[k], ref.bse, rtol=1e-6)


def test_perfect_separation_is_flagged_not_reported() -> None:
    y, C, G = make_data(seed=11)
    G[:, 3] = np.where(y == 1, 1.0, -1.0) + np.random.default_rng(0).uniform(0, 0.5, len(y))
    fit = fit_logistic_batch(y, C, G)
    assert fit.status[3] == "separation"
    assert not fit.converged[3]
    others = np.delete(np.arange(G.shape[1]), 3)
    assert fit.converged[others].all()


def test_too_few_iterations_is_not_converged() -> None:
    y, C, G = make_data()
    fit = fit_logistic_batch(y, C, G, max_iter=2)
    assert (fit.status == "not_converged").all()
    assert not fit.converged.any()


def test_collinear_pgs_is_singular() -> None:
    y, C, G = make_data()
    G[:, 1] = C[:, 2] * 2.0
    fit = fit_logistic_batch(y, C, G)
    assert fit.status[1] == "singular"
    assert not fit.converged[1]
    assert fit.converged[[0, 2, 3, 4, 5]].all()


def test_wald_summary_by_hand() -> None:
    beta, se = np.array([0.2, -1.0]), np.array([0.1, 0.4])
    out = wald_summary(beta, se)
    for i in range(2):
        z = abs(beta[i] / se[i])
        assert out["p"][i] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
        assert out["odds_ratio"][i] == pytest.approx(math.exp(beta[i]))
        assert out["ci_low"][i] == pytest.approx(math.exp(beta[i] - 1.959963984540054 * se[i]))
        assert out["ci_high"][i] == pytest.approx(math.exp(beta[i] + 1.959963984540054 * se[i]))


def test_bad_inputs_raise() -> None:
    y, C, G = make_data()
    with pytest.raises(InputError, match="0/1"):
        fit_logistic_batch(np.where(y == 1, 2.0, 0.0), C, G)
    C_missing = C.copy()
    C_missing[0, 1] = np.nan
    with pytest.raises(InputError, match="missing values"):
        fit_logistic_batch(y, C_missing, G)
    with pytest.raises(InputError, match="same n"):
        fit_logistic_batch(y[:-1], C, G)
