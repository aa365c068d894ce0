"""The report's side of disclosure control: the coarse Kaplan-Meier grid, the inclusions a
reader knows from the definitions, publishing and reading tables back, and the HTML
pieces that carry counts."""

from __future__ import annotations

import html
import itertools
import logging
import re

import numpy as np
import pandas as pd
import pytest

from tests.data.report.fake_run import fake_persons
from trd_spark.disclosure import SUPPRESSED
from trd_spark.report.audit import find_unsuppressed_counts
from trd_spark.report.disclose import audit_tables, disclose, read_back, run_facts
from trd_spark.report.figures import at_risk_labels
from trd_spark.report.load import RunOutputs
from trd_spark.report.render import render_attrition_flow
from trd_spark.report.shareable import (
    UNKNOWN,
    Facts,
    coarse_km,
    definitional_inclusions,
    verified_inclusions,
)
from trd_spark.stats.survival import kaplan_meier
from trd_spark.study import group_masks


def km_rows(rng: np.random.Generator, n: int, **keys: str) -> pd.DataFrame:
    times = rng.choice(np.arange(1, 3000), n, replace=False).astype(float)
    events = (rng.random(n) < 0.5).astype(float)
    curve = kaplan_meier(times, events)  # independent: the stats stage's KM with n_event
    return curve.assign(**keys)


@pytest.mark.parametrize("seed", range(6))
def test_coarse_km_reveals_no_small_difference(seed):
    rng = np.random.default_rng(seed)
    full_df = pd.concat(
        [km_rows(rng, n, cohort="wgs", trait="t", stratum=s)
         for n, s in ((60, "pgs_0_20"), (400, "pgs_20_80"), (15, "pgs_80_100"))],
        ignore_index=True,
    )  # fmt: skip
    coarse_df = coarse_km(full_df.drop(columns="n_event"), 20)
    for stratum, curve_df in coarse_df.groupby("stratum"):
        source_df = full_df[full_df["stratum"] == stratum].sort_values("time")
        assert curve_df["time"].iloc[0] == 0.0
        assert curve_df["at_risk"].iloc[0] == source_df["at_risk"].iloc[0]  # the size
        times, at_risk = curve_df["time"].to_numpy(), curve_df["at_risk"].to_numpy()
        for (t0, n0), (t1, n1) in itertools.pairwise(zip(times, at_risk, strict=True)):
            between = source_df[(source_df["time"] > t0) & (source_df["time"] <= t1)]
            assert n0 - n1 > 20  # persons who left the risk set in between
            assert between["n_event"].sum() == 0 or between["n_event"].sum() > 20
            assert n1 > 20
            # the survival shown is the curve's at that time
            assert curve_df.loc[curve_df["time"] == t1, "survival"].item() == pytest.approx(
                source_df.loc[source_df["time"] == t1, "survival"].item()
            )
    small = coarse_df[coarse_df["stratum"] == "pgs_80_100"]
    assert small["time"].tolist() == [0.0]  # too small to draw: only its size (suppressed)


def test_definitional_inclusions_follow_the_definitions():
    inclusions = set(definitional_inclusions())
    # trd_1 is in trd_4 and trd_3; mdd_2 in mdd_1; the pools of trd_1 and trd_3 are the same
    # persons (one gap), trd_2's pool is treated under its own 91-day gap
    assert ("TRD|trd_1|trmdd_1", "TRD|trd_4|trmdd_1") in inclusions
    assert ("TRD|trd_1|trmdd_1", "TRD|trd_3|trmdd_1") in inclusions
    assert ("TRD|trd_1|trmdd_2", "TRD|trd_1|trmdd_1") in inclusions
    assert ("pool|trd_3|trmdd_1", "pool|trd_1|trmdd_1") in inclusions
    assert ("pool|trd_1|trmdd_1", "pool|trd_3|trmdd_1") in inclusions
    assert ("pool|trd_2|trmdd_1", "pool|trd_1|trmdd_1") not in inclusions
    # trd_2 (another gap) is not in trd_1, and covering pairs only: no shortcut edge
    assert ("TRD|trd_2|trmdd_1", "TRD|trd_1|trmdd_1") not in inclusions
    assert ("TRD|trd_1|trmdd_1", "TRD|trd_5|trmdd_1") not in inclusions


def test_inclusions_are_checked_on_the_persons():
    persons_df = fake_persons(np.random.default_rng(3))
    holding, broken = verified_inclusions(persons_df, definitional_inclusions())
    assert broken == []
    flag = lambda c: persons_df[c].fillna(False).astype(bool)  # noqa: E731
    for part, whole in holding[:20]:
        group_p, *defs_p = part.split("|")
        group_w, *defs_w = whole.split("|")
        members = {}
        for group, defs in ((group_p, defs_p), (group_w, defs_w)):
            masks = group_masks(flag, *defs)
            members[group, *defs] = (
                masks["TRD"] | masks["trMDD"] if group == "pool" else masks[group]
            )
        assert not (members[group_p, *defs_p] & ~members[group_w, *defs_w]).any()
    # a person breaking an implication (trd_2 without treatment) drops those inclusions
    odd_df = persons_df.copy()
    odd_df.loc[odd_df.index[0], ["mdd_1", "trd_2", "treated_trd_2", "non_mdd"]] = [
        True,
        True,
        False,
        False,
    ]
    _, broken = verified_inclusions(odd_df, definitional_inclusions())
    assert any("trd_2" in part for part, _ in broken)


def test_a_broken_definition_is_reported_and_left_out(caplog):
    persons_df = fake_persons(np.random.default_rng(3))
    persons_df.loc[persons_df.index[0], ["mdd_1", "trd_2", "treated_trd_2", "non_mdd"]] = [
        True, True, False, False,
    ]  # fmt: skip
    outputs = RunOutputs(output_dir="", tables={"persons": persons_df})
    from trd_spark.disclosure import Policy

    with caplog.at_level(logging.WARNING):
        facts = run_facts(outputs, Policy(), ("trd_1", "trmdd_1"), "wgs_european", {}, "wgs")
    assert "DEFINITION_IMPLICATIONS needs updating" in caplog.text
    # that TRD person is in no pool of trd_1 (untreated): those inclusions are left out
    assert ("TRD|trd_2|trmdd_1", "pool|trd_1|trmdd_1") not in facts.subsets
    assert ("pool|trd_2|trmdd_1", "pool|trd_1|trmdd_1") not in facts.subsets
    assert ("TRD|trd_1|trmdd_1", "TRD|trd_4|trmdd_1") in facts.subsets


def test_tables_read_back_into_the_same_structure():
    sizes_df = pd.DataFrame(
        {
            "cohort": ["a", "b", "(none)", "all"],
            "trd_def": "trd_1",
            "trmdd_def": "trmdd_1",
            "n_trd": [576, 948, 16, 1540],
            "n_trmdd": [1200, 800, 0, 2000],
            "n_non_mdd": [5000, 4000, 30, 9030],
        }
    )
    facts = Facts()
    disclosed = disclose({"group_sizes": sizes_df}, facts)
    shown_df = disclosed.published["group_sizes"]
    assert shown_df.loc[2, "n_trd"] == SUPPRESSED and shown_df.loc[2, "n_trmdd"] == "0"
    assert (shown_df["n_trd"] == SUPPRESSED).sum() == 2  # 16 and one more to protect it
    parsed = read_back({"group_sizes": shown_df}, disclosed.policy)["group_sizes"]
    assert parsed.loc[2, "n_trd"] is UNKNOWN and parsed.loc[3, "n_trmdd"] == 2000
    assert audit_tables({"group_sizes": shown_df}, facts) == []
    # the subtraction of the old report: shown cell by cell, the attack finds the 16
    leaky_df = sizes_df.astype({"n_trd": object, "n_trmdd": object, "n_non_mdd": object})
    leaky_df = leaky_df.astype(str)
    leaky_df.loc[2, "n_trd"] = SUPPRESSED
    messages = [f.message() for f in audit_tables({"group_sizes": leaky_df}, facts)]
    assert (
        "group_sizes: (none) trd_1 trmdd_1: n_trd: its exact value can be derived from the "
        "published counts"
    ) in messages
    assert all("(none)" in m for m in messages)  # and its pool (TRD + trMDD), a hidden count


def test_attrition_flow_shows_the_published_counts_with_their_cells():
    attrition_df = pd.DataFrame(
        {
            "cohort": ["a", "a", "a", "b", "b"],
            "step": ["cohort", "missing_sex", "missing_pcs", "cohort", "missing_sex"],
            "reason": ["start", "sex missing", "none", "start", "sex missing"],
        }
    )
    n_persons = ["500", SUPPRESSED, SUPPRESSED, SUPPRESSED, "0"]
    dropped = ["0", SUPPRESSED, "0", "0", SUPPRESSED]
    keys = [(f"n{i}", f"d{i}") for i in range(5)]
    flow = render_attrition_flow(attrition_df, n_persons, dropped, keys)
    counts = [html.unescape(c) for c in re.findall(r'class="count"[^>]*>([^<]*)<', flow)]
    # a: 500, dropped * (no drop line for 0), *, *; b: *, dropped *, 0
    assert counts == ["500", SUPPRESSED, SUPPRESSED, SUPPRESSED, SUPPRESSED, SUPPRESSED, "0"]
    assert 'data-cell="d1"' in flow and 'data-cell="d2"' not in flow
    assert find_unsuppressed_counts(flow, 20) == []


def test_at_risk_labels_are_published_texts():
    at_risk_df = pd.DataFrame(
        {
            "stratum": ["a"] * 8 + ["b"],
            "time": [0.0, 10, 20, 30, 40, 50, 60, 70, 0.0],
            "at_risk": ["500", "400", "350", "300", "250", "200", "150", "100", SUPPRESSED],
        }
    )
    labels = at_risk_labels(at_risk_df, ["a", "b"], most=4)
    assert labels[1] == [(0.0, SUPPRESSED)]
    assert [t for t, _ in labels[0]] == [0.0, 20.0, 50.0, 70.0]
    assert all(text in set(at_risk_df["at_risk"]) for row in labels for _, text in row)


def test_find_unsuppressed_counts_scans_count_cells():
    page = '<td class="count" data-cell="x">25</td><td class="count">*</td><td>7</td>'
    assert find_unsuppressed_counts(page, 20) == []
    leaky = '<td class="count">1,500</td><td class="count" data-cell="y">17</td>'
    assert find_unsuppressed_counts(leaky, 20) == ["17"]


def test_cohort_attrition_rows_on_pcs_are_parts_of_the_members():
    """The qc stage's rows on where members' PCs come from are no exclusions: the table
    declares without a disagreement, and genotyped = members + exclusions still holds."""
    from trd_spark.report.shareable import Facts
    from trd_spark.report.structure import build_ledger

    table_df = pd.DataFrame(
        [("genotyped_array", 16203, 0, "persons genotyped"),
         ("microarray: in_wgs", 9506, 9506, "also genotyped on wgs"),
         ("microarray", 6697, 0, "persons in the cohort"),
         ("microarray: pcs_projected", 6650, 0, "PCs projected onto the platform's own PCA"),
         ("microarray: no_pcs", 47, 0, "no PCs; excluded at analysis")],
        columns=["step", "n_persons", "n_rows_dropped", "reason"],
    )  # fmt: skip
    facts = Facts(discovery="microarray", platforms={"microarray": "array"})
    ledger, placed = build_ledger({"cohort_attrition": table_df}, facts)
    assert ledger.values["C|microarray|pcs|pcs_projected"] == 6650
    assert "C|microarray|excluded|pcs_projected" not in ledger.values
    # the one relation: genotyped on the array = the cohort's members + its one exclusion
    assert ledger.relations == [
        {"C|array|genotyped": 1, "C|microarray|members": -1, "C|microarray|excluded|in_wgs": -1}
    ]
    # every n_persons cell placed, n_rows_dropped only on the exclusion
    assert len(placed["cohort_attrition"]) == len(table_df) + 1
