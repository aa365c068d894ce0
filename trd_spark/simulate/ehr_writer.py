"""Write the OMOP tables chunk by chunk and recompute each chunk's truth from its rows."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.simulate.events import PersonPlan, build_history
from trd_spark.simulate.omop import finish_frames, history_frames, person_rows, to_arrow, write_part
from trd_spark.simulate.plan import CUTOFF, day_number
from trd_spark.simulate.scales import Scale
from trd_spark.simulate.truth import compute_truth, load_code_lists, time_to_event
from trd_spark.simulate.vocab import Vocabulary, build_vocabulary

EVENT_TABLES = (
    "observation_period",
    "visit_occurrence",
    "condition_occurrence",
    "drug_exposure",
    "procedure_occurrence",
)


def person_plans(chunk_df: pd.DataFrame) -> list[PersonPlan]:
    """PersonPlan of each row of a chunk of the plan table."""
    return [
        PersonPlan(
            group=g, obs_end=int(e), obs_start=int(e - n), follow_up=int(f), time_to_trd=float(t)
        )
        for g, e, n, f, t in zip(
            chunk_df["group"],
            chunk_df["obs_end"],
            chunk_df["obs_length"],
            chunk_df["follow_up"],
            chunk_df["time_to_trd"],
            strict=True,
        )
    ]


def write_vocabulary(omop: Path, vocab: Vocabulary) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write concept and concept_ancestor; return them as the truth code reads them."""
    write_part(omop, "concept", 0, vocab.concept_df)
    write_part(omop, "concept_ancestor", 0, vocab.ancestor_df)
    concept_df = to_arrow("concept", vocab.concept_df).to_pandas()
    return concept_df, vocab.ancestor_df


def write_ehr(
    root: Path, seed: int, sizes: Scale, plan_df: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write data/omop/<table>/part-*.parquet for every person with EHR.

    Parameters
    ----------
    root : study folder.
    seed : study seed.
    sizes : the scale (chunk size).
    plan_df : planned persons (has_ehr, group, dates, demography).

    Returns
    -------
    (truth per person indexed by person_id, time-to-event truth).
    """
    omop = root / "data" / "omop"
    vocab = build_vocabulary()
    concept_df, ancestor_df = write_vocabulary(omop, vocab)
    lists = load_code_lists(concept_df)
    ehr_df = plan_df[plan_df["has_ehr"]].reset_index(drop=True)
    offsets = dict.fromkeys(EVENT_TABLES, 1)
    truths = []
    for part, start in enumerate(range(0, len(ehr_df), sizes.ehr_chunk)):
        chunk_df = ehr_df.iloc[start : start + sizes.ehr_chunk]
        tables = write_chunk(omop, part, seed, chunk_df, vocab, offsets)
        truths.append(
            compute_truth(tables, concept_df, ancestor_df, lists, day_number(CUTOFF), CUTOFF.year)
        )
    truth_df = pd.concat(truths)
    return truth_df, time_to_event(truth_df)


def write_chunk(
    omop: Path,
    part: int,
    seed: int,
    chunk_df: pd.DataFrame,
    vocab: Vocabulary,
    offsets: dict[str, int],
) -> dict[str, pd.DataFrame]:
    """Build, number and write one chunk of persons' rows; returns the frames written."""
    rng = random.Random(seed * 1_000_003 + part)
    histories = [
        build_history(rng, plan, vocab.antidepressants, vocab.antipsychotics)
        for plan in person_plans(chunk_df)
    ]
    frames = history_frames(chunk_df["person_id"].tolist(), histories, vocab, rng)
    finish_frames(frames, offsets)
    frames["person"] = person_rows(chunk_df, np.random.default_rng([seed, 201, part]))
    for table, frame in frames.items():
        write_part(omop, table, part, frame)
    return frames
