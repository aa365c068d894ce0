"""Batched Cox proportional hazards: many models on the same persons, fitted together.

Every model of one batch is ``h(t) = h0_s(t) exp(G_k b_k + C c_k)`` where ``C`` (n x p,
no intercept) is shared by all ``K`` models and ``G_k`` (n x q) holds the columns that
differ (a PGS per SD, or the two dummies of its strata).  The persons, their times,
events and strata are the same for every model, so the risk sets are too: they are
found once (:class:`RiskSets`), and every sum over a risk set is a cumulative sum over
the persons sorted by decreasing time, read at the last person still at risk.

Ties follow Efron.  At a time with ``m`` tied deaths, the ``l``-th of them
(``l = 0 .. m - 1``) sees the risk-set sums minus ``l / m`` of the tied deaths' own sums.
The information matrix needs, per model, ``sum_l S2_l / S0_l`` with ``S2`` the risk-set
sum of ``r x x'``; since ``S2`` is a sum over persons, this equals ``X' diag(r A) X``
where ``A_i`` accumulates ``sum_l 1 / S0_l`` over the death times at which person ``i`` is
at risk (minus the tied deaths' share).  So the ``d x d`` blocks of all K models come
from one matrix product with an ``n x K`` weight matrix, as in the logistic grid, and
nothing of size ``n x K x d x d`` is ever formed.

Newton-Raphson from zero with step halving when the log partial likelihood falls (as
R's ``coxph.fit``); a model stops when its largest coefficient change is below ``tol``.
The ``cox.zph`` score test (survival >= 3.0) and the scaled Schoenfeld residuals of
``cox.zph(fit, transform = "km")`` reuse the same sums at the fitted coefficients.
docs/statistics.md describes the method and the tolerances it is checked to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from trd_spark.errors import InputError

_MAX_HALVINGS = 30


@dataclass(frozen=True)
class RiskSets:
    """The order and event structure shared by every model fitted on the same persons.

    Attributes
    ----------
    order : sorted position -> row of the input (strata, then decreasing time, deaths first).
    time, status : per sorted position.
    stratum_end : per sorted position, one past the last position of its stratum.
    death_pos : sorted positions of the deaths (the deaths of a tie group are contiguous).
    death_group : per death, its tie group (same stratum and time).
    efron : per death, ``l / m`` (its rank in the tie group over the group size).
    group_first : per tie group, the index into ``death_pos`` of its first death.
    group_at : per tie group, the last sorted position still at risk at its time.
    group_start : per tie group, the first sorted position of its stratum.
    """

    order: np.ndarray
    time: np.ndarray
    status: np.ndarray
    stratum_end: np.ndarray
    death_pos: np.ndarray
    death_group: np.ndarray
    efron: np.ndarray
    group_first: np.ndarray
    group_at: np.ndarray
    group_start: np.ndarray

    @property
    def n_events(self) -> int:
        """Number of deaths."""
        return len(self.death_pos)


def build_risk_sets(
    time: np.ndarray, status: np.ndarray, strata: np.ndarray | None = None
) -> RiskSets:
    """Sort the persons and find every tie group, its risk set and its Efron ranks.

    Parameters
    ----------
    time : (n,) follow-up, finite.
    status : (n,) 0/1 event.
    strata : (n,) labels of the Cox strata, or None for one stratum.

    Returns
    -------
    RiskSets.
    """
    time = np.asarray(time, dtype=float)
    status = np.asarray(status, dtype=float)
    if time.ndim != 1 or status.shape != time.shape:
        raise InputError("build_risk_sets: time and status must be (n,) arrays of one length")
    if not np.isfinite(time).all() or not np.isin(status, (0.0, 1.0)).all():
        raise InputError("build_risk_sets: time must be finite and status 0/1 for every person")
    codes = np.zeros(len(time), dtype=np.int64)
    if strata is not None:
        codes = np.unique(np.asarray(strata), return_inverse=True)[1].reshape(-1)
    order = np.lexsort((-status, -time, codes))
    t, s, c = time[order], status[order], codes[order]
    bounds = np.flatnonzero(np.diff(c)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(t)]])
    stratum_start = np.repeat(starts, ends - starts)
    stratum_end = np.repeat(ends, ends - starts)
    death_pos = np.flatnonzero(s == 1)
    new_group = np.ones(len(death_pos), dtype=bool)
    new_group[1:] = (t[death_pos[1:]] != t[death_pos[:-1]]) | (
        c[death_pos[1:]] != c[death_pos[:-1]]
    )
    death_group = np.cumsum(new_group) - 1
    group_first = np.flatnonzero(new_group)
    size = np.diff(np.concatenate([group_first, [len(death_pos)]]))
    rank = np.arange(len(death_pos)) - np.repeat(group_first, size)
    first_pos = death_pos[group_first]
    group_at = _last_at_risk(t, stratum_start[first_pos], stratum_end[first_pos], t[first_pos])
    return RiskSets(
        order=order,
        time=t,
        status=s,
        stratum_end=stratum_end,
        death_pos=death_pos,
        death_group=death_group,
        efron=rank / np.repeat(size, size),
        group_first=group_first,
        group_at=group_at,
        group_start=stratum_start[first_pos],
    )


def _last_at_risk(
    t: np.ndarray, start: np.ndarray, end: np.ndarray, at_time: np.ndarray
) -> np.ndarray:
    """Last position in [start, end) with time >= at_time (times decrease within a stratum)."""
    out = np.empty(len(at_time), dtype=np.int64)
    for lo in np.unique(start):
        rows = start == lo
        hi = end[rows][0]
        # positions lo..hi-1 hold decreasing times; count those >= at_time
        count = np.searchsorted(-t[lo:hi], -at_time[rows], side="right")
        out[rows] = lo + count - 1
    return out


@dataclass(frozen=True)
class CoxBatch:
    """Fitted batch of K Cox models with q + p coefficients each (the q specific first).

    Attributes
    ----------
    beta, se : (K, q + p) coefficients and standard errors (inverse information).
    information : (K, q + p, q + p) at the final coefficients.
    loglik : (K,) log partial likelihood (Efron).
    converged : (K,) bool, True for status ``ok``.
    status : (K,) ``ok``, ``not_converged``, ``singular`` (a constant or collinear column) or
        ``monotone_likelihood`` (a coefficient running off to infinity).
    n_iter : (K,) Newton steps taken.
    n, n_events : persons and events (the same for every model of the batch).
    """

    beta: np.ndarray
    se: np.ndarray
    information: np.ndarray
    loglik: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    n_iter: np.ndarray
    n: int
    n_events: int


@dataclass(frozen=True)
class RiskSetSums:
    """Risk-set quantities of every model at one set of coefficients."""

    loglik: np.ndarray  # (K,)
    score: np.ndarray  # (K, d)
    information: np.ndarray  # (K, d, d)
    risk: np.ndarray  # (n, K) exp(eta - max eta), sorted order
    s0: np.ndarray  # (n_d, K) Efron-adjusted risk-set sum at each death
    xbar: np.ndarray  # (n_d, K, d) Efron-adjusted weighted mean at each death


class CoxProblem:
    """The sorted arrays of one batch: risk sets, shared covariates, specific columns.

    Parameters
    ----------
    time, status : (n,) follow-up and 0/1 event.
    covariates : (n, p) shared columns (no intercept); p may be 0.
    specific : (n, K, q) or (n, K) columns that differ between the K models.
    strata : (n,) Cox strata labels or None.

    Per-person arrays are (n, K, ...): a running sum over persons and a gather of the
    persons at the death times both move whole contiguous rows.  The (n, K, 1 + d) array
    of running sums is allocated once and reused by every evaluation.
    """

    def __init__(
        self,
        time: np.ndarray,
        status: np.ndarray,
        covariates: np.ndarray,
        specific: np.ndarray,
        strata: np.ndarray | None = None,
    ) -> None:
        C = np.asarray(covariates, dtype=float)
        G = np.asarray(specific, dtype=float)
        if G.ndim == 2:
            G = G[:, :, None]
        n = len(np.asarray(time))
        if C.ndim != 2 or G.ndim != 3 or len(C) != n or len(G) != n:
            raise InputError(
                "fit_cox_batch: covariates (n, p) and specific (n, K[, q]) must have the n rows "
                f"of time; got {C.shape}, {G.shape} for n = {n}"
            )
        if not (np.isfinite(C).all() and np.isfinite(G).all()):
            raise InputError("fit_cox_batch: covariates and specific columns must be finite")
        self.risk_sets = build_risk_sets(time, status, strata)
        order = self.risk_sets.order
        self.C = np.ascontiguousarray(C[order])
        self.G = np.ascontiguousarray(G[order])
        self._upper = np.triu_indices(self.C.shape[1])
        self.outer_cc = np.ascontiguousarray(
            (self.C[:, self._upper[0]] * self.C[:, self._upper[1]]).T
        )
        self._running = np.empty((n, G.shape[1], 1 + self.n_params))

    @property
    def n_models(self) -> int:
        return int(self.G.shape[1])

    @property
    def n_params(self) -> int:
        return int(self.G.shape[2] + self.C.shape[1])

    def linear_predictor(self, beta: np.ndarray) -> np.ndarray:
        """eta (n, K) in sorted order."""
        q = self.G.shape[2]
        return np.asarray(np.einsum("nkq,kq->nk", self.G, beta[:, :q]) + self.C @ beta[:, q:].T)

    def design_rows(self, rows: np.ndarray, models: list[int] | None = None) -> np.ndarray:
        """(len(rows), M, d): the full design of the models at the given sorted positions."""
        G = self.G[rows] if models is None else self.G[rows][:, models]
        C = np.broadcast_to(self.C[rows][:, None, :], (len(rows), G.shape[1], self.C.shape[1]))
        return np.concatenate([G, C], axis=2)

    def death_totals(self, weights: np.ndarray | None = None) -> np.ndarray:
        """(K, d) sum over deaths of (weight times) each model's design row."""
        rs = self.risk_sets
        w = np.ones(rs.n_events) if weights is None else weights
        g_part = np.einsum("s,skq->kq", w, self.G[rs.death_pos])
        c_part = np.broadcast_to(w @ self.C[rs.death_pos], (self.n_models, self.C.shape[1]))
        return np.concatenate([g_part, c_part], axis=1)

    def accumulate_back(self, per_group: np.ndarray) -> np.ndarray:
        """(n, K): per person, the sum of ``per_group`` (groups, K) over the tie groups whose
        risk set holds them."""
        rs = self.risk_sets
        n = len(rs.time)
        placed = np.zeros((n + 1, per_group.shape[1]))
        placed[rs.group_at] = per_group
        from_end = np.cumsum(placed[::-1], axis=0)[::-1]  # from_end[i] = sum of placed[i:]
        return np.asarray(from_end[:n] - from_end[rs.stratum_end])

    def evaluate(self, beta: np.ndarray) -> RiskSetSums:
        """Log partial likelihood, score and information of every model at ``beta`` (K, d)."""
        rs = self.risk_sets
        eta = self.linear_predictor(beta)
        eta -= eta.max(axis=0)
        risk = np.exp(eta)
        q = self.G.shape[2]
        # r and r x side by side; their running sums give every risk-set sum
        running = self._running
        running[:, :, 0] = risk
        np.multiply(risk[:, :, None], self.G, out=running[:, :, 1 : 1 + q])
        np.multiply(risk[:, :, None], self.C[:, None, :], out=running[:, :, 1 + q :])
        np.cumsum(running, axis=0, out=running)
        sums = self._risk_set_sums(running)[rs.death_group]
        tied = rs.efron > 0  # the second and later deaths of a tie group (Efron)
        if tied.any():
            tied_rows = np.flatnonzero(tied)
            sums[tied_rows] -= rs.efron[tied_rows, None, None] * self._tied_sums(running, tied_rows)
        s0 = sums[:, :, 0]
        xbar = sums[:, :, 1:] / s0[:, :, None]
        loglik = eta[rs.death_pos].sum(axis=0) - np.log(s0).sum(axis=0)
        score = self.death_totals() - xbar.sum(axis=0)
        information = self.weighted_information(risk, s0, xbar, None)
        return RiskSetSums(loglik, score, information, risk, s0, xbar)

    def _risk_set_sums(self, running: np.ndarray) -> np.ndarray:
        """(groups, K, m): from running sums over sorted persons (n, K, m), the sums over
        each tie group's risk set (its stratum's persons up to the last one at risk)."""
        rs = self.risk_sets
        at_risk = running[rs.group_at]
        later = rs.group_start > 0  # strata after the first: remove the earlier strata
        if later.any():
            at_risk[later] -= running[rs.group_start[later] - 1]
        return np.asarray(at_risk)

    def _tied_sums(self, running: np.ndarray, deaths: np.ndarray) -> np.ndarray:
        """(len(deaths), K, m): for the given deaths, the sums over the deaths of their tie
        group (contiguous sorted rows), from the running sums (n, K, m)."""
        rs = self.risk_sets
        group = rs.death_group[deaths]
        first = rs.death_pos[rs.group_first[group]]
        ends = np.concatenate([rs.group_first[1:], [rs.n_events]])
        last = rs.death_pos[ends[group] - 1]
        tied = running[last]
        inner = first > 0
        tied[inner] -= running[first[inner] - 1]
        return np.asarray(tied)

    def weighted_information(
        self, risk: np.ndarray, s0: np.ndarray, xbar: np.ndarray, c: np.ndarray | None
    ) -> np.ndarray:
        """sum over deaths of c * V (the Efron variance of x at that death), every model.

        ``c`` (n_d,) must be constant within a tie group (g(t) or g(t)^2); None means 1."""
        rs = self.risk_sets
        inv = 1.0 / s0 if c is None else c[:, None] / s0
        a = np.add.reduceat(inv, rs.group_first, axis=0)
        b = np.add.reduceat(rs.efron[:, None] * inv, rs.group_first, axis=0)
        weight = risk * self.accumulate_back(a)
        weight[rs.death_pos] -= risk[rs.death_pos] * b[rs.death_group]
        second = self.weighted_cross(weight)
        # sum over deaths of c xbar xbar', one batched product per model (strided views)
        weighted = xbar if c is None else xbar * c[:, None, None]
        mean_part = np.matmul(xbar.transpose(1, 2, 0), weighted.transpose(1, 0, 2))
        return np.asarray(second - mean_part)

    def weighted_cross(self, weight: np.ndarray) -> np.ndarray:
        """X_k' diag(weight_k) X_k for every model, (K, d, d); weight (n, K)."""
        n, K, q = self.G.shape
        p = self.C.shape[1]
        cc = np.empty((K, p, p))
        cc_upper = (self.outer_cc @ weight).T
        cc[:, self._upper[0], self._upper[1]] = cc_upper
        cc[:, self._upper[1], self._upper[0]] = cc_upper
        gw = self.G * weight[:, :, None]  # (n, K, q)
        gc = (gw.reshape(n, K * q).T @ self.C).reshape(K, q, p)
        gg = np.einsum("nkq,nkr->kqr", gw, self.G)
        out = np.empty((K, q + p, q + p))
        out[:, :q, :q] = gg
        out[:, :q, q:] = gc
        out[:, q:, :q] = gc.transpose(0, 2, 1)
        out[:, q:, q:] = cc
        return out


def fit_cox_batch(
    problem: CoxProblem, max_iter: int = 30, tol: float = 1e-9
) -> tuple[CoxBatch, RiskSetSums]:
    """Fit every model of ``problem`` by Newton-Raphson with step halving.

    Parameters
    ----------
    problem : the batch (risk sets, covariates, specific columns).
    max_iter : at most this many Newton steps per model.
    tol : a model has converged when no coefficient changed by more than ``tol``
        (absolute, or relative for coefficients above 1).

    Returns
    -------
    (CoxBatch, the risk-set sums at the final coefficients).
    """
    K, d = problem.n_models, problem.n_params
    beta = np.zeros((K, d))
    sums = problem.evaluate(beta)
    start_information = np.diagonal(sums.information, axis1=1, axis2=2).copy()
    done = np.zeros(K, dtype=bool)
    singular = np.zeros(K, dtype=bool)
    failed = np.zeros(K, dtype=bool)  # no halved step raised the likelihood
    n_iter = np.zeros(K, dtype=int)
    for _ in range(max_iter):
        active = ~done & ~singular & ~failed
        if not active.any():
            break
        step, ok = _newton_steps(sums.information, sums.score)
        singular |= active & ~ok
        active &= ok
        step[~active] = 0.0
        new_beta = beta + step
        new_sums = problem.evaluate(new_beta)
        new_beta, new_sums, stuck = _halve_worse_steps(
            problem, beta, sums, new_beta, new_sums, active
        )
        failed |= stuck
        active &= ~stuck
        n_iter[active] += 1
        change = np.abs(new_beta - beta) / np.maximum(1.0, np.abs(new_beta))
        done |= active & (change.max(axis=1) <= tol)
        beta, sums = new_beta, new_sums
    se, ok = _standard_errors(sums.information)
    singular |= ~ok
    # the information of a coefficient running off to infinity (events ordered perfectly by
    # a covariate, R's "coefficient may be infinite") vanishes as the fit goes on
    final_information = np.diagonal(sums.information, axis1=1, axis2=2)
    monotone = (final_information <= 1e-8 * start_information).any(axis=1) | (se <= 0).any(axis=1)
    status = np.full(K, "ok", dtype=object)
    status[~done | failed] = "not_converged"
    status[monotone & ~singular] = "monotone_likelihood"
    status[singular] = "singular"
    fit = CoxBatch(
        beta=beta,
        se=se,
        information=sums.information,
        loglik=sums.loglik,
        converged=status == "ok",
        status=status,
        n_iter=n_iter,
        n=len(problem.risk_sets.time),
        n_events=problem.risk_sets.n_events,
    )
    return fit, sums


def _newton_steps(information: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """information^-1 score for every model; ``ok`` False where the information is singular."""
    step = np.zeros_like(score)
    ok = np.isfinite(information).all(axis=(1, 2)) & np.isfinite(score).all(axis=1)
    ok[ok] = np.linalg.cond(information[ok]) < 1e14
    if ok.any():
        step[ok] = np.linalg.solve(information[ok], score[ok][:, :, None])[:, :, 0]
    return step, ok & np.isfinite(step).all(axis=1)


def _halve_worse_steps(
    problem: CoxProblem,
    beta: np.ndarray,
    sums: RiskSetSums,
    new_beta: np.ndarray,
    new_sums: RiskSetSums,
    active: np.ndarray,
) -> tuple[np.ndarray, RiskSetSums, np.ndarray]:
    """Halve the step of every model whose log partial likelihood fell, as coxph.fit does.

    Returns the new coefficients and sums, and the models still worse after every halving
    (their coefficients and sums are put back to where the step started)."""

    def worse_models() -> np.ndarray:
        return active & ~(new_sums.loglik >= sums.loglik - 1e-12 * np.abs(sums.loglik))

    for _ in range(_MAX_HALVINGS):
        worse = worse_models()
        if not worse.any():
            break
        new_beta = np.where(worse[:, None], (beta + new_beta) / 2.0, new_beta)
        new_sums = _merge_sums(worse, problem.evaluate(new_beta), new_sums)
    stuck = worse_models()
    new_beta = np.where(stuck[:, None], beta, new_beta)
    return new_beta, _merge_sums(stuck, sums, new_sums), stuck


def _merge_sums(models: np.ndarray, new: RiskSetSums, old: RiskSetSums) -> RiskSetSums:
    """``new`` for the chosen models, ``old`` for the others."""

    def first(n: np.ndarray, o: np.ndarray) -> np.ndarray:  # models on axis 0
        return np.where(models.reshape(-1, *([1] * (n.ndim - 1))), n, o)

    def second(n: np.ndarray, o: np.ndarray) -> np.ndarray:  # models on axis 1
        return np.where(models.reshape(1, -1, *([1] * (n.ndim - 2))), n, o)

    return RiskSetSums(
        loglik=first(new.loglik, old.loglik),
        score=first(new.score, old.score),
        information=first(new.information, old.information),
        risk=second(new.risk, old.risk),
        s0=second(new.s0, old.s0),
        xbar=second(new.xbar, old.xbar),
    )


def _standard_errors(information: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sqrt(diag(information^-1)) per model; ``ok`` False where it cannot be inverted."""
    se = np.full(information.shape[:2], np.nan)
    ok = np.isfinite(information).all(axis=(1, 2))
    ok[ok] = np.linalg.cond(information[ok]) < 1e14
    if ok.any():
        cov = np.linalg.inv(information[ok])
        se[ok] = np.sqrt(np.clip(np.diagonal(cov, axis1=1, axis2=2), 0.0, None))
    return se, ok & np.isfinite(se).all(axis=1)


# ---------------------------------------------------------------------------
# cox.zph: the score test and the scaled Schoenfeld residuals
# ---------------------------------------------------------------------------


def km_transform(time: np.ndarray, status: np.ndarray) -> np.ndarray:
    """g(t) = 1 - S(t-) of the Kaplan-Meier curve of all persons, at each person's time
    (``cox.zph``'s ``transform = "km"``; strata are ignored, as in R)."""
    time, status = np.asarray(time, dtype=float), np.asarray(status, dtype=float)
    times, inverse = np.unique(time, return_inverse=True)
    n_event = np.bincount(inverse, weights=status, minlength=len(times))
    n_leaving = np.bincount(inverse, minlength=len(times))
    n_risk = len(time) - np.concatenate([[0], np.cumsum(n_leaving)[:-1]])
    surv = np.cumprod(1.0 - n_event / n_risk)
    before = np.searchsorted(times, time, side="left")
    return np.asarray(1.0 - np.concatenate([[1.0], surv])[before])


@dataclass(frozen=True)
class ZphResult:
    """cox.zph of every model of a batch.

    Attributes
    ----------
    chisq, df, p : (K, n_tests) per test (the terms asked for, then GLOBAL).
    tests : names of the tests, in column order.
    """

    chisq: np.ndarray
    df: np.ndarray
    p: np.ndarray
    tests: list[str]


def zph_tests(
    problem: CoxProblem, beta: np.ndarray, sums: RiskSetSums, terms: dict[str, list[int]]
) -> ZphResult:
    """survival::cox.zph(fit, transform = "km") score tests for every model.

    Parameters
    ----------
    problem : the batch the models were fitted on.
    beta : (K, d) fitted coefficients; sums : the risk-set sums at ``beta``.
    terms : test name -> columns (of the q + p) tested together (a factor's columns as one).

    Returns
    -------
    ZphResult with the tests in ``terms`` order and ``GLOBAL`` last.

    The test adds ``x g(t)`` for the columns of a term and takes the score test at
    (beta, 0); its information uses all columns and their time interactions, with the
    score of the original columns set to zero, as R does.
    """
    rs = problem.risk_sets
    g_all = km_transform(rs.time, rs.status)
    g = g_all[rs.death_pos]
    g = g - g.mean()
    d = problem.n_params
    u_time = problem.death_totals(g) - np.einsum("s,skd->kd", g, sums.xbar)  # (K, d)
    v1 = problem.weighted_information(sums.risk, sums.s0, sums.xbar, g)
    v2 = problem.weighted_information(sums.risk, sums.s0, sums.xbar, g**2)
    info = np.block([[sums.information, v1], [v1, v2]])
    u = np.concatenate([np.zeros_like(u_time), u_time], axis=1)
    tests = {name: list(range(d)) + [d + j for j in cols] for name, cols in terms.items()}
    tests["GLOBAL"] = list(range(2 * d))
    chisq = np.column_stack([_quadratic_forms(info, u, cols) for cols in tests.values()])
    df = np.array([len(cols) - d for cols in tests.values()], dtype=float)
    p = stats.chi2.sf(chisq, df[None, :])
    return ZphResult(chisq, np.broadcast_to(df, chisq.shape).copy(), p, list(tests))


def _quadratic_forms(info: np.ndarray, u: np.ndarray, cols: list[int]) -> np.ndarray:
    """u_S' (I_SS)^-1 u_S for every model; NaN where I_SS is singular."""
    sub_info = info[:, cols][:, :, cols]
    sub_u = u[:, cols]
    out = np.full(len(u), np.nan)
    ok = np.isfinite(sub_info).all(axis=(1, 2))
    ok[ok] = np.linalg.cond(sub_info[ok]) < 1e14
    if ok.any():
        solved = np.linalg.solve(sub_info[ok], sub_u[ok][:, :, None])[:, :, 0]
        out[ok] = (solved * sub_u[ok]).sum(axis=1)
    return out


def scaled_schoenfeld(
    problem: CoxProblem,
    beta: np.ndarray,
    sums: RiskSetSums,
    columns: list[int],
    models: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled Schoenfeld residuals as ``cox.zph(fit, transform = "km", terms = FALSE)``.

    Parameters
    ----------
    problem, beta, sums : the fitted batch (``beta`` (K, d)).
    columns : which of the q + p columns to return.
    models : which models (default all).

    Returns
    -------
    (time (n_d,), transformed time (n_d,), residuals (n_d, models, columns)): one row per
    death in R's order (stratum, then increasing time); a residual is the coefficient plus
    the death's Schoenfeld residual times (information / number of deaths)^-1, the estimate
    of beta(t) that ``plot.cox.zph`` draws.
    """
    rs = problem.risk_sets
    models = list(range(problem.n_models)) if models is None else models
    resid = problem.design_rows(rs.death_pos, models) - _tie_mean(sums.xbar[:, models], rs)
    # residual x (information / deaths)^-1, the variances of all coefficients
    scale = np.linalg.inv(sums.information[models]) * rs.n_events  # (M, d, d)
    scaled = np.einsum("smd,mde->sme", resid, scale[:, :, columns])
    scaled += beta[models][:, columns][None, :, :]
    g = km_transform(rs.time, rs.status)[rs.death_pos]
    order = _r_event_order(rs)
    return rs.time[rs.death_pos][order], g[order], scaled[order]


def _tie_mean(xbar: np.ndarray, rs: RiskSets) -> np.ndarray:
    """Per death, the mean of the Efron-adjusted weighted means over its tie group."""
    sums = np.add.reduceat(xbar, rs.group_first, axis=0)
    size = np.diff(np.concatenate([rs.group_first, [len(rs.death_pos)]]))
    return np.asarray((sums / size[:, None, None])[rs.death_group])


def _r_event_order(rs: RiskSets) -> np.ndarray:
    """Deaths ordered as R lists them: by stratum, then increasing time, ties in input order."""
    pos = rs.death_pos
    stratum_key = rs.stratum_end[pos]
    original = rs.order[pos]
    return np.lexsort((original, rs.time[pos], stratum_key))
