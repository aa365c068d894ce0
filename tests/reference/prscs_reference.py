"""An independent, plain PRS-CS Gibbs sampler: the conditionals of docs/prscs.md step by step.

Written for clarity, not speed, and sharing no code with ``trd_spark.prscs``: each block's
effects from ``numpy.random.Generator.multivariate_normal`` with the covariance built by
explicit inversion, ``quad`` as ``beta' T beta``, and one ``scipy.stats.geninvgauss`` draw
per SNP for the local scales.  The tests compare its posterior means with the project's.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def gig_draw(lam: float, a: float, b: float, rng: np.random.Generator) -> float:
    """One draw with density proportional to x^(lam-1) exp(-(a x + b / x) / 2)."""
    if b == 0.0:
        return float(stats.gamma.rvs(lam, scale=2.0 / a, random_state=rng))
    return float(
        stats.geninvgauss.rvs(lam, math.sqrt(a * b), scale=math.sqrt(b / a), random_state=rng)
    )


def reference_chain(
    ld_blocks: list[np.ndarray],
    marginal: np.ndarray,
    n_gwas: float,
    n_iter: int,
    n_burnin: int,
    thin: int,
    phi: float | None,
    seed: int,
    a: float = 1.0,
    b: float = 0.5,
) -> dict[str, np.ndarray | float]:
    """Posterior means of beta, psi, sigma2 and phi from one chain (phi None: learnt)."""
    rng = np.random.default_rng(seed)
    p = len(marginal)
    beta = np.zeros(p)
    psi = np.ones(p)
    sigma2 = 1.0
    learn_phi = phi is None
    phi_now = 1.0 if phi is None else phi
    sums = {"beta": np.zeros(p), "psi": np.zeros(p), "sigma2": 0.0, "phi": 0.0}
    n_kept = 0
    for iteration in range(1, n_iter + 1):
        start, quad = 0, 0.0
        for ld in ld_blocks:
            stop = start + ld.shape[0]
            t_matrix = ld + np.diag(1.0 / psi[start:stop])
            t_inverse = np.linalg.inv(t_matrix)
            mean = t_inverse @ marginal[start:stop]
            covariance = sigma2 / n_gwas * t_inverse
            covariance = (covariance + covariance.T) / 2.0
            beta[start:stop] = rng.multivariate_normal(mean, covariance, method="eigh")
            quad += float(beta[start:stop] @ t_matrix @ beta[start:stop])
            start = stop
        err = max(
            n_gwas / 2.0 * (1.0 - 2.0 * float(np.sum(beta * marginal)) + quad),
            n_gwas / 2.0 * float(np.sum(beta**2 / psi)),
        )
        sigma2 = 1.0 / rng.gamma((n_gwas + p) / 2.0, 1.0 / err)
        delta = np.array([rng.gamma(a + b, 1.0 / (psi[j] + phi_now)) for j in range(p)])
        for j in range(p):
            psi[j] = min(
                gig_draw(a - 0.5, 2.0 * delta[j], n_gwas * beta[j] ** 2 / sigma2, rng), 1.0
            )
        if learn_phi:
            w = rng.gamma(1.0, 1.0 / (phi_now + 1.0))
            phi_now = rng.gamma(p * b + 0.5, 1.0 / (float(np.sum(delta)) + w))
        if iteration > n_burnin and iteration % thin == 0:
            n_kept += 1
            sums["beta"] = sums["beta"] + beta
            sums["psi"] = sums["psi"] + psi
            sums["sigma2"] = float(sums["sigma2"]) + sigma2
            sums["phi"] = float(sums["phi"]) + phi_now
    return {key: value / n_kept for key, value in sums.items()}
