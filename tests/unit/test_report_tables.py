"""Report tables checked against independent computations (DuckDB SQL, plain numpy)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.data.report.fake_run import GROUP_SIZES, fake_persons, fake_sensitivity
from trd_spark.report.display import (
    flatten_summary,
    format_table1,
    format_table2,
    format_time_to_trd,
    qc_summary_table,
)
from trd_spark.report.select import comparison_group
from trd_spark.report.select import table1 as build_table1
from trd_spark.study import mdd_definition


@pytest.fixture(scope="module")
def persons_df() -> pd.DataFrame:
    return fake_persons(np.random.default_rng(5))


def sql_groups(persons_df: pd.DataFrame, trd: str, mdd: str) -> pd.DataFrame:
    """The groups of docs/phenotypes.md written as SQL, independently of the code under test."""
    return duckdb.sql(
        f"""
        SELECT person_id,
               CASE WHEN {mdd} AND {trd} THEN 'TRD'
                    WHEN {mdd} AND treated AND NOT {trd} THEN 'trMDD'
                    WHEN non_mdd THEN 'non-MDD' END AS grp
        FROM persons_df ORDER BY person_id
        """
    ).df()


@pytest.mark.parametrize(("trd", "trmdd"), [("trd_1", "trmdd_1"), ("trd_4", "trmdd_2")])
def test_comparison_group_matches_sql(persons_df, trd, trmdd):
    expected = sql_groups(persons_df, trd, mdd_definition(trmdd))
    got = persons_df.assign(grp=comparison_group(persons_df, trd, trmdd)).sort_values("person_id")
    assert got["grp"].fillna("none").tolist() == expected["grp"].fillna("none").tolist()


def test_table1_matches_sql(persons_df):
    table1_df = build_table1(persons_df, "trd_1", "trmdd_1")
    groups_df = sql_groups(persons_df, "trd_1", "mdd_1")  # noqa: F841 (read by DuckDB by name)
    expected = duckdb.sql(
        """
        SELECT p.cohort, g.grp AS "group", count(*) AS n,
               sum(CASE WHEN p.sex = 'female' THEN 1 ELSE 0 END) AS n_female,
               quantile_cont(p.age, 0.5) AS med, quantile_cont(p.age, 0.25) AS q1,
               quantile_cont(p.age, 0.75) AS q3
        FROM persons_df p JOIN groups_df g USING (person_id)
        WHERE p.cohort IS NOT NULL AND g.grp IS NOT NULL
        GROUP BY 1, 2 ORDER BY 1, 2
        """
    ).df()
    got = table1_df.sort_values(["cohort", "group"]).reset_index(drop=True)
    assert got["n"].tolist() == expected["n"].tolist()
    assert got["n_female"].tolist() == expected["n_female"].astype(int).tolist()
    np.testing.assert_allclose(got["age_median"], expected["med"])
    np.testing.assert_allclose(got["age_q1"], expected["q1"])
    np.testing.assert_allclose(got["age_q3"], expected["q3"])
    np.testing.assert_allclose(got["pct_female"], 100 * expected["n_female"] / expected["n"])


def test_table1_group_sizes_are_the_planted_ones(persons_df):
    table1_df = build_table1(persons_df, "trd_1", "trmdd_1").set_index(["cohort", "group"])
    for cohort, (n_non, n_tr, n_trd, _) in GROUP_SIZES.items():
        assert table1_df.loc[(cohort, "non-MDD"), "n"] == n_non
        assert table1_df.loc[(cohort, "trMDD"), "n"] == n_tr
        assert table1_df.loc[(cohort, "TRD"), "n"] == n_trd
    # persons without a cohort (not genotyped) are not in Table 1
    assert set(table1_df.index.get_level_values("cohort")) == set(GROUP_SIZES)


def test_format_table1_masks_small_group_and_its_summaries(persons_df):
    shown_df = format_table1(build_table1(persons_df, "trd_1", "trmdd_1"), 20, True)
    small = shown_df[(shown_df["Cohort"] == "microarray") & (shown_df["Group"] == "TRD")].iloc[0]
    assert small["n"] == "<20"
    assert small["Female n"] in ("<20", "-")  # masked, or withheld as its complement is small
    assert small["Female %"] == "-"
    assert small["Age median [IQR]"] == "-"
    big = shown_df[(shown_df["Cohort"] == "wgs_european") & (shown_df["Group"] == "trMDD")].iloc[0]
    assert big["n"] == "200"
    assert big["Age median [IQR]"] != "-"


def test_format_table1_without_suppression_shows_exact_counts(persons_df):
    shown_df = format_table1(build_table1(persons_df, "trd_1", "trmdd_1"), 20, False)
    small = shown_df[(shown_df["Cohort"] == "microarray") & (shown_df["Group"] == "TRD")].iloc[0]
    assert small["n"] == "12"


def test_format_table2_masks_participant_counts_only():
    sensitivity_df = fake_sensitivity(np.random.default_rng(2))
    shown_df = format_table2(sensitivity_df, 20, True)
    assert len(shown_df) == 15
    row = shown_df[
        (shown_df["TRD definition"] == "trd_2") & (shown_df["trMDD definition"] == "trmdd_3")
    ]
    assert row["n TRD"].item() == "<20"
    # numbers of significant PGS are not participant counts: shown exactly
    expected = sensitivity_df.sort_values(["trd_def", "trmdd_def"])["n_significant"]
    assert shown_df["Significant PGS"].tolist() == [str(v) for v in expected]


def test_flatten_summary_joins_nested_keys():
    summary = {"wgs": {"removed": {"call_rate": 1200, "non_snv": 3}, "kept": 10}, "note": "x"}
    flat_df = flatten_summary(summary)
    assert flat_df.to_dict("records") == [
        {"item": "wgs / removed / call_rate", "value": "1,200"},
        {"item": "wgs / removed / non_snv", "value": "3"},
        {"item": "wgs / kept", "value": "10"},
        {"item": "note", "value": "x"},
    ]


def test_format_table1_withholds_a_female_count_whose_complement_is_small():
    table1_df = pd.DataFrame(
        {
            "cohort": ["c", "c"],
            "group": ["TRD", "trMDD"],
            "n": [45, 45],
            "n_female": [30, 20],
            "pct_female": [66.7, 44.4],
            "age_median": [50.0, 50.0],
            "age_q1": [40.0, 40.0],
            "age_q3": [60.0, 60.0],
        }
    )
    shown_df = format_table1(table1_df, 20, True)
    # 45 - 30 = 15 persons not female: a small count a reader could derive
    assert shown_df.loc[0, ["n", "Female n", "Female %"]].tolist() == ["45", "-", "-"]
    assert shown_df.loc[1, ["n", "Female n", "Female %"]].tolist() == ["45", "<20", "-"]
    assert format_table1(table1_df, 20, False).loc[0, "Female n"] == "30"


def test_format_time_to_trd_withholds_means_over_few_events():
    time_df = pd.DataFrame(
        {
            "cohort": ["wgs", "microarray", "empty"],
            "n_events": [90, 14, 0],
            "mean_days": [944.4, 700.0, np.nan],
            "ci_low": [880.2, 500.0, np.nan],
            "ci_high": [1010.7, 900.0, np.nan],
        }
    )
    shown_df = format_time_to_trd(time_df, 20, True)
    assert shown_df.to_dict("records") == [
        {"Cohort": "wgs", "Events": "90", "Mean days [95% CI]": "944 [880-1011]"},
        {"Cohort": "microarray", "Events": "<20", "Mean days [95% CI]": "-"},
        {"Cohort": "empty", "Events": "0", "Mean days [95% CI]": "-"},
    ]
    assert format_time_to_trd(time_df, 20, False).loc[1, "Mean days [95% CI]"] == "700 [500-900]"


def test_qc_summary_table_has_a_column_per_platform():
    summary = {
        "rules": ["multiallelic", "call_rate"],
        "platforms": {
            "wgs": {"n_input": 2865, "multiallelic": 25, "call_rate": 1200, "n_kept": 1640},
            "array": {"n_input": 1940, "multiallelic": 14, "call_rate": 12, "n_kept": 1914},
        },
    }
    table_df = qc_summary_table(summary)
    assert table_df.to_dict("list") == {
        "step": ["n input", "multiallelic", "call rate", "n kept"],
        "wgs": ["2,865", "25", "1,200", "1,640"],
        "array": ["1,940", "14", "12", "1,914"],
    }
    # another layout falls back to the flattened item / value table
    assert qc_summary_table({"kept": 5}).columns.tolist() == ["item", "value"]
