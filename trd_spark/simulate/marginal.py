"""The expected marginal per-SD effect of each PGS on each outcome (``truth/effects.tsv``).

The simulator plants effects per SD of the true genetic values ``G`` jointly: an outcome's
linear predictor is ``eta = sum_j beta_j G_j``.  The pipeline fits one PGS at a time, and traits
of a genetic cluster (``GENETIC_CLUSTERS``) share a component, so the marginal slope of a
standardised score ``Z_k`` also carries its cluster partners' effects.  With ``G`` and ``Z_k``
jointly about normal (sums of many variants), project ``eta`` on ``Z_k``:

    eta = gamma_k Z_k + e,   gamma_k = cov(Z_k, eta) = sum_j cov(Z_k, G_j) beta_j,
    var(e) = var(eta) - gamma_k^2,  e independent of Z_k.

* identity or log-hazard scale with few events: the slope is ``gamma_k`` (for a Cox model the
  omitted normal part ``e`` acts as a frailty, which attenuates the log HR by a term of order
  ``var(e)`` times the cumulative hazard: below 1% at the simulator's effect sizes);
* logit scale: averaging the logistic over ``e`` gives ``logit P(Y | Z_k) ~ (a + gamma_k Z_k)
  / sqrt(1 + c^2 var(e))`` with ``c = 16 sqrt(3) / (15 pi)`` (the logistic-probit matching of
  Zeger, Liang and Albert, Biometrics 1988), so the slope is ``gamma_k / sqrt(1 + c^2 var(e))``.

Covariances are those of the cohort's members, within ancestry groups (the analyses adjust for
PCs), with each score standardised over the cohort as the pipeline does; a pooled set uses the
within-cohort values of its cohorts.  Cross-trait covariances are kept within a genetic cluster
only: elsewhere they are zero by construction and a sample's chance correlation is not a planted
effect.  See ``docs/the-study.md`` ("Expected marginal effects").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trd_spark.simulate.weights import GENETIC_CLUSTERS

# the logistic-probit scale factor: logistic(x) ~ Phi(c x)
LOGIT_PROBIT_C = 16 * math.sqrt(3) / (15 * math.pi)
LINKS = ("logit", "log_hazard")


@dataclass(frozen=True)
class SetMoments:
    """Second moments of one cohort or pooled set: ``cross[k, j] = cov(Z_k, G_j)`` with
    ``Z_k`` the standardised score of trait k, and ``gv_cov = cov(G)``."""

    cross: np.ndarray
    gv_cov: np.ndarray
    n: int


def cluster_mask(traits: Sequence[str]) -> np.ndarray:
    """(T, T) booleans: True on the diagonal and between traits of one genetic cluster."""
    cluster_of = {t: c for c, members in GENETIC_CLUSTERS.items() for t in members}
    labels = [cluster_of.get(t, f"_{i}") for i, t in enumerate(traits)]
    return np.array([[a == b for b in labels] for a in labels])


def set_moments(
    score: np.ndarray, gv: np.ndarray, strata: np.ndarray, traits: Sequence[str]
) -> SetMoments:
    """The moments of one cohort (or pooled set) from its members' scores and true values.

    Parameters
    ----------
    score : (n, T) the scores, each already standardised as the analysis does.
    gv : (n, T) the true genetic values (the scale the planted effects are per SD of).
    strata : (n,) labels (cohort and ancestry group); covariances are taken within them.
    traits : the trait names of the columns (for :func:`cluster_mask`).

    Returns
    -------
    SetMoments with cross-trait entries outside a cluster set to zero.
    """
    z, g = score.astype(float).copy(), gv.astype(float).copy()
    for label in np.unique(strata):
        rows = strata == label
        z[rows] -= z[rows].mean(0)
        g[rows] -= g[rows].mean(0)
    n = len(z)
    mask = cluster_mask(traits)
    cross = np.where(mask, z.T @ g / n, 0.0)
    gv_cov = np.where(mask, g.T @ g / n, 0.0)
    return SetMoments(cross=cross, gv_cov=gv_cov, n=n)


def standardise(score: np.ndarray) -> np.ndarray:
    """Columns to mean 0 and SD 1 (SD 0: left at 0)."""
    sd = score.std(0)
    return (score - score.mean(0)) / np.where(sd > 0, sd, 1.0)


def marginal_slopes(moments: SetMoments, beta: np.ndarray, link: str) -> np.ndarray:
    """Expected slope of each standardised PGS fitted alone (per SD), as derived above.

    Parameters
    ----------
    moments : the set's :class:`SetMoments`.
    beta : (T,) planted effects per SD of the true values, on the link's scale.
    link : ``logit`` (logistic model) or ``log_hazard`` (Cox model).

    Returns
    -------
    (T,) expected marginal slopes.
    """
    if link not in LINKS:
        raise ValueError(f"link must be one of {LINKS}, got {link!r}")
    gamma = moments.cross @ beta
    if link == "log_hazard":
        return gamma
    residual = np.maximum(float(beta @ moments.gv_cov @ beta) - gamma**2, 0.0)
    return gamma / np.sqrt(1 + LOGIT_PROBIT_C**2 * residual)


def trmdd_vs_non_mdd_beta(
    log_or_mdd: np.ndarray, log_hr: np.ndarray, trd_share: float
) -> np.ndarray:
    """The per-SD effects on the log odds of trMDD vs non-MDD.

    trMDD are the treated MDD persons without TRD: ``log P(trMDD) / P(non-MDD) = logit P(MDD)
    + log S + const``, with ``S = exp(-H exp(eta_hr))`` the chance of no TRD within follow-up.
    Linearised at ``eta_hr = 0`` the second term adds ``-H beta_hr`` with ``H = -log(1 - p)``,
    ``p`` the planned share of TRD among the treated.

    Parameters
    ----------
    log_or_mdd : planted log OR of MDD per SD.
    log_hr : planted log HR of time to TRD per SD.
    trd_share : planned TRD / (TRD + trMDD).

    Returns
    -------
    (T,) effects on the logit scale.
    """
    if not 0 <= trd_share < 1:
        raise ValueError(f"the TRD share among the treated must be in [0, 1), got {trd_share}")
    return log_or_mdd - (-math.log1p(-trd_share)) * log_hr
