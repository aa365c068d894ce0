"""Primary and complementary suppression, as properties over random tables with margins,
hierarchies and attrition chains: after protection the attack recovers no count of 1..20,
and a table with no small count is published unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trd_spark.disclosure import Ledger, Place, Policy, audit, protect
from trd_spark.disclosure.attack import models
from trd_spark.disclosure.policy import SUPPRESSED

from .test_disclosure_attack import margins_ledger

POLICY = Policy()


def cell_values(rng: np.random.Generator, shape: tuple[int, ...], small_share: float) -> np.ndarray:
    """Counts: some 0, some 1..20, the rest 21..400."""
    kind = rng.random(shape)
    values = rng.integers(21, 401, shape)
    values[kind < small_share] = rng.integers(1, 21, shape)[kind < small_share]
    values[kind < small_share / 4] = 0
    return values


def assert_protected(ledger: Ledger, policy: Policy = POLICY) -> None:
    protection = protect(ledger, policy)
    view = protection.view(ledger)
    assert audit(ledger, view, policy) == []
    # and no shown count of 1..20 is published
    for key in protection.published:
        assert not policy.is_small(ledger.values[key]), key
    # every suppressed small count can be at least 21 or 0 (hidden) for the reader
    by_key = models(ledger, view)
    for key, value in ledger.values.items():
        if key in protection.published or not policy.is_small(value):
            continue
        interval = by_key[key].interval(key)
        assert interval.high > policy.threshold or interval.low < 1, key


tables = st.tuples(st.integers(2, 4), st.integers(2, 5), st.integers(0, 2**32 - 1))


@settings(max_examples=40, deadline=None)
@given(tables, st.floats(0.0, 0.6))
def test_two_way_tables_with_margins(shape_seed, small_share):
    rows, columns, seed = shape_seed
    table = cell_values(np.random.default_rng(seed), (rows, columns), small_share)
    assert_protected(margins_ledger(table))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.0, 0.5))
def test_linked_tables_sharing_a_population(seed, small_share):
    # cohort x group and cohort x sex share each cohort's total (a hierarchy of margins),
    # and the group table repeats in a second table under another name for its cells
    rng = np.random.default_rng(seed)
    groups = cell_values(rng, (3, 3), small_share)
    female = np.minimum(groups, rng.integers(0, 200, groups.shape))
    ledger = margins_ledger(groups, "g")
    for i in range(3):
        for j in range(3):
            key = ledger.cell(f"f|{i}|{j}", int(female[i, j]), Place("female", str(i), str(j)))
            ledger.contains(f"g|{i}|{j}", key, f"notf|{i}|{j}")
        ledger.cell(f"g|{i}|T", int(groups[i].sum()), Place("second", str(i), "n"))
    assert ledger.check() == []
    assert_protected(ledger)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 7))
def test_attrition_chains(seed, steps):
    # n_k = n_(k-1) - dropped_k, with some small exclusions
    rng = np.random.default_rng(seed)
    start = int(rng.integers(50, 3000))
    dropped = cell_values(rng, (steps,), 0.5)
    ledger = Ledger()
    n = start
    ledger.cell("n0", n, Place("attrition", "start", "n_persons"))
    for k in range(steps):
        n = max(0, n - int(dropped[k]))
        ledger.cell(f"n{k + 1}", n, Place("attrition", f"step {k + 1}", "n_persons"))
        gone = ledger.cell(
            f"d{k + 1}",
            int(ledger.values[f"n{k}"] - n),
            Place("attrition", f"step {k + 1}", "dropped"),
        )
        ledger.total(f"n{k}", [f"n{k + 1}", gone])
    assert_protected(ledger)


@settings(max_examples=30, deadline=None)
@given(tables)
def test_tables_without_small_counts_are_unchanged(shape_seed):
    rows, columns, seed = shape_seed
    table = cell_values(np.random.default_rng(seed), (rows, columns), 0.0)
    ledger = margins_ledger(table)
    protection = protect(ledger, POLICY)
    assert protection.suppressed == set()
    assert protection.published == set(ledger.shown)
    assert all(protection.text(ledger, k) != SUPPRESSED for k in ledger.shown)


def test_rounding_protects_too():
    rounding = Policy(rounding_base=5)
    table = np.array([[576, 948, 1161, 16], [30, 45, 0, 3]])
    ledger = margins_ledger(table)
    assert_protected(ledger, rounding)
    protection = protect(ledger, rounding)
    assert protection.published
    for key in protection.published:
        shown = rounding.parse(protection.text(ledger, key))
        assert shown is not None and shown % 5 == 0
        low, high = rounding.bounds(shown)
        assert low <= ledger.values[key] <= high


def test_policy_off_publishes_everything():
    ledger = margins_ledger(np.array([[5, 500], [7, 9]]))
    protection = protect(ledger, Policy(enabled=False))
    assert protection.published == set(ledger.shown)
    assert protection.text(ledger, "t|0|0") == "5"


@pytest.mark.parametrize("threshold", [5, 10, 50])
def test_the_threshold_is_the_policy_s(threshold):
    policy = Policy(threshold)
    table = np.array([[3, 8, 40], [12, 60, 200]])
    ledger = margins_ledger(table)
    protection = protect(ledger, policy)
    assert {k for k in ledger.shown if policy.is_small(ledger.values[k])} == protection.primary
    assert_protected(ledger, policy)
