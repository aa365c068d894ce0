"""Meta-regression edge cases checked by hand (the metafor comparisons are in test_stats_reference)."""

from __future__ import annotations

import numpy as np
import pytest

from trd_spark.errors import InputError
from trd_spark.stats.meta import fit_meta_regression


def test_estimates_on_a_line_have_no_heterogeneity() -> None:
    x = np.linspace(-0.2, 0.2, 12)
    yi = 0.01 + 0.5 * x
    vi = np.full(12, 0.01)
    fit = fit_meta_regression(yi, vi, x)
    assert fit.tau2 == 0.0
    assert fit.r2 == 0.0  # tau2_null may be > 0 or 0; with tau2 = 0 and tau2_null = 0, R2 = 0
    assert fit.qe == pytest.approx(0.0, abs=1e-12)
    # weighted least squares by hand: equal weights -> OLS slope and its variance v / Sxx
    sxx = np.sum((x - x.mean()) ** 2)
    assert fit.beta[1] == pytest.approx(0.5)
    assert fit.qm == pytest.approx(0.5**2 / (0.01 / sxx))


def test_null_tau2_zero_gives_r2_zero() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=20)
    yi = rng.normal(scale=0.001, size=20)  # far less spread than the sampling variance
    fit = fit_meta_regression(yi, np.full(20, 1.0), x)
    assert fit.tau2_null == 0.0
    assert fit.r2 == 0.0


def test_missing_rows_are_left_out_and_too_few_is_an_error() -> None:
    yi = np.array([0.1, 0.2, np.nan, 0.15, 0.3])
    vi = np.array([0.01, 0.02, 0.01, 0.0, 0.01])
    x = np.array([0.1, 0.2, 0.3, 0.4, np.nan])
    with pytest.raises(InputError, match="at least 3 estimates"):
        fit_meta_regression(yi, vi, x)
    full = fit_meta_regression(yi[[0, 1, 3]], [0.01, 0.02, 0.03], x[[0, 1, 3]])
    assert full.k == 3
