"""Progression to TRD: Cox models per PGS, cox.zph, Kaplan-Meier and mean time (docs/statistics.md).

Each survival set (a cohort, or cohorts of one platform pooled with cohort as a
Cox stratum) is the phenotype stage's time-to-event subset restricted to the
analysis sample.  Within it, every trait gets two models: PGS strata
(reference the lowest 20%) and PGS per SD, both adjusted for age at
diagnosis, sex and the PCs.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from trd_spark.errors import InputError
from trd_spark.stats.analysis import AnalysisTable
from trd_spark.stats.survival import (
    cox_zph,
    fit_cox,
    kaplan_meier,
    mean_time_to_event,
    pgs_strata,
)

log = logging.getLogger(__name__)

SURVIVAL_COLUMNS = [
    "cohort", "trait", "term", "hr", "ci_low", "ci_high", "p", "n", "n_events", "zph_chisq",
    "zph_p", "zph_global_chisq", "zph_global_p", "step_size", "status",
]  # fmt: skip
KM_COLUMNS = ["cohort", "trait", "stratum", "time", "survival", "ci_low", "ci_high", "at_risk"]
STRATUM_NAMES = ("pgs_0_20", "pgs_20_80", "pgs_80_100")


def build_survival_set(
    tte_df: pd.DataFrame, table: AnalysisTable
) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """The included time-to-event rows of the analysis sample, with covariates and raw PGS.

    Parameters
    ----------
    tte_df : ``phenotypes/time_to_event.parquet``.
    table : the cohort's analysis table.

    Returns
    -------
    (frame with time_days, event, age_at_diagnosis, sex, pcs, cohort and raw PGS per trait,
    attrition rows).
    """
    missing = {"person_id", "included", "event", "time_days", "age_at_diagnosis"} - set(tte_df)
    if missing:
        raise InputError(
            f"phenotypes/time_to_event.parquet: column(s) {', '.join(sorted(missing))} missing; "
            "re-run the phenotype stage"
        )
    pcs = [c for c in table.data_df.columns if c.startswith("pc") and c[2:].isdigit()]
    base_df = table.data_df[["person_id", "sex", *pcs]].merge(table.raw_pgs_df, on="person_id")
    subset_df = tte_df.drop(columns=["cohort", "sex"], errors="ignore").merge(
        base_df, on="person_id"
    )
    subset_text = "time-to-event subset (mdd_1, >= 3 MDD dates) in the analysis sample"
    rows = [_attrition(table.cohort, "survival_subset", len(subset_df), 0, subset_text)]
    excluded = subset_df.loc[~subset_df.included.astype(bool), "exclusion"].fillna("excluded")
    for reason, count in excluded.value_counts().items():
        rows.append(_attrition(table.cohort, f"survival_{reason}", 0, int(count), str(reason)))
    subset_df = subset_df[subset_df.included.astype(bool)]
    lacking_age = subset_df.age_at_diagnosis.isna()
    subset_df = subset_df[~lacking_age]
    rows.append(_attrition(table.cohort, "survival_missing_age_at_diagnosis", len(subset_df),
                           int(lacking_age.sum()), "age at diagnosis missing"))  # fmt: skip
    kept = len(subset_df)
    for row in rows[1:-1]:
        row["n_persons"] = kept
    subset_df = subset_df.assign(cohort=table.cohort, event=subset_df.event.astype(int))
    return subset_df.reset_index(drop=True), rows


def _attrition(cohort: str, step: str, n: int, dropped: int, reason: str) -> dict[str, object]:
    return {"cohort": cohort, "step": step, "n_persons": n, "n_rows_dropped": dropped,
            "reason": reason}  # fmt: skip


def analyse_trait(
    set_df: pd.DataFrame,
    set_name: str,
    trait: str,
    covariates: list[str],
    pooled: bool,
    percentiles: tuple[float, float] = (20.0, 80.0),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cox by PGS strata and per SD, cox.zph and KM per stratum for one trait.

    Parameters
    ----------
    set_df : survival set with time_days, event, covariates, cohort and the trait's raw PGS.
    set_name : name written in the ``cohort`` column (a cohort or a pooled platform).
    trait : the PGS column.
    covariates : adjustment covariates (age_at_diagnosis, sex, PCs).
    pooled : cohorts pooled: ``cohort`` is a Cox stratum.
    percentiles : strata cut points.

    Returns
    -------
    (survival rows, KM rows).
    """
    values = set_df[trait].to_numpy(float)
    usable = np.isfinite(values)
    data_df = set_df.loc[usable].reset_index(drop=True)
    values = values[usable]
    if len(values) < 10 or np.std(values) == 0 or data_df.event.sum() == 0:
        return _failed_rows(set_name, trait, len(values), int(data_df.event.sum()),
                            "too_few_or_constant"), pd.DataFrame(columns=KM_COLUMNS)  # fmt: skip
    groups = pgs_strata(values, percentiles)
    data_df = data_df.assign(
        pgs_20_80=(groups == 1).astype(float),
        pgs_80_100=(groups == 2).astype(float),
        pgs_per_sd=values / values.std(ddof=1),
    )
    covariates = [c for c in covariates if data_df[c].std() > 0]
    strata = ["cohort"] if pooled else None
    rows = [
        _model_rows(data_df, set_name, trait, ["pgs_20_80", "pgs_80_100"], covariates, strata),
        _model_rows(data_df, set_name, trait, ["pgs_per_sd"], covariates, strata),
    ]
    return pd.concat(rows, ignore_index=True), _km_rows(data_df, groups, set_name, trait)


def _model_rows(
    data_df: pd.DataFrame,
    set_name: str,
    trait: str,
    pgs_terms: list[str],
    covariates: list[str],
    strata: list[str] | None,
) -> pd.DataFrame:
    """One Cox model: the PGS terms with HR, CI, p and their cox.zph test."""
    columns = [*pgs_terms, *covariates]
    try:
        fit = fit_cox(data_df, "time_days", "event", columns, strata=strata)
    except InputError as err:
        log.warning("%s", err)
        return _failed_rows(set_name, trait, len(data_df), int(data_df.event.sum()),
                            "not_converged", pgs_terms)  # fmt: skip
    terms = {"pgs": list(range(len(pgs_terms)))}
    zph = cox_zph(
        data_df.time_days.to_numpy(float), data_df.event.to_numpy(float),
        data_df[columns].to_numpy(float), fit.beta, terms,
        strata=None if strata is None else data_df.cohort.to_numpy(),
    )  # fmt: skip
    summary = fit.summary.loc[pgs_terms]
    return pd.DataFrame(
        {
            "cohort": set_name, "trait": trait, "term": pgs_terms,
            "hr": summary.hr.to_numpy(), "ci_low": summary.ci_low.to_numpy(),
            "ci_high": summary.ci_high.to_numpy(), "p": summary.p.to_numpy(),
            "n": fit.n, "n_events": fit.n_events,
            "zph_chisq": zph.loc["pgs", "chisq"], "zph_p": zph.loc["pgs", "p"],
            "zph_global_chisq": zph.loc["GLOBAL", "chisq"], "zph_global_p": zph.loc["GLOBAL", "p"],
            "step_size": fit.step_size,
            "status": "ok" if fit.step_size == 0.95 else "smaller_step",
        }
    )  # fmt: skip


def _failed_rows(
    set_name: str, trait: str, n: int, n_events: int, status: str,
    terms: list[str] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Rows without estimates for a model that could not be fitted."""
    terms = terms or ["pgs_20_80", "pgs_80_100", "pgs_per_sd"]
    frame = pd.DataFrame({"cohort": set_name, "trait": trait, "term": terms, "n": n,
                          "n_events": n_events, "status": status})  # fmt: skip
    return frame.reindex(columns=SURVIVAL_COLUMNS)


def _km_rows(data_df: pd.DataFrame, groups: np.ndarray, set_name: str, trait: str) -> pd.DataFrame:
    """Kaplan-Meier curve of each PGS stratum."""
    frames = []
    for code, name in enumerate(STRATUM_NAMES):
        rows = groups == code
        if not rows.any():
            continue
        curve = kaplan_meier(data_df.time_days[rows].to_numpy(), data_df.event[rows].to_numpy())
        frames.append(curve.assign(cohort=set_name, trait=trait, stratum=name))
    return pd.concat(frames, ignore_index=True)[KM_COLUMNS]


def run_progression(
    sets: dict[str, tuple[pd.DataFrame, bool]],
    traits_by_set: dict[str, list[str]],
    n_pcs: int = 16,
    percentiles: tuple[float, float] = (20.0, 80.0),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every trait in every survival set.

    Parameters
    ----------
    sets : name -> (survival set frame, pooled flag).
    traits_by_set : traits analysed in each set.
    n_pcs : PCs among the covariates.
    percentiles : strata cut points.

    Returns
    -------
    (survival rows, KM rows, mean time to TRD per set).
    """
    covariates = ["age_at_diagnosis", "sex", *[f"pc{i}" for i in range(1, n_pcs + 1)]]
    survival, km, mean_time = [], [], []
    for name, (set_df, pooled) in sets.items():
        mean_time.append(
            {"cohort": name}
            | mean_time_to_event(set_df.time_days.to_numpy(float), set_df.event.to_numpy(float))
        )
        for trait in traits_by_set[name]:
            rows_df, km_df = analyse_trait(set_df, name, trait, covariates, pooled, percentiles)
            survival.append(rows_df)
            km.append(km_df)
    survival_df = pd.concat(survival, ignore_index=True) if survival else pd.DataFrame()
    km_df = pd.concat(km, ignore_index=True) if km else pd.DataFrame()
    return (
        survival_df.reindex(columns=SURVIVAL_COLUMNS),
        km_df.reindex(columns=KM_COLUMNS),
        pd.DataFrame(mean_time, columns=["cohort", "n_events", "mean_days", "ci_low", "ci_high"]),
    )
