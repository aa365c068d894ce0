"""Comparison groups (docs/phenotypes.md, Groups) and the group-size table."""

from __future__ import annotations

import itertools
from typing import Any

import pandas as pd
import pytest

from trd_spark.ehr.definitions import comparison_groups_pandas, group_sizes_pandas
from trd_spark.study import TRD_DEFS, TRMDD_DEFS, treated_column

# the gap each TRD definition's treated flag follows (docs/phenotypes.md, "Treated")
GAP_OF = {"trd_1": 182, "trd_2": 91, "trd_3": 182, "trd_4": 182, "trd_5": 182}


def persons_table() -> pd.DataFrame:
    """Every combination of the flags the groups depend on (non_mdd excludes any mdd_j).

    Treated under the 182-day gap and under the 91-day gap vary independently, so a
    comparison that took the wrong one would place someone in the wrong group.
    """
    rows = []
    combos = itertools.product([0, 1, 2, 3], [False, True], [False, True], [False, True])
    for pid, (mdd, treated_182, treated_91, trd) in enumerate(combos, start=1):
        row: dict[str, Any] = {"person_id": pid, "cohort": "a" if pid % 2 else None}
        row["non_mdd"] = mdd == 0 and pid % 3 != 0  # some persons without MDD lack EHR
        # mdd level k: mdd_1 and mdd_3 from level 1, mdd_2 from level 2, only mdd_3 at level 3
        row["mdd_1"] = mdd in (1, 2)
        row["mdd_2"] = mdd == 2
        row["mdd_3"] = mdd in (1, 2, 3)
        row["treated"] = treated_182
        row["treated_trd_1"] = row["treated_trd_3"] = treated_182
        row["treated_trd_2"] = treated_91
        for name in TRD_DEFS:
            row[name] = trd and mdd > 0 and name != "trd_2"
        rows.append(row)
    return pd.DataFrame(rows)


def expected_group(row: pd.Series, trd_def: str, trmdd_def: str) -> str | None:
    """The rule of docs/phenotypes.md, written out case by case."""
    mdd = bool(row["mdd_" + trmdd_def[-1]])
    treated = row["treated_trd_2"] if GAP_OF[trd_def] == 91 else row["treated"]
    if mdd and row[trd_def]:
        return "TRD"
    if mdd and treated and not row[trd_def]:
        return "trMDD"
    if row["non_mdd"]:
        return "non-MDD"
    return None


@pytest.mark.parametrize(("trd_def", "trmdd_def"), list(itertools.product(TRD_DEFS, TRMDD_DEFS)))
def test_pandas_groups_follow_the_rule(trd_def: str, trmdd_def: str) -> None:
    persons = persons_table()
    got = comparison_groups_pandas(persons, trd_def, trmdd_def).tolist()
    want = [expected_group(row, trd_def, trmdd_def) for _, row in persons.iterrows()]
    assert got == want


def test_group_sizes_count_the_rule_per_cohort_and_all() -> None:
    persons = persons_table()
    sizes = group_sizes_pandas(persons).set_index(["cohort", "trd_def", "trmdd_def"])
    assert len(sizes) == 15 * 3  # cohorts "a", "(none)" and "all"
    cohorts = persons["cohort"].fillna("(none)")
    for trd_def, trmdd_def in itertools.product(TRD_DEFS, TRMDD_DEFS):
        labels = pd.Series([expected_group(r, trd_def, trmdd_def) for _, r in persons.iterrows()])
        for cohort in ("a", "(none)", "all"):
            mine = labels if cohort == "all" else labels[(cohorts == cohort).to_numpy()]
            assert tuple(sizes.loc[(cohort, trd_def, trmdd_def)]) == (
                (mine == "TRD").sum(),
                (mine == "trMDD").sum(),
                (mine == "non-MDD").sum(),
            )


def test_unknown_definition_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown TRD definition 'trd_9'"):
        comparison_groups_pandas(persons_table(), "trd_9", "trmdd_1")


def test_treated_follows_the_switching_definition_of_the_comparison() -> None:
    assert [treated_column(d) for d in TRD_DEFS] == [
        "treated_trd_1", "treated_trd_2", "treated_trd_3", "treated_trd_1", "treated_trd_1",
    ]  # fmt: skip


def test_pools_differ_between_trd_1_and_trd_2() -> None:
    sizes = group_sizes_pandas(persons_table()).set_index(["cohort", "trd_def", "trmdd_def"])
    pool = sizes["n_trd"] + sizes["n_trmdd"]
    assert pool.loc[("all", "trd_1", "trmdd_1")] != pool.loc[("all", "trd_2", "trmdd_1")]
