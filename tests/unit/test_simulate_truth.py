"""The simulator's own phenotype code on hand-built OMOP rows, against hand-derived answers."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from trd_spark.simulate.truth import compute_truth, load_code_lists, time_to_event
from trd_spark.simulate.vocab import build_vocabulary

D0 = dt.date(2010, 1, 1)


def day(offset: int) -> int:
    """Day number of D0 + offset."""
    return (D0 - dt.date(1970, 1, 1)).days + offset


@pytest.fixture(scope="module")
def vocab():
    return build_vocabulary()


def drug(vocab, pid, name, start, end=None, supply=30, form="clinical", route=None):
    concept = {
        "clinical": lambda: vocab.products[name][0],
        "ingredient": lambda: vocab.ingredients[name],
        "branded": lambda: vocab.products[name][2],
        "combo": lambda: vocab.combos.get(name),
        "special": lambda: vocab.special[name],
    }[form]()
    return {
        "person_id": pid,
        "drug_concept_id": concept,
        "drug_exposure_start_date": day(start),
        "drug_exposure_end_date": None if end is None else day(end),
        "days_supply": supply,
        "route_concept_id": route,
    }


def cond(vocab, pid, offset, code, vocabulary="ICD10CM", how="concept"):
    if how == "snomed":  # recorded with the SNOMED concept of the code's standard concept
        standard = vocab.snomed_of[(vocabulary, code)]
        return {
            "person_id": pid,
            "condition_start_date": day(offset),
            "condition_source_concept_id": standard,
            "condition_source_value": str(standard),
        }
    if how == "concept":
        return {
            "person_id": pid,
            "condition_start_date": day(offset),
            "condition_source_concept_id": vocab.condition_ids[(vocabulary, code)],
            "condition_source_value": code,
        }
    return {
        "person_id": pid,
        "condition_start_date": day(offset),
        "condition_source_concept_id": 0,
        "condition_source_value": code,
    }


DRUG_COLUMNS = [
    "person_id", "drug_concept_id", "drug_exposure_start_date", "drug_exposure_end_date",
    "days_supply", "route_concept_id",
]  # fmt: skip


def frames(vocab, persons, conditions, drugs, procedures=(), periods=None, races=None):
    person = pd.DataFrame(
        {
            "person_id": persons,
            "year_of_birth": 1960,
            "gender_concept_id": 8532,
            "sex_at_birth_concept_id": 45878463,
            "race_concept_id": races or [0] * len(persons),
            "ethnicity_concept_id": 0,
        }
    )
    periods = periods if periods is not None else [(p, day(-3000), day(3000)) for p in persons]
    return {
        "person": person,
        "observation_period": pd.DataFrame(
            periods,
            columns=["person_id", "observation_period_start_date", "observation_period_end_date"],
        ),
        "condition_occurrence": pd.DataFrame(conditions).astype(
            {"condition_source_concept_id": "Int64"}
        ),
        "drug_exposure": pd.DataFrame(drugs, columns=DRUG_COLUMNS).astype(
            {"drug_exposure_end_date": "Int64", "days_supply": "Int64", "route_concept_id": "Int64"}
        ),
        "procedure_occurrence": pd.DataFrame(
            list(procedures), columns=["person_id", "procedure_date", "procedure_concept_id"]
        ),
        "visit_occurrence": pd.DataFrame({"person_id": [], "visit_start_date": []}),
    }


def run(vocab, tables, cutoff=None):
    cutoff = day(3000) if cutoff is None else cutoff
    vocabulary = {
        "concept": vocab.concept_df,
        "concept_ancestor": vocab.ancestor_df,
        "concept_relationship": vocab.relationship_df,
    }
    lists = load_code_lists(vocab.concept_df)
    return compute_truth(tables, vocabulary, lists, cutoff, 2018)


def test_switching_definitions_and_onsets(vocab):
    conditions = [cond(vocab, p, 0, "F33.1") for p in (1, 2, 3, 4)]
    drugs = [
        # person 1: three drugs in one period (start-to-start gaps <= 80), third at day 260
        drug(vocab, 1, "sertraline", 0),
        drug(vocab, 1, "sertraline", 60),
        drug(vocab, 1, "bupropion", 100),
        drug(vocab, 1, "bupropion", 180),
        drug(vocab, 1, "trazodone", 260),
        # person 2: third drug at day 500: > 365 after the start, <= 730 -> trd_3 only
        drug(vocab, 2, "sertraline", 0),
        drug(vocab, 2, "sertraline", 150),
        drug(vocab, 2, "bupropion", 200),
        drug(vocab, 2, "bupropion", 350),
        drug(vocab, 2, "trazodone", 500),
        # person 3: gap of 150 days (split at 91 only); third drug 380 after first, 230 after restart
        drug(vocab, 3, "sertraline", 0),
        drug(vocab, 3, "sertraline", 150),
        drug(vocab, 3, "bupropion", 200),
        drug(vocab, 3, "bupropion", 290),
        drug(vocab, 3, "trazodone", 380),
        # person 4: a gap of 200 days splits the period under 182: 2 + 1 drugs
        drug(vocab, 4, "sertraline", 0),
        drug(vocab, 4, "bupropion", 30),
        drug(vocab, 4, "trazodone", 230),
    ]
    truth = run(vocab, frames(vocab, [1, 2, 3, 4], conditions, drugs))
    expect = {
        1: (True, True, True),
        2: (False, False, True),
        3: (False, True, True),
        4: (False, False, False),
    }
    for pid, (t1, t2, t3) in expect.items():
        assert (truth.loc[pid, "trd_1"], truth.loc[pid, "trd_2"], truth.loc[pid, "trd_3"]) == (
            t1,
            t2,
            t3,
        ), pid
    assert truth.loc[1, "trd_1_onset"] == day(260) and truth.loc[1, "trd_2_onset"] == day(260)
    assert truth.loc[2, "trd_3_onset"] == day(500)
    assert truth.loc[3, "trd_2_onset"] == day(380)
    assert truth["treated"].all()


def test_descendants_combinations_and_exposure_ends(vocab):
    conditions = [cond(vocab, p, 0, "F32.9") for p in (1, 2, 3)]
    drugs = [
        # person 1: ingredient, branded drug and the fluoxetine/olanzapine combination: 3 drugs
        drug(vocab, 1, "sertraline", 10, form="ingredient"),
        drug(vocab, 1, "bupropion", 40, form="branded"),
        drug(vocab, 1, "fluoxetine", 70, form="combo"),
        # person 2: one exposure only -> not treated; lithium does not count as antipsychotic
        drug(vocab, 2, "sertraline", 10),
        drug(vocab, 2, "lithium", 20),
        # person 3: two exposures; an olanzapine product after MDD -> trd_5 only
        drug(vocab, 3, "sertraline", 10, end=5),
        drug(vocab, 3, "sertraline", 40, supply=None),
        drug(vocab, 3, "olanzapine", 60),
    ]
    truth = run(vocab, frames(vocab, [1, 2, 3], conditions, drugs))
    assert truth.loc[1, "trd_1"] and truth.loc[1, "trd_1_onset"] == day(70)
    assert truth.loc[1, "trd_5"] and truth.loc[1, "trd_5_onset"] == day(70)
    assert not truth.loc[2, "treated"] and not truth.loc[2, "trd_5"]
    assert truth.loc[3, "treated"] and not truth.loc[3, "trd_1"] and not truth.loc[3, "trd_4"]
    assert truth.loc[3, "trd_5"] and truth.loc[3, "trd_5_onset"] == day(60)


def test_codes_vocabularies_and_mdd_definitions(vocab):
    conditions = [
        cond(vocab, 1, 0, "F33.41"),
        cond(vocab, 1, 0, "F33.41"),
        cond(vocab, 1, 50, "f32.1", how="value"),
        cond(vocab, 2, 0, "29632", how="value"),
        cond(vocab, 2, 100, "296.7", vocabulary="ICD9CM"),
        cond(vocab, 3, 10, "F3281", how="value"),
        cond(vocab, 3, 20, "F32.A"),
        cond(vocab, 3, 30, "F34.1"),
        cond(vocab, 4, 50, "F33.9"),
        cond(vocab, 4, 10, "F20.9"),
        cond(vocab, 5, 5, "F329", how="value"),
        cond(vocab, 5, 9, "F32.9"),
        cond(vocab, 5, 400, "F31.9"),
    ]
    tables = frames(vocab, [1, 2, 3, 4, 5], conditions, [drug(vocab, 9, "sertraline", 0)])
    truth = run(vocab, tables)
    assert truth.loc[1, ["n_mdd_dates", "mdd_1", "mdd_2", "mdd_3"]].tolist() == [
        2,
        True,
        True,
        True,
    ]
    assert truth.loc[2, ["n_mdd_dates", "mdd_1", "mdd_3"]].tolist() == [
        1,
        False,
        True,
    ]  # bipolar after
    assert truth.loc[3, "non_mdd"] and truth.loc[3, "n_mdd_dates"] == 0  # distractors only
    assert truth.loc[4, ["mdd_1", "mdd_3"]].tolist() == [False, False]  # schizophrenia before
    assert truth.loc[5, ["n_mdd_dates", "mdd_2", "mdd_3"]].tolist() == [2, False, True]
    assert truth.loc[1, "first_mdd_date"] == day(0)
    assert truth.loc[1, "age_at_diagnosis"] == 2010 - 1960


def test_ect_onset_and_time_to_event(vocab):
    ect = vocab.procedure_ids[("ICD10PCS", "GZB1ZZZ")]
    other = vocab.procedure_ids[("CPT4", "90834")]
    conditions = [
        cond(vocab, p, o, "F33.1")
        for p, offs in ((1, (0, 10, 20)), (2, (100, 110, 120)), (3, (0, 5, 9)))
        for o in offs
    ]
    drugs = [
        drug(vocab, 2, "sertraline", 0),
        drug(vocab, 2, "bupropion", 30),
        drug(vocab, 2, "trazodone", 60),
    ]
    procedures = [(1, day(-5), ect), (1, day(200), other), (3, day(400), ect)]
    periods = [(1, day(-3000), day(1000)), (2, day(-3000), day(1000)), (3, day(-3000), day(5000))]
    tables = frames(vocab, [1, 2, 3], conditions, drugs, procedures, periods)
    truth = run(vocab, tables, cutoff=day(3000))
    assert not truth.loc[1, "trd_4"]  # ECT before the first MDD date does not count
    assert truth.loc[3, "trd_4"] and truth.loc[3, "trd_4_onset"] == day(400)
    assert truth.loc[3, "end_of_observation"] == day(3000)  # capped at the cutoff
    tte = time_to_event(truth).set_index("person_id")
    assert tte.loc[2, "exclusion"] == "prevalent" and not tte.loc[2, "included"]
    assert tte.loc[1, "time_days"] == 1000 and not tte.loc[1, "event"]
    assert tte.loc[3, "time_days"] == 3000 and not tte.loc[3, "event"]  # trd_4 is not the Cox event


def test_depression_nos_schizoaffective_manic_and_snomed_only_codes(vocab):
    conditions = [
        cond(vocab, 1, 0, "311", vocabulary="ICD9CM"),  # depression NOS (ICD-9): not MDD
        cond(vocab, 1, 5, "F32.A"),  # depression NOS (ICD-10): not MDD
        cond(vocab, 2, 0, "F32.9"),  # MDD, single episode, unspecified: MDD
        cond(vocab, 2, 10, "F25.1"),  # schizoaffective after MDD: not mdd_1, still mdd_3
        cond(vocab, 3, 20, "295.70", vocabulary="ICD9CM"),  # schizoaffective (ICD-9) first
        cond(vocab, 3, 30, "F33.1"),
        cond(vocab, 4, 20, "296.01", vocabulary="ICD9CM"),  # manic episode (ICD-9) first
        cond(vocab, 4, 30, "F33.1"),
        cond(vocab, 5, 40, "F30.9"),  # manic episode before MDD
        cond(vocab, 5, 50, "F32.2"),
        cond(vocab, 6, 0, "F33.1", how="snomed"),  # MDD recorded only in SNOMED
        cond(vocab, 6, 9, "F32.0", how="snomed"),
        cond(vocab, 7, 0, "F32.A", how="snomed"),  # 'Depressive disorder': 311 and F32.A only
        cond(vocab, 8, 0, "F33.1"),
        cond(vocab, 8, 5, "F31.9", how="snomed"),  # bipolar recorded in SNOMED after MDD
    ]
    source = vocab.snomed_sources[vocab.snomed_of[("ICD10CM", "F33.1")]]
    conditions.append(  # a non-standard SNOMED source concept mapping to recurrent MDD
        {"person_id": 9, "condition_start_date": day(3), "condition_source_concept_id": source,
         "condition_source_value": str(source)}
    )  # fmt: skip
    truth = run(vocab, frames(vocab, list(range(1, 10)), conditions, []))
    assert truth.loc[1, "non_mdd"] and truth.loc[1, "n_mdd_dates"] == 0
    assert truth.loc[2, ["mdd_1", "mdd_3"]].tolist() == [False, True]
    for pid in (3, 4, 5):
        assert truth.loc[pid, ["mdd_1", "mdd_3", "n_mdd_dates"]].tolist() == [False, False, 1], pid
    assert truth.loc[6, ["n_mdd_dates", "mdd_2"]].tolist() == [2, True]
    assert truth.loc[7, "non_mdd"]
    assert truth.loc[8, ["mdd_1", "mdd_3"]].tolist() == [False, True]
    assert truth.loc[9, "first_mdd_date"] == day(3)


def test_topical_and_oral_selegiline_rows_are_not_exposures(vocab):
    conditions = [cond(vocab, p, 0, "F33.1") for p in (1, 2, 3, 4)]
    oral, topical = 4_132_161, 4_263_689
    drugs = [
        # person 1: sertraline + topical doxepin cream (dose form) + bupropion: 2 drugs only
        drug(vocab, 1, "sertraline", 0),
        drug(vocab, 1, "doxepin_topical", 30, form="special"),
        drug(vocab, 1, "bupropion", 60),
        # person 2: the same with transdermal selegiline: 3 drugs, TRD
        drug(vocab, 2, "sertraline", 0),
        drug(vocab, 2, "selegiline", 30),
        drug(vocab, 2, "bupropion", 60),
        # person 3: oral selegiline capsule (dose form), and selegiline written with an
        # oral route on the ingredient: neither counts
        drug(vocab, 3, "sertraline", 0),
        drug(vocab, 3, "selegiline_oral", 30, form="special"),
        drug(vocab, 3, "selegiline", 45, form="ingredient", route=oral),
        drug(vocab, 3, "bupropion", 60),
        # person 4: doxepin written on the ingredient with a topical route: not an exposure
        drug(vocab, 4, "sertraline", 0),
        drug(vocab, 4, "doxepin", 30, form="ingredient", route=topical),
        drug(vocab, 4, "bupropion", 60),
    ]
    truth = run(vocab, frames(vocab, [1, 2, 3, 4], conditions, drugs))
    assert truth["trd_1"].tolist() == [False, True, False, False]
    assert truth.loc[2, "trd_1_onset"] == day(60)


def test_treated_per_gap_no_ehr_and_race(vocab):
    conditions = [cond(vocab, 1, 0, "F33.1")]
    # person 1: two fills 120 days apart: treated under 182 days, not under 91
    drugs = [drug(vocab, 1, "sertraline", 0), drug(vocab, 1, "sertraline", 120)]
    periods = [(1, day(-3000), day(3000)), (2, day(-3000), day(3000))]
    # person 2: an observation period only; person 3: nothing at all
    tables = frames(vocab, [1, 2, 3], conditions, drugs, periods=periods, races=[8516, 903096, 0])
    truth = run(vocab, tables)
    assert truth.loc[1, ["treated", "treated_trd_1", "treated_trd_2", "treated_trd_3"]].tolist() == [
        True, True, False, True,
    ]  # fmt: skip
    assert truth["has_ehr"].tolist() == [True, True, False]
    assert truth["non_mdd"].tolist() == [False, True, False]  # no EHR: never a control
    assert truth["race"].tolist()[0] == "Black or African American"
    assert truth["race"].isna().tolist()[1:] == [True, True]  # skipped, no matching concept
