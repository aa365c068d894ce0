"""Analysis cohorts: which genotyped persons each cohort rule selects.

Per-person tables are bounded by the number of persons, so they live in pandas
on the driver.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from trd_spark.errors import InputError
from trd_spark.genomics.readers import _parse_person_ids

ATTRITION_COLUMNS = ["step", "n_persons", "n_rows_dropped", "reason"]


@dataclass(frozen=True)
class CohortSpec:
    """One cohort rule in plain values."""

    name: str
    platform: str
    ancestry: tuple[str, ...] | None = None
    exclude_in: tuple[str, ...] = ()


def person_ids_of(samples: list[str], platform: str) -> pd.Series:
    """Parse a platform's sample ids (MT column key ``s``) into int64 person ids.

    Parameters
    ----------
    samples : the column keys in MatrixTable order.
    platform : for error messages.

    Returns
    -------
    int64 Series in the same order; non-integer or duplicate ids raise InputError.
    """
    return _parse_person_ids(
        pd.Series(samples, dtype=str), f"genotypes of platform {platform}", "s"
    )


def assign_cohorts(
    persons: dict[str, pd.Series], ancestry_df: pd.DataFrame | None, specs: list[CohortSpec]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build the cohorts and the attrition rows.

    Parameters
    ----------
    persons : platform -> int64 person ids genotyped on it.
    ancestry_df : ``person_id``, ``ancestry_pred``, ``pc1``.. (None when no file).
    specs : the cohort rules, in config order; a person takes the first cohort that selects it.

    Returns
    -------
    (``person_id, platform, cohort, ancestry_pred`` one row per person and platform,
    attrition table with one row per cohort and per exclusion).
    """
    ancestry = (
        pd.Series(dtype=str)
        if ancestry_df is None
        else ancestry_df.set_index("person_id")["ancestry_pred"]
    )
    frames, attrition = [], []
    for platform, ids in persons.items():
        frame = pd.DataFrame({"person_id": ids.to_numpy(), "platform": platform})
        frame["ancestry_pred"] = frame["person_id"].map(ancestry)
        frame["cohort"] = None
        attrition.append(_row(f"genotyped_{platform}", len(frame), 0, "persons genotyped"))
        for spec in [s for s in specs if s.platform == platform]:
            attrition += _fill_cohort(frame, spec, persons)
        frames.append(frame)
    cohorts_df = pd.concat(frames, ignore_index=True)
    return cohorts_df[["person_id", "platform", "cohort", "ancestry_pred"]], pd.DataFrame(
        attrition, columns=ATTRITION_COLUMNS
    )


def _fill_cohort(
    frame: pd.DataFrame, spec: CohortSpec, persons: dict[str, pd.Series]
) -> list[dict[str, object]]:
    free = frame["cohort"].isna()
    rows = []
    if spec.ancestry is not None:
        unassigned = free & frame["ancestry_pred"].isna()
        other = free & frame["ancestry_pred"].notna() & ~frame["ancestry_pred"].isin(spec.ancestry)
        rows.append(
            _row(
                f"{spec.name}: unassigned",
                int(unassigned.sum()),
                int(unassigned.sum()),
                "absent from the ancestry file; cannot pass an ancestry filter",
            )
        )
        rows.append(
            _row(
                f"{spec.name}: other_ancestry",
                int(other.sum()),
                int(other.sum()),
                f"ancestry_pred not in {', '.join(spec.ancestry)}",
            )
        )
        free &= frame["ancestry_pred"].isin(spec.ancestry)
    for other_platform in spec.exclude_in:
        present = free & frame["person_id"].isin(persons[other_platform])
        rows.append(
            _row(
                f"{spec.name}: in_{other_platform}",
                int(present.sum()),
                int(present.sum()),
                f"also genotyped on {other_platform}",
            )
        )
        free &= ~present
    if not free.any():
        raise InputError(
            f"cohort '{spec.name}' has no samples: no person genotyped on {spec.platform} passes "
            "its rule; check cohorts.<name> (ancestry, exclude_in) and the ancestry file"
        )
    frame.loc[free, "cohort"] = spec.name
    rows.append(_row(spec.name, int(free.sum()), 0, "persons in the cohort"))
    return rows


def _row(step: str, n_persons: int, n_dropped: int, reason: str) -> dict[str, object]:
    return {"step": step, "n_persons": n_persons, "n_rows_dropped": n_dropped, "reason": reason}


def attach_pcs(
    cohorts_df: pd.DataFrame,
    ancestry_df: pd.DataFrame | None,
    computed_df: pd.DataFrame | None,
    n_pcs: int = 16,
) -> pd.DataFrame:
    """Add ``pc1``..``pc<n_pcs>`` and ``pcs_source`` to every person and platform.

    Parameters
    ----------
    cohorts_df : output of :func:`assign_cohorts`.
    ancestry_df : the ancestry file (``person_id`` + PC columns), or None.
    computed_df : PCs computed from the genotypes: ``person_id``, ``platform``, PC columns and
        ``pcs_source`` (``computed`` / ``projected``); they replace the file's for those rows.
    n_pcs : number of PCs.

    Returns
    -------
    The cohorts table with PC columns (null when the person has none) and ``pcs_source``
    (``ancestry_file``, ``computed``, ``projected``, or null without PCs).
    """
    pc_cols = [f"pc{i + 1}" for i in range(n_pcs)]
    if ancestry_df is None:
        out_df = cohorts_df.assign(**{col: float("nan") for col in pc_cols})
    else:
        keep_df = ancestry_df[["person_id", *pc_cols]].drop_duplicates("person_id")
        out_df = cohorts_df.merge(keep_df, on="person_id", how="left")
    has_pcs = out_df[pc_cols].notna().all(axis=1)
    out_df["pcs_source"] = has_pcs.map({True: "ancestry_file", False: None}).astype(object)
    if computed_df is not None and len(computed_df):
        key = ["person_id", "platform"]
        out_df = out_df.set_index(key)
        out_df.update(computed_df.set_index(key)[[*pc_cols, "pcs_source"]])
        out_df = out_df.reset_index()
    out_df["person_id"] = out_df["person_id"].astype("int64")
    return out_df


def pcs_attrition(cohorts_df: pd.DataFrame) -> list[dict[str, object]]:
    """One row per cohort whose PCs were computed from the genotypes, and one per cohort
    with members left without PCs (the analysis excludes them)."""
    rows = []
    members = cohorts_df[cohorts_df["cohort"].notna()]
    for cohort, part in members.groupby("cohort", sort=False):
        for source in ("computed", "projected"):
            n = int((part["pcs_source"] == source).sum())
            if n:
                rows.append(_row(f"{cohort}: pcs_{source}", n, 0, PCS_REASONS[source]))
        lacking = int(part["pcs_source"].isna().sum())
        if lacking:
            rows.append(_row(f"{cohort}: no_pcs", lacking, 0, "no PCs; excluded at analysis"))
    return rows


PCS_REASONS = {
    "computed": "PCs from the platform's own PCA (reference person)",
    "projected": "PCs projected onto the platform's own PCA",
}
