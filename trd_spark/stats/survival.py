"""Time to TRD: Cox models, the cox.zph score test, Kaplan-Meier curves and mean time.

The Cox models are fitted by :mod:`trd_spark.stats.cox` (Efron ties, many models at once);
:func:`fit_cox` and :func:`cox_zph` here fit one model from a DataFrame, for small uses and
the tests.  The proportional-hazards test is the one of survival >= 3.0 ``cox.zph``
(transform "km"): the score test, at the fitted coefficients, for adding
``x * g(t)`` for the covariates of a term to the model, with
``g(t) = 1 - KM(t-)`` over all persons (docs/statistics.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from trd_spark.errors import InputError
from trd_spark.stats.cox import CoxProblem, fit_cox_batch, km_transform, zph_tests

__all__ = [
    "CoxFit", "cox_zph", "fit_cox", "kaplan_meier", "kaplan_meier_arrays", "km_transform",
    "mean_time_to_event",
    "pgs_strata",
]  # fmt: skip

_Z_95 = stats.norm.ppf(0.975)


@dataclass(frozen=True)
class CoxFit:
    """One fitted Cox model.

    Attributes
    ----------
    summary : per covariate: coef, se, hr, ci_low, ci_high, p.
    beta : coefficients in the order of the covariate columns.
    n_iter : Newton steps taken.
    n, n_events : persons and events used.
    """

    summary: pd.DataFrame
    beta: np.ndarray
    n_iter: int
    n: int
    n_events: int


def fit_cox(
    data_df: pd.DataFrame,
    duration: str,
    event: str,
    covariates: list[str],
    strata: list[str] | None = None,
) -> CoxFit:
    """Fit one Cox model (Efron ties) on the complete rows of ``data_df``.

    Parameters
    ----------
    data_df : one row per person with the duration, event and covariate columns.
    duration, event : column names of the follow-up time and the 0/1 event.
    covariates : columns entering the model, in order.
    strata : columns whose level combinations get their own baseline hazard.

    Returns
    -------
    CoxFit; raises InputError when the model does not converge or is singular.
    """
    model_df = data_df[[duration, event, *covariates, *(strata or [])]].dropna()
    X = model_df[covariates].to_numpy(float)
    labels = model_df[strata].astype(str).agg("|".join, axis=1).to_numpy() if strata else None
    problem = CoxProblem(
        model_df[duration].to_numpy(float), model_df[event].to_numpy(float),
        X[:, 1:], X[:, :1, None], labels,
    )  # fmt: skip
    fit, _ = fit_cox_batch(problem)
    if not fit.converged[0]:
        raise InputError(
            f"fit_cox: the Cox model with {', '.join(covariates)} is {fit.status[0]}; check for a "
            "covariate that is constant or separates events"
        )
    coef, se = fit.beta[0], fit.se[0]
    summary_df = pd.DataFrame(
        {
            "coef": coef,
            "se": se,
            "hr": np.exp(coef),
            "ci_low": np.exp(coef - _Z_95 * se),
            "ci_high": np.exp(coef + _Z_95 * se),
            "p": 2.0 * stats.norm.sf(np.abs(coef / se)),
        },
        index=covariates,
    )
    return CoxFit(summary_df, coef, int(fit.n_iter[0]), fit.n, fit.n_events)


def cox_zph(
    time: np.ndarray,
    status: np.ndarray,
    X: np.ndarray,
    beta: np.ndarray,
    terms: dict[str, list[int]],
    strata: np.ndarray | None = None,
) -> pd.DataFrame:
    """survival::cox.zph(fit, transform = "km", terms = TRUE) score tests of one model.

    Parameters
    ----------
    time, status : follow-up and 0/1 event per person.
    X : (n, p) covariates of the fit, unscaled.
    beta : (p,) fitted coefficients.
    terms : term name -> column indices of X (a factor's columns together).
    strata : per-person stratum labels of the fit, or None.

    Returns
    -------
    DataFrame indexed by term (and ``GLOBAL``) with chisq, df, p.
    """
    X = np.asarray(X, dtype=float)
    problem = CoxProblem(time, status, X[:, 1:], X[:, :1, None], strata)
    beta_row = np.asarray(beta, dtype=float)[None, :]
    zph = zph_tests(problem, beta_row, problem.evaluate(beta_row), terms)
    return pd.DataFrame(
        {"term": zph.tests, "chisq": zph.chisq[0], "df": zph.df[0].astype(int), "p": zph.p[0]}
    ).set_index("term")


def _risk_table(time: np.ndarray, status: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times with the number at risk and the number of events."""
    times, inverse = np.unique(time, return_inverse=True)
    n_event = np.bincount(inverse, weights=status, minlength=len(times))
    n_leaving = np.bincount(inverse, minlength=len(times))
    n_risk = len(time) - np.concatenate([[0], np.cumsum(n_leaving)[:-1]])
    return times, n_risk.astype(float), n_event


def kaplan_meier(time: np.ndarray, status: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier curve with log-log (exponential Greenwood) 95% CI, as R survfit.

    Parameters
    ----------
    time, status : follow-up and 0/1 event per person.

    Returns
    -------
    DataFrame with time, at_risk, n_event, survival, ci_low, ci_high at each distinct
    time; the CI is missing where survival is 1 or 0, as in R.
    """
    return pd.DataFrame(kaplan_meier_arrays(time, status))


def kaplan_meier_arrays(time: np.ndarray, status: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`kaplan_meier` as a dict of column arrays (no DataFrame per curve)."""
    times, n_risk, n_event = _risk_table(np.asarray(time, float), np.asarray(status, float))
    surv = np.cumprod(1.0 - n_event / n_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(n_event / (n_risk * (n_risk - n_event)))
        se_log = np.sqrt(greenwood)
        log_s = np.log(surv)
        half = _Z_95 * se_log / log_s
        loglog = np.log(-log_s)
        a = np.exp(-np.exp(loglog - half))
        b = np.exp(-np.exp(loglog + half))
    valid = (surv > 0) & (surv < 1)
    return {
        "time": times,
        "at_risk": n_risk.astype(int),
        "n_event": n_event.astype(int),
        "survival": surv,
        "ci_low": np.where(valid, np.minimum(a, b), np.nan),
        "ci_high": np.where(valid, np.maximum(a, b), np.nan),
    }


def mean_time_to_event(time: np.ndarray, status: np.ndarray) -> dict[str, float]:
    """Mean follow-up among persons with the event, with a t-based 95% CI.

    Parameters
    ----------
    time, status : follow-up and 0/1 event per person.

    Returns
    -------
    dict with n_events, mean_days, ci_low, ci_high (NaN when fewer than 2 events).
    """
    event_times = np.asarray(time, float)[np.asarray(status) == 1]
    n = len(event_times)
    if n < 2:
        mean = float(event_times.mean()) if n else float("nan")
        return {"n_events": n, "mean_days": mean, "ci_low": np.nan, "ci_high": np.nan}
    mean = float(event_times.mean())
    half = float(stats.t.ppf(0.975, n - 1) * event_times.std(ddof=1) / np.sqrt(n))
    return {"n_events": n, "mean_days": mean, "ci_low": mean - half, "ci_high": mean + half}


def pgs_strata(values: np.ndarray, percentiles: tuple[float, float] = (20.0, 80.0)) -> np.ndarray:
    """0, 1, 2 for [min, q_low], (q_low, q_high], (q_high, max] (numpy/R type-7 quantiles).

    Parameters
    ----------
    values : the PGS of the survival subset.
    percentiles : the two cut points in percent.

    Returns
    -------
    int array of stratum codes.
    """
    q_low, q_high = np.percentile(values, percentiles)
    return np.asarray((values > q_low).astype(int) + (values > q_high).astype(int))
