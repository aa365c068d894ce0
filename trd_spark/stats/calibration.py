"""Ancestry-calibrated PGS: pgsc_calc's Z_norm1 and Z_norm2 (docs/statistics.md).

A raw PGS has a mean, and often a spread, that move with genetic ancestry (allele
frequencies and LD differ between populations), so in a set of mixed ancestry its value
says partly who the person descends from.  The calibration removes what the principal
components predict:

* ``z_norm1``: regress the PGS on an intercept and the first ``n_pcs`` PCs (least squares)
  in a reference set; a person's score is their residual divided by the SD of the
  reference residuals.
* ``z_norm2``: as ``z_norm1`` for the mean, and also model the variance: a Gamma GLM with
  log link of the reference's squared (centred) residuals on the same PCs; a person's
  score is their residual divided by the square root of their predicted variance.

Both are fitted per genotyping platform (scores from different platforms are sums over
different variants) on the platform's scored persons with PCs; the reference set is the
persons whose PCs were not projected (``pcs_source``), when there are enough of them, and
otherwise all of them.  Every trait is calibrated on the persons that have its score.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trd_spark.errors import InputError

log = logging.getLogger(__name__)

METHODS = ("z_norm1", "z_norm2")
# the pcs_source value of persons whose PCs were projected onto another set's PCs
PROJECTED = "projected"
CALIBRATION_COLUMNS = [
    "platform", "trait", "method", "n_pcs", "reference", "n_reference", "n_calibrated",
    "r2_pcs", "residual_sd", "converged",
]  # fmt: skip


def min_reference(n_pcs: int) -> int:
    """Fewest reference persons a calibration is fitted on: 10 per coefficient, at least 100."""
    return max(100, 10 * (n_pcs + 1))


@dataclass(frozen=True)
class ZNorm:
    """Calibrated scores of K traits and what the fits found.

    Attributes
    ----------
    scores : (n, K) calibrated scores, NaN where the raw score or a PC is missing.
    r2_pcs : (K,) share of the reference's PGS variance the PCs explain.
    residual_sd : (K,) SD (n denominator) of the reference residuals.
    n_reference : (K,) reference persons used per trait.
    converged : (K,) the Gamma fit converged (True for z_norm1).
    """

    scores: np.ndarray
    r2_pcs: np.ndarray
    residual_sd: np.ndarray
    n_reference: np.ndarray
    converged: np.ndarray


def z_norm(
    raw: np.ndarray,
    pcs: np.ndarray,
    reference: np.ndarray,
    method: str = "z_norm1",
    max_iter: int = 100,
    tol: float = 1e-12,
) -> ZNorm:
    """Z_norm1 or Z_norm2 of every column of ``raw``.

    Parameters
    ----------
    raw : (n, K) raw scores (NaN = not scored).
    pcs : (n, m) the PCs regressed on (NaN = no PCs).
    reference : (n,) bool, the persons the models are fitted on.
    method : ``z_norm1`` or ``z_norm2``.
    max_iter, tol : Gamma IRLS limits (stop when no coefficient moves more than ``tol``).

    Returns
    -------
    ZNorm.
    """
    if method not in METHODS:
        raise InputError(f"z_norm: method {method!r}; choose from {', '.join(METHODS)}")
    raw = np.asarray(raw, dtype=float)
    pcs = np.asarray(pcs, dtype=float)
    if raw.ndim != 2 or pcs.ndim != 2 or len(raw) != len(pcs) or len(reference) != len(raw):
        raise InputError("z_norm: raw (n, K), pcs (n, m) and reference (n,) need the same n")
    K = raw.shape[1]
    out = ZNorm(np.full(raw.shape, np.nan), np.full(K, np.nan), np.full(K, np.nan),
                np.zeros(K, dtype=int), np.ones(K, dtype=bool))  # fmt: skip
    has_pcs = np.isfinite(pcs).all(axis=1)
    for rows, traits in _groups_by_rows(np.isfinite(raw) & has_pcs[:, None]):
        fit_rows = rows & np.asarray(reference, dtype=bool)
        if fit_rows.sum() <= pcs.shape[1] + 1:
            log.warning("z_norm: %d reference persons for %d PCs; traits left uncalibrated",
                        int(fit_rows.sum()), pcs.shape[1])  # fmt: skip
            continue
        _fit_group(raw[:, traits], pcs, rows, fit_rows, method, max_iter, tol, out, traits)
    return out


def _groups_by_rows(usable: np.ndarray) -> list[tuple[np.ndarray, list[int]]]:
    """Columns grouped by which rows are usable: (rows, columns) per group."""
    groups: dict[bytes, list[int]] = {}
    for k in range(usable.shape[1]):
        if usable[:, k].any():
            groups.setdefault(np.packbits(usable[:, k]).tobytes(), []).append(k)
    return [(usable[:, ks[0]], ks) for ks in groups.values()]


def _fit_group(
    raw: np.ndarray,
    pcs: np.ndarray,
    rows: np.ndarray,
    fit_rows: np.ndarray,
    method: str,
    max_iter: int,
    tol: float,
    out: ZNorm,
    traits: list[int],
) -> None:
    """Calibrate the traits that share their usable rows; write into ``out``."""
    X = _design(pcs, fit_rows)
    X_ref, y_ref = X[fit_rows], raw[fit_rows]
    beta = np.linalg.lstsq(X_ref, y_ref, rcond=None)[0]  # (m + 1, K)
    resid = raw[rows] - X[rows] @ beta
    resid_ref = y_ref - X_ref @ beta
    sd = resid_ref.std(axis=0)
    out.r2_pcs[traits] = 1.0 - resid_ref.var(axis=0) / y_ref.var(axis=0)
    out.residual_sd[traits] = sd
    out.n_reference[traits] = int(fit_rows.sum())
    if method == "z_norm1":
        out.scores[np.ix_(rows, np.asarray(traits))] = resid / sd
        return
    squared = (resid_ref - resid_ref.mean(axis=0)) ** 2
    gamma, converged = fit_gamma_log(X_ref, squared, max_iter, tol)
    out.converged[traits] = converged
    out.scores[np.ix_(rows, np.asarray(traits))] = resid / np.sqrt(np.exp(X[rows] @ gamma))


def _design(pcs: np.ndarray, fit_rows: np.ndarray) -> np.ndarray:
    """Intercept and the PCs centred and scaled on the reference (for conditioning only:
    the unpenalised fits and their predictions do not depend on it)."""
    ref = pcs[fit_rows]
    scale = ref.std(axis=0)
    scale[scale == 0] = 1.0
    return np.column_stack([np.ones(len(pcs)), (pcs - ref.mean(axis=0)) / scale])


def fit_gamma_log(
    X: np.ndarray, y: np.ndarray, max_iter: int = 100, tol: float = 1e-12
) -> tuple[np.ndarray, np.ndarray]:
    """Gamma GLM with log link for every column of ``y``, by IRLS (Fisher scoring).

    With the log link the Gamma working weights are all 1, so every iteration is one least
    squares solve with the same X for all columns.  Starts, as statsmodels, from
    ``mu = (y + mean(y)) / 2``.

    Parameters
    ----------
    X : (n, p) design with intercept.
    y : (n, K) non-negative responses.
    max_iter, tol : stop a column when no coefficient moves more than ``tol``.

    Returns
    -------
    (coefficients (p, K), converged (K,)).
    """
    if (y < 0).any() or not np.isfinite(y).all():
        raise InputError("fit_gamma_log: responses must be finite and non-negative")
    eta = np.log((y + y.mean(axis=0)) / 2.0)
    gram = X.T @ X
    beta = np.zeros((X.shape[1], y.shape[1]))
    converged = np.zeros(y.shape[1], dtype=bool)
    for _ in range(max_iter):
        working = eta + (y - np.exp(eta)) / np.exp(eta)
        new_beta = np.linalg.solve(gram, X.T @ working)
        change = np.abs(new_beta - beta).max(axis=0)
        beta = np.where(converged[None, :], beta, new_beta)
        eta = X @ beta
        converged |= change <= tol * np.maximum(1.0, np.abs(beta).max(axis=0))
        if converged.all():
            break
    return beta, converged


@dataclass(frozen=True)
class PlatformCalibration:
    """The calibrated scores of one platform's persons and the record of the fits."""

    scores_df: pd.DataFrame  # person_id + one calibrated column per trait
    summary_df: pd.DataFrame  # CALIBRATION_COLUMNS, one row per trait


def calibrate_platform(
    platform: str,
    pgs_df: pd.DataFrame,
    pcs_df: pd.DataFrame,
    traits: list[str],
    method: str,
    n_pcs: int = 4,
) -> PlatformCalibration:
    """Z_norm of every trait over the scored persons of one genotyping platform.

    Parameters
    ----------
    platform : name written in the summary.
    pgs_df : person_id and the raw score per trait (NaN or absent = not scored), all of the
        platform's cohorts together.
    pcs_df : ``qc/cohorts.parquet`` rows of the platform: person_id, pc1.., and optionally
        ``pcs_source``.
    traits : the traits to calibrate (those absent from ``pgs_df`` are skipped).
    method : ``z_norm1`` or ``z_norm2``.
    n_pcs : how many PCs (pc1..pc<n_pcs>) the calibration regresses on.

    Returns
    -------
    PlatformCalibration; persons without PCs get NaN (they leave the analysis for
    missing PCs, where they are counted).
    """
    pcs = [f"pc{i}" for i in range(1, n_pcs + 1)]
    missing = [c for c in ["person_id", *pcs] if c not in pcs_df.columns]
    if missing:
        raise InputError(f"qc/cohorts.parquet: column(s) {', '.join(missing)} missing")
    present = [t for t in traits if t in pgs_df.columns]
    keep = ["person_id", *pcs] + (["pcs_source"] if "pcs_source" in pcs_df.columns else [])
    merged = pgs_df[["person_id", *present]].merge(
        pcs_df[keep].drop_duplicates("person_id"), on="person_id", how="left"
    )
    reference, reference_name = reference_rows(merged, n_pcs)
    fit = z_norm(merged[present].to_numpy(float), merged[pcs].to_numpy(float), reference, method)
    scores_df = pd.DataFrame(fit.scores, columns=present).assign(person_id=merged.person_id)
    summary_df = pd.DataFrame(
        {
            "platform": platform, "trait": present, "method": method, "n_pcs": n_pcs,
            "reference": reference_name, "n_reference": fit.n_reference,
            "n_calibrated": np.isfinite(fit.scores).sum(axis=0), "r2_pcs": fit.r2_pcs,
            "residual_sd": fit.residual_sd, "converged": fit.converged,
        }
    )  # fmt: skip
    for trait in summary_df.trait[~summary_df.converged]:
        log.warning("z_norm2 of %s on %s: the Gamma variance model did not converge", trait,
                    platform)  # fmt: skip
    return PlatformCalibration(scores_df[["person_id", *present]], summary_df)


def reference_rows(frame: pd.DataFrame, n_pcs: int) -> tuple[np.ndarray, str]:
    """The persons the calibration is fitted on, and what they are.

    Persons whose PCs were projected (``pcs_source`` = ``projected``) are left out of the
    reference when enough others remain (:func:`min_reference`): projected PCs shrink
    toward zero, so a model fitted on them would not describe the others.  Otherwise all
    persons are the reference.
    """
    if "pcs_source" in frame.columns:
        not_projected = (frame.pcs_source != PROJECTED).to_numpy()
        if not_projected.all():
            return not_projected, "all"
        if not_projected.sum() >= min_reference(n_pcs):
            return not_projected, "not_projected"
    return np.ones(len(frame), dtype=bool), "all"
