"""Random-effects meta-regression as metafor's ``rma(yi, vi, mods = ~ x, method = "REML")``.

tau^2 is found by REML Fisher scoring started from the Hedges (HE) estimate,
with step-halving to keep it non-negative, exactly as metafor 3.8 iterates;
R^2 compares tau^2 of the model with the moderator to that of the model
without it.  QE is the residual heterogeneity test (fixed-effect weights),
QM the Wald test of the moderator (random-effects weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from trd_spark.errors import InputError

_Z_95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class MetaRegression:
    """One fitted meta-regression.

    Attributes
    ----------
    k : number of estimates used.
    tau2 : residual between-estimate variance with the moderator.
    tau2_null : tau^2 of the intercept-only model.
    r2 : percent of tau2_null explained by the moderator (0..100).
    qe, qe_p : residual heterogeneity chi^2 (k - 2 df) and its p.
    qm, qm_p : moderator Wald chi^2 (1 df) and its p.
    beta : (intercept, slope).
    se : their standard errors (random-effects weights 1 / (vi + tau2), as metafor's
        default Wald z tests).
    converged : both REML fits converged.
    """

    k: int
    tau2: float
    tau2_null: float
    r2: float
    qe: float
    qe_p: float
    qm: float
    qm_p: float
    beta: tuple[float, float]
    se: tuple[float, float]
    converged: bool

    def slope_summary(self) -> dict[str, float]:
        """Intercept and slope with the slope's Wald 95% CI and two-sided p, as metafor."""
        slope, se = self.beta[1], self.se[1]
        return {
            "intercept": self.beta[0],
            "intercept_se": self.se[0],
            "slope": slope,
            "slope_se": se,
            "slope_ci_low": slope - _Z_95 * se,
            "slope_ci_high": slope + _Z_95 * se,
            "slope_p": float(2.0 * stats.norm.sf(abs(slope / se))),
        }


def fit_meta_regression(
    yi: np.ndarray, vi: np.ndarray, moderator: np.ndarray, max_iter: int = 100, tol: float = 1e-5
) -> MetaRegression:
    """Fit ``rma(yi, vi, mods = ~ moderator, method = "REML")`` and its null model.

    Parameters
    ----------
    yi : effect estimates (log odds ratios).
    vi : their sampling variances (SE^2), positive.
    moderator : the moderator value of each estimate.
    max_iter, tol : Fisher scoring limits (metafor: 100 and 1e-5).

    Returns
    -------
    MetaRegression; rows with any missing value are left out first.
    """
    yi, vi, x = _complete(yi, vi, moderator)
    k = len(yi)
    if k < 3:
        raise InputError(
            f"fit_meta_regression: needs at least 3 estimates with finite yi, vi > 0 and "
            f"moderator; got {k}"
        )
    X = np.column_stack([np.ones(k), x])
    tau2, ok_mods = estimate_tau2_reml(yi, vi, X, max_iter, tol)
    tau2_null, ok_null = estimate_tau2_reml(yi, vi, X[:, :1], max_iter, tol)
    beta, se, qm = _moderator_test(yi, vi + tau2, X)
    qe = _residual_heterogeneity(yi, vi, X)
    r2 = 0.0 if tau2_null <= 0 else max(0.0, 100.0 * (tau2_null - tau2) / tau2_null)
    return MetaRegression(
        k=k,
        tau2=tau2,
        tau2_null=tau2_null,
        r2=r2,
        qe=qe,
        qe_p=float(stats.chi2.sf(qe, k - 2)),
        qm=qm,
        qm_p=float(stats.chi2.sf(qm, 1)),
        beta=(float(beta[0]), float(beta[1])),
        se=(float(se[0]), float(se[1])),
        converged=ok_mods and ok_null,
    )


def estimate_tau2_reml(
    yi: np.ndarray, vi: np.ndarray, X: np.ndarray, max_iter: int = 100, tol: float = 1e-5
) -> tuple[float, bool]:
    """REML tau^2 by Fisher scoring from the HE start, as metafor iterates.

    Parameters
    ----------
    yi, vi : estimates and sampling variances.
    X : (k, p) design with intercept.
    max_iter, tol : stop when |change| < tol or after max_iter iterations.

    Returns
    -------
    (tau2, converged).
    """
    tau2 = max(0.0, _tau2_hedges(yi, vi, X))
    for _ in range(max_iter):
        P = _projection(1.0 / (vi + tau2), X)
        PP = P @ P
        adj = (yi @ PP @ yi - np.trace(P)) / np.trace(PP)
        while tau2 + adj < 0.0:
            adj /= 2.0
        tau2 += adj
        if abs(adj) < tol:
            return max(0.0, float(tau2)), True
    return max(0.0, float(tau2)), False


def _complete(
    yi: np.ndarray, vi: np.ndarray, moderator: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows with finite yi, moderator and positive finite vi."""
    yi, vi, x = (np.asarray(a, dtype=float) for a in (yi, vi, moderator))
    keep = np.isfinite(yi) & np.isfinite(vi) & (vi > 0) & np.isfinite(x)
    return yi[keep], vi[keep], x[keep]


def _tau2_hedges(yi: np.ndarray, vi: np.ndarray, X: np.ndarray) -> float:
    """Hedges (HE) moment estimate: (RSS_OLS - tr(P_ols V)) / (k - p)."""
    k, p = X.shape
    P = np.eye(k) - X @ np.linalg.solve(X.T @ X, X.T)
    rss = yi @ P @ yi
    return float((rss - np.trace(P * vi[None, :])) / (k - p))


def _projection(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """P = W - W X (X'WX)^-1 X'W."""
    WX = X * w[:, None]
    return np.diag(w) - WX @ np.linalg.solve(X.T @ WX, WX.T)


def _moderator_test(
    yi: np.ndarray, total_var: np.ndarray, X: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Random-effects weighted coefficients, their SEs and the Wald chi^2 of the slope."""
    WX = X / total_var[:, None]
    cov = np.linalg.inv(X.T @ WX)
    beta = cov @ (WX.T @ yi)
    return beta, np.sqrt(np.diag(cov)), float(beta[1] ** 2 / cov[1, 1])


def _residual_heterogeneity(yi: np.ndarray, vi: np.ndarray, X: np.ndarray) -> float:
    """QE = y' P y with fixed-effect weights 1 / vi."""
    return float(yi @ _projection(1.0 / vi, X) @ yi)
