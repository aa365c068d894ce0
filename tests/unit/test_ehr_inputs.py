"""Bad OMOP inputs: errors that name the table and column, unusable rows counted."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers.phenotype_job import compute_phenotypes
from tests.reference.ehr_histories import (
    CITALOPRAM,
    FLUOXETINE,
    FLUOXETINE_CAP,
    SERTRALINE,
    assemble,
    write_omop,
)
from trd_spark.ehr.codes import read_code_lists
from trd_spark.ehr.definitions import Definitions
from trd_spark.ehr.omop import read_omop
from trd_spark.errors import InputError
from trd_spark.resources import conf_path

CODE_LISTS = str(conf_path("code_lists"))
D = dt.date


def person(pid: int) -> dict[str, Any]:
    return {"person_id": pid, "gender_concept_id": 8532, "year_of_birth": 1970,
            "sex_at_birth_concept_id": None}  # fmt: skip


def small_study() -> dict[str, pd.DataFrame]:
    """Two persons: one with MDD and drugs, one without anything."""
    return assemble(
        [
            {
                "person": [person(1), person(2)],
                "condition_occurrence": [
                    {
                        "person_id": 1,
                        "condition_start_date": D(2015, 1, 1),
                        "condition_source_concept_id": 0,
                        "condition_source_value": "F32.9",
                    },
                ],
                "drug_exposure": [
                    {
                        "person_id": 1,
                        "drug_concept_id": FLUOXETINE,
                        "drug_exposure_start_date": D(2015, 2, 1),
                        "drug_exposure_end_date": None,
                        "days_supply": None,
                    },
                ],
                "procedure_occurrence": [],
                "observation_period": [
                    {
                        "person_id": 1,
                        "observation_period_start_date": D(2010, 1, 1),
                        "observation_period_end_date": D(2020, 1, 1),
                    },
                ],
            }
        ]
    )


@pytest.mark.parametrize("table", ["drug_exposure", "visit_occurrence"])
def test_missing_table_names_it(spark: Any, tmp_path: Path, table: str) -> None:
    tables = small_study()
    del tables[table]
    write_omop(tables, str(tmp_path))
    with pytest.raises(InputError, match=f"OMOP table '{table}' not found"):
        read_omop(spark, str(tmp_path))


def test_missing_column_names_table_and_column(spark: Any, tmp_path: Path) -> None:
    tables = small_study()
    write_omop(tables, str(tmp_path))
    frame = tables["condition_occurrence"].drop(columns=["condition_source_value"])
    os.remove(tmp_path / "condition_occurrence" / "part-0.parquet")
    frame.to_parquet(tmp_path / "condition_occurrence" / "part-0.parquet")
    with pytest.raises(
        InputError, match="'condition_occurrence' has no column 'condition_source_value'"
    ):
        read_omop(spark, str(tmp_path))


def write_csv(tables: dict[str, pd.DataFrame], root: Path, date_format: str) -> None:
    for name, frame in tables.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        out = frame.copy()
        for column in out.columns:
            if column.endswith("_date"):
                out[column] = [
                    v.strftime(date_format) if v is not None else None for v in out[column]
                ]
        out.to_csv(root / name / "part-0.csv", index=False)


def test_csv_with_wrong_date_format_is_an_error_naming_the_column(
    spark: Any, tmp_path: Path
) -> None:
    write_csv(small_study(), tmp_path, "%d/%m/%Y")
    with pytest.raises(
        InputError, match=r"observation_period' column 'observation_period_start_date'.*yyyy-MM-dd"
    ):
        read_omop(spark, str(tmp_path), fmt="csv")


def test_csv_with_its_date_format_given_reads(spark: Any, tmp_path: Path) -> None:
    write_csv(small_study(), tmp_path, "%d/%m/%Y")
    tables = read_omop(spark, str(tmp_path), fmt="csv", date_format="dd/MM/yyyy")
    rows = tables["drug_exposure"].collect()
    assert [(r.person_id, r.drug_exposure_start_date) for r in rows] == [(1, D(2015, 2, 1))]


def run(
    spark: Any, tables: dict[str, pd.DataFrame], root: Path, definitions: Definitions | None = None
) -> Any:
    write_omop(tables, str(root))
    return compute_phenotypes(
        spark,
        read_omop(spark, str(root)),
        read_code_lists(CODE_LISTS),
        definitions or Definitions(),
    )


def test_null_end_dates_and_supply_use_the_default_30_days(spark: Any, tmp_path: Path) -> None:
    tables = small_study()
    starts = [D(2015, 2, 1), D(2015, 5, 1), D(2016, 1, 1)]
    tables["drug_exposure"] = pd.DataFrame(
        [{"person_id": 1, "drug_concept_id": FLUOXETINE, "drug_exposure_start_date": s,
          "drug_exposure_end_date": None, "days_supply": None} for s in starts]
    )  # fmt: skip
    result = run(spark, tables, tmp_path)
    periods = result.periods_df.where("gap_basis = 'end_to_start' and gap_days = 182").toPandas()
    # ends are start + 29; the 2016 start is 216 days after the May end (+29): a new period
    assert sorted(zip(periods.start, periods.end, periods.n_exposures, strict=True)) == [
        (D(2015, 2, 1), D(2015, 5, 30), 2),
        (D(2016, 1, 1), D(2016, 1, 30), 1),
    ]
    persons = result.persons_df.toPandas().set_index("person_id")
    assert bool(persons.loc[1, "treated"]) and not bool(persons.loc[2, "treated"])


def test_switch_date_is_the_third_distinct_ingredient_start(spark: Any, tmp_path: Path) -> None:
    tables = small_study()
    exposures = [  # fluoxetine twice (the capsule is fluoxetine too), then two more ingredients
        (FLUOXETINE, D(2015, 2, 1)), (FLUOXETINE_CAP, D(2015, 3, 1)),
        (CITALOPRAM, D(2015, 4, 1)), (SERTRALINE, D(2015, 6, 1)),
        (FLUOXETINE, D(2017, 1, 1)),  # 580 days later: a period of its own
    ]  # fmt: skip
    tables["drug_exposure"] = pd.DataFrame(
        [{"person_id": 1, "drug_concept_id": c, "drug_exposure_start_date": s,
          "drug_exposure_end_date": None, "days_supply": 30} for c, s in exposures]
    )  # fmt: skip
    result = run(spark, tables, tmp_path)
    periods = result.periods_df.where("gap_basis = 'start_to_start' and gap_days = 182")
    got = sorted(
        (r.start, r.n_exposures, r.n_distinct_ingredients, r.switch_date) for r in periods.collect()
    )
    assert got == [(D(2015, 2, 1), 4, 3, D(2015, 6, 1)), (D(2017, 1, 1), 1, 1, None)]
    persons = result.persons_df.toPandas().set_index("person_id")
    assert persons.loc[1, "trd_1_onset"] == D(2015, 6, 1)


def test_rows_of_unknown_persons_are_dropped_and_counted(spark: Any, tmp_path: Path) -> None:
    tables = small_study()
    extra = tables["condition_occurrence"].assign(person_id=99)
    tables["condition_occurrence"] = pd.concat([tables["condition_occurrence"], extra, extra])
    result = run(spark, tables, tmp_path)
    persons = result.persons_df.toPandas()
    assert sorted(persons.person_id) == [1, 2]
    counted = [a for a in result.attrition if a.reason == "person_id not in person"]
    assert [(a.step, a.n_persons, a.n_rows_dropped) for a in counted] == [
        ("condition_occurrence", 1, 2)
    ]


def test_a_person_listed_twice_counts_each_event_row_once(spark: Any, tmp_path: Path) -> None:
    tables = small_study()
    tables["person"] = pd.DataFrame([person(1), person(1), person(2)])
    bad = tables["condition_occurrence"].assign(condition_start_date=None)
    tables["condition_occurrence"] = pd.concat([tables["condition_occurrence"], bad])
    result = run(spark, tables, tmp_path)
    persons = result.persons_df.toPandas()
    assert sorted(persons.person_id) == [1, 2]
    assert persons.set_index("person_id").loc[1, "n_mdd_dates"] == 1
    counted = [(a.step, a.n_persons, a.n_rows_dropped, a.reason) for a in result.attrition
               if a.step == "condition_occurrence"]  # fmt: skip
    assert counted == [
        ("condition_occurrence", 1, 1, "condition_start_date missing or unparseable")
    ]


def test_unknown_persons_leave_no_periods_and_do_not_set_the_cutoff(
    spark: Any, tmp_path: Path
) -> None:
    tables = small_study()
    drugs = tables["drug_exposure"]
    tables["drug_exposure"] = pd.concat([drugs, drugs.assign(person_id=99)])
    observation = tables["observation_period"]
    later = observation.assign(person_id=99, observation_period_end_date=D(2022, 6, 1))
    tables["observation_period"] = pd.concat([observation, later])
    result = run(spark, tables, tmp_path)
    assert result.cutoff_date == D(2020, 1, 1)  # person 1's end, not the unknown person's
    periods = result.periods_df.toPandas()
    assert set(periods.person_id) == {1}
    assert sorted(result.persons_df.toPandas().person_id) == [1, 2]
    counted = {(a.step, a.n_persons, a.n_rows_dropped) for a in result.attrition
               if a.reason == "person_id not in person"}  # fmt: skip
    assert counted == {("drug_exposure", 1, 1), ("observation_period", 1, 1)}


def test_empty_condition_table_gives_no_mdd(spark: Any, tmp_path: Path) -> None:
    tables = small_study()
    tables["condition_occurrence"] = tables["condition_occurrence"].iloc[0:0]
    persons = run(spark, tables, tmp_path).persons_df.toPandas().sort_values("person_id")
    assert not persons.mdd_1.any() and not persons.trd_1.any()
    assert persons.n_mdd_dates.tolist() == [0, 0]
    # person 2 has no EHR record at all: no MDD, and no control either
    assert persons.has_ehr.tolist() == [True, False]
    assert persons.non_mdd.tolist() == [True, False]


def test_ehr_only_keeps_rows_from_ehr_sites_and_counts_the_rest(spark: Any, tmp_path: Path) -> None:
    from trd_spark.ehr.omop import keep_ehr_rows, read_ehr_source_ids

    tables = small_study()
    drugs = tables["drug_exposure"]
    tables["drug_exposure"] = pd.concat([drugs, drugs, drugs], ignore_index=True)
    write_omop(tables, str(tmp_path))
    # drug_exposure_id is optional in our writer; add it with the All of Us _ext table
    frame = tables["drug_exposure"].assign(
        drug_exposure_end_date=pd.to_datetime(["2015-03-01"] * 3).date,
        drug_exposure_id=[10, 11, 12],
    )
    frame.to_parquet(tmp_path / "drug_exposure" / "part-0.parquet")
    (tmp_path / "drug_exposure_ext").mkdir()
    pd.DataFrame(
        {"drug_exposure_id": [10, 11, 12], "src_id": ["EHR site 123", "PPI/PM", "ehr site 9"]}
    ).to_parquet(tmp_path / "drug_exposure_ext" / "part-0.parquet")
    table_df = read_omop(spark, str(tmp_path))["drug_exposure"]
    ids_df = read_ehr_source_ids(spark, str(tmp_path), "drug_exposure", "parquet")
    kept_df, n_dropped = keep_ehr_rows(table_df, ids_df, "drug_exposure")
    assert sorted(r.drug_exposure_id for r in kept_df.collect()) == [10, 12]
    assert n_dropped == 1


def visit(pid: int, start: dt.date | None, end: dt.date | None, vid: int) -> dict[str, Any]:
    return {"person_id": pid, "visit_occurrence_id": vid, "visit_concept_id": 9202,
            "visit_start_date": start, "visit_end_date": end}  # fmt: skip


def test_visit_occurrence_without_start_date_names_the_column(spark: Any, tmp_path: Path) -> None:
    tables = small_study()
    write_omop(tables, str(tmp_path))
    frame = pd.DataFrame({"person_id": [1], "visit_occurrence_id": [5]})
    frame.to_parquet(tmp_path / "visit_occurrence" / "part-0.parquet")
    with pytest.raises(InputError, match="'visit_occurrence' has no column 'visit_start_date'"):
        read_omop(spark, str(tmp_path))


def test_unusable_visits_are_counted_by_reason(spark: Any, tmp_path: Path) -> None:
    tables = small_study()
    tables["visit_occurrence"] = pd.DataFrame(
        [
            visit(1, D(2015, 1, 1), D(2015, 1, 1), 1),
            visit(1, D(2015, 1, 5), D(2015, 1, 2), 2),  # ends before it starts
            visit(2, None, D(2015, 1, 2), 3),
            visit(2, D(1850, 1, 1), None, 4),
            visit(99, D(2015, 1, 1), D(2015, 1, 1), 5),
        ]
    )
    result = run(spark, tables, tmp_path, Definitions(latest_date=D(2024, 1, 1)))
    counted = {(a.reason, a.n_persons, a.n_rows_dropped) for a in result.attrition
               if a.step == "visit_occurrence"}  # fmt: skip
    assert counted == {
        ("person_id not in person", 1, 1),
        ("visit ends before it starts", 1, 1),
        ("visit_start_date missing or unparseable", 1, 1),
        ("visit_start_date implausible (before 1900-01-01 or after 2024-01-01)", 1, 1),
    }


def test_implausible_dates_and_birth_years_are_counted_and_not_used(
    spark: Any, tmp_path: Path
) -> None:
    tables = small_study()
    tables["person"].loc[1, "year_of_birth"] = 1850
    mdd = tables["condition_occurrence"].iloc[0]
    tables["condition_occurrence"] = pd.DataFrame([mdd, mdd.copy(), mdd.copy()]).assign(
        condition_start_date=[D(2015, 1, 1), D(1899, 12, 31), D(2999, 12, 31)]
    )
    drug = tables["drug_exposure"].iloc[0]
    tables["drug_exposure"] = pd.DataFrame([drug, drug.copy()]).assign(
        drug_exposure_start_date=[D(2015, 2, 1), D(1800, 1, 1)]
    )
    period = tables["observation_period"].iloc[0]
    tables["observation_period"] = pd.DataFrame([period, period.copy()]).assign(
        observation_period_end_date=[D(2020, 1, 1), D(2999, 12, 31)]
    )
    result = run(spark, tables, tmp_path, Definitions(latest_date=D(2024, 1, 1)))
    after = "(before 1900-01-01 or after 2024-01-01)"
    counted = {(a.step, a.reason, a.n_persons, a.n_rows_dropped) for a in result.attrition}
    assert {
        ("condition_occurrence", f"condition_start_date implausible {after}", 1, 2),
        ("drug_exposure", f"drug_exposure_start_date implausible {after}", 1, 1),
        ("observation_period", f"observation_period_end_date implausible {after}", 1, 1),
        ("person", "kept: year_of_birth implausible (before 1900 or after 2024); set missing "
         "(1 rows)", 1, 0),
    } <= counted  # fmt: skip
    # the 2999 placeholder does not become the cutoff; the bad birth year becomes missing
    assert result.cutoff_date == D(2020, 1, 1)
    persons = result.persons_df.toPandas().set_index("person_id")
    assert persons.loc[1, "n_mdd_dates"] == 1
    assert persons.loc[1, "end_of_observation"] == D(2020, 1, 1)
    assert pd.isna(persons.loc[2, "year_of_birth"]) and pd.isna(persons.loc[2, "age"])
    assert persons.loc[1, "year_of_birth"] == 1970


def test_plausible_dates_end_today_by_default() -> None:
    from trd_spark.ehr.events import PlausibleDates

    assert PlausibleDates().last == dt.datetime.now(dt.UTC).date()
    assert PlausibleDates(latest=D(2024, 1, 1)).last == D(2024, 1, 1)


def test_ingredient_map_without_listed_ingredients_is_empty(spark: Any) -> None:
    from trd_spark.ehr.codes import ingredient_map_df, ingredient_pairs

    drugs = read_code_lists(CODE_LISTS).drugs.iloc[0:0]
    ancestors = spark.createDataFrame(
        [(1, 2)], "ancestor_concept_id long, descendant_concept_id long"
    )
    map_df = ingredient_map_df(spark, ingredient_pairs(drugs, ancestors))
    assert map_df.count() == 0
    assert map_df.columns == ["drug_concept_id", "ingredient_id", "group", "form_reason"]
