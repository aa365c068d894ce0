"""The analysis table: one row per person of a cohort with status, covariates and PGS.

Built on the driver from the per-person outputs of the earlier stages (bounded
by the number of persons).  Persons without genotypes, EHR, PCs, sex or age
are removed step by step and every step is counted for ``results/attrition``.
PGS are standardized within the analysis sample (sample SD, n - 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trd_spark.errors import InputError
from trd_spark.study import COMBINATIONS, Layout, contrast_groups, group_masks


@dataclass
class AnalysisTable:
    """One cohort's analysis sample.

    Attributes
    ----------
    cohort : cohort name.
    data_df : person_id, sex (1 = male, 0 = female), age, age_at_diagnosis, pc1..pcN,
        ``pcs_source`` when qc/cohorts.parquet has it, status columns, and one
        standardized column per trait (named by the trait).
    raw_pgs_df : person_id and the raw PGS per trait, same rows as data_df.
    traits : traits analysed in this cohort.
    constant_traits : traits whose PGS does not vary in the sample (no z-score).
    attrition : rows of (cohort, step, n_persons, n_rows_dropped, reason).
    """

    cohort: str
    data_df: pd.DataFrame
    raw_pgs_df: pd.DataFrame
    traits: list[str]
    constant_traits: list[str] = field(default_factory=list)
    attrition: list[dict[str, object]] = field(default_factory=list)


def build_analysis_table(
    cohort: str,
    cohorts_df: pd.DataFrame,
    pgs_df: pd.DataFrame,
    persons_df: pd.DataFrame,
    traits: list[str],
    n_pcs: int = 16,
) -> AnalysisTable:
    """Join genotyped persons, PGS and phenotypes of one cohort and drop incomplete persons.

    Parameters
    ----------
    cohort : name of the cohort (value of ``cohorts_df.cohort``).
    cohorts_df : ``qc/cohorts.parquet`` (person_id, cohort, pc1..pc16).
    pgs_df : ``pgs/<cohort>.parquet`` (person_id and one raw column per trait).
    persons_df : ``phenotypes/persons.parquet``.
    traits : trait catalog order; those without a PGS column are skipped.
    n_pcs : number of PCs used as covariates.

    Returns
    -------
    AnalysisTable with the attrition of every exclusion step.
    """
    pcs = [f"pc{i}" for i in range(1, n_pcs + 1)]
    _require_columns(cohorts_df, ["person_id", "cohort", *pcs], Layout.COHORTS)
    _require_columns(pgs_df, ["person_id"], Layout.pgs(cohort))
    status_columns = group_columns()
    _require_columns(persons_df, ["person_id", "sex", "age", *status_columns], Layout.PERSONS)
    present = [t for t in traits if t in pgs_df.columns]
    extra = ["pcs_source"] if "pcs_source" in cohorts_df.columns else []
    members_df = cohorts_df.loc[cohorts_df.cohort == cohort, ["person_id", *pcs, *extra]]
    # person order, not the order Spark's partitions happened to write: sums over persons
    # then round the same way on every cluster, and so do the fits' iteration counts
    members_df = members_df.drop_duplicates("person_id").sort_values("person_id")
    log = _Attrition(cohort)
    log.start(len(members_df), f"genotyped persons assigned to cohort {cohort}")
    table_df = members_df.merge(pgs_df[["person_id", *present]], on="person_id", how="left")
    table_df = log.drop(table_df, table_df[present].isna().all(axis=1), "no_genotypes",
                        "no PGS (not scored)")  # fmt: skip
    person_cols = ["person_id", "sex", "age", *status_columns]
    person_cols += [c for c in ("age_at_diagnosis", "has_ehr") if c in persons_df.columns]
    table_df = table_df.merge(
        persons_df[list(dict.fromkeys(person_cols))], on="person_id", how="left", indicator=True
    )
    table_df = log.drop(table_df, table_df.pop("_merge") != "both", "no_ehr",
                        f"not in {Layout.PERSONS}")  # fmt: skip
    if "has_ehr" in table_df.columns:  # in person but without any EHR record: no group at all
        table_df = log.drop(table_df, ~table_df["has_ehr"].eq(True), "no_ehr_records",
                            "in person but no EHR record (condition, drug, procedure, visit "
                            "or observation period)")  # fmt: skip
    _check_not_all_missing(table_df, [*pcs, "sex", "age"], cohort)
    table_df = log.drop(table_df, table_df[pcs].isna().any(axis=1), "missing_pcs", "missing PCs")
    table_df = log.drop(table_df, ~table_df.sex.isin(["female", "male"]), "missing_sex",
                        "sex missing or not female/male")  # fmt: skip
    table_df = log.drop(table_df, table_df.age.isna(), "missing_age", "age missing")
    return _finish_table(cohort, table_df, present, log)


def _finish_table(
    cohort: str, table_df: pd.DataFrame, traits: list[str], log: _Attrition
) -> AnalysisTable:
    """Code sex and status, standardize the PGS and split raw from standardized scores."""
    table_df = table_df.reset_index(drop=True)
    raw_pgs_df = table_df[["person_id", *traits]].copy()
    data_df = table_df.drop(columns=traits)
    data_df["sex"] = (data_df.sex == "male").astype(float)
    for column in group_columns():
        data_df[column] = data_df[column].eq(True)  # missing status = not in the group
    z_df, constant = standardize_pgs(raw_pgs_df[traits])
    data_df = pd.concat([data_df, z_df], axis=1)
    return AnalysisTable(cohort, data_df, raw_pgs_df, traits, constant, log.rows)


def replace_scores(table: AnalysisTable, scores_df: pd.DataFrame) -> AnalysisTable:
    """The table with other raw scores (an ancestry calibration), standardized again.

    Parameters
    ----------
    table : an analysis table.
    scores_df : person_id and one column per trait of the table, for its persons.

    Returns
    -------
    AnalysisTable with the new scores in ``raw_pgs_df`` and their z-scores in ``data_df``.
    """
    raw_df = table.raw_pgs_df[["person_id"]].merge(scores_df, on="person_id", how="left")
    raw_df = raw_df[["person_id", *table.traits]]
    z_df, constant = standardize_pgs(raw_df[table.traits])
    data_df = table.data_df.drop(columns=table.traits).join(z_df)
    return AnalysisTable(table.cohort, data_df, raw_df, table.traits, constant, table.attrition)


def standardize_pgs(raw_df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(x - mean) / SD (n - 1) per column; constant columns become NaN and are listed.

    Parameters
    ----------
    raw_df : one column per trait.

    Returns
    -------
    (standardized frame, names of constant columns).
    """
    mean = raw_df.mean()
    sd = raw_df.std(ddof=1)
    constant = [
        str(c)
        for c in raw_df.columns
        if not np.isfinite(sd[c]) or sd[c] <= 1e-12 * max(1.0, abs(mean[c]))
    ]
    z_df = (raw_df - mean) / sd
    z_df[constant] = np.nan
    return z_df, constant


def group_columns() -> list[str]:
    """The persons columns that :func:`trd_spark.study.group_masks` reads for any of the
    study's comparisons (definitions, treatedness, non-MDD), in first-use order.

    Found by asking the group rule itself, so the analysis needs no list of its own when
    the rule changes (a treated column per TRD definition, say)."""
    seen: list[str] = []

    def record(column: str) -> np.ndarray:
        if column not in seen:
            seen.append(column)
        return np.zeros(0, dtype=bool)

    for trd_def, trmdd_def in COMBINATIONS:
        group_masks(record, trd_def, trmdd_def)
    return seen


def comparison_groups(data_df: pd.DataFrame, trd_def: str, trmdd_def: str) -> dict[str, np.ndarray]:
    """Boolean masks of the TRD, trMDD and non-MDD groups of one comparison
    (:func:`trd_spark.study.group_masks`).

    Parameters
    ----------
    data_df : analysis table with the status columns (missing status already false).
    trd_def : ``trd_1`` .. ``trd_5``.
    trmdd_def : ``trmdd_1`` .. ``trmdd_3``.

    Returns
    -------
    dict with ``TRD``, ``trMDD``, ``nonMDD`` masks.
    """
    return group_masks(lambda column: data_df[column].to_numpy(bool), trd_def, trmdd_def)


def contrast_outcome(groups: dict[str, np.ndarray], contrast: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows in the contrast, 0/1 case indicator on those rows) for a contrast name.

    Parameters
    ----------
    groups : masks from ``comparison_groups``.
    contrast : one of ``trd_spark.study.CONTRASTS``, ``<cases>_vs_<controls>``.

    Returns
    -------
    (boolean row mask, float outcome of the selected rows).
    """
    try:
        cases_name, controls_name = contrast_groups(contrast)
    except ValueError as err:
        raise InputError(str(err)) from None
    cases, controls = groups[cases_name], groups[controls_name]
    rows = cases | controls
    return rows, cases[rows].astype(float)


class _Attrition:
    """Counts persons left and dropped at each exclusion step of one cohort."""

    def __init__(self, cohort: str) -> None:
        self.cohort = cohort
        self.rows: list[dict[str, object]] = []

    def start(self, n: int, reason: str) -> None:
        self.rows.append(self._row("cohort", n, 0, reason))

    def drop(self, frame: pd.DataFrame, dropped: pd.Series, step: str, reason: str) -> pd.DataFrame:
        kept_df = frame.loc[~dropped.to_numpy(bool)]
        self.rows.append(self._row(step, len(kept_df), int(dropped.sum()), reason))
        return kept_df

    def _row(self, step: str, n: int, dropped: int, reason: str) -> dict[str, object]:
        return {"cohort": self.cohort, "step": step, "n_persons": n,
                "n_rows_dropped": dropped, "reason": reason}  # fmt: skip


def _require_columns(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """InputError naming the file and the first missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{source}: column(s) {', '.join(missing)} missing; re-run the stage that writes "
            f"{source} (trd-spark run --force --stages ...) or fix the file"
        )


def _check_not_all_missing(table_df: pd.DataFrame, columns: list[str], cohort: str) -> None:
    """A covariate missing for every person is a broken input, not an exclusion."""
    if table_df.empty:
        return
    for column in columns:
        values = table_df[column]
        if column == "sex":
            values = values.where(values.isin(["female", "male"]))
        if values.isna().all():
            source = Layout.PERSONS if column in ("sex", "age") else Layout.COHORTS
            raise InputError(
                f"{source}: column {column} is missing for all {len(table_df)} persons of cohort "
                f"{cohort}; every person would be excluded. Check the inputs of the stage that "
                "wrote it (ancestry file PCs, OMOP person table sex/year_of_birth)"
            )
