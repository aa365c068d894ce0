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


def drug(vocab, pid, name, start, end=None, supply=30, form="clinical"):
    concept = {
        "clinical": vocab.products[name][0],
        "ingredient": vocab.ingredients[name],
        "branded": vocab.products[name][2],
        "combo": vocab.combos.get(name),
    }[form]
    return {
        "person_id": pid,
        "drug_concept_id": concept,
        "drug_exposure_start_date": day(start),
        "drug_exposure_end_date": None if end is None else day(end),
        "days_supply": supply,
    }


def cond(vocab, pid, offset, code, vocabulary="ICD10CM", how="concept"):
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


def frames(vocab, persons, conditions, drugs, procedures=(), periods=None):
    person = pd.DataFrame(
        {
            "person_id": persons,
            "year_of_birth": 1960,
            "gender_concept_id": 8532,
            "sex_at_birth_concept_id": 45878463,
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
        "drug_exposure": pd.DataFrame(drugs).astype(
            {"drug_exposure_end_date": "Int64", "days_supply": "Int64"}
        ),
        "procedure_occurrence": pd.DataFrame(
            list(procedures), columns=["person_id", "procedure_date", "procedure_concept_id"]
        ),
    }


def run(vocab, tables, cutoff=None):
    cutoff = day(3000) if cutoff is None else cutoff
    lists = load_code_lists(vocab.concept_df)
    return compute_truth(tables, vocab.concept_df, vocab.ancestor_df, lists, cutoff, 2018)


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
