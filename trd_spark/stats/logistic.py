"""Batched logistic regression: many models that share one covariate block.

Every model of one design is ``y ~ G_k + C`` where ``C`` (n x p, with the
intercept) is the same for all ``K`` models and ``G_k`` (n x q) holds the one
or two columns that differ (a PGS, or a PGS and its interaction with sex).
Newton-Raphson (IRLS) runs for all ``K`` models at once: the ``C'WC`` blocks
of every model come from one matrix product of the row-wise outer products of
``C`` with the ``n x K`` weight matrix, so the cost of the covariates is paid
in BLAS instead of a Python loop.

Convergence follows R's ``glm.fit``: start at ``mu = (y + 0.5) / 2``, stop a
model when ``|dev - dev_old| / (|dev| + 0.1) < tol``, at most ``max_iter``
iterations.  A model is flagged (``converged`` False, ``status`` says why)
when it does not converge, when fitted probabilities reach 0 or 1 (R's
"fitted probabilities numerically 0 or 1", the sign of separation), or when
its information matrix is singular.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from trd_spark.errors import InputError

# R's glm.fit threshold for fitted probabilities numerically 0 or 1
_EPS_PROB = 10 * np.finfo(float).eps
_Z_95 = stats.norm.ppf(0.975)


@dataclass(frozen=True)
class LogisticBatch:
    """Fitted batch of ``K`` logistic models with ``q + p`` coefficients each.

    Attributes
    ----------
    beta, se : (K, q + p) coefficients and Wald standard errors; the first q
        belong to the model-specific columns, then the shared covariates.
    converged : (K,) bool, False for non-convergence, separation or singularity.
    status : (K,) str, ``ok``, ``not_converged``, ``separation`` or ``singular``.
    n_iter : (K,) iterations used.
    deviance : (K,) final deviance.
    n_obs : (K,) rows used by each model.
    """

    beta: np.ndarray
    se: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    n_iter: np.ndarray
    deviance: np.ndarray
    n_obs: np.ndarray


def fit_logistic_batch(
    y: np.ndarray,
    covariates: np.ndarray,
    specific: np.ndarray,
    mask: np.ndarray | None = None,
    max_iter: int = 25,
    tol: float = 1e-8,
) -> LogisticBatch:
    """Fit ``y ~ specific[:, k, :] + covariates`` for every k by batched IRLS.

    Parameters
    ----------
    y : (n,) 0/1 outcome.
    covariates : (n, p) shared design, including the intercept column.
    specific : (n, K) or (n, K, q) model-specific columns.
    mask : (n, K) bool rows each model uses (default: rows with finite values).
    max_iter : at most this many IRLS iterations (R: 25).
    tol : relative deviance change that counts as converged (R: 1e-8).

    Returns
    -------
    LogisticBatch with the estimates of all K models.
    """
    y, C, G, M = _check_inputs(y, covariates, specific, mask)
    n, K, q = G.shape
    G = np.where(M[:, :, None], G, 0.0)
    mu = np.broadcast_to(((y + 0.5) / 2.0)[:, None], (n, K)).copy()
    eta = special.logit(mu)
    beta = np.zeros((K, q + C.shape[1]))
    dev = _deviance(y, mu, M)
    done = np.zeros(K, dtype=bool)
    n_iter = np.zeros(K, dtype=int)
    singular = np.zeros(K, dtype=bool)
    upper = np.triu_indices(C.shape[1])
    outer_cc = np.ascontiguousarray((C[:, upper[0]] * C[:, upper[1]]).T)
    for _ in range(max_iter):
        active = ~done & ~singular
        if not active.any():
            break
        w = np.where(M, mu * (1.0 - mu), 0.0)
        z = eta + (y[:, None] - mu) / np.maximum(mu * (1.0 - mu), 1e-300)
        info = _information_batch(C, G, w, outer_cc)
        score = _weighted_cross_batch(C, G, w * z)
        new_beta, ok = _solve_batch(info, score)
        singular |= active & ~ok
        step = active & ok
        beta[step] = new_beta[step]
        eta[:, step] = _linear_predictor(C, G[:, step, :], beta[step])
        mu[:, step] = special.expit(eta[:, step])
        new_dev = _deviance(y, mu, M)
        n_iter[step] += 1
        done |= step & (np.abs(new_dev - dev) / (np.abs(new_dev) + 0.1) < tol)
        dev = np.where(step, new_dev, dev)
    se = _standard_errors(C, G, np.where(M, mu * (1.0 - mu), 0.0), singular, outer_cc)
    status = _classify(done, singular, mu, M, se)
    return LogisticBatch(beta, se, status == "ok", status, n_iter, dev, M.sum(axis=0))


def wald_summary(beta: np.ndarray, se: np.ndarray) -> dict[str, np.ndarray]:
    """Odds ratio, Wald 95% CI and two-sided p for coefficients and their SEs.

    Parameters
    ----------
    beta, se : arrays of the same shape.

    Returns
    -------
    dict with ``odds_ratio``, ``ci_low``, ``ci_high``, ``p``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return {
            "odds_ratio": np.exp(beta),
            "ci_low": np.exp(beta - _Z_95 * se),
            "ci_high": np.exp(beta + _Z_95 * se),
            "p": 2.0 * stats.norm.sf(np.abs(beta / se)),
        }


def _check_inputs(
    y: np.ndarray, covariates: np.ndarray, specific: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shapes and values checked; returns float y, C, 3-d G and a boolean mask."""
    y = np.asarray(y, dtype=float)
    C = np.asarray(covariates, dtype=float)
    G = np.asarray(specific, dtype=float)
    if G.ndim == 2:
        G = G[:, :, None]
    if y.ndim != 1 or C.ndim != 2 or G.ndim != 3 or not (len(y) == len(C) == len(G)):
        raise InputError(
            "fit_logistic_batch: y (n,), covariates (n, p) and specific (n, K[, q]) "
            f"must have the same n; got {y.shape}, {C.shape}, {G.shape}"
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError("fit_logistic_batch: y must be 0/1 without missing values")
    if not np.isfinite(C).all():
        raise InputError("fit_logistic_batch: covariates hold missing values; drop those rows")
    finite = np.isfinite(G).all(axis=2)
    M = finite if mask is None else (np.asarray(mask, dtype=bool) & finite)
    return y, C, G, M


def _information_batch(
    C: np.ndarray, G: np.ndarray, w: np.ndarray, outer_cc: np.ndarray
) -> np.ndarray:
    """X_k' W_k X_k for every model k, shape (K, q + p, q + p).

    ``outer_cc`` (p (p + 1) / 2, n) holds the row-wise products of the upper triangle of
    C'C, so the shared block of all K models is one matrix product with the (n, K) weights."""
    n, p = C.shape
    K, q = G.shape[1], G.shape[2]
    upper = np.triu_indices(p)
    cc_upper = (outer_cc @ w).T
    cc = np.empty((K, p, p))
    cc[:, upper[0], upper[1]] = cc_upper
    cc[:, upper[1], upper[0]] = cc_upper
    GW = G * w[:, :, None]
    gc = (GW.reshape(n, K * q).T @ C).reshape(K, q, p)
    gg = np.einsum("nkq,nkr->kqr", GW, G, optimize=True)
    info = np.empty((K, q + p, q + p))
    info[:, :q, :q] = gg
    info[:, :q, q:] = gc
    info[:, q:, :q] = np.transpose(gc, (0, 2, 1))
    info[:, q:, q:] = cc
    return info


def _weighted_cross_batch(C: np.ndarray, G: np.ndarray, wz: np.ndarray) -> np.ndarray:
    """X_k' (w z)_k for every model k, shape (K, q + p)."""
    return np.concatenate([(G * wz[:, :, None]).sum(axis=0), (C.T @ wz).T], axis=1)


def _solve_batch(info: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve every system; ``ok`` False where the matrix is singular."""
    out = np.full(rhs.shape, np.nan)
    ok = np.isfinite(info).all(axis=(1, 2))
    ok[ok] = np.linalg.cond(info[ok]) < 1e14
    if ok.any():
        out[ok] = np.linalg.solve(info[ok], rhs[ok][:, :, None])[:, :, 0]
    return out, ok & np.isfinite(out).all(axis=1)


def _linear_predictor(C: np.ndarray, G: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """eta (n, K) = G_k b_k + C c_k for the given models."""
    q = G.shape[2]
    return np.asarray((G * beta[None, :, :q]).sum(axis=2) + C @ beta[:, q:].T)


def _deviance(y: np.ndarray, mu: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Binomial deviance of each model over its own rows."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = special.xlogy(y[:, None], mu) + special.xlogy(1.0 - y[:, None], 1.0 - mu)
    return np.asarray(-2.0 * np.where(M, ll, 0.0).sum(axis=0))


def _standard_errors(
    C: np.ndarray, G: np.ndarray, w: np.ndarray, singular: np.ndarray, outer_cc: np.ndarray
) -> np.ndarray:
    """Wald SEs from the inverse information at the final estimates."""
    info = _information_batch(C, G, w, outer_cc)
    se = np.full(info.shape[:2], np.nan)
    ok = ~singular & np.isfinite(info).all(axis=(1, 2))
    ok[ok] = np.linalg.cond(info[ok]) < 1e14
    if ok.any():
        cov = np.linalg.inv(info[ok])
        se[ok] = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
    singular |= ~ok
    return se


def _classify(
    done: np.ndarray, singular: np.ndarray, mu: np.ndarray, M: np.ndarray, se: np.ndarray
) -> np.ndarray:
    """One status per model, worst problem first."""
    extreme = (M & ((mu < _EPS_PROB) | (mu > 1.0 - _EPS_PROB))).any(axis=0)
    status = np.full(done.shape, "ok", dtype=object)
    status[~done] = "not_converged"
    status[extreme] = "separation"
    status[singular | ~np.isfinite(se).all(axis=1)] = "singular"
    return status
