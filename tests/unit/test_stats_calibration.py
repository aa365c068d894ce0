"""Ancestry calibration of the PGS (Z_norm1, Z_norm2) against statsmodels OLS and GLM Gamma."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from trd_spark.errors import InputError
from trd_spark.stats.calibration import (
    calibrate_platform,
    fit_gamma_log,
    min_reference,
    reference_rows,
    z_norm,
)


def ancestry_sample(n: int = 3000, k: int = 3, seed: int = 5):
    """Two ancestry groups apart on PC1; raw PGS means and SDs differ by group."""
    rng = np.random.default_rng(seed)
    group = rng.random(n) < 0.3
    pcs = rng.normal(scale=0.005, size=(n, 4))
    pcs[:, 0] += np.where(group, 0.05, -0.02)
    shift = np.where(group, 2.0, 0.0)[:, None] * np.arange(1, k + 1)
    spread = np.where(group, 1.8, 1.0)[:, None]
    raw = 0.5 + shift + spread * rng.normal(size=(n, k))
    return raw, pcs, group


def statsmodels_znorm(raw, pcs, reference, method):
    """Both calibrations written out with statsmodels OLS and GLM Gamma (log link)."""
    X = sm.add_constant(pcs)
    out = np.empty(raw.shape)
    for k in range(raw.shape[1]):
        ols = sm.OLS(raw[reference, k], X[reference]).fit()
        resid = raw[:, k] - ols.predict(X)
        resid_ref = resid[reference]
        if method == "z_norm1":
            out[:, k] = resid / resid_ref.std(ddof=0)
            continue
        squared = (resid_ref - resid_ref.mean()) ** 2
        family = sm.families.Gamma(link=sm.families.links.Log())
        gamma = sm.GLM(squared, X[reference], family=family).fit(tol=1e-13, maxiter=200)
        out[:, k] = resid / np.sqrt(gamma.predict(X))
    return out


@pytest.mark.parametrize("method", ["z_norm1", "z_norm2"])
def test_z_norm_equals_statsmodels(method: str) -> None:
    raw, pcs, _ = ancestry_sample()
    reference = np.arange(len(raw)) % 3 != 0  # two thirds fit the models, all are scored
    fit = z_norm(raw, pcs, reference, method)
    expected = statsmodels_znorm(raw, pcs, reference, method)
    np.testing.assert_allclose(fit.scores, expected, rtol=1e-6, atol=1e-9)
    assert fit.converged.all()
    assert (fit.n_reference == reference.sum()).all()


def test_gamma_fit_equals_statsmodels_coefficients() -> None:
    rng = np.random.default_rng(3)
    X = sm.add_constant(rng.normal(size=(500, 3)))
    y = rng.gamma(2.0, np.exp(X @ [0.2, 0.5, -0.3, 0.1]) / 2.0, size=(2, 500)).T
    beta, converged = fit_gamma_log(X, y)
    family = sm.families.Gamma(link=sm.families.links.Log())
    for k in range(2):
        expected = sm.GLM(y[:, k], X, family=family).fit(tol=1e-13, maxiter=200).params
        np.testing.assert_allclose(beta[:, k], expected, rtol=1e-8)
    assert converged.all()


def test_z_norm_removes_the_ancestry_shift() -> None:
    raw, pcs, group = ancestry_sample()
    raw_gap = (raw[group].mean(axis=0) - raw[~group].mean(axis=0)) / raw.std(axis=0)
    for method in ("z_norm1", "z_norm2"):
        scores = z_norm(raw, pcs, np.ones(len(raw), dtype=bool), method).scores
        gap = (scores[group].mean(axis=0) - scores[~group].mean(axis=0)) / scores.std(axis=0)
        # a straight line in the PCs takes up all but what PC noise within a group hides
        assert (np.abs(gap) < 0.1 * np.abs(raw_gap)).all()
    z2 = z_norm(raw, pcs, np.ones(len(raw), dtype=bool), "z_norm2").scores
    ratio = z2[group].std(axis=0) / z2[~group].std(axis=0)
    np.testing.assert_allclose(ratio, 1.0, atol=0.1)  # raw ratio 1.8: Z_norm2 evens the spread


def test_missing_scores_and_pcs_stay_missing_and_do_not_enter_the_fit() -> None:
    raw, pcs, _ = ancestry_sample()
    raw[:50, 0] = np.nan  # not scored for trait 0
    pcs[50:60, 2] = np.nan  # no PCs
    fit = z_norm(raw, pcs, np.ones(len(raw), dtype=bool), "z_norm1")
    assert np.isnan(fit.scores[:50, 0]).all() and np.isfinite(fit.scores[:50, 1]).all()
    assert np.isnan(fit.scores[50:60]).all()
    keep = np.arange(len(raw)) >= 60
    expected = statsmodels_znorm(raw[keep], pcs[keep], np.ones(keep.sum(), dtype=bool), "z_norm1")
    np.testing.assert_allclose(fit.scores[keep][:, 0], expected[:, 0], rtol=1e-6)
    assert fit.n_reference.tolist() == [len(raw) - 60, len(raw) - 10, len(raw) - 10]


def test_projected_persons_are_calibrated_but_not_the_reference() -> None:
    raw, pcs, _ = ancestry_sample(k=2)
    n = len(raw)
    source = np.where(np.arange(n) < 400, "projected", "ancestry_file")
    pgs_df = pd.DataFrame({"person_id": np.arange(n), "a": raw[:, 0], "b": raw[:, 1]})
    pcs_df = pd.DataFrame({"person_id": np.arange(n), "pcs_source": source}
                          | {f"pc{i + 1}": pcs[:, i] for i in range(4)})  # fmt: skip
    result = calibrate_platform("wgs", pgs_df, pcs_df, ["a", "b", "absent"], "z_norm2", n_pcs=4)
    assert result.summary_df.trait.tolist() == ["a", "b"]
    assert set(result.summary_df.reference) == {"not_projected"}
    assert (result.summary_df.n_reference == n - 400).all()
    assert result.scores_df[["a", "b"]].notna().all().all()
    expected = statsmodels_znorm(raw, pcs, source != "projected", "z_norm2")
    np.testing.assert_allclose(result.scores_df[["a", "b"]], expected, rtol=1e-6, atol=1e-9)


def test_reference_falls_back_to_everyone_when_few_are_not_projected() -> None:
    frame = pd.DataFrame({"pcs_source": ["projected"] * 500 + ["ancestry_file"] * 20})
    rows, name = reference_rows(frame, 4)
    assert name == "all" and rows.all()
    frame = pd.DataFrame({"pcs_source": ["projected"] * 5 + ["ancestry_file"] * 100})
    rows, name = reference_rows(frame, 4)
    assert name == "not_projected" and rows.sum() == 100 == min_reference(4)
    rows, name = reference_rows(pd.DataFrame({"x": [1, 2]}), 4)
    assert name == "all" and rows.all()


def test_bad_method_is_an_error() -> None:
    raw, pcs, _ = ancestry_sample(n=200)
    with pytest.raises(InputError, match="z_norm3"):
        z_norm(raw, pcs, np.ones(200, dtype=bool), "z_norm3")
