"""Per-person tables shaped like the inputs of the analyze stage, with planted effects (a test
and benchmark helper: the whole study is simulated by :mod:`trd_spark.simulate`).

For developing, testing and benchmarking the statistics without running the
genotype and EHR stages: ``qc/cohorts.parquet``, ``pgs/<cohort>.parquet``,
``phenotypes/persons.parquet`` and ``phenotypes/time_to_event.parquet`` are
drawn with numpy from a seeded generator.  PGS are independent N(0, 1) traits;
status follows logistic models whose log odds ratios per SD are planted, and
time to TRD an exponential model with planted log hazard ratios.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from trd_spark.study import TRD_DEFS, treated_column

# planted log OR per SD of TRD vs trMDD (the paper's directions, enlarged for power)
TRD_EFFECTS = {
    "insomnia": 0.20, "neuroticism": 0.20, "depressed_mood": 0.18, "unenthusiasm": 0.18,
    "lethargy": 0.20, "tenseness": 0.22, "educational_attainment": -0.25,
    "cognitive_performance": -0.20, "intelligence": -0.20,
}  # fmt: skip
# planted log OR per SD of MDD vs non-MDD (psychiatric PGS separate MDD from non-MDD only)
MDD_EFFECTS = {
    "major_depression": 0.35, "anxiety": 0.25, "ptsd": 0.2, "neuroticism": 0.25,
    "insomnia": 0.15, "adhd": 0.15, "loneliness": 0.15, "educational_attainment": -0.1,
}  # fmt: skip
# planted log HR per SD of time to TRD
HAZARD_EFFECTS = {"educational_attainment": -0.35, "insomnia": 0.25}
COHORT_SIZES = {"wgs_european": 15000, "wgs_diverse": 8000, "microarray": 6000}


def simulate_cohort_persons(
    rng: np.random.Generator, cohort: str, n: int, start_id: int, traits: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PGS and phenotypes of one cohort.

    Parameters
    ----------
    rng : seeded generator.
    cohort : cohort name.
    n : persons.
    start_id : first person_id.
    traits : trait names (one PGS each).

    Returns
    -------
    (pgs frame with person_id, raw and _z per trait, persons frame of phenotypes).
    """
    ids = np.arange(start_id, start_id + n, dtype=np.int64)
    z = rng.normal(size=(n, len(traits)))
    col = {t: i for i, t in enumerate(traits)}

    def effect(planted: dict[str, float]) -> np.ndarray:
        return sum((b * z[:, col[t]] for t, b in planted.items() if t in col), np.zeros(n))

    mdd = rng.random(n) < _expit(-0.9 + effect(MDD_EFFECTS))
    treated = mdd & (rng.random(n) < 0.75)
    trd = treated & (rng.random(n) < _expit(-0.8 + effect(TRD_EFFECTS)))
    raw = 0.001 * z + 0.0005
    columns: dict[str, object] = {"person_id": ids}
    for t, i in col.items():
        columns |= {t: raw[:, i], f"{t}_n": np.full(n, 1000), f"{t}_z": z[:, i]}
    pgs_df = pd.DataFrame(columns)
    persons_df = _status_frame(rng, ids, cohort, mdd, treated, trd)
    persons_df["_hazard"] = effect(HAZARD_EFFECTS)
    return pgs_df, persons_df


def _status_frame(
    rng: np.random.Generator,
    ids: np.ndarray,
    cohort: str,
    mdd: np.ndarray,
    treated: np.ndarray,
    trd: np.ndarray,
) -> pd.DataFrame:
    """Definition columns: variants of MDD / TRD that nest the primary ones."""
    n = len(ids)
    sex = np.where(rng.random(n) < 0.6, "female", "male").astype(object)
    sex[rng.random(n) < 0.01] = None
    age = rng.integers(18, 90, n).astype(float)
    n_dates = np.where(mdd, rng.integers(1, 12, n), 0)
    more_trd = rng.random((n, 3)) < [0.03, 0.05, 0.08]
    frame = pd.DataFrame(
        {
            "person_id": ids, "cohort": cohort, "sex": sex, "age": age,
            "age_at_diagnosis": np.where(mdd, age - rng.integers(1, 15, n), np.nan),
            "n_mdd_dates": n_dates,
            "mdd_1": mdd, "mdd_2": mdd & (n_dates >= 2), "mdd_3": mdd | (rng.random(n) < 0.01),
            **{treated_column(t): treated for t in TRD_DEFS},
            "treated": treated, "has_ehr": True,
            "trd_1": trd, "trd_2": trd | (treated & more_trd[:, 0]),
            "trd_3": trd | (treated & more_trd[:, 1]),
            "trd_4": trd | (mdd & more_trd[:, 0]),
            "trd_5": trd | (mdd & (more_trd[:, 0] | more_trd[:, 2])),
            "non_mdd": ~mdd,
        }
    )  # fmt: skip
    return frame


def _expit(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def simulate_time_to_event(rng: np.random.Generator, persons_df: pd.DataFrame) -> pd.DataFrame:
    """Time to TRD for mdd_1 persons with >= 3 MDD dates (exponential, planted hazards).

    Parameters
    ----------
    rng : seeded generator.
    persons_df : from simulate_cohort_persons (with the hidden ``_hazard`` column).

    Returns
    -------
    DataFrame with the columns of ``phenotypes/time_to_event.parquet``.
    """
    subset_df = persons_df[persons_df.mdd_1 & (persons_df.n_mdd_dates >= 3)]
    n = len(subset_df)
    event_time = rng.exponential(1500.0 * np.exp(-subset_df._hazard.to_numpy()))
    censor = rng.uniform(200, 3650, n)
    event = event_time <= censor
    days = np.ceil(np.minimum(event_time, censor)).astype(int)
    prevalent = rng.random(n) < 0.03
    exclusion = pd.Series(np.where(prevalent, "prevalent", "")).replace("", None).to_numpy()
    origin = pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D")
    return pd.DataFrame(
        {
            "person_id": subset_df.person_id.to_numpy(), "origin_date": origin.date,
            "onset_date": np.where(event, (origin + pd.to_timedelta(days, unit="D")).date, None),
            "end_of_observation": (origin + pd.to_timedelta(days, unit="D")).date,
            "event": event, "time_days": days,
            "age_at_diagnosis": subset_df.age_at_diagnosis.to_numpy(),
            "included": ~prevalent,
            "exclusion": exclusion,
        }
    )  # fmt: skip


def _pcs_source(rng: np.random.Generator, cohort: str, n: int) -> np.ndarray:
    """As on the real data: array-only persons are not in the ancestry file, so their PCs
    are projected; so are those of a few WGS persons without an ancestry row."""
    if not cohort.startswith("wgs"):
        return np.full(n, "projected")
    return np.where(rng.random(n) < 0.02, "projected", "ancestry_file")


def write_synthetic_inputs(
    output_dir: str,
    traits: list[str],
    sizes: dict[str, int] | None = None,
    seed: int = 1,
    n_pcs: int = 16,
) -> dict[str, int]:
    """Write qc/, pgs/ and phenotypes/ inputs of the analyze stage under ``output_dir``.

    Parameters
    ----------
    output_dir : folder (the run's output_dir).
    traits : trait names.
    sizes : cohort -> persons (default COHORT_SIZES, the demo scale).
    seed : generator seed.
    n_pcs : PCs written.

    Returns
    -------
    cohort -> persons written.
    """
    rng = np.random.default_rng(seed)
    sizes = sizes or COHORT_SIZES
    for sub in ("qc", "pgs", "phenotypes"):
        os.makedirs(os.path.join(output_dir, sub), exist_ok=True)
    persons, cohorts, next_id = [], [], 1_000_000
    for cohort, n in sizes.items():
        pgs_df, persons_df = simulate_cohort_persons(rng, cohort, n, next_id, traits)
        next_id += n
        pgs_df.to_parquet(os.path.join(output_dir, "pgs", f"{cohort}.parquet"), index=False)
        persons.append(persons_df)
        pcs = rng.normal(scale=0.02, size=(n, n_pcs))
        pcs[rng.random(n) < 0.005] = np.nan
        cohorts.append(pd.DataFrame({"person_id": pgs_df.person_id, "platform": "wgs"
                                     if cohort.startswith("wgs") else "array", "cohort": cohort,
                                     "pcs_source": _pcs_source(rng, cohort, n)}
                                    | {f"pc{i + 1}": pcs[:, i] for i in range(n_pcs)}))  # fmt: skip
    persons_df = pd.concat(persons, ignore_index=True)
    simulate_time_to_event(rng, persons_df).to_parquet(
        os.path.join(output_dir, "phenotypes", "time_to_event.parquet"), index=False
    )
    persons_df.drop(columns="_hazard").to_parquet(
        os.path.join(output_dir, "phenotypes", "persons.parquet"), index=False
    )
    pd.concat(cohorts, ignore_index=True).to_parquet(
        os.path.join(output_dir, "qc", "cohorts.parquet"), index=False
    )
    return dict(sizes)
