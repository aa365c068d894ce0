"""Small OMOP vocabularies and hypothesis strategies for random drug / diagnosis histories."""

from __future__ import annotations

import datetime as dt
import os
import random
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

BASE = dt.date(2010, 1, 1)
# ingredient ids are the real RxNorm/OMOP ids of docs/phenotypes.md; the rest are made up
FLUOXETINE, CITALOPRAM, SERTRALINE, BUPROPION, MIRTAZAPINE = (
    755695, 797617, 739138, 750982, 725131,
)  # fmt: skip
ESKETAMINE, ARIPIPRAZOLE, OLANZAPINE, HALOPERIDOL = 1366610, 757688, 785788, 766529
FLUOXETINE_CAP, OLANZAPINE_FLUOXETINE, CIT_SER_COMBO, ESKETAMINE_SPRAY, HALOPERIDOL_TAB = (
    40000001, 40000002, 40000003, 40000004, 40000005,
)  # fmt: skip
ACETAMINOPHEN = 1125315
DOXEPIN, SELEGILINE = 738156, 766209
DOXEPIN_CREAM, SELEGILINE_CAP, SELEGILINE_PATCH = 40000006, 40000007, 40000008
DRUG_CHOICES = [
    FLUOXETINE, CITALOPRAM, SERTRALINE, BUPROPION, MIRTAZAPINE, FLUOXETINE_CAP,
    OLANZAPINE_FLUOXETINE, CIT_SER_COMBO, ESKETAMINE_SPRAY, ESKETAMINE, ARIPIPRAZOLE,
    HALOPERIDOL_TAB, ACETAMINOPHEN, 0, DOXEPIN_CREAM, SELEGILINE_CAP, SELEGILINE_PATCH,
]  # fmt: skip
SWITCH_DRUGS = [
    FLUOXETINE, CITALOPRAM, SERTRALINE, BUPROPION, MIRTAZAPINE, FLUOXETINE_CAP, DOXEPIN,
    DOXEPIN_CREAM, SELEGILINE, SELEGILINE_CAP, SELEGILINE_PATCH,
]  # fmt: skip
# route concepts: oral, topical, transdermal, and an ophthalmic one listed by name only
ORAL, TOPICAL, TRANSDERMAL, OPHTHALMIC = 4132161, 4263689, 4262099, 46100001
ROUTE_CHOICES = [None, None, 0, ORAL, ORAL, TOPICAL, TRANSDERMAL, OPHTHALMIC]
# dose forms (RxNorm 'Dose Form' concepts, matched by name)
TOPICAL_CREAM, ORAL_CAPSULE, TRANSDERMAL_SYSTEM = 46000001, 46000002, 46000003
# SNOMED: standard concepts (mapping to themselves) and a non-standard source
S_MDD, S_DEPRESSION, S_PSYCHOSIS, S_MIXED, S_MDD_SOURCE = (
    45600001, 45600002, 45600003, 45600004, 45600010,
)  # fmt: skip
RACES = [8527, 8516, 8515, 45882607, 903096, 1177221, 0, None]
ETHNICITIES = [38003563, 38003564, 903096, 0, None]

_ICD = [
    (45500001, "F32.9", "ICD10CM"), (45500002, "F33.1", "ICD10CM"), (45500003, "F32.81", "ICD10CM"),
    (45500004, "F32.A", "ICD10CM"), (45500005, "F20.9", "ICD10CM"), (45500006, "F31.0", "ICD10CM"),
    (45500007, "296.30", "ICD9CM"), (45500008, "296.20", "ICD9CM"), (45500009, "296.40", "ICD9CM"),
    (45500010, "295.10", "ICD9CM"), (45500011, "311", "ICD9CM"), (45500012, "F33.40", "ICD10CM"),
    (45500013, "35489007", "SNOMED"), (45500014, "296.89", "ICD9CM"),
    (45500015, "F25.1", "ICD10CM"), (45500016, "F30.9", "ICD10CM"), (45500017, "295.70", "ICD9CM"),
    (45500018, "296.01", "ICD9CM"),
]  # fmt: skip
_SNOMED = [
    (S_MDD, "370143000"), (S_DEPRESSION, "35489007"), (S_PSYCHOSIS, "69322001"),
    (S_MIXED, "191616006"), (S_MDD_SOURCE, "87512008"),
]  # fmt: skip
# 'Maps to': ICD and SNOMED source concepts -> standard SNOMED.  S_MIXED is reached from an
# MDD code (F33.40) and a code that is not MDD (F32.81): its reading is not MDD.
MAPS_TO = [
    (45500001, S_MDD), (45500002, S_MDD), (45500007, S_MDD), (45500008, S_MDD),
    (45500004, S_DEPRESSION), (45500011, S_DEPRESSION), (45500013, S_DEPRESSION),
    (45500005, S_PSYCHOSIS), (45500006, S_PSYCHOSIS), (45500009, S_PSYCHOSIS),
    (45500010, S_PSYCHOSIS), (45500014, S_PSYCHOSIS), (45500015, S_PSYCHOSIS),
    (45500012, S_MIXED), (45500003, S_MIXED), (S_MDD_SOURCE, S_MDD),
    (S_MDD, S_MDD), (S_DEPRESSION, S_DEPRESSION), (S_PSYCHOSIS, S_PSYCHOSIS), (S_MIXED, S_MIXED),
]  # fmt: skip
HAS_DOSE_FORM = [
    (DOXEPIN_CREAM, TOPICAL_CREAM), (SELEGILINE_CAP, ORAL_CAPSULE),
    (SELEGILINE_PATCH, TRANSDERMAL_SYSTEM), (FLUOXETINE_CAP, ORAL_CAPSULE),
]  # fmt: skip
_PROCEDURES = [
    (2000001, "90870", "CPT4"), (2000002, "23835007", "SNOMED"), (2000003, "GZB4ZZZ", "ICD10PCS"),
    (2000004, "90801", "CPT4"), (2000005, "94.27", "ICD9Proc"),
]  # fmt: skip


def vocabulary() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(concept, concept_ancestor) tables for the made-up histories."""
    rows: list[tuple[int, str, str, str, str]] = [
        (FLUOXETINE, "fluoxetine", "RxNorm", "Ingredient", "4493"),
        (CITALOPRAM, "citalopram", "RxNorm", "Ingredient", "2556"),
        (SERTRALINE, "sertraline", "RxNorm", "Ingredient", "36437"),
        (BUPROPION, "bupropion", "RxNorm", "Ingredient", "42347"),
        (MIRTAZAPINE, "mirtazapine", "RxNorm", "Ingredient", "15996"),
        (ESKETAMINE, "esketamine", "RxNorm", "Ingredient", "2119365"),
        (ARIPIPRAZOLE, "aripiprazole", "RxNorm", "Ingredient", "89013"),
        (OLANZAPINE, "olanzapine", "RxNorm", "Ingredient", "61381"),
        (HALOPERIDOL, "Haloperidol", "RxNorm", "Ingredient", "5093"),
        (FLUOXETINE_CAP, "fluoxetine 20 MG Oral Capsule", "RxNorm", "Clinical Drug", "310385"),
        (OLANZAPINE_FLUOXETINE, "olanzapine / fluoxetine", "RxNorm", "Clinical Drug", "721786"),
        (CIT_SER_COMBO, "citalopram / sertraline", "RxNorm", "Clinical Drug", "999001"),
        (ESKETAMINE_SPRAY, "esketamine nasal spray", "RxNorm", "Clinical Drug", "2119371"),
        (HALOPERIDOL_TAB, "haloperidol 5 MG tablet", "RxNorm", "Clinical Drug", "310672"),
        (ACETAMINOPHEN, "acetaminophen", "RxNorm", "Ingredient", "161"),
        (DOXEPIN, "doxepin", "RxNorm", "Ingredient", "3638"),
        (SELEGILINE, "selegiline", "RxNorm", "Ingredient", "9639"),
        (DOXEPIN_CREAM, "doxepin 50 MG/ML Topical Cream", "RxNorm", "Clinical Drug", "1000001"),
        (SELEGILINE_CAP, "selegiline 5 MG Oral Capsule", "RxNorm", "Clinical Drug", "1000002"),
        (SELEGILINE_PATCH, "selegiline 6 MG/24HR Transdermal System", "RxNorm", "Clinical Drug",
         "1000003"),
        (TOPICAL_CREAM, "Topical Cream", "RxNorm", "Dose Form", "316288"),
        (ORAL_CAPSULE, "Oral Capsule", "RxNorm", "Dose Form", "316965"),
        (TRANSDERMAL_SYSTEM, "Transdermal System", "RxNorm", "Dose Form", "316987"),
    ]  # fmt: skip
    rows += [(cid, code, vocab, "Condition", code) for cid, code, vocab in _ICD]
    rows += [(cid, code, "SNOMED", "Condition", code) for cid, code in _SNOMED]
    rows += [(cid, code, vocab, "Procedure", code) for cid, code, vocab in _PROCEDURES]
    concept = pd.DataFrame(
        [(c, name, v, k, code) for c, name, v, k, code in rows],
        columns=["concept_id", "concept_name", "vocabulary_id", "concept_class_id", "concept_code"],
    )
    concept.loc[concept.concept_class_id.isin(["Condition", "Procedure"]), "concept_name"] = "x"
    concept["domain_id"] = (
        concept["concept_class_id"]
        .map({"Condition": "Condition", "Procedure": "Procedure"})
        .fillna("Drug")
    )
    routes = pd.DataFrame(
        [(ORAL, "Oral route"), (TOPICAL, "Topical route"), (TRANSDERMAL, "Transdermal route"),
         (OPHTHALMIC, "Ophthalmic route")],
        columns=["concept_id", "concept_name"],
    ).assign(vocabulary_id="SNOMED", concept_class_id="Qualifier Value", concept_code="r",
             domain_id="Route")  # fmt: skip
    concept = pd.concat([concept, routes], ignore_index=True)
    pairs = [
        (FLUOXETINE, FLUOXETINE), (FLUOXETINE, FLUOXETINE_CAP), (FLUOXETINE, OLANZAPINE_FLUOXETINE),
        (OLANZAPINE, OLANZAPINE_FLUOXETINE), (CITALOPRAM, CIT_SER_COMBO),
        (SERTRALINE, CIT_SER_COMBO), (ESKETAMINE, ESKETAMINE_SPRAY),
        (HALOPERIDOL, HALOPERIDOL_TAB), (SERTRALINE, SERTRALINE),
        (DOXEPIN, DOXEPIN_CREAM), (SELEGILINE, SELEGILINE_CAP), (SELEGILINE, SELEGILINE_PATCH),
    ]  # fmt: skip
    ancestor = pd.DataFrame(pairs, columns=["ancestor_concept_id", "descendant_concept_id"])
    return concept, ancestor


def relationships() -> pd.DataFrame:
    """concept_relationship rows: 'Maps to' and 'RxNorm has dose form'."""
    rows = [(a, b, "Maps to") for a, b in MAPS_TO]
    rows += [(a, b, "RxNorm has dose form") for a, b in HAS_DOSE_FORM]
    rows += [(S_MDD, 45500001, "Mapped from")]  # another relationship: ignored
    return pd.DataFrame(rows, columns=["concept_id_1", "concept_id_2", "relationship_id"])


# Diagnosis choices: (condition_source_concept_id, condition_source_value)
DIAGNOSIS_CHOICES: list[tuple[int | None, str | None]] = [
    *[(cid, "ignored") for cid, _, _ in _ICD],
    (0, "F32.9"), (None, "f33.2"), (0, "296.3"), (0, "F20"), (0, "296.89"), (0, "F32.81"),
    (99999999, "F32.1"), (0, "V62.84"), (0, "E950"), (None, None), (0, "F31.9"),
    (0, "311"), (0, "F32.A"), (0, "F25.0"), (0, "F30.2"), (0, "295.72"), (0, "296.04"),
    *[(cid, code) for cid, code in _SNOMED],
]  # fmt: skip
PROCEDURE_CHOICES: list[tuple[int, int | None, str | None]] = [
    (2000001, 2000001, "90870"), (2000002, 0, None), (0, 0, "90870"), (0, None, "GZB4ZZZ"),
    (2000004, 2000004, "90870"), (0, 2000003, "x"), (0, 0, "94.27"), (0, 0, "12345"),
]  # fmt: skip
MDD_CHOICES = [
    (45500001, None), (45500002, None), (0, "F32.9"), (45500007, None), (0, "296.3"),
    (S_MDD, "370143000"), (S_MDD_SOURCE, "87512008"), (S_MIXED, "191616006"),
]  # fmt: skip
CHAIN_STEPS = [0, 90, 91, 92, 150, 181, 182, 182]
STEPS = [0, 0, 1, 30, 90, 91, 92, 181, 182, 183, 364, 365, 366, 729, 730, 731]
DURATIONS = [None, None, -1, 0, 29, 89, 90, 200, 400]
SUPPLIES = [None, None, 0, -5, 1, 30, 90, 120]


def person_history(rng: random.Random, person_id: int) -> dict[str, list[dict[str, Any]]]:
    """One person's OMOP rows: diagnoses, drugs, procedures, observation periods."""

    def day(offset: int) -> dt.date:
        return BASE + dt.timedelta(days=offset)

    out: dict[str, list[dict[str, Any]]] = {
        "person": [
            {
                "person_id": person_id,
                "gender_concept_id": rng.choice([8532, 8507, 0]),
                "year_of_birth": rng.choice([None, *range(1930, 2006)]),
                "sex_at_birth_concept_id": rng.choice([45878463, 45880669, 903096, None]),
                "race_concept_id": rng.choice(RACES),
                "ethnicity_concept_id": rng.choice(ETHNICITIES),
            }
        ]
    }
    # some persons have visits only: EHR evidence without any other row
    out["visit_occurrence"] = [
        {"person_id": person_id, "visit_occurrence_id": person_id * 100 + k,
         "visit_concept_id": 9202, "visit_start_date": day(rng.randint(0, 3000)),
         "visit_end_date": None}
        for k in range(rng.choice([0, 0, 0, 1, 2]))
    ]  # fmt: skip
    out["condition_occurrence"] = [
        {
            "person_id": person_id,
            "condition_start_date": day(rng.randint(0, 3000)),
            "condition_source_concept_id": choice[0],
            "condition_source_value": choice[1],
        }
        for choice in rng.choices(
            MDD_CHOICES if rng.random() < 0.3 else DIAGNOSIS_CHOICES,
            k=rng.choice([0, 0, 1, 2, 3, 4, 6, 8]),
        )
    ]
    out["drug_exposure"] = draw_drugs(rng, person_id)
    out["procedure_occurrence"] = [
        {
            "person_id": person_id,
            "procedure_date": day(rng.randint(0, 3000)),
            "procedure_concept_id": c[0],
            "procedure_source_concept_id": c[1],
            "procedure_source_value": c[2],
        }
        for c in rng.choices(PROCEDURE_CHOICES, k=rng.choice([0, 0, 1, 2]))
    ]
    out["observation_period"] = [
        {
            "person_id": person_id,
            "observation_period_start_date": day(start),
            "observation_period_end_date": day(start + rng.randint(-10, 3000)),
        }
        for start in [rng.randint(0, 2000) for _ in range(rng.choice([0, 1, 1, 1, 2]))]
    ]
    return out


def draw_drugs(rng: random.Random, person_id: int) -> list[dict[str, Any]]:
    """A run of exposures: steps between starts hit the 91/182/365/730-day edges."""
    offset = rng.randint(0, 1500)
    rows = []
    drugs = SWITCH_DRUGS if rng.random() < 0.5 else DRUG_CHOICES
    # a chain of steps just under / at / over 91 and 182 days reaches the 365/730 windows
    steps = CHAIN_STEPS if rng.random() < 0.3 else STEPS
    for _ in range(rng.randint(0, 7)):
        offset += rng.choice(steps)
        start = BASE + dt.timedelta(days=offset)
        duration = rng.choice(DURATIONS)
        rows.append(
            {
                "person_id": person_id,
                "drug_concept_id": rng.choice(drugs),
                "drug_exposure_start_date": start,
                "drug_exposure_end_date": None
                if duration is None
                else start + dt.timedelta(days=duration),
                "days_supply": rng.choice(SUPPLIES),
                "route_concept_id": rng.choice(ROUTE_CHOICES),
            }
        )
    return rows


def histories(n_min: int, n_max: int) -> st.SearchStrategy[dict[str, pd.DataFrame]]:
    """A batch of persons (ids 1..n) plus rows of a person absent from ``person``.

    Hypothesis draws the batch size and a seed; the histories come from a generator
    with that seed (drawing thousands of values one by one through hypothesis would
    exceed its buffer), so every batch is reproducible from hypothesis' choices.
    """

    @st.composite
    def batch(draw: Any) -> dict[str, pd.DataFrame]:
        n = draw(st.integers(n_min, n_max))
        rng = random.Random(draw(st.integers(0, 2**32 - 1)))
        people = [person_history(rng, pid) for pid in range(1, n + 1)]
        stray = person_history(rng, n + 1000)
        stray["person"] = []
        return assemble([*people, stray])

    return batch()


def assemble(people: list[dict[str, list[dict[str, Any]]]]) -> dict[str, pd.DataFrame]:
    """Concatenate per-person rows into OMOP tables (with the shared vocabulary)."""
    concept, ancestor = vocabulary()
    tables: dict[str, pd.DataFrame] = {
        "concept": concept,
        "concept_ancestor": ancestor,
        "concept_relationship": relationships(),
    }
    for name, columns in OMOP_COLUMNS.items():
        if name in tables:
            continue
        rows = [row for person in people for row in person.get(name, [])]
        tables[name] = pd.DataFrame(rows, columns=list(columns))
    return tables


OMOP_COLUMNS: dict[str, dict[str, pa.DataType]] = {
    "person": {
        "person_id": pa.int64(),
        "gender_concept_id": pa.int64(),
        "year_of_birth": pa.int64(),
        "sex_at_birth_concept_id": pa.int64(),
        "race_concept_id": pa.int64(),
        "ethnicity_concept_id": pa.int64(),
    },
    "condition_occurrence": {
        "person_id": pa.int64(),
        "condition_start_date": pa.date32(),
        "condition_source_concept_id": pa.int64(),
        "condition_source_value": pa.string(),
    },
    "drug_exposure": {
        "person_id": pa.int64(),
        "drug_concept_id": pa.int64(),
        "drug_exposure_start_date": pa.date32(),
        "drug_exposure_end_date": pa.date32(),
        "days_supply": pa.int64(),
        "route_concept_id": pa.int64(),
    },
    "procedure_occurrence": {
        "person_id": pa.int64(),
        "procedure_date": pa.date32(),
        "procedure_concept_id": pa.int64(),
        "procedure_source_concept_id": pa.int64(),
        "procedure_source_value": pa.string(),
    },
    "visit_occurrence": {
        "person_id": pa.int64(),
        "visit_occurrence_id": pa.int64(),
        "visit_concept_id": pa.int64(),
        "visit_start_date": pa.date32(),
        "visit_end_date": pa.date32(),
    },
    "observation_period": {
        "person_id": pa.int64(),
        "observation_period_start_date": pa.date32(),
        "observation_period_end_date": pa.date32(),
    },
    "concept": {
        "concept_id": pa.int64(),
        "concept_name": pa.string(),
        "vocabulary_id": pa.string(),
        "concept_class_id": pa.string(),
        "concept_code": pa.string(),
        "domain_id": pa.string(),
    },
    "concept_ancestor": {"ancestor_concept_id": pa.int64(), "descendant_concept_id": pa.int64()},
    "concept_relationship": {
        "concept_id_1": pa.int64(),
        "concept_id_2": pa.int64(),
        "relationship_id": pa.string(),
    },
}


def write_omop(tables: dict[str, pd.DataFrame], root: str) -> str:
    """Write OMOP tables as ``root/<table>/part-0.parquet`` with OMOP types."""
    for name, frame in tables.items():
        types = OMOP_COLUMNS.get(name)
        os.makedirs(os.path.join(root, name), exist_ok=True)
        if types is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        else:
            arrays = [
                pa.array(
                    [None if pd.isna(v) else v for v in frame[c]]
                    if c in frame
                    else [None] * len(frame),
                    type=t,
                )
                for c, t in types.items()
            ]
            table = pa.Table.from_arrays(arrays, names=list(types))
        pq.write_table(table, os.path.join(root, name, "part-0.parquet"))
    return root
