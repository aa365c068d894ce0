"""Analysis tables: exclusions counted step by step, PGS standardized, groups as docs/phenotypes.md."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trd_spark.errors import InputError
from trd_spark.stats.analysis import (
    build_analysis_table,
    comparison_groups,
    contrast_outcome,
    group_columns,
)
from trd_spark.study import treated_column

PCS = [f"pc{i}" for i in range(1, 4)]


def small_inputs(n: int = 12) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Persons 1..n in cohort A; person 13 in cohort B.  Planted gaps:
    2 not scored (ids 1, 2), 1 without EHR (3), 1 without PCs (4), 2 without sex (5, 6),
    1 without age (7)."""
    rng = np.random.default_rng(0)
    ids = np.arange(1, n + 2)
    cohorts_df = pd.DataFrame(
        {"person_id": ids, "platform": "wgs", "cohort": ["A"] * n + ["B"]}
        | {pc: rng.normal(size=n + 1) for pc in PCS}
    )
    cohorts_df.loc[cohorts_df.person_id == 4, "pc2"] = np.nan
    pgs_df = pd.DataFrame(
        {"person_id": ids[2:], "t1": rng.normal(size=n - 1), "t2": rng.normal(size=n - 1)}
    )
    persons_df = pd.DataFrame(
        {
            "person_id": np.delete(ids, 2),
            "cohort": "A",
            "sex": "female",
            "age": rng.integers(20, 80, n).astype(float),
        }
        | {c: rng.random(n) < 0.5 for c in group_columns()}
    )
    persons_df.loc[persons_df.person_id == 5, "sex"] = None
    persons_df.loc[persons_df.person_id == 6, "sex"] = "other"
    persons_df.loc[persons_df.person_id == 7, "age"] = np.nan
    persons_df.loc[persons_df.person_id == 8, "sex"] = "male"
    return cohorts_df, pgs_df, persons_df


def test_exclusions_are_counted_step_by_step() -> None:
    cohorts_df, pgs_df, persons_df = small_inputs()
    table = build_analysis_table("A", cohorts_df, pgs_df, persons_df, ["t1", "t2", "t9"], 3)
    steps = pd.DataFrame(table.attrition).set_index("step")
    assert steps.n_rows_dropped.to_dict() == {
        "cohort": 0, "no_genotypes": 2, "no_ehr": 1, "missing_pcs": 1, "missing_sex": 2,
        "missing_age": 1,
    }  # fmt: skip
    assert steps.n_persons.tolist() == [12, 10, 9, 8, 6, 5]
    assert sorted(table.data_df.person_id) == [8, 9, 10, 11, 12]
    assert table.traits == ["t1", "t2"]  # t9 has no PGS column: not analysed
    assert table.data_df.set_index("person_id").sex.to_dict() == {
        8: 1.0,
        9: 0.0,
        10: 0.0,
        11: 0.0,
        12: 0.0,
    }


def test_persons_without_any_ehr_record_are_counted_and_left_out() -> None:
    cohorts_df, pgs_df, persons_df = small_inputs()
    persons_df["has_ehr"] = ~persons_df.person_id.isin([9, 10])
    table = build_analysis_table("A", cohorts_df, pgs_df, persons_df, ["t1", "t2"], 3)
    steps = pd.DataFrame(table.attrition).set_index("step")
    assert steps.loc["no_ehr_records", "n_rows_dropped"] == 2
    assert steps.loc["no_ehr_records", "n_persons"] == 7
    assert sorted(table.data_df.person_id) == [8, 11, 12]


def test_pgs_standardized_within_the_analysis_sample() -> None:
    cohorts_df, pgs_df, persons_df = small_inputs()
    table = build_analysis_table("A", cohorts_df, pgs_df, persons_df, ["t1", "t2"], 3)
    raw = pgs_df.set_index("person_id").loc[table.data_df.person_id, "t1"].to_numpy()
    expected = (raw - raw.mean()) / np.std(raw, ddof=1)
    np.testing.assert_allclose(table.data_df.t1, expected, rtol=1e-12)


def test_constant_pgs_is_listed_and_not_standardized() -> None:
    cohorts_df, pgs_df, persons_df = small_inputs()
    pgs_df["t2"] = 0.25
    table = build_analysis_table("A", cohorts_df, pgs_df, persons_df, ["t1", "t2"], 3)
    assert table.constant_traits == ["t2"]
    assert table.data_df.t2.isna().all()


@pytest.mark.parametrize("column", ["age", "sex", "pc3"])
def test_all_missing_covariate_is_an_input_error(column: str) -> None:
    cohorts_df, pgs_df, persons_df = small_inputs()
    if column == "pc3":
        cohorts_df[column] = np.nan
    else:
        persons_df[column] = None
    with pytest.raises(InputError, match=f"column {column} is missing for all"):
        build_analysis_table("A", cohorts_df, pgs_df, persons_df, ["t1"], 3)


def test_missing_column_names_the_file() -> None:
    cohorts_df, pgs_df, persons_df = small_inputs()
    with pytest.raises(InputError, match=r"phenotypes/persons.parquet: column\(s\) trd_4"):
        build_analysis_table("A", cohorts_df, pgs_df, persons_df.drop(columns="trd_4"), ["t1"], 3)


def test_groups_follow_the_definitions() -> None:
    frame = pd.DataFrame(
        {  # persons: TRD, trMDD, untreated MDD, non-MDD, MDD2-only TRD
            "mdd_1": [True, True, True, False, False],
            "mdd_2": [True, True, False, False, True],
            treated_column("trd_1"): [True, True, False, False, True],
            "trd_1": [True, False, False, False, True],
            "non_mdd": [False, False, False, True, False],
        }
    )
    groups = comparison_groups(frame, "trd_1", "trmdd_1")
    assert groups["TRD"].tolist() == [True, False, False, False, False]
    assert groups["trMDD"].tolist() == [False, True, False, False, False]
    assert groups["nonMDD"].tolist() == [False, False, False, True, False]
    rows, y = contrast_outcome(groups, "TRD_vs_trMDD")
    assert rows.tolist() == [True, True, False, False, False]
    assert y.tolist() == [1.0, 0.0]
    groups2 = comparison_groups(frame, "trd_1", "trmdd_2")
    assert groups2["TRD"].tolist() == [True, False, False, False, True]
    with pytest.raises(InputError, match="unknown contrast"):
        contrast_outcome(groups, "MDD_vs_all")


def test_analysis_follows_the_group_rule_of_study(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a treated column per TRD definition's gap, the analysis reads and uses those
    columns with no rule of its own (study.group_masks decides)."""
    from trd_spark import study

    def per_gap(trd_def: str) -> str:
        return f"treated_{study.SWITCHING_DEFAULTS[study.switching_root(trd_def)][0]}"

    monkeypatch.setattr(study, "treated_column", per_gap)
    assert {"treated_182", "treated_91"} <= set(group_columns())
    assert "treated" not in group_columns()
    frame = pd.DataFrame(
        {  # persons: treated under the 182-day gap only, under both, under neither
            "mdd_1": [True, True, True], "trd_1": [False] * 3, "trd_2": [False] * 3,
            "treated_182": [True, True, False], "treated_91": [False, True, False],
            "non_mdd": [False] * 3,
        }
    )  # fmt: skip
    assert comparison_groups(frame, "trd_1", "trmdd_1")["trMDD"].tolist() == [True, True, False]
    assert comparison_groups(frame, "trd_2", "trmdd_1")["trMDD"].tolist() == [False, True, False]
    cohorts_df, pgs_df, persons_df = small_inputs()  # written with the per-gap columns
    with pytest.raises(InputError, match="treated_91"):
        build_analysis_table("A", cohorts_df, pgs_df, persons_df.drop(columns="treated_91"),
                             ["t1"], 3)  # fmt: skip
    table = build_analysis_table("A", cohorts_df, pgs_df, persons_df, ["t1"], 3)
    assert table.data_df.treated_91.dtype == bool
