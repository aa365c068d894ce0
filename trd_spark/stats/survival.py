"""Time to TRD: Cox models (lifelines), the cox.zph score test, Kaplan-Meier, mean time.

The proportional-hazards test is the one of survival >= 3.0 ``cox.zph``
(transform "km"): the score test, at the fitted coefficients, for adding
``x * g(t)`` for the covariates of a term to the model, with
``g(t) = 1 - KM(t-)`` over all persons.  Because the test uses the joint
information of the covariates and their time interactions, it does not
depend on how ``g`` is centred.  Ties follow Efron, as in the fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from trd_spark.errors import InputError

_Z_95 = stats.norm.ppf(0.975)
# lifelines' default Newton step, then the smaller one used when it fails
_STEP_SIZES = (0.95, 0.2)


@dataclass(frozen=True)
class CoxFit:
    """One fitted Cox model.

    Attributes
    ----------
    summary : per covariate: coef, se, hr, ci_low, ci_high, p.
    beta : coefficients in the order of the covariate columns.
    step_size : the Newton step that converged (smaller = fallback used).
    n, n_events : persons and events used.
    """

    summary: pd.DataFrame
    beta: np.ndarray
    step_size: float
    n: int
    n_events: int


def fit_cox(
    data_df: pd.DataFrame,
    duration: str,
    event: str,
    covariates: list[str],
    strata: list[str] | None = None,
    precision: float = 1e-10,
) -> CoxFit:
    """Fit a Cox model (Efron ties) with lifelines, falling back to a smaller step.

    Parameters
    ----------
    data_df : one row per person with the duration, event and covariate columns.
    duration, event : column names of the follow-up time and the 0/1 event.
    covariates : columns entering the model, in order.
    strata : columns whose levels get their own baseline hazard.
    precision : lifelines' convergence threshold on the Newton step.

    Returns
    -------
    CoxFit; raises InputError when no step size converges.
    """
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    columns = [duration, event, *covariates, *(strata or [])]
    model_df = data_df[columns]
    last_error: Exception | None = None
    for step in _STEP_SIZES:
        fitter = CoxPHFitter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", category=RuntimeWarning)
                fitter.fit(
                    model_df,
                    duration_col=duration,
                    event_col=event,
                    strata=strata or None,
                    fit_options={"step_size": step, "precision": precision, "max_steps": 500},
                )
        except (ConvergenceError, RuntimeWarning, np.linalg.LinAlgError) as err:
            last_error = err
            continue
        return _cox_result(fitter, covariates, step, model_df, event)
    raise InputError(
        f"fit_cox: the Cox model with {', '.join(covariates)} did not converge with any step "
        f"size ({last_error}); check for a covariate that is constant or separates events"
    )


def _cox_result(
    fitter: object, covariates: list[str], step: float, model_df: pd.DataFrame, event: str
) -> CoxFit:
    """Tidy lifelines' summary into our columns."""
    raw = fitter.summary.loc[covariates]  # type: ignore[attr-defined]
    coef = raw["coef"].to_numpy()
    se = raw["se(coef)"].to_numpy()
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
    return CoxFit(summary_df, coef, step, len(model_df), int(model_df[event].sum()))


def cox_zph(
    time: np.ndarray,
    status: np.ndarray,
    X: np.ndarray,
    beta: np.ndarray,
    terms: dict[str, list[int]],
    strata: np.ndarray | None = None,
) -> pd.DataFrame:
    """survival::cox.zph(fit, transform = "km", terms = TRUE) score tests.

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
    time, status, X = np.asarray(time, float), np.asarray(status, float), np.asarray(X, float)
    if strata is None:
        strata = np.zeros(len(time))
    g = km_transform(time, status)
    p = X.shape[1]
    u = np.zeros(2 * p)
    info = np.zeros((2 * p, 2 * p))
    eta = X @ beta
    for level in pd.unique(strata):
        rows = strata == level
        u_s, i_s = _zph_score_information(time[rows], status[rows], X[rows], eta[rows], g[rows])
        u += u_s
        info += i_s
    tests = {name: list(range(p)) + [p + j for j in cols] for name, cols in terms.items()}
    tests["GLOBAL"] = list(range(2 * p))
    rows_out = []
    for name, jj in tests.items():
        chisq = float(u[jj] @ np.linalg.solve(info[np.ix_(jj, jj)], u[jj]))
        df = len(jj) - p
        rows_out.append((name, chisq, df, float(stats.chi2.sf(chisq, df))))
    return pd.DataFrame(rows_out, columns=["term", "chisq", "df", "p"]).set_index("term")


def km_transform(time: np.ndarray, status: np.ndarray) -> np.ndarray:
    """g(t) = 1 - S(t-) of the pooled Kaplan-Meier curve, at each person's time."""
    event_times, n_risk, n_event = _risk_table(time, status)
    surv = np.cumprod(1.0 - n_event / n_risk)
    before = np.searchsorted(event_times, time, side="left")
    return np.asarray(1.0 - np.concatenate([[1.0], surv])[before])


def _zph_score_information(
    time: np.ndarray, status: np.ndarray, X: np.ndarray, eta: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Score and information of (x, x g(t)) at (beta, 0) within one stratum, Efron ties."""
    p = X.shape[1]
    risk = np.exp(eta - eta.max())
    order = np.argsort(-time, kind="stable")
    s0 = np.cumsum(risk[order])
    s1 = np.cumsum(risk[order, None] * X[order], axis=0)
    s2 = np.cumsum(risk[order, None, None] * X[order, :, None] * X[order, None, :], axis=0)
    deaths = np.flatnonzero(status == 1)
    if len(deaths) == 0:
        return np.zeros(2 * p), np.zeros((2 * p, 2 * p))
    # index of the last person still at risk (time >= t) in descending order
    at = len(time) - 1 - np.searchsorted(np.sort(time), time[deaths], side="left")
    rank, size, d0, d1, d2 = _tied_death_sums(time[deaths], risk[deaths], X[deaths])
    f = rank / size
    e0 = s0[at] - f * d0
    xbar = (s1[at] - f[:, None] * d1) / e0[:, None]
    V = (s2[at] - f[:, None, None] * d2) / e0[:, None, None] - xbar[:, :, None] * xbar[:, None, :]
    resid = X[deaths] - xbar
    gd = g[deaths]
    u = np.concatenate([resid.sum(axis=0), (gd[:, None] * resid).sum(axis=0)])
    v0, v1, v2 = V.sum(axis=0), np.einsum("d,dij->ij", gd, V), np.einsum("d,dij->ij", gd**2, V)
    info = np.block([[v0, v1], [v1, v2]])
    return u, info


def _tied_death_sums(
    t: np.ndarray, r: np.ndarray, X: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each death: its rank within its tied group, group size and the group's risk sums."""
    frame = pd.DataFrame({"t": t, "i": np.arange(len(t))})
    rank = frame.groupby("t").cumcount().to_numpy().astype(float)
    size = frame.groupby("t")["t"].transform("size").to_numpy().astype(float)
    codes = pd.factorize(t)[0]
    n_groups = codes.max() + 1
    d0 = np.bincount(codes, weights=r, minlength=n_groups)[codes]
    d1 = np.zeros((n_groups, X.shape[1]))
    np.add.at(d1, codes, r[:, None] * X)
    d2 = np.zeros((n_groups, X.shape[1], X.shape[1]))
    np.add.at(d2, codes, r[:, None, None] * X[:, :, None] * X[:, None, :])
    return rank, size, d0, d1[codes], d2[codes]


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
    low = np.where(valid, np.minimum(a, b), np.nan)
    high = np.where(valid, np.maximum(a, b), np.nan)
    return pd.DataFrame(
        {
            "time": times,
            "at_risk": n_risk.astype(int),
            "n_event": n_event.astype(int),
            "survival": surv,
            "ci_low": low,
            "ci_high": high,
        }
    )


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
