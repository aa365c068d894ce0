"""OMOP CDM v5.3 rows from simulated histories, written as Parquet folders (one part per chunk)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from trd_spark.simulate.events import History
from trd_spark.simulate.vocab import (
    ETHNICITY_CONCEPTS,
    RACE_CONCEPTS,
    RELATIONSHIP_COLUMNS,
    ROUTES,
    Vocabulary,
)

I64, I32, STR, DATE, TS, F64 = (
    pa.int64(),
    pa.int32(),
    pa.string(),
    pa.date32(),
    pa.timestamp("us"),
    pa.float64(),
)
SCHEMAS: dict[str, list[tuple[str, pa.DataType]]] = {
    "person": [
        ("person_id", I64),
        ("gender_concept_id", I32),
        ("year_of_birth", I32),
        ("month_of_birth", I32),
        ("day_of_birth", I32),
        ("birth_datetime", TS),
        ("race_concept_id", I32),
        ("ethnicity_concept_id", I32),
        ("location_id", I64),
        ("provider_id", I64),
        ("care_site_id", I64),
        ("person_source_value", STR),
        ("gender_source_value", STR),
        ("gender_source_concept_id", I32),
        ("race_source_value", STR),
        ("race_source_concept_id", I32),
        ("ethnicity_source_value", STR),
        ("ethnicity_source_concept_id", I32),
        ("sex_at_birth_concept_id", I32),
        ("sex_at_birth_source_value", STR),
    ],
    "observation_period": [
        ("observation_period_id", I64),
        ("person_id", I64),
        ("observation_period_start_date", DATE),
        ("observation_period_end_date", DATE),
        ("period_type_concept_id", I32),
    ],
    "visit_occurrence": [
        ("visit_occurrence_id", I64),
        ("person_id", I64),
        ("visit_concept_id", I32),
        ("visit_start_date", DATE),
        ("visit_start_datetime", TS),
        ("visit_end_date", DATE),
        ("visit_end_datetime", TS),
        ("visit_type_concept_id", I32),
        ("provider_id", I64),
        ("care_site_id", I64),
        ("visit_source_value", STR),
        ("visit_source_concept_id", I32),
        ("admitting_source_concept_id", I32),
        ("admitting_source_value", STR),
        ("discharge_to_concept_id", I32),
        ("discharge_to_source_value", STR),
        ("preceding_visit_occurrence_id", I64),
    ],
    "condition_occurrence": [
        ("condition_occurrence_id", I64),
        ("person_id", I64),
        ("condition_concept_id", I32),
        ("condition_start_date", DATE),
        ("condition_start_datetime", TS),
        ("condition_end_date", DATE),
        ("condition_end_datetime", TS),
        ("condition_type_concept_id", I32),
        ("condition_status_concept_id", I32),
        ("stop_reason", STR),
        ("provider_id", I64),
        ("visit_occurrence_id", I64),
        ("visit_detail_id", I64),
        ("condition_source_value", STR),
        ("condition_source_concept_id", I32),
        ("condition_status_source_value", STR),
    ],
    "drug_exposure": [
        ("drug_exposure_id", I64),
        ("person_id", I64),
        ("drug_concept_id", I32),
        ("drug_exposure_start_date", DATE),
        ("drug_exposure_start_datetime", TS),
        ("drug_exposure_end_date", DATE),
        ("drug_exposure_end_datetime", TS),
        ("verbatim_end_date", DATE),
        ("drug_type_concept_id", I32),
        ("stop_reason", STR),
        ("refills", I32),
        ("quantity", F64),
        ("days_supply", I32),
        ("sig", STR),
        ("route_concept_id", I32),
        ("lot_number", STR),
        ("provider_id", I64),
        ("visit_occurrence_id", I64),
        ("visit_detail_id", I64),
        ("drug_source_value", STR),
        ("drug_source_concept_id", I32),
        ("route_source_value", STR),
        ("dose_unit_source_value", STR),
    ],
    "procedure_occurrence": [
        ("procedure_occurrence_id", I64),
        ("person_id", I64),
        ("procedure_concept_id", I32),
        ("procedure_date", DATE),
        ("procedure_datetime", TS),
        ("procedure_type_concept_id", I32),
        ("modifier_concept_id", I32),
        ("quantity", I32),
        ("provider_id", I64),
        ("visit_occurrence_id", I64),
        ("visit_detail_id", I64),
        ("procedure_source_value", STR),
        ("procedure_source_concept_id", I32),
        ("modifier_source_value", STR),
    ],
    "concept": [
        ("concept_id", I32),
        ("concept_name", STR),
        ("domain_id", STR),
        ("vocabulary_id", STR),
        ("concept_class_id", STR),
        ("standard_concept", STR),
        ("concept_code", STR),
        ("valid_start_date", DATE),
        ("valid_end_date", DATE),
        ("invalid_reason", STR),
    ],
    "concept_ancestor": [
        ("ancestor_concept_id", I32),
        ("descendant_concept_id", I32),
        ("min_levels_of_separation", I32),
        ("max_levels_of_separation", I32),
    ],
    "concept_relationship": [
        ("concept_id_1", I32),
        ("concept_id_2", I32),
        ("relationship_id", STR),
        ("valid_start_date", DATE),
        ("valid_end_date", DATE),
        ("invalid_reason", STR),
    ],
}


@dataclass(frozen=True)
class EventTable:
    """An event table the histories fill: its row id and the columns of its row tuples."""

    id_column: str
    columns: tuple[str, ...]


EVENT_TABLES: dict[str, EventTable] = {
    "observation_period": EventTable(
        "observation_period_id",
        ("person_id", "observation_period_start_date", "observation_period_end_date"),
    ),
    "visit_occurrence": EventTable(
        "visit_occurrence_id", ("person_id", "visit_concept_id", "visit_start_date")
    ),
    "condition_occurrence": EventTable(
        "condition_occurrence_id",
        (
            "person_id", "condition_start_date", "visit_occurrence_id",
            "condition_source_concept_id", "condition_source_value", "condition_concept_id",
        ),
    ),
    "drug_exposure": EventTable(
        "drug_exposure_id",
        (
            "person_id", "drug_exposure_start_date", "drug_concept_id",
            "drug_exposure_end_date", "days_supply", "route_concept_id",
        ),
    ),
    "procedure_occurrence": EventTable(
        "procedure_occurrence_id",
        (
            "person_id", "procedure_date", "procedure_concept_id", "procedure_source_value",
            "visit_occurrence_id",
        ),
    ),
}  # fmt: skip
# rows that point at a visit of the same chunk (chunk-local index until finish_frames)
VISIT_LINKED = ("condition_occurrence", "procedure_occurrence")
EHR_TYPE = 32817
UNKNOWN_SOURCE_CONCEPT = 2_099_999_999  # an id the concept table does not hold


def to_arrow(table: str, frame: pd.DataFrame) -> pa.Table:
    """Arrow table with the OMOP column order and types; absent columns are all null.

    Date columns arrive as day numbers since 1970-01-01 (or as ISO strings for concept)."""
    arrays = []
    for name, kind in SCHEMAS[table]:
        if name not in frame:
            arrays.append(pa.nulls(len(frame), type=kind))
        elif kind == DATE and frame[name].dtype == object:
            arrays.append(pa.array(pd.to_datetime(frame[name]).dt.date, type=DATE))
        elif kind == DATE:
            days = frame[name].astype("Int64").astype("Int32")
            arrays.append(pa.array(days, type=pa.int32()).cast(DATE))
        else:
            arrays.append(pa.array(frame[name], type=kind, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=pa.schema(SCHEMAS[table]))


def write_part(root: Path, table: str, part: int, frame: pd.DataFrame) -> None:
    """Write one Parquet part of an OMOP table folder."""
    folder = root / table
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_arrow(table, frame), folder / f"part-{part:05d}.parquet")


# race answers by true ancestry group (All of Us style: PPI answers, skips, "none of these")
RACE_BY_ANCESTRY = {
    "eur": {"White": 0.9, "More than one population": 0.03},
    "afr": {"Black or African American": 0.85, "More than one population": 0.06},
    "amr": {"White": 0.3, "None of these": 0.35, "More than one population": 0.15},
    "eas": {"Asian": 0.9},
    "sas": {"Asian": 0.8, "None of these": 0.08},
    "mid": {"White": 0.6, "None of these": 0.25},
    "oth": {"More than one population": 0.4, "None of these": 0.3},
}
MISSING_ANSWERS = {"PMI: Skip": 0.55, "I prefer not to answer": 0.3, "No matching concept": 0.15}


def draw_answer(rng: np.random.Generator, shares: dict[str, float], ids: dict[str, int]) -> int:
    """One concept id: a listed answer by its share, else a skip / no answer / 0."""
    names = list(shares)
    p = np.array([shares[n] for n in names])
    if rng.random() < p.sum():
        return ids[names[rng.choice(len(names), p=p / p.sum())]]
    missing = [n for n in MISSING_ANSWERS if n in ids]
    q = np.array([MISSING_ANSWERS[n] for n in missing])
    return ids[missing[rng.choice(len(missing), p=q / q.sum())]]


def race_ethnicity(rng: np.random.Generator, ancestry: np.ndarray) -> tuple[list[int], list[int]]:
    """race_concept_id and ethnicity_concept_id of each person, by true ancestry group."""
    races = [draw_answer(rng, RACE_BY_ANCESTRY.get(a, {}), RACE_CONCEPTS) for a in ancestry]
    hispanic = {"amr": 0.85}
    ethnicities = [
        draw_answer(
            rng,
            {
                "Hispanic or Latino": 0.95 * hispanic.get(a, 0.03),
                "Not Hispanic or Latino": 0.95 * (1 - hispanic.get(a, 0.03)),
            },
            ETHNICITY_CONCEPTS,
        )
        for a in ancestry
    ]
    return races, ethnicities


def person_rows(plan_df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """person rows: sex at birth (All of Us), gender fallback, a few with neither; race
    and ethnicity answers."""
    n = len(plan_df)
    female = plan_df["female"].to_numpy()
    draw = rng.random(n)
    sab = np.where(female, 45878463, 45880669)
    gender = np.where(female, 8532, 8507)
    sab = np.where(draw < 0.055, 0, sab)  # no sex at birth: falls back to gender
    gender = np.where(draw < 0.008, 0, gender)  # neither: sex unknown
    races, ethnicities = race_ethnicity(rng, plan_df["ancestry"].to_numpy())
    return pd.DataFrame(
        {
            "person_id": plan_df["person_id"].to_numpy(),
            "gender_concept_id": gender,
            "year_of_birth": plan_df["year_of_birth"].to_numpy(),
            "month_of_birth": rng.integers(1, 13, n),
            "race_concept_id": races,
            "ethnicity_concept_id": ethnicities,
            "person_source_value": plan_df["person_id"].astype(str).to_numpy(),
            "sex_at_birth_concept_id": sab,
        }
    )


def condition_fields(
    rng: random.Random, vocab: Vocabulary, vocabulary: str, code: str
) -> tuple[int | None, str, int]:
    """(source concept id, source value, standard concept id) in one of the ways EHR sites
    record a code: the ICD concept, a bare or odd source value without a concept, or the
    SNOMED concept alone (a standard one, or a non-standard source that maps to it)."""
    draw = rng.random()
    concept, standard = vocab.condition_ids[(vocabulary, code)], vocab.snomed_of[(vocabulary, code)]
    if draw < 0.78:
        return concept, code, standard
    if draw < 0.84:
        source = vocab.snomed_sources.get(standard, standard) if rng.random() < 0.4 else standard
        return source, str(source), standard
    bare = code.replace(".", "")
    if draw < 0.90:
        return 0, bare, standard
    if draw < 0.94:
        return 0, code.lower() if rng.random() < 0.5 else code, standard
    if draw < 0.97:
        return None, bare, standard
    return UNKNOWN_SOURCE_CONCEPT, code, standard


ORAL_ROUTE = "oral"


def drug_concept(rng: random.Random, vocab: Vocabulary, name: str) -> int:
    """A product, the ingredient itself or a combination containing it; ``name`` may also
    be a key of ``vocab.special`` (topical doxepin, oral selegiline)."""
    if name in vocab.special:
        return vocab.special[name]
    draw = rng.random()
    products = vocab.products[name]
    if draw < 0.6:
        return products[rng.randint(0, 1)]
    if draw < 0.75:
        return products[2]
    if draw < 0.85 or name not in vocab.combos:
        return vocab.ingredients[name]
    return vocab.combos[name]


def route_id(rng: random.Random, vocab: Vocabulary, name: str, concept: int) -> int | None:
    """The route_concept_id a site writes: the product's route, often 0 or missing."""
    route = vocab.routes.get(concept, "transdermal" if name == "selegiline" else ORAL_ROUTE)
    draw = rng.random()
    if draw < 0.7 and route in ROUTES:
        return ROUTES[route]
    return 0 if draw < 0.9 else None


def drug_fields(rng: random.Random, vocab: Vocabulary, name: str, start: int, supply: int) -> tuple:
    """(drug concept id, end day or None, days_supply or None, route concept id) with the
    EHR's usual gaps."""
    concept = drug_concept(rng, vocab, name)
    route = route_id(rng, vocab, name, concept)
    draw = rng.random()
    if draw < 0.55:
        return concept, start + supply - 1, supply, route
    if draw < 0.72:
        return concept, None, supply, route
    if draw < 0.82:
        return concept, None, None, route
    if draw < 0.87:
        return concept, start - rng.randint(1, 10), supply, route  # end before start
    if draw < 0.94:
        return concept, start + rng.randint(5, 80), None, route
    return concept, None, 0, route


def history_frames(
    person_ids: list[int], histories: list[History], vocab: Vocabulary, rng: random.Random
) -> dict[str, pd.DataFrame]:
    """The chunk's event tables (ids still chunk-local)."""
    rows: dict[str, list[tuple]] = {table: [] for table in EVENT_TABLES}
    for pid, history in zip(person_ids, histories, strict=True):
        visit_of = {
            day: len(rows["visit_occurrence"]) + k
            for k, day in enumerate(sorted(set(history.visits)))
        }
        for day in sorted(visit_of):
            rows["visit_occurrence"].append((pid, rng.choice((9202, 9202, 9202, 9203, 9201)), day))
        for start, end in history.periods:
            rows["observation_period"].append((pid, start, end))
        for day, vocabulary, code in history.conditions:
            source_id, value, standard = condition_fields(rng, vocab, vocabulary, code)
            rows["condition_occurrence"].append(
                (pid, day, visit_of.get(day), source_id, value, standard)
            )
        for day, name, supply in history.drugs:
            rows["drug_exposure"].append((pid, day, *drug_fields(rng, vocab, name, day, supply)))
        for day, vocabulary, code in history.procedures:
            concept = vocab.procedure_ids[(vocabulary, code)]
            rows["procedure_occurrence"].append((pid, day, concept, code, visit_of.get(day)))
    return frames_from_rows(rows)


def frames_from_rows(rows: dict[str, list[tuple]]) -> dict[str, pd.DataFrame]:
    """Column-named frames from the row tuples."""
    frames = {}
    for table, spec in EVENT_TABLES.items():
        frame = pd.DataFrame(rows[table], columns=list(spec.columns))
        for name in spec.columns:
            if name.endswith(("_id", "_date", "days_supply")) and frame[name].dtype == object:
                frame[name] = pd.array(frame[name].tolist(), dtype="Int64")
        frames[table] = frame
    return frames


def finish_frames(frames: dict[str, pd.DataFrame], offsets: dict[str, int]) -> None:
    """Add global row ids (continuing ``offsets``), visit ids, type concepts and end dates."""
    visit_base = offsets["visit_occurrence"]
    for table, spec in EVENT_TABLES.items():
        frame = frames[table]
        if table in VISIT_LINKED:
            frame["visit_occurrence_id"] = frame["visit_occurrence_id"] + visit_base
        frame[spec.id_column] = np.arange(len(frame), dtype=np.int64) + offsets[table]
        offsets[table] += len(frame)
        type_column = (
            "period_type_concept_id"
            if table == "observation_period"
            else (f"{table.split('_')[0]}_type_concept_id")
        )
        frame[type_column] = EHR_TYPE
    visits = frames["visit_occurrence"]
    visits["visit_end_date"] = visits["visit_start_date"]
    frames["drug_exposure"]["drug_source_concept_id"] = frames["drug_exposure"]["drug_concept_id"]
    procedures = frames["procedure_occurrence"]
    procedures["procedure_source_concept_id"] = procedures["procedure_concept_id"]


def relationship_frame(vocab: Vocabulary) -> pd.DataFrame:
    """concept_relationship rows as written (validity dates as ISO strings)."""
    frame = vocab.relationship_df[list(RELATIONSHIP_COLUMNS)].copy()
    frame["valid_start_date"], frame["valid_end_date"] = "1970-01-01", "2099-12-31"
    return frame
