"""Report tables checked against independent computations (DuckDB SQL, plain numpy), and
published through disclosure control (counts of 1..20 and what rests on them withheld)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.data.report.fake_run import GROUP_SIZES, fake_persons, fake_sensitivity
from trd_spark.disclosure import SUPPRESSED, WITHHELD
from trd_spark.report.disclose import disclose
from trd_spark.report.display import flatten_summary, qc_summary_table
from trd_spark.report.select import comparison_group
from trd_spark.report.select import table1 as build_table1
from trd_spark.report.shareable import (
    Facts,
    characteristics_numbers,
    table1_numbers,
    table2_numbers,
    time_to_trd_numbers,
)
from trd_spark.study import mdd_definition


def published(name: str, table_df: pd.DataFrame, **facts: object) -> pd.DataFrame:
    """One shareable table through disclosure control on its own."""
    return disclose({name: table_df}, Facts(**facts)).published[name]  # type: ignore[arg-type]


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


def test_table1_masks_small_group_and_its_summaries(persons_df):
    shown_df = published("table1", table1_numbers(persons_df, "trd_1", "trmdd_1", []))
    small = shown_df[(shown_df["Cohort"] == "microarray") & (shown_df["Group"] == "TRD")].iloc[0]
    assert small["n"] == SUPPRESSED
    assert small["Female n"] == SUPPRESSED  # 1..12 women
    assert small["Female %"] == WITHHELD
    assert small["Age median [IQR]"] == WITHHELD
    big = shown_df[(shown_df["Cohort"] == "wgs_european") & (shown_df["Group"] == "trMDD")].iloc[0]
    assert big["n"] == "200"
    assert big["Age median [IQR]"] != WITHHELD
    assert float(big["Female %"]) == pytest.approx(100 * int(big["Female n"]) / 200, abs=0.05)


def test_table1_without_suppression_shows_exact_counts(persons_df):
    shown_df = published(
        "table1", table1_numbers(persons_df, "trd_1", "trmdd_1", []), enabled=False
    )
    small = shown_df[(shown_df["Cohort"] == "microarray") & (shown_df["Group"] == "TRD")].iloc[0]
    assert small["n"] == "12"


def test_table2_masks_participant_counts_only(persons_df):
    sensitivity_df = fake_sensitivity(np.random.default_rng(2), persons_df)
    shown_df = published(
        "table2_sensitivity", table2_numbers(sensitivity_df), discovery="wgs_european"
    )
    assert len(shown_df) == 15
    row = shown_df[
        (shown_df["TRD definition"] == "trd_2") & (shown_df["trMDD definition"] == "trmdd_3")
    ]
    assert row["n TRD"].item() == SUPPRESSED
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


def test_table1_withholds_a_female_count_whose_complement_is_small():
    table1_df = pd.DataFrame(
        {
            "Cohort": ["c", "c"],
            "Group": ["TRD", "trMDD"],
            "n": [45, 45],
            "Female n": [30, 20],
            "Female %": [66.7, 44.4],
            "Age median [IQR]": ["50 [40-60]", "50 [40-60]"],
        }
    ).astype({"n": "Int64", "Female n": "Int64"})
    shown_df = published("table1", table1_df)
    # 45 - 30 = 15 persons not female: a small count a reader could derive
    assert shown_df.loc[0, ["n", "Female n", "Female %"]].tolist() == ["45", SUPPRESSED, WITHHELD]
    assert shown_df.loc[1, ["n", "Female n", "Female %"]].tolist() == ["45", SUPPRESSED, WITHHELD]
    assert shown_df.loc[0, "Age median [IQR]"] == "50 [40-60]"
    assert published("table1", table1_df, enabled=False).loc[0, "Female n"] == "30"


def test_time_to_trd_withholds_means_over_few_events():
    time_df = pd.DataFrame(
        {
            "cohort": ["wgs", "microarray", "empty"],
            "n_events": [90, 14, 0],
            "mean_days": [944.4, 700.0, np.nan],
            "ci_low": [880.2, 500.0, np.nan],
            "ci_high": [1010.7, 900.0, np.nan],
        }
    )
    shown_df = published("time_to_trd", time_to_trd_numbers(time_df))
    assert shown_df.to_dict("records") == [
        {"Cohort": "wgs", "Events": "90", "Mean days [95% CI]": "944 [880-1011]"},
        {"Cohort": "microarray", "Events": SUPPRESSED, "Mean days [95% CI]": WITHHELD},
        {"Cohort": "empty", "Events": "0", "Mean days [95% CI]": ""},
    ]
    shown_off = published("time_to_trd", time_to_trd_numbers(time_df), enabled=False)
    assert shown_off.loc[1, "Mean days [95% CI]"] == "700 [500-900]"


def test_characteristics_count_every_level_of_every_group(persons_df):
    table_df = characteristics_numbers(persons_df, "trd_1", "trmdd_1", ["wgs_european"])
    groups_df = sql_groups(persons_df, "trd_1", "mdd_1")  # noqa: F841 (read by DuckDB by name)
    expected = duckdb.sql(
        """
        SELECT p.cohort, g.grp, coalesce(p.race, 'unknown') AS level, count(*) AS n
        FROM persons_df p JOIN groups_df g USING (person_id)
        WHERE p.cohort IS NOT NULL AND g.grp IS NOT NULL GROUP BY 1, 2, 3
        """
    ).df()
    race_df = table_df[table_df["Characteristic"] == "Race"]
    got = {(r.Cohort, r.Group, r.Level): r.n for r in race_df.itertuples()}
    for row in expected.itertuples():
        assert got[(row.cohort, row.grp, row.level)] == row.n
    # every level listed for every group (zeros included), levels add up to the group
    assert len(race_df) == 9 * race_df["Level"].nunique()
    sums = table_df.groupby(["Cohort", "Group", "Characteristic"])["n"].sum()
    sizes = table_df.groupby(["Cohort", "Group", "Characteristic"])["Group n"].first()
    assert (sums == sizes).all()
    decades = table_df[table_df["Characteristic"] == "Year of birth"]["Level"].unique()
    assert {"1940s", "1990s", "unknown"} <= set(decades)
    assert table_df["Cohort"].iloc[0] == "wgs_european"


def test_characteristics_are_left_out_when_the_persons_table_lacks_them(persons_df):
    table_df = characteristics_numbers(
        persons_df.drop(columns=["race", "ethnicity"]), "trd_1", "trmdd_1", []
    )
    assert set(table_df["Characteristic"]) == {"Year of birth"}


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
