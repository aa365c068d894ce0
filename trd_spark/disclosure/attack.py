"""The differencing attack, by linear programming: how far can a reader pin each unshown count?

For every count a set of shareable tables does not show (suppressed, or hidden: derivable
but shown nowhere), a reader who knows the published counts and the relations between
them (:class:`~trd_spark.disclosure.ledger.Ledger`) can bound it.  The bounds are the
minimum and maximum of that count over every table of non-negative counts that agrees
with what is published: two linear programs, solved here with HiGHS
(:func:`scipy.optimize.linprog`).

What the reader is assumed to know: every relation of the ledger; every published count
(exactly, or within its rounding interval); that a suppressed count is at least 1 (0 is
always shown) and a hidden count at least 0.

Integers.  The linear program relaxes "counts are whole numbers", so its bounds contain
the bounds over whole numbers and can be wider.  They coincide when the optimum is a
vertex with whole coordinates, which holds for the report's relations that form a totally
unimodular system (one-way margins, two-way tables with margins, attrition chains,
nested subsets: network matrices), but not in general (a cell in three overlapping
margins, as in a three-way table with all two-way margins, can have fractional
vertices).  So every optimum is checked: when its solution is not whole, the integer
program is solved (:func:`scipy.optimize.milp`, also HiGHS), and the audit uses the
integer bounds.  docs/disclosure.md discusses this.

A count fails the audit when its interval lies inside 1..threshold, or (for a suppressed
count) when it is a single value: either way the reader has recovered what suppression
was meant to hide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_array

from trd_spark.disclosure.ledger import Ledger, Place
from trd_spark.disclosure.policy import Policy
from trd_spark.errors import TrdSparkError

_TOLERANCE = 1e-6


class StructureError(TrdSparkError):
    """The published counts contradict the relations declared between them."""


@dataclass(frozen=True)
class Interval:
    """The whole numbers a count can take given what is published (high may be inf)."""

    low: float
    high: float

    @property
    def pinned(self) -> bool:
        """True when a single value is possible."""
        return self.low == self.high

    def inside(self, threshold: int) -> bool:
        """True when every possible value is from 1 to ``threshold``."""
        return self.low >= 1 and self.high <= threshold


@dataclass(frozen=True)
class Finding:
    """A count the attack recovers: where it is shown (or that it is hidden) and why."""

    key: str
    places: tuple[Place, ...]
    interval: Interval
    suppressed: bool
    shown: bool = False  # a published count from 1 to the threshold

    @property
    def reason(self) -> str:
        """Why the count fails, without its value (safe to print)."""
        if self.shown:
            return "a count from 1 to the threshold is shown"
        if self.suppressed and self.interval.pinned:
            return "its exact value can be derived from the published counts"
        return "the published counts show it is between 1 and the threshold"

    def message(self) -> str:
        """Table and cell (or the hidden count's name) and the reason; no value."""
        where = "; ".join(str(p) for p in self.places) or f"derived count {self.key}"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class View:
    """What a reader sees: published cells with the interval their text allows.

    Every other cell of the ledger is unknown to the reader: at least 1 when it is shown
    suppressed, at least 0 when hidden.
    """

    published: Mapping[str, tuple[int, int]]

    @classmethod
    def of(cls, ledger: Ledger, published: Iterable[str], policy: Policy) -> View:
        """The view of ``ledger`` in which ``published`` cells are shown as ``policy`` shows
        them (exactly, or rounded) and every other shown cell is suppressed."""
        bounds = {}
        for key in published:
            value = ledger.values[key]
            if value is None:
                raise ValueError(f"cell {key} is published but has no value")
            bounds[key] = (
                policy.bounds(policy.rounded(value)) if policy.rounds and value else (value, value)
            )
        return cls(bounds)


class ComponentModel:
    """The linear program of one connected group of cells under a view.

    A hidden cell that appears in a single relation (the remainder of a subset, say) is
    eliminated: its relation becomes the inequality "the rest of the relation is at least
    0", and its bounds are those of that expression.  The programs are the same; they are
    about half the size, and HiGHS solves them faster.
    """

    def __init__(
        self, ledger: Ledger, keys: list[str], relations: list[dict[str, int]], view: View
    ):
        fixed = {k: view.published[k][0] for k in keys if k in view.published and _exact(view, k)}
        self._check_constants(relations, fixed)
        uses: dict[str, int] = {}
        for relation in relations:
            for key in relation:
                uses[key] = uses.get(key, 0) + 1
        # cell -> (its relation, its coefficient): hidden, free above, in one relation, one a row
        self.eliminated: dict[str, tuple[dict[str, int], int]] = {}
        for relation in relations:
            for key, coefficient in relation.items():
                if (
                    uses[key] == 1
                    and abs(coefficient) == 1
                    and key not in view.published
                    and not ledger.is_shown(key)
                ):
                    self.eliminated[key] = (relation, coefficient)
                    break
        self.variables = [k for k in keys if k not in fixed and k not in self.eliminated]
        self.index = {k: i for i, k in enumerate(self.variables)}
        self.low = np.array([self._bounds(ledger, view, k)[0] for k in self.variables])
        self.high = np.array([self._bounds(ledger, view, k)[1] for k in self.variables])
        self.fixed = fixed
        eliminated_relations = {id(r) for r, _ in self.eliminated.values()}
        equalities = [r for r in relations if id(r) not in eliminated_relations]
        self.a_eq, self.b_eq = self._rows(equalities, {})
        slack_of = {id(r): (k, c) for k, (r, c) in self.eliminated.items()}
        inequalities = [r for r in relations if id(r) in eliminated_relations]
        # sum(others) + c * slack == 0 and slack >= 0  <=>  c * sum(others) <= 0
        self.a_ub, self.b_ub = self._rows(
            inequalities, {id(r): slack_of[id(r)] for r in inequalities}
        )

    @staticmethod
    def _bounds(ledger: Ledger, view: View, key: str) -> tuple[float, float]:
        if key in view.published:
            return float(view.published[key][0]), float(view.published[key][1])
        return (1.0 if ledger.is_shown(key) else 0.0), math.inf

    def _rows(
        self, relations: list[dict[str, int]], slacks: Mapping[int, tuple[str, int]]
    ) -> tuple[csr_array, np.ndarray]:
        rows, columns, data, rhs = [], [], [], []
        for r, relation in enumerate(relations):
            sign = slacks[id(relation)][1] if id(relation) in slacks else 1
            constant = 0.0
            for key, coefficient in relation.items():
                if id(relation) in slacks and key == slacks[id(relation)][0]:
                    continue
                if key in self.fixed:
                    constant += coefficient * self.fixed[key]
                else:
                    rows.append(r)
                    columns.append(self.index[key])
                    data.append(float(sign * coefficient))
            rhs.append(-sign * constant)
        matrix = csr_array((data, (rows, columns)), shape=(len(relations), len(self.variables)))
        return matrix, np.array(rhs, dtype=float)

    @staticmethod
    def _check_constants(relations: list[dict[str, int]], fixed: Mapping[str, int]) -> None:
        for relation in relations:
            if not all(k in fixed for k in relation):
                continue
            if sum(int(c) * int(fixed[k]) for k, c in relation.items()) != 0:
                raise StructureError(
                    "published counts break a declared relation: "
                    + " + ".join(f"{c} x {k}" for k, c in relation.items())
                    + " != 0"
                )

    def _objective(self, key: str) -> tuple[np.ndarray, float]:
        """``key`` as a linear expression of the variables plus a constant."""
        objective = np.zeros(len(self.variables))
        if key in self.index:
            objective[self.index[key]] = 1.0
            return objective, 0.0
        relation, coefficient = self.eliminated[key]
        # slack = -(sum of the others) / coefficient
        constant = 0.0
        for other, c in relation.items():
            if other == key:
                continue
            if other in self.fixed:
                constant -= coefficient * c * self.fixed[other]
            else:
                objective[self.index[other]] -= coefficient * c
        return objective, constant

    def bound(self, key: str, maximise: bool) -> float:
        """The smallest (or largest) whole value ``key`` can take; inf when unbounded."""
        objective, constant = self._objective(key)
        sense = -1.0 if maximise else 1.0
        if not objective.any():
            return constant
        if self.a_eq.shape[0] == 0 and self.a_ub.shape[0] == 0:
            i = int(np.flatnonzero(objective)[0])
            return self.high[i] if maximise else self.low[i]
        result = linprog(
            sense * objective,
            A_ub=self.a_ub if self.a_ub.shape[0] else None,
            b_ub=self.b_ub if self.a_ub.shape[0] else None,
            A_eq=self.a_eq if self.a_eq.shape[0] else None,
            b_eq=self.b_eq if self.a_eq.shape[0] else None,
            bounds=[
                (low, None if math.isinf(high) else high)
                for low, high in zip(self.low, self.high, strict=True)
            ],
            method="highs",
        )
        if result.status == 3:
            return math.inf if maximise else -math.inf
        if result.status == 2:
            raise StructureError(f"no table of counts agrees with the published ones around {key}")
        if result.status != 0:
            raise RuntimeError(f"linear program for {key} failed: {result.message}")
        if np.allclose(result.x, np.round(result.x), atol=_TOLERANCE):
            return float(round(sense * result.fun + constant))
        return self._integer_bound(sense * objective, sense, constant, key)

    def _integer_bound(
        self, objective: np.ndarray, sense: float, constant: float, key: str
    ) -> float:
        constraints = []
        if self.a_eq.shape[0]:
            constraints.append(LinearConstraint(self.a_eq, self.b_eq, self.b_eq))
        if self.a_ub.shape[0]:
            constraints.append(LinearConstraint(self.a_ub, -np.inf, self.b_ub))
        result = milp(
            objective,
            constraints=constraints,
            integrality=np.ones(len(self.variables)),
            bounds=Bounds(self.low, self.high),
        )
        if result.status == 2:
            raise StructureError(
                f"no table of whole counts agrees with the published ones around {key}"
            )
        if result.status != 0 or result.fun is None:
            raise RuntimeError(f"integer program for {key} failed: {result.message}")
        return float(round(sense * result.fun + constant))

    def interval(self, key: str) -> Interval:
        """Both bounds of ``key``."""
        return Interval(self.bound(key, maximise=False), self.bound(key, maximise=True))


def _exact(view: View, key: str) -> bool:
    low, high = view.published[key]
    return low == high


def models(ledger: Ledger, view: View) -> dict[str, ComponentModel]:
    """Cell key -> the model of its connected group (only groups with a cell not published)."""
    by_key: dict[str, ComponentModel] = {}
    for keys, relations in ledger.components():
        if all(k in view.published and _exact(view, k) for k in keys):
            ComponentModel._check_constants(relations, {k: view.published[k][0] for k in keys})
            continue
        model = ComponentModel(ledger, keys, relations, view)
        for key in [*model.variables, *model.eliminated]:
            by_key[key] = model
    return by_key


def fails(interval: Interval, suppressed: bool, policy: Policy) -> bool:
    """True when a count with this interval is recovered (see the module's rule)."""
    return interval.inside(policy.threshold) or (suppressed and interval.pinned)


def audit(ledger: Ledger, view: View, policy: Policy) -> list[Finding]:
    """Every unshown count the attack recovers, with the full interval of each.

    Parameters
    ----------
    ledger : the cells and relations (values may be unknown).
    view : what is published.
    policy : the threshold.

    Returns
    -------
    Findings in ledger order; empty when the tables are safe.
    """
    findings = []
    by_key = models(ledger, view)
    for key in ledger.values:
        if key in view.published:
            continue
        interval = by_key[key].interval(key)
        suppressed = ledger.is_shown(key)
        if fails(interval, suppressed, policy):
            findings.append(Finding(key, tuple(ledger.places.get(key, [])), interval, suppressed))
    return findings


def recovered(
    model: ComponentModel, key: str, value: int, suppressed: bool, policy: Policy
) -> bool:
    """Whether the attack recovers a cell whose true ``value`` is known, solving as few
    programs as that allows (the interval always contains the true value).

    A count above the threshold can only fail by being pinned; a hidden count of 0 or
    above the threshold never fails; a small one fails unless the interval reaches 0
    (hidden only) or above the threshold.
    """
    threshold = policy.threshold
    if value > threshold:
        if not suppressed:
            return False
        return model.bound(key, True) <= value and model.bound(key, False) >= value
    if value <= 0:
        return False
    if not suppressed and model.bound(key, False) <= 0:
        return False
    return model.bound(key, True) <= threshold
