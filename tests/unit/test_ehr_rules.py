"""The rules of issue 18 on hand-made OMOP rows, through the Spark phenotype job: controls
need an EHR record, treated follows the comparison's gap, depression NOS, schizoaffective
and manic codes, SNOMED source concepts, non-systemic antidepressant rows, race and
ethnicity (docs/phenotypes.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.helpers.phenotype_job import compute_phenotypes
from tests.reference.ehr_histories import (
    BUPROPION,
    CITALOPRAM,
    DOXEPIN,
    DOXEPIN_CREAM,
    OPHTHALMIC,
    ORAL,
    S_DEPRESSION,
    S_MDD,
    S_MDD_SOURCE,
    S_MIXED,
    SELEGILINE,
    SELEGILINE_CAP,
    SELEGILINE_PATCH,
    SERTRALINE,
    TOPICAL,
    assemble,
    write_omop,
)
from trd_spark.ehr.codes import read_code_lists
from trd_spark.ehr.definitions import Definitions
from trd_spark.ehr.omop import read_omop
from trd_spark.resources import conf_path

CODE_LISTS = str(conf_path("code_lists"))
D0 = dt.date(2015, 1, 1)


def day(offset: int) -> dt.date:
    return D0 + dt.timedelta(days=offset)


def person(pid: int, race: int | None = 0, ethnicity: int | None = 0) -> dict[str, Any]:
    return {"person_id": pid, "gender_concept_id": 8532, "year_of_birth": 1970,
            "sex_at_birth_concept_id": None, "race_concept_id": race,
            "ethnicity_concept_id": ethnicity}  # fmt: skip


def dx(pid: int, offset: int, source_id: int | None, value: str | None) -> dict[str, Any]:
    return {"person_id": pid, "condition_start_date": day(offset),
            "condition_source_concept_id": source_id, "condition_source_value": value}  # fmt: skip


def rx(pid: int, offset: int, concept: int, route: int | None = None) -> dict[str, Any]:
    return {"person_id": pid, "drug_concept_id": concept, "drug_exposure_start_date": day(offset),
            "drug_exposure_end_date": None, "days_supply": 30,
            "route_concept_id": route}  # fmt: skip


def three_drugs(pid: int, middle: dict[str, Any]) -> list[dict[str, Any]]:
    """Sertraline, ``middle`` at day 30, bupropion at day 60: TRD when ``middle`` counts."""
    return [rx(pid, 0, SERTRALINE), middle, rx(pid, 60, BUPROPION)]


def study() -> dict[str, pd.DataFrame]:
    """One person per rule; the comments say what each must show."""
    mdd = [dx(p, 0, 0, "F33.1") for p in range(20, 26)]
    people: list[dict[str, Any]] = [
        # 1: a visit only: has EHR, a control; 2: nothing at all: no EHR, no control
        {"person": [person(1)], "visit_occurrence": [
            {"person_id": 1, "visit_occurrence_id": 1, "visit_concept_id": 9202,
             "visit_start_date": day(5), "visit_end_date": None}]},
        {"person": [person(2)]},
        # 3: a drug row that cannot be used (concept 0) is no EHR record
        {"person": [person(3)], "drug_exposure": [rx(3, 0, 0)]},
        # 4, 5: depression NOS in either vocabulary is not MDD; 6: F32.9 is
        {"person": [person(4)], "condition_occurrence": [dx(4, 0, 0, "311")]},
        {"person": [person(5)], "condition_occurrence": [dx(5, 0, 0, "F32.A")]},
        {"person": [person(6)], "condition_occurrence": [dx(6, 0, 0, "F32.9")]},
        # 7: schizoaffective (ICD-9 295.7x) before MDD; 8: manic episode (F30) before MDD
        {"person": [person(7)], "condition_occurrence": [dx(7, 0, 0, "295.70"), dx(7, 9, 0, "F33.1")]},
        {"person": [person(8)], "condition_occurrence": [dx(8, 0, 0, "F30.2"), dx(8, 9, 0, "F33.1")]},
        # 9: schizoaffective (F25) after MDD: mdd_3 only; 10: manic (296.0x) after MDD
        {"person": [person(9)], "condition_occurrence": [dx(9, 0, 0, "F33.1"), dx(9, 9, 0, "F25.0")]},
        {"person": [person(10)], "condition_occurrence": [dx(10, 0, 0, "F33.1"), dx(10, 9, 0, "296.04")]},
        # 11: MDD in SNOMED only (a standard and a non-standard source concept): 2 dates
        {"person": [person(11)], "condition_occurrence": [
            dx(11, 0, S_MDD, "370143000"), dx(11, 7, S_MDD_SOURCE, "87512008")]},
        # 12: 'Depressive disorder' (reached from 311 and F32.A only): not MDD;
        # 13: a standard concept reached from an MDD code and one that is not: not MDD
        {"person": [person(12)], "condition_occurrence": [dx(12, 0, S_DEPRESSION, "35489007")]},
        {"person": [person(13)], "condition_occurrence": [dx(13, 0, S_MIXED, "191616006")]},
        # 20-25: MDD, then three antidepressants unless the middle one is not systemic
        {"person": [person(20)], "drug_exposure": three_drugs(20, rx(20, 30, DOXEPIN_CREAM))},
        {"person": [person(21)], "drug_exposure": three_drugs(21, rx(21, 30, DOXEPIN, TOPICAL))},
        {"person": [person(22)], "drug_exposure": three_drugs(22, rx(22, 30, SELEGILINE_CAP))},
        {"person": [person(23)], "drug_exposure": three_drugs(23, rx(23, 30, SELEGILINE, ORAL))},
        {"person": [person(24)], "drug_exposure": three_drugs(24, rx(24, 30, SELEGILINE_PATCH))},
        {"person": [person(25)], "drug_exposure": three_drugs(25, rx(25, 30, CITALOPRAM, OPHTHALMIC))},
        # 26: MDD and two fills 120 days apart: treated under 182 days, not under 91
        {"person": [person(26, race=8516, ethnicity=38003563)],
         "condition_occurrence": [dx(26, 0, 0, "F33.1")],
         "drug_exposure": [rx(26, 0, SERTRALINE), rx(26, 120, SERTRALINE)]},
        # 27: race skipped (PMI), ethnicity 'prefer not to answer'
        {"person": [person(27, race=903096, ethnicity=1177221)], "visit_occurrence": []},
    ]  # fmt: skip
    for row in mdd:
        people.append({"person": [], "condition_occurrence": [row]})
    return assemble(people)


@pytest.fixture(scope="module")
def phenotyped(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("rules")
    tables = study()
    write_omop(tables, str(root))
    result = compute_phenotypes(
        spark, read_omop(spark, str(root)), read_code_lists(CODE_LISTS), Definitions()
    )
    persons = result.persons_df.toPandas().set_index("person_id").sort_index()
    return {"persons": persons, "attrition": result.attrition, "root": root}


def test_controls_need_an_ehr_record(phenotyped: dict[str, Any]) -> None:
    p = phenotyped["persons"]
    assert p.loc[[1, 2, 3], "has_ehr"].tolist() == [True, False, False]
    assert p.loc[[1, 2, 3], "non_mdd"].tolist() == [True, False, False]


def test_without_the_rule_every_person_without_mdd_is_a_control(spark: Any, tmp_path: Path) -> None:
    write_omop(study(), str(tmp_path))
    result = compute_phenotypes(
        spark, read_omop(spark, str(tmp_path)), read_code_lists(CODE_LISTS),
        Definitions(require_ehr=False),
    )  # fmt: skip
    persons = result.persons_df.toPandas().set_index("person_id")
    assert persons.loc[[1, 2, 3], "non_mdd"].tolist() == [True, True, True]


def test_depression_nos_schizoaffective_and_manic_codes(phenotyped: dict[str, Any]) -> None:
    p = phenotyped["persons"]
    assert p.loc[[4, 5, 6], "n_mdd_dates"].tolist() == [0, 0, 1]
    assert p.loc[[4, 5], "non_mdd"].all()
    for pid in (7, 8):  # the exclusion code before MDD: neither mdd_1 nor mdd_3
        assert p.loc[pid, ["mdd_1", "mdd_3"]].tolist() == [False, False], pid
    for pid in (9, 10):  # after MDD: mdd_3 only
        assert p.loc[pid, ["mdd_1", "mdd_3"]].tolist() == [False, True], pid


def test_snomed_source_concepts_count_through_their_standard_concept(
    phenotyped: dict[str, Any],
) -> None:
    p = phenotyped["persons"]
    assert p.loc[11, ["n_mdd_dates", "mdd_2"]].tolist() == [2, True]
    assert p.loc[[12, 13], "n_mdd_dates"].tolist() == [0, 0]


def test_non_systemic_antidepressant_rows_are_not_exposures(phenotyped: dict[str, Any]) -> None:
    p = phenotyped["persons"]
    # topical cream, topical route, oral selegiline (dose form, route), ophthalmic route
    # (listed by name): no third drug; transdermal selegiline: TRD
    assert p.loc[[20, 21, 22, 23, 24, 25], "trd_1"].tolist() == [
        False, False, False, False, True, False,
    ]  # fmt: skip
    reasons = {
        a.reason: (a.n_persons, a.n_rows_dropped)
        for a in phenotyped["attrition"]
        if a.step == "antidepressants"
    }
    assert reasons == {
        "not an antidepressant exposure: topical dose form": (1, 1),
        "not an antidepressant exposure: topical route": (1, 1),
        "not an antidepressant exposure: oral selegiline (a Parkinson's disease drug)": (2, 2),
        "not an antidepressant exposure: ophthalmic route": (1, 1),
    }


def test_treated_follows_each_definitions_gap(phenotyped: dict[str, Any]) -> None:
    p = phenotyped["persons"]
    assert p.loc[26, ["treated", "treated_trd_1", "treated_trd_2", "treated_trd_3"]].tolist() == [
        True, True, False, True,
    ]  # fmt: skip


def test_race_and_ethnicity_text(phenotyped: dict[str, Any]) -> None:
    p = phenotyped["persons"]
    assert p.loc[26, ["race", "ethnicity"]].tolist() == [
        "Black or African American", "Hispanic or Latino",
    ]  # fmt: skip
    assert p.loc[[27, 1], "race"].isna().all() and p.loc[[27, 1], "ethnicity"].isna().all()


def test_the_reference_reads_the_same_rows_the_same_way(phenotyped: dict[str, Any]) -> None:
    from tests.reference.phenotypes_reference import reference_phenotypes

    want, _ = reference_phenotypes(study(), CODE_LISTS)
    got = phenotyped["persons"].reset_index()
    columns = ["has_ehr", "non_mdd", "n_mdd_dates", "mdd_1", "mdd_3", "treated_trd_1",
               "treated_trd_2", "trd_1", "race", "ethnicity"]  # fmt: skip
    merged = want.merge(got, on="person_id", suffixes=("_ref", ""))
    assert len(merged) == len(got) == len(want)
    for column in columns:
        ref = merged[f"{column}_ref"].astype(object).where(merged[f"{column}_ref"].notna(), None)
        ours = merged[column].astype(object).where(merged[column].notna(), None)
        assert ref.tolist() == ours.tolist(), column
