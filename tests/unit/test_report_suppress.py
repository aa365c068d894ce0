"""All of Us small-count suppression: counts 1..20 masked, 0 and > 20 shown, percentages withheld."""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trd_spark.report.audit import find_unsuppressed_counts
from trd_spark.report.figures import at_risk_at, at_risk_labels
from trd_spark.report.render import render_attrition_flow, render_table
from trd_spark.report.suppress import (
    WITHHELD,
    format_count,
    format_percent,
    is_small_count,
    suppress_count_columns,
    truncate_small_risk_sets,
    withhold_percent_columns,
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (1, "<20"), (7, "<20"), (20, "<20"), (21, "21"), (1234, "1,234"), (12.0, "<20")],
)
def test_format_count_masks_one_to_twenty(value, shown):
    assert format_count(value, 20) == shown


def test_format_count_missing_is_empty_and_off_shows_all():
    assert format_count(None, 20) == ""
    assert format_count(float("nan"), 20) == ""
    assert format_count(5, 20, suppress=False) == "5"


def test_min_count_is_configurable():
    assert format_count(10, 10) == "<10"
    assert format_count(11, 10) == "11"
    assert format_count(11, 50) == "<50"


@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=1, max_value=100))
def test_format_count_property(value, min_count):
    shown = format_count(value, min_count)
    if 1 <= value <= min_count:
        assert shown == f"<{min_count}"
    else:
        assert int(shown.replace(",", "")) == value


@pytest.mark.parametrize(
    ("num", "den", "shown"),
    [
        (30, 60, "50.0"),
        (0, 60, "0.0"),  # 0 is not masked, so 0 % is shown
        (12, 60, WITHHELD),  # numerator masked
        (25, 15, WITHHELD),  # denominator masked
        (30, 0, WITHHELD),  # undefined
        (None, 60, WITHHELD),
    ],
)
def test_format_percent_withholds_derived_from_masked(num, den, shown):
    assert format_percent(num, den, 20) == shown


def test_format_percent_without_suppression():
    assert format_percent(12, 60, 20, suppress=False) == "20.0"


def test_is_small_count_ignores_missing():
    assert not is_small_count(None, 20)
    assert not is_small_count(math.nan, 20)


def test_suppress_count_columns_only_touches_named_columns():
    table_df = pd.DataFrame({"n": [0, 5, 20, 21], "variants": [5, 5, 5, 5]})
    shown_df = suppress_count_columns(table_df, ["n", "absent"], 20)
    assert shown_df["n"].tolist() == ["0", "<20", "<20", "21"]
    assert shown_df["variants"].tolist() == [5, 5, 5, 5]
    assert table_df["n"].tolist() == [0, 5, 20, 21]  # input left alone


def test_withhold_percent_columns():
    table_df = pd.DataFrame({"k": [10, 30, 30], "n": [100, 100, 19], "pct": [10.0, 30.0, 157.9]})
    shown_df = withhold_percent_columns(table_df, {"pct": ("k", "n")}, 20)
    assert shown_df["pct"].tolist() == [WITHHELD, "30.0", WITHHELD]


def test_truncate_small_risk_sets_keeps_only_large_risk_sets():
    km_df = pd.DataFrame({"time": [0, 1, 2, 3], "at_risk": [40, 21, 20, 3]})
    assert truncate_small_risk_sets(km_df, 20)["time"].tolist() == [0, 1]


def test_at_risk_table_labels_are_masked():
    km_df = pd.DataFrame(
        {
            "stratum": ["a"] * 4 + ["b"] * 2,
            "time": [0.0, 10.0, 20.0, 30.0, 0.0, 5.0],
            "at_risk": [50, 30, 12, 2, 100, 99],
        }
    )
    # at-risk at t is the risk set of the first row at or after t
    assert at_risk_at(km_df[km_df["stratum"] == "a"], [0, 15, 25, 31]) == [50, 12, 2, 0]
    labels = at_risk_labels(km_df, ["a", "b"], [0, 15, 25, 31], 20, True)
    assert labels == [["50", "<20", "<20", "0"], ["100", "0", "0", "0"]]


def test_find_unsuppressed_counts_scans_count_cells():
    table_df = pd.DataFrame({"n": ["<20", "25", "0"], "k": ["3", "4", "5"]})
    page = render_table(table_df, ["n"])
    assert find_unsuppressed_counts(page, 20) == []
    leaky = render_table(pd.DataFrame({"n": ["1,500", "17"]}), ["n"])
    assert find_unsuppressed_counts(leaky, 20) == ["17"]


def test_suppression_of_random_tables_leaves_no_small_count():
    rng = np.random.default_rng(3)
    table_df = pd.DataFrame({"n": rng.integers(0, 60, 500)})
    shown = suppress_count_columns(table_df, ["n"], 20)["n"]
    expected = ["<20" if 1 <= v <= 20 else str(v) for v in table_df["n"]]
    assert shown.tolist() == expected


def test_attrition_flow_masks_every_count():
    attrition_df = pd.DataFrame(
        {
            "cohort": ["a", "a", "a", "b", "b"],
            "step": ["cohort", "missing_sex", "missing_pcs", "cohort", "missing_sex"],
            "n_persons": [500, 487, 487, 19, 0],
            "n_rows_dropped": [0, 13, 0, 0, 19],
            "reason": ["start", "sex missing", "none", "start", "sex missing"],
        }
    )

    def flow(suppress: bool) -> str:
        shown_df = suppress_count_columns(
            attrition_df, ["n_persons", "n_rows_dropped"], 20, suppress
        )
        return render_attrition_flow(
            attrition_df, list(shown_df["n_persons"]), list(shown_df["n_rows_dropped"])
        )

    counts = [html.unescape(c) for c in re.findall(r'class="count">([^<]*)<', flow(True))]
    # a: 500, dropped 13 -> <20, 487, 487 (no drop line for 0); b: 19 -> <20, dropped 19, 0
    assert counts == ["500", "<20", "487", "487", "<20", "<20", "0"]
    assert find_unsuppressed_counts(flow(True), 20) == []
    assert find_unsuppressed_counts(flow(False), 20) == ["13", "19", "19"]
