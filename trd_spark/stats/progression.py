"""Progression to TRD: Cox models per PGS, cox.zph, Kaplan-Meier and mean time (docs/statistics.md).

Each survival set (a cohort, or the cohorts of one platform pooled with cohort as a
Cox stratum) is the phenotype stage's time-to-event subset restricted to the
analysis sample.  Within it, every trait gets two models: PGS strata
(reference the lowest 20%) and PGS per SD, both adjusted for age at
diagnosis, sex and the PCs.  The models of all traits of a set share the persons
and the covariates, so each of the two models is fitted for every trait at once
(:mod:`trd_spark.stats.cox`); traits whose PGS is missing for some persons are fitted
in their own batch on the persons that have it.

In a pooled set the PGS strata are cut, and the PGS scaled per SD, within each
cohort by default: raw PGS means differ by ancestry, so cut points over the pooled
persons would sort them by ancestry.  With an ancestry-calibrated PGS
(``analysis.pgs_adjust``), the calibrated score has one scale across cohorts and is
cut and scaled over the pooled set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from trd_spark.errors import InputError
from trd_spark.stats.analysis import AnalysisTable
from trd_spark.stats.cox import (
    CoxBatch,
    CoxProblem,
    RiskSetSums,
    ZphResult,
    fit_cox_batch,
    scaled_schoenfeld,
    zph_tests,
)
from trd_spark.stats.grid import single_threaded_blas
from trd_spark.stats.survival import kaplan_meier_arrays, mean_time_to_event, pgs_strata
from trd_spark.study import PGS_STRATA, SURVIVAL_TERMS

log = logging.getLogger(__name__)

SURVIVAL_COLUMNS = [
    "cohort", "trait", "term", "hr", "ci_low", "ci_high", "p", "n", "n_events", "zph_chisq",
    "zph_p", "zph_global_chisq", "zph_global_p", "n_iter", "status", "coef", "se", "pgs_scale",
    "pgs_adjust",
]  # fmt: skip
KM_COLUMNS = ["cohort", "trait", "stratum", "time", "survival", "ci_low", "ci_high", "at_risk"]
SCHOENFELD_COLUMNS = ["cohort", "trait", "term", "time", "transformed_time", "residual"]
MEAN_TIME_COLUMNS = ["cohort", "n_events", "mean_days", "ci_low", "ci_high"]
STRATUM_NAMES = PGS_STRATA
_STRATA_TERMS, _SD_TERMS = list(SURVIVAL_TERMS[:2]), list(SURVIVAL_TERMS[2:])
_Z_95 = stats.norm.ppf(0.975)
# traits fitted together are capped so the (persons x traits x coefficients) arrays of one
# batch stay near this many bytes
_BATCH_BYTES = 64e6


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


@dataclass(frozen=True)
class SurvivalSet:
    """One set of persons analysed together.

    Attributes
    ----------
    name : written in the ``cohort`` column (a cohort, or a pooled platform).
    data_df : the survival set (time_days, event, covariates, cohort, one column per trait).
    traits : the PGS columns analysed.
    pooled : cohorts pooled: ``cohort`` is a Cox stratum.
    within_cohort : strata cut points and the SD taken within each cohort.
    pgs_adjust : the ancestry calibration the PGS went through (``none``, ``z_norm1``,
        ``z_norm2``), written beside the results.
    """

    name: str
    data_df: pd.DataFrame
    traits: list[str]
    pooled: bool = False
    within_cohort: bool = False
    pgs_adjust: str = "none"

    @property
    def pgs_scale(self) -> str:
        """How the PGS was cut and scaled: ``within_cohort`` or ``within_set``."""
        return "within_cohort" if self.within_cohort else "within_set"


@dataclass(frozen=True)
class ProgressionResults:
    """The survival outputs: Cox rows, KM curves, mean time to TRD, Schoenfeld residuals."""

    survival_df: pd.DataFrame
    km_df: pd.DataFrame
    mean_df: pd.DataFrame
    schoenfeld_df: pd.DataFrame


def run_progression(
    sets: list[SurvivalSet],
    n_pcs: int = 16,
    percentiles: tuple[float, float] = (20.0, 80.0),
    schoenfeld_traits: list[str] | None = None,
) -> ProgressionResults:
    """Every trait in every survival set.

    Parameters
    ----------
    sets : the survival sets.
    n_pcs : PCs among the covariates.
    percentiles : strata cut points.
    schoenfeld_traits : traits whose scaled Schoenfeld residuals are kept (Figure 2's).

    Returns
    -------
    ProgressionResults.
    """
    covariates = ["age_at_diagnosis", "sex", *[f"pc{i}" for i in range(1, n_pcs + 1)]]
    survival, km, schoenfeld, mean_time = [], [], [], []
    with single_threaded_blas():
        for survival_set in sets:
            set_df = survival_set.data_df
            times, events = set_df.time_days.to_numpy(float), set_df.event.to_numpy(float)
            mean_time.append({"cohort": survival_set.name} | mean_time_to_event(times, events))
            rows_df, km_df, resid_df = analyse_set(
                survival_set, covariates, percentiles, schoenfeld_traits or []
            )
            survival.append(rows_df)
            km.append(km_df)
            schoenfeld.append(resid_df)
    return ProgressionResults(
        _concat(survival, SURVIVAL_COLUMNS),
        _concat(km, KM_COLUMNS),
        pd.DataFrame(mean_time, columns=MEAN_TIME_COLUMNS),
        _concat(schoenfeld, SCHOENFELD_COLUMNS),
    )


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True).reindex(columns=columns)


def analyse_set(
    survival_set: SurvivalSet,
    covariates: list[str],
    percentiles: tuple[float, float] = (20.0, 80.0),
    schoenfeld_traits: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Cox by PGS strata and per SD, cox.zph and KM per stratum for every trait of a set.

    Parameters
    ----------
    survival_set : the persons and traits.
    covariates : adjustment covariates (age_at_diagnosis, sex, PCs).
    percentiles : strata cut points.
    schoenfeld_traits : traits whose scaled Schoenfeld residuals are returned.

    Returns
    -------
    (survival rows, KM rows, Schoenfeld rows), traits in the set's order.
    """
    set_df = survival_set.data_df.reset_index(drop=True)
    values = set_df[survival_set.traits].to_numpy(float)
    survival, km, schoenfeld = [], [], []
    for rows, trait_idx in _usable_groups(values):
        batch = _TraitBatch.build(
            survival_set, set_df.loc[rows].reset_index(drop=True), values[rows][:, trait_idx],
            [survival_set.traits[i] for i in trait_idx], covariates, percentiles,
        )  # fmt: skip
        rows_df, km_df, resid_df = batch.analyse(schoenfeld_traits or [])
        survival.append(rows_df)
        km.append(km_df)
        schoenfeld.append(resid_df)
    order = {t: i for i, t in enumerate(survival_set.traits)}
    survival_df = _concat(survival, SURVIVAL_COLUMNS)
    survival_df = survival_df.sort_values("trait", key=lambda t: t.map(order), kind="stable")
    km_df = _concat(km, KM_COLUMNS).sort_values("trait", key=lambda t: t.map(order), kind="stable")
    return (
        survival_df.reset_index(drop=True),
        km_df.reset_index(drop=True),
        _concat(schoenfeld, SCHOENFELD_COLUMNS),
    )


def _usable_groups(values: np.ndarray) -> list[tuple[np.ndarray, list[int]]]:
    """Traits grouped by which persons have a finite PGS: (rows, trait indices) per group."""
    finite = np.isfinite(values)
    groups: dict[bytes, list[int]] = {}
    for k in range(values.shape[1]):
        groups.setdefault(np.packbits(finite[:, k]).tobytes(), []).append(k)
    return [(finite[:, ks[0]], ks) for ks in groups.values()]


@dataclass(frozen=True)
class _TraitBatch:
    """The traits of a set that share their persons, ready to fit."""

    set_name: str
    pooled: bool
    pgs_scale: str
    pgs_adjust: str
    data_df: pd.DataFrame
    traits: list[str]
    groups: np.ndarray  # (n, K) PGS stratum codes
    per_sd: np.ndarray  # (n, K) PGS per SD
    covariates: np.ndarray  # (n, p) non-constant covariates
    failed: dict[str, str]  # trait -> why it was not fitted

    @classmethod
    def build(
        cls,
        survival_set: SurvivalSet,
        data_df: pd.DataFrame,
        values: np.ndarray,
        traits: list[str],
        covariates: list[str],
        percentiles: tuple[float, float],
    ) -> _TraitBatch:
        """Cut strata and scale per SD (within each cohort or over the set)."""
        n = len(data_df)
        within = data_df.cohort.to_numpy() if survival_set.within_cohort else np.zeros(n, dtype=int)
        groups = np.zeros(values.shape, dtype=int)
        per_sd = np.zeros(values.shape)
        failed: dict[str, str] = {}
        too_few = n < 10 or data_df.event.sum() == 0
        for label in pd.unique(within):
            rows = within == label
            sd = values[rows].std(axis=0, ddof=1) if rows.sum() > 1 else np.zeros(len(traits))
            for k, trait in enumerate(traits):
                if too_few or not np.isfinite(sd[k]) or sd[k] <= 0:
                    failed[trait] = "too_few_or_constant"
                    continue
                groups[rows, k] = pgs_strata(values[rows, k], percentiles)
                per_sd[rows, k] = (values[rows, k] - values[rows, k].mean()) / sd[k]
        kept = [c for c in covariates if n > 1 and data_df[c].std() > 0]
        return cls(
            survival_set.name, survival_set.pooled, survival_set.pgs_scale,
            survival_set.pgs_adjust, data_df, traits,
            groups, per_sd, data_df[kept].to_numpy(float), failed,
        )  # fmt: skip

    def analyse(
        self, schoenfeld_traits: list[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Both models for every fittable trait; KM curves; Schoenfeld residuals asked for."""
        fit_idx = [k for k, t in enumerate(self.traits) if t not in self.failed]
        frames = [self._failed_rows(t, why) for t, why in self.failed.items()]
        km = [self._km_rows(fit_idx)]
        schoenfeld: list[pd.DataFrame] = []
        for chunk in _chunks(fit_idx, len(self.data_df), self.covariates.shape[1] + 2):
            dummies = np.stack([self.groups[:, chunk] == 1, self.groups[:, chunk] == 2], axis=2)
            for terms, specific in ((_STRATA_TERMS, dummies.astype(float)),
                                    (_SD_TERMS, self.per_sd[:, chunk, None])):  # fmt: skip
                rows_df, resid_df = self._fit_model(chunk, terms, specific, schoenfeld_traits)
                frames.append(rows_df)
                schoenfeld.append(resid_df)
        return (_concat(frames, SURVIVAL_COLUMNS), _concat(km, KM_COLUMNS),
                _concat(schoenfeld, SCHOENFELD_COLUMNS))  # fmt: skip

    def _fit_model(
        self, chunk: list[int], terms: list[str], specific: np.ndarray, schoenfeld_traits: list[str]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """One model (strata or per SD) for the traits of ``chunk``: rows and residuals."""
        strata = self.data_df.cohort.to_numpy() if self.pooled else None
        problem = CoxProblem(
            self.data_df.time_days.to_numpy(float), self.data_df.event.to_numpy(float),
            self.covariates, specific, strata,
        )  # fmt: skip
        fit, sums = fit_cox_batch(problem)
        zph = zph_tests(problem, fit.beta, sums, {"pgs": list(range(len(terms)))})
        traits = [self.traits[k] for k in chunk]
        for trait, status in zip(traits, fit.status, strict=True):
            if status != "ok":
                log.warning("Cox model %s for %s in %s: %s", "+".join(terms), trait,
                            self.set_name, status)  # fmt: skip
        rows_df = self._model_rows(fit, zph, terms, traits)
        wanted = [i for i, t in enumerate(traits) if t in schoenfeld_traits and fit.converged[i]]
        return rows_df, self._schoenfeld_rows(problem, fit.beta, sums, terms, traits, wanted)

    def _model_rows(
        self, fit: CoxBatch, zph: ZphResult, terms: list[str], traits: list[str]
    ) -> pd.DataFrame:
        """SURVIVAL_COLUMNS rows of one model for each trait; no estimates unless ``ok``."""
        q = len(terms)
        ok = fit.status == "ok"
        coef = np.where(ok[:, None], fit.beta[:, :q], np.nan)
        se = np.where(ok[:, None], fit.se[:, :q], np.nan)

        def per_trait(values: np.ndarray) -> np.ndarray:
            return np.repeat(np.where(ok, values, np.nan), q)

        return pd.DataFrame(
            {
                "cohort": self.set_name, "trait": np.repeat(traits, q), "term": terms * len(traits),
                "coef": coef.ravel(), "se": se.ravel(), "hr": np.exp(coef).ravel(),
                "ci_low": np.exp(coef - _Z_95 * se).ravel(),
                "ci_high": np.exp(coef + _Z_95 * se).ravel(),
                "p": (2.0 * stats.norm.sf(np.abs(coef / se))).ravel(),
                "n": fit.n, "n_events": fit.n_events,
                "zph_chisq": per_trait(zph.chisq[:, 0]), "zph_p": per_trait(zph.p[:, 0]),
                "zph_global_chisq": per_trait(zph.chisq[:, 1]),
                "zph_global_p": per_trait(zph.p[:, 1]),
                "n_iter": np.repeat(fit.n_iter, q), "status": np.repeat(fit.status, q),
                "pgs_scale": self.pgs_scale, "pgs_adjust": self.pgs_adjust,
            }
        )  # fmt: skip

    def _schoenfeld_rows(
        self, problem: CoxProblem, beta: np.ndarray, sums: RiskSetSums, terms: list[str],
        traits: list[str], wanted: list[int],
    ) -> pd.DataFrame:  # fmt: skip
        """Scaled Schoenfeld residuals of the PGS columns for the traits asked for."""
        if not wanted:
            return pd.DataFrame(columns=SCHOENFELD_COLUMNS)
        columns = list(range(len(terms)))
        time, transformed, resid = scaled_schoenfeld(problem, beta, sums, columns, wanted)
        frames = [
            pd.DataFrame({"cohort": self.set_name, "trait": traits[i], "term": term, "time": time,
                          "transformed_time": transformed, "residual": resid[:, m, j]})
            for m, i in enumerate(wanted)
            for j, term in enumerate(terms)
        ]  # fmt: skip
        return pd.concat(frames, ignore_index=True)

    def _failed_rows(self, trait: str, status: str) -> pd.DataFrame:
        """Rows without estimates for a trait that could not be fitted."""
        frame = pd.DataFrame({"cohort": self.set_name, "trait": trait, "term": list(SURVIVAL_TERMS),
                              "n": len(self.data_df), "n_events": int(self.data_df.event.sum()),
                              "status": status, "pgs_scale": self.pgs_scale,
                              "pgs_adjust": self.pgs_adjust})  # fmt: skip
        return frame.reindex(columns=SURVIVAL_COLUMNS)

    def _km_rows(self, fit_idx: list[int]) -> pd.DataFrame:
        """Kaplan-Meier curve of each PGS stratum of the traits ``fit_idx``."""
        time = self.data_df.time_days.to_numpy(float)
        event = self.data_df.event.to_numpy(float)
        parts: dict[str, list[np.ndarray]] = {c: [] for c in KM_COLUMNS}
        for k in fit_idx:
            for code, name in enumerate(STRATUM_NAMES):
                rows = self.groups[:, k] == code
                if not rows.any():
                    continue
                curve = kaplan_meier_arrays(time[rows], event[rows])
                size = len(curve["time"])
                labels = {"cohort": self.set_name, "trait": self.traits[k], "stratum": name}
                for column in KM_COLUMNS:
                    value = curve.get(column)
                    parts[column].append(
                        np.repeat(labels[column], size) if value is None else value
                    )
        if not parts["time"]:
            return pd.DataFrame(columns=KM_COLUMNS)
        return pd.DataFrame({c: np.concatenate(v) for c, v in parts.items()})


def _chunks(indices: list[int], n: int, d: int) -> list[list[int]]:
    """``indices`` in runs small enough that one batch's arrays stay near _BATCH_BYTES."""
    size = max(1, int(_BATCH_BYTES // max(1, n * d * 8)))
    return [indices[i : i + size] for i in range(0, len(indices), size)]
