"""Record density: everyday EHR rows that fill a person's record to a realistic volume.

The phenotype-relevant events (simulate/events.py) are a few dozen rows per person.  Real
records hold hundreds of rows of everyday care, which the phenotype stage must read, check
and pass over; the ``realistic`` density adds them, drawn in numpy per chunk of persons, so
a benchmark can run the stage at All of Us volume (``docs/phenotypes.md``, "The simulated
study").  These rows carry no listed code, so they change no status, only the volume and who
has an EHR record.

Rates are rows per person-year of observation; with the simulated EHR length (about 12
years on average, SD 9: ``simulate/plan.py``) the ``realistic`` density gives about 420 rows
per person with EHR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trd_spark.simulate.vocab import FILLER_ICD10, OTHER_PROCEDURES, Vocabulary

FILLER_DRUGS = ("atorvastatin", "metformin", "lisinopril")
VISIT_CONCEPTS = np.array([9202, 9202, 9202, 9203, 9201])


@dataclass(frozen=True)
class Density:
    """Everyday rows per person-year of observation, by table."""

    visits: float
    conditions: float
    drugs: float
    procedures: float


DENSITIES = {
    "sparse": Density(0.0, 0.0, 0.0, 0.0),  # only the phenotype-relevant events
    "realistic": Density(visits=8.0, conditions=12.0, drugs=9.0, procedures=6.0),
}


def get_density(name: str) -> Density:
    """A density by name; ValueError naming the choices for an unknown one."""
    if name not in DENSITIES:
        raise ValueError(f"unknown EHR density {name!r}; choose from {', '.join(DENSITIES)}")
    return DENSITIES[name]


def draw_days(
    rng: np.random.Generator, rate: float, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(rate x years) uniform days in each person's window: (person index, day)."""
    years = np.maximum(ends - starts, 0) / 365.25
    counts = rng.poisson(rate * years)
    owner = np.repeat(np.arange(len(starts)), counts)
    days = starts[owner] + np.floor(rng.random(len(owner)) * (ends - starts + 1)[owner])
    return owner, days.astype(np.int64)


def filler_frames(
    rng: np.random.Generator,
    person_ids: np.ndarray,
    windows: tuple[np.ndarray, np.ndarray],
    vocab: Vocabulary,
    density: Density,
) -> dict[str, pd.DataFrame]:
    """Everyday visit, condition, drug and procedure rows of the chunk's persons with EHR.

    Parameters
    ----------
    rng : the chunk's generator.
    person_ids : persons with EHR.
    windows : (first day, last day) of each person's observation.
    vocab : the simulated vocabulary.
    density : rows per person-year.

    Returns
    -------
    Frames with the columns of ``simulate.omop.EVENT_TABLES`` (no observation periods).
    """
    starts, ends = windows
    frames = {}
    owner, days = draw_days(rng, density.visits, starts, ends)
    frames["visit_occurrence"] = pd.DataFrame(
        {
            "person_id": person_ids[owner],
            "visit_concept_id": rng.choice(VISIT_CONCEPTS, len(owner)),
            "visit_start_date": days,
        }
    )
    owner, days = draw_days(rng, density.conditions, starts, ends)
    codes = rng.integers(0, len(FILLER_ICD10), len(owner))
    ids = np.array([vocab.condition_ids[("ICD10CM", c)] for c in FILLER_ICD10])
    standard = np.array([vocab.snomed_of[("ICD10CM", c)] for c in FILLER_ICD10])
    frames["condition_occurrence"] = pd.DataFrame(
        {
            "person_id": person_ids[owner],
            "condition_start_date": days,
            "visit_occurrence_id": pd.array([None] * len(owner), dtype="Int64"),
            "condition_source_concept_id": ids[codes],
            "condition_source_value": np.array(FILLER_ICD10, dtype=object)[codes],
            "condition_concept_id": standard[codes],
        }
    )
    owner, days = draw_days(rng, density.drugs, starts, ends)
    products = np.array([vocab.products[name][j] for name in FILLER_DRUGS for j in range(3)])
    supply = rng.choice(np.array([30, 30, 90]), len(owner))
    frames["drug_exposure"] = pd.DataFrame(
        {
            "person_id": person_ids[owner],
            "drug_exposure_start_date": days,
            "drug_concept_id": rng.choice(products, len(owner)),
            "drug_exposure_end_date": days + supply - 1,
            "days_supply": supply,
            "route_concept_id": np.full(len(owner), 4_132_161),
        }
    )
    owner, days = draw_days(rng, density.procedures, starts, ends)
    picks = rng.integers(0, len(OTHER_PROCEDURES), len(owner))
    procedure_ids = np.array([vocab.procedure_ids[p] for p in OTHER_PROCEDURES])
    frames["procedure_occurrence"] = pd.DataFrame(
        {
            "person_id": person_ids[owner],
            "procedure_date": days,
            "procedure_concept_id": procedure_ids[picks],
            "procedure_source_value": np.array([c for _, c in OTHER_PROCEDURES], dtype=object)[
                picks
            ],
            "visit_occurrence_id": pd.array([None] * len(owner), dtype="Int64"),
        }
    )
    return frames
