"""The differencing attack: hand-made attacks from the issue, and the LP (with its integer
fallback) against brute-force enumeration of every table that agrees with what is shown."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trd_spark.disclosure import Ledger, Place, Policy, StructureError, View, audit, protect
from trd_spark.disclosure.attack import ComponentModel, Interval, models

POLICY = Policy()


def margins_ledger(table: np.ndarray, name: str = "t") -> Ledger:
    """A two-way table of counts with its row, column and grand totals."""
    ledger = Ledger()
    rows, columns = table.shape
    cell = lambda i, j: f"{name}|{i}|{j}"  # noqa: E731  (row or column index "T" = total)
    for i in range(rows):
        for j in range(columns):
            ledger.cell(cell(i, j), int(table[i, j]), Place(name, str(i), str(j)))
    for i in range(rows):
        ledger.cell(cell(i, "T"), int(table[i].sum()), Place(name, str(i), "total"))
        ledger.total(cell(i, "T"), [cell(i, j) for j in range(columns)])
    for j in range(columns):
        ledger.cell(cell("T", j), int(table[:, j].sum()), Place(name, "total", str(j)))
        ledger.total(cell("T", j), [cell(i, j) for i in range(rows)])
    ledger.cell(cell("T", "T"), int(table.sum()), Place(name, "total", "total"))
    ledger.total(cell("T", "T"), [cell(i, "T") for i in range(rows)])
    return ledger


def published_view(ledger: Ledger, suppressed: set[str]) -> View:
    return View.of(ledger, [k for k in ledger.shown if k not in suppressed], POLICY)


# --- hand-made attacks (issue 20) ---------------------------------------------------------


def group_sizes_ledger() -> Ledger:
    ledger = Ledger()
    for key, value in (("all", 2701), ("a", 576), ("b", 948), ("c", 1161), ("none", 16)):
        ledger.cell(key, value, Place("group_sizes", key, "n_trd"))
    ledger.total("all", ["a", "b", "c", "none"])
    return ledger


def test_the_subtraction_of_the_demo_report_is_found_and_defended():
    ledger = group_sizes_ledger()
    # cell by cell (the old report): 2,701 - 576 - 948 - 1,161 = 16
    findings = audit(ledger, published_view(ledger, {"none"}), POLICY)
    assert [(f.key, f.interval) for f in findings] == [("none", Interval(16, 16))]
    assert "exact value can be derived" in findings[0].message()
    assert "group_sizes: none: n_trd" in findings[0].message()
    protection = protect(ledger, POLICY)
    assert protection.primary == {"none"} and len(protection.complementary) == 1
    assert audit(ledger, protection.view(ledger), POLICY) == []
    by_key = models(ledger, protection.view(ledger))
    low, high = by_key["none"].interval("none").low, by_key["none"].interval("none").high
    assert low == 1 and high > 20


def test_km_at_risk_differences_are_found_and_defended():
    # persons at risk at successive times: 500 - 497 = 3 left the risk set in between
    ledger = Ledger()
    at_risk = [500, 497, 460, 300]
    for t, n in enumerate(at_risk):
        ledger.cell(f"km|{t}", n, Place("km", f"day {t}", "at_risk"))
    for t in range(len(at_risk) - 1):
        ledger.contains(f"km|{t}", f"km|{t + 1}", f"left|{t}")
    findings = audit(ledger, published_view(ledger, set()), POLICY)
    assert [f.key for f in findings] == ["left|0"]
    assert "derived count left|0" in findings[0].message()
    protection = protect(ledger, POLICY)
    assert protection.suppressed & {"km|0", "km|1"}
    assert audit(ledger, protection.view(ledger), POLICY) == []


def test_female_plus_male_equals_all_is_found_and_defended():
    ledger = Ledger()
    for key, value in (("all", 31), ("female", 23), ("male", 8)):
        ledger.cell(key, value, Place("associations", "TRD", key))
    ledger.total("all", ["female", "male"])
    assert [f.key for f in audit(ledger, published_view(ledger, {"male"}), POLICY)] == ["male"]
    protection = protect(ledger, POLICY)
    assert "male" in protection.primary and len(protection.complementary) == 1
    assert audit(ledger, protection.view(ledger), POLICY) == []


def test_table2_pools_are_found_and_defended():
    # TRD + trMDD is the same pool under two definitions: 60 + 200 = 15 + 245
    ledger = Ledger()
    for key, value in (("trd1", 60), ("trmdd1", 200), ("trd2", 15), ("trmdd2", 245)):
        ledger.cell(key, value, Place("table2", key, "n"))
    ledger.sum_of("pool1", ["trd1", "trmdd1"])
    ledger.sum_of("pool2", ["trd2", "trmdd2"])
    ledger.relate({"pool1": 1, "pool2": -1})
    assert [f.key for f in audit(ledger, published_view(ledger, {"trd2"}), POLICY)] == ["trd2"]
    protection = protect(ledger, POLICY)
    assert audit(ledger, protection.view(ledger), POLICY) == []
    assert ledger.check() == []


def test_published_counts_that_break_a_relation_are_an_error():
    ledger = Ledger(exact=False)
    for key, value in (("all", 100), ("a", 60), ("b", 30)):
        ledger.cell(key, value, Place("t", key, "n"))
    ledger.total("all", ["a", "b"])
    with pytest.raises(StructureError, match="break a declared relation"):
        models(ledger, View({"all": (100, 100), "a": (60, 60), "b": (30, 30)}))


def test_rounded_published_counts_bound_the_attack():
    ledger = group_sizes_ledger()
    rounding = Policy(rounding_base=10)
    view = View.of(ledger, ["all", "a", "b", "c"], rounding)
    assert view.published["all"] == (2695, 2704)
    interval = models(ledger, view)["none"].interval("none")
    # 2,700 - 580 - 950 - 1,160 = 10, and each count is within its rounding interval
    assert interval == Interval(1, 10 + 5 + 5 + 5 + 4)
    assert audit(ledger, view, rounding) == []


# --- the LP against enumeration -----------------------------------------------------------


def enumerate_interval(table: np.ndarray, suppressed: set[tuple[int, int]], key: tuple) -> Interval:
    """Bounds of one interior cell or margin over every whole table that shows the same
    published cells (suppressed cells >= 1), by enumeration."""
    rows, columns = table.shape
    total = int(table.sum())
    unknown = sorted(c for c in suppressed if c[0] != "T" and c[1] != "T")
    values = []
    for guess in itertools.product(range(1, total + 1), repeat=len(unknown)):
        candidate = table.copy()
        for (i, j), v in zip(unknown, guess, strict=True):
            candidate[i, j] = v
        shown = {
            **{(i, j): candidate[i, j] for i in range(rows) for j in range(columns)},
            **{(i, "T"): candidate[i].sum() for i in range(rows)},
            **{("T", j): candidate[:, j].sum() for j in range(columns)},
            ("T", "T"): candidate.sum(),
        }
        true = {
            **{(i, "T"): table[i].sum() for i in range(rows)},
            **{("T", j): table[:, j].sum() for j in range(columns)},
            ("T", "T"): table.sum(),
            **{(i, j): table[i, j] for i in range(rows) for j in range(columns)},
        }
        agrees = all(shown[c] == true[c] for c in shown if c not in suppressed)
        if agrees and all(shown[c] >= 1 for c in suppressed):
            values.append(shown[key])
    return Interval(min(values), max(values))


small_tables = st.tuples(st.integers(2, 3), st.integers(2, 3), st.integers(0, 2**32 - 1)).map(
    lambda a: np.random.default_rng(a[2]).integers(0, 9, size=(a[0], a[1]))
)


@settings(max_examples=40, deadline=None)
@given(small_tables, st.integers(0, 2**32 - 1))
def test_lp_bounds_equal_enumeration(table, seed):
    rng = np.random.default_rng(seed)
    rows, columns = table.shape
    interior = [(i, j) for i in range(rows) for j in range(columns) if table[i, j] > 0]
    if len(interior) < 2:
        return
    chosen = rng.choice(len(interior), size=min(len(interior), rng.integers(1, 3)), replace=False)
    suppressed = {interior[k] for k in chosen}
    margins = [(i, "T") for i in range(rows)] + [("T", j) for j in range(columns)]
    suppressed |= {m for m in margins if rng.random() < 0.3 and _margin(table, m) > 0}
    ledger = margins_ledger(table)
    keys = {f"t|{i}|{j}" for i, j in suppressed}
    view = published_view(ledger, keys)
    by_key = models(ledger, view)
    for i, j in sorted(suppressed, key=str):
        assert by_key[f"t|{i}|{j}"].interval(f"t|{i}|{j}") == enumerate_interval(
            table, suppressed, (i, j)
        )


def _margin(table: np.ndarray, margin: tuple) -> int:
    i, j = margin
    return int(table[i].sum() if j == "T" else table[:, j].sum())


def test_integer_bounds_where_the_lp_relaxation_is_fractional():
    # x + y = 1, y + z = 1, x + z = 1: the LP allows x = y = z = 1/2, whole numbers no table
    ledger = Ledger(exact=False)
    for key in ("x", "y", "z"):
        ledger.hidden(key)
    for key in ("one_a", "one_b", "one_c"):
        ledger.cell(key, 1, Place("t", key, "n"))
    ledger.total("one_a", ["x", "y"])
    ledger.total("one_b", ["y", "z"])
    ledger.total("one_c", ["x", "z"])
    view = View({"one_a": (1, 1), "one_b": (1, 1), "one_c": (1, 1)})
    with pytest.raises(StructureError, match="no table of whole counts"):
        ComponentModel(ledger, list(ledger.values), ledger.relations, view).interval("x")


def test_integer_bounds_tighter_than_the_lp():
    # 2a + 3b = 7 with a, b whole and at least 0: only a = 2, b = 1; the LP relaxation
    # allows a from 0.5 (b = 2) to 3.5 (b = 0), so rounding its bounds would give 1..3
    ledger = Ledger(exact=False)
    ledger.hidden("a")
    ledger.hidden("b")
    ledger.cell("seven", 7, Place("t", "seven", "n"))
    ledger.relate({"a": 2, "b": 3, "seven": -1})
    view = View({"seven": (7, 7)})
    model = ComponentModel(ledger, list(ledger.values), ledger.relations, view)
    assert model.interval("a") == Interval(2, 2)
    assert model.interval("b") == Interval(1, 1)
