"""Write the OMOP tables chunk by chunk and recompute each chunk's truth from its rows."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.simulate.density import Density, filler_frames, get_density
from trd_spark.simulate.events import History, PersonPlan, build_history
from trd_spark.simulate.omop import (
    EVENT_TABLES,
    finish_frames,
    history_frames,
    person_rows,
    relationship_frame,
    to_arrow,
    write_part,
)
from trd_spark.simulate.plan import CUTOFF, day_number
from trd_spark.simulate.scales import Scale
from trd_spark.simulate.truth import compute_truth, load_code_lists, time_to_event
from trd_spark.simulate.vocab import Vocabulary, build_vocabulary


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


def write_vocabulary(omop: Path, vocab: Vocabulary) -> dict[str, pd.DataFrame]:
    """Write concept, concept_ancestor and concept_relationship; return them as the truth
    code reads them."""
    frames = {
        "concept": vocab.concept_df,
        "concept_ancestor": vocab.ancestor_df,
        "concept_relationship": relationship_frame(vocab),
    }
    for table, frame in frames.items():
        write_part(omop, table, 0, frame)
    return {table: to_arrow(table, frame).to_pandas() for table, frame in frames.items()}


def write_ehr(
    root: Path, seed: int, sizes: Scale, plan_df: pd.DataFrame, density: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write data/omop/<table>/part-*.parquet: every person in ``person``, event rows for
    the persons with EHR.

    Parameters
    ----------
    root : study folder.
    seed : study seed.
    sizes : the scale (chunk size, default density).
    plan_df : planned persons (has_ehr, group, dates, demography).
    density : record density (``simulate.density.DENSITIES``); None: the scale's.

    Returns
    -------
    (truth per person indexed by person_id, time-to-event truth).
    """
    omop = root / "data" / "omop"
    vocab = build_vocabulary()
    vocabulary = write_vocabulary(omop, vocab)
    lists = load_code_lists(vocabulary["concept"])
    rates = get_density(density or sizes.ehr_density)
    persons_df = plan_df.reset_index(drop=True)
    offsets = dict.fromkeys(EVENT_TABLES, 1)
    truths = []
    for part, start in enumerate(range(0, len(persons_df), sizes.ehr_chunk)):
        chunk_df = persons_df.iloc[start : start + sizes.ehr_chunk]
        tables = write_chunk(omop, part, seed, chunk_df, vocab, offsets, rates)
        truths.append(compute_truth(tables, vocabulary, lists, day_number(CUTOFF), CUTOFF.year))
    truth_df = pd.concat(truths)
    return truth_df, time_to_event(truth_df)


def write_chunk(
    omop: Path,
    part: int,
    seed: int,
    chunk_df: pd.DataFrame,
    vocab: Vocabulary,
    offsets: dict[str, int],
    density: Density,
) -> dict[str, pd.DataFrame]:
    """Build, number and write one chunk of persons' rows; returns the frames written."""
    rng = random.Random(seed * 1_000_003 + part)
    ehr_df = chunk_df[chunk_df["has_ehr"].to_numpy(bool)]
    histories: list[History] = [
        build_history(rng, plan, vocab.antidepressants, vocab.antipsychotics)
        for plan in person_plans(ehr_df)
    ]
    frames = history_frames(ehr_df["person_id"].tolist(), histories, vocab, rng)
    ends = ehr_df["obs_end"].to_numpy(np.int64)
    windows = (ends - ehr_df["obs_length"].to_numpy(np.int64), ends)
    filler = filler_frames(
        np.random.default_rng([seed, 203, part]),
        ehr_df["person_id"].to_numpy(np.int64),
        windows,
        vocab,
        density,
    )
    for table, frame in filler.items():
        if len(frame):
            frames[table] = pd.concat([frames[table], frame], ignore_index=True)
    finish_frames(frames, offsets)
    frames["person"] = person_rows(chunk_df, np.random.default_rng([seed, 201, part]))
    for table, frame in frames.items():
        write_part(omop, table, part, frame)
    return frames
