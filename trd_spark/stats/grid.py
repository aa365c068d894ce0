"""The logistic association grid, replication and the sensitivity table (docs/statistics.md).

One design = one cohort, contrast, definition combination and sex stratum; all
PGS of a design are fitted together by ``fit_logistic_batch``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trd_spark.errors import InputError
from trd_spark.stats.analysis import AnalysisTable, comparison_groups, contrast_outcome
from trd_spark.stats.logistic import fit_logistic_batch, wald_summary
from trd_spark.stats.meta import fit_meta_regression
from trd_spark.study import (
    COMBINATIONS,
    CONTRASTS,
    INTERACTION_STRATUM,
    PRIMARY_TRD,
    PRIMARY_TRMDD,
    REPLICATION_ANALYSES,
    SEX_STRATA,
    SURVIVAL_CONTRAST,
)

LOGISTIC, SURVIVAL = REPLICATION_ANALYSES

ASSOCIATION_COLUMNS = [
    "cohort", "contrast", "trd_def", "trmdd_def", "stratum", "trait", "beta", "se",
    "odds_ratio", "ci_low", "ci_high", "p", "n_cases", "n_controls", "converged",
    "significant", "status",
]  # fmt: skip
REPLICATION_COLUMNS = [
    "contrast", "cohort", "reference_cohort", "k", "tau2", "tau2_null", "r2", "qe", "qe_p",
    "qm", "qm_p", "analysis", "intercept", "intercept_se", "slope", "slope_se",
    "slope_ci_low", "slope_ci_high", "slope_p",
]  # fmt: skip
META_FIELDS = REPLICATION_COLUMNS[3:11] + REPLICATION_COLUMNS[12:]
SENSITIVITY_COLUMNS = [
    "trd_def", "trmdd_def", "n_trmdd", "n_trd", "meta_r2", "n_significant", "overlap_pct",
    "meta_slope", "meta_slope_ci_low", "meta_slope_ci_high",
]  # fmt: skip


@dataclass(frozen=True)
class Design:
    """One set of models that share rows and covariates."""

    cohort: str
    contrast: str
    trd_def: str
    trmdd_def: str
    stratum: str = "all"  # one of trd_spark.study.STRATA


def enumerate_designs(
    cohorts: list[str],
    discovery: str,
    primary: tuple[str, str] = (PRIMARY_TRD, PRIMARY_TRMDD),
    sex_stratified: bool = True,
) -> list[Design]:
    """The study's grid: every cohort x contrast (primary), all 15 combinations of TRD vs
    trMDD in the discovery cohort, and per cohort the sex strata and PGS x sex interaction.

    Parameters
    ----------
    cohorts : cohort names; discovery : the discovery cohort.
    primary : (trd_def, trmdd_def) of the primary comparison.
    sex_stratified : add the female / male / interaction designs.

    Returns
    -------
    list of Design.
    """
    trd, trmdd = primary
    designs = [Design(c, contrast, trd, trmdd) for c in cohorts for contrast in CONTRASTS]
    if discovery in cohorts:
        designs += [
            Design(discovery, "TRD_vs_trMDD", k, j) for k, j in COMBINATIONS if (k, j) != primary
        ]
    if sex_stratified:
        designs += [
            Design(c, "TRD_vs_trMDD", trd, trmdd, s)
            for c in cohorts
            for s in (*SEX_STRATA, INTERACTION_STRATUM)
        ]
    return designs


@dataclass(frozen=True)
class DesignData:
    """The arrays of one design: outcome, shared covariates, per-trait columns."""

    y: np.ndarray  # (n,) 0/1
    covariates: np.ndarray  # (n, p) with intercept
    specific: np.ndarray  # (n, K, q): the standardized PGS (and PGS x sex)
    term: int  # which specific column is reported
    fitted: list[int]  # trait indices fitted (constant PGS left out)
    n_cases: int
    n_controls: int


def design_data(table: AnalysisTable, design: Design, n_pcs: int = 16) -> DesignData:
    """Rows, outcome and design matrices of one design.

    Parameters
    ----------
    table : the cohort's analysis table.
    design : what to fit.
    n_pcs : PCs among the covariates.

    Returns
    -------
    DesignData; sex strata drop sex from the covariates, ``pgs_x_sex`` adds PGS x sex.
    """
    data_df = table.data_df
    groups = comparison_groups(data_df, design.trd_def, design.trmdd_def)
    rows, y = contrast_outcome(groups, design.contrast)
    by_sex = design.stratum in SEX_STRATA
    if by_sex:
        is_stratum = data_df.sex.to_numpy() == (1.0 if design.stratum == "male" else 0.0)
        y = y[is_stratum[rows]]
        rows &= is_stratum
    subset_df = data_df.loc[rows]
    fitted = [i for i, t in enumerate(table.traits) if t not in table.constant_traits]
    specific = subset_df[[table.traits[i] for i in fitted]].to_numpy(float)[:, :, None]
    if design.stratum == INTERACTION_STRATUM:
        specific = np.concatenate(
            [specific, specific * subset_df.sex.to_numpy(float)[:, None, None]], axis=2
        )
    return DesignData(
        y=y,
        covariates=_covariate_matrix(subset_df, n_pcs, with_sex=not by_sex),
        specific=specific,
        term=1 if design.stratum == INTERACTION_STRATUM else 0,
        fitted=fitted,
        n_cases=int(y.sum()),
        n_controls=int(len(y) - y.sum()),
    )


def fit_design(
    table: AnalysisTable, design: Design, n_pcs: int = 16, max_iter: int = 25, tol: float = 1e-8
) -> pd.DataFrame:
    """Fit every trait of one design; one row per trait with ASSOCIATION_COLUMNS.

    Parameters
    ----------
    table : the cohort's analysis table.
    design : what to fit.
    n_pcs : PCs among the covariates.
    max_iter, tol : IRLS limits (R glm rule).

    Returns
    -------
    DataFrame; models that cannot be fitted are rows with ``converged`` False and a status.
    """
    data = design_data(table, design, n_pcs)
    frame = _empty_result(design, table.traits, data.n_cases, data.n_controls)
    problem = _design_problem(data.n_cases, data.n_controls, data.covariates.shape[1])
    if problem:
        frame["status"] = problem
        return frame
    if not data.fitted:
        return frame
    fit = fit_logistic_batch(data.y, data.covariates, data.specific, max_iter=max_iter, tol=tol)
    frame.loc[data.fitted, "beta"] = fit.beta[:, data.term]
    frame.loc[data.fitted, "se"] = fit.se[:, data.term]
    frame.loc[data.fitted, "converged"] = fit.converged
    frame.loc[data.fitted, "status"] = fit.status
    return frame


def _empty_result(design: Design, traits: list[str], n_cases: int, n_controls: int) -> pd.DataFrame:
    """Rows for every trait before fitting: no estimate, not converged, status constant_pgs."""
    return pd.DataFrame(
        {
            "cohort": design.cohort,
            "contrast": design.contrast,
            "trd_def": design.trd_def,
            "trmdd_def": design.trmdd_def,
            "stratum": design.stratum,
            "trait": traits,
            "beta": np.nan,
            "se": np.nan,
            "n_cases": n_cases,
            "n_controls": n_controls,
            "converged": False,
            "status": "constant_pgs",
        }
    )


def _design_problem(n_cases: int, n_controls: int, n_covariates: int) -> str | None:
    """Why a design cannot be fitted at all, or None."""
    if n_cases == 0:
        return "no_cases"
    if n_controls == 0:
        return "no_controls"
    if n_cases + n_controls <= n_covariates + 2:
        return "too_few_persons"
    return None


def _covariate_matrix(subset_df: pd.DataFrame, n_pcs: int, with_sex: bool) -> np.ndarray:
    """Intercept, PCs, sex, age; covariates constant in the subset are left out (aliased)."""
    names = [f"pc{i}" for i in range(1, n_pcs + 1)] + (["sex"] if with_sex else []) + ["age"]
    values = subset_df[names].to_numpy(float)
    varying = values.std(axis=0) > 0 if len(values) else np.zeros(len(names), bool)
    return np.column_stack([np.ones(len(values)), values[:, varying]])


def finish_associations(frame: pd.DataFrame, significance: float) -> pd.DataFrame:
    """Add OR, CI, p and the significance flag; order columns as the contract.

    Parameters
    ----------
    frame : concatenated fit_design outputs.
    significance : p threshold (1e-5).

    Returns
    -------
    DataFrame with ASSOCIATION_COLUMNS.
    """
    frame = frame.reset_index(drop=True)
    summary = wald_summary(frame.beta.to_numpy(float), frame.se.to_numpy(float))
    for name, values in summary.items():
        frame[name] = values
    frame["converged"] = frame.converged.astype(bool)
    frame["significant"] = frame.converged & (frame.p < significance)
    return frame[ASSOCIATION_COLUMNS]


def run_association_grid(
    tables: dict[str, AnalysisTable],
    designs: list[Design],
    significance: float = 1e-5,
    n_pcs: int = 16,
    max_iter: int = 25,
    tol: float = 1e-8,
) -> pd.DataFrame:
    """Fit every design and return ``results/associations`` rows.

    Parameters
    ----------
    tables : analysis table per cohort.
    designs : from enumerate_designs.
    significance, n_pcs, max_iter, tol : settings (AnalysisConfig).

    Returns
    -------
    DataFrame with ASSOCIATION_COLUMNS.
    """
    with single_threaded_blas():
        frames = [
            fit_design(tables[d.cohort], d, n_pcs, max_iter, tol)
            for d in designs
            if d.cohort in tables
        ]
    if not frames:
        raise InputError("run_association_grid: no cohort has an analysis table; nothing to fit")
    return finish_associations(pd.concat(frames, ignore_index=True), significance)


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread while the grid runs.

    The grid's products are small (n x 20 by n x 61); on a busy 2-core driver, OpenBLAS
    threads fighting for cores made the grid 7x slower (26 s vs 3.5 s measured).  Without
    threadpoolctl installed, BLAS keeps its default.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def replicate(
    associations_df: pd.DataFrame,
    discovery: str,
    primary: tuple[str, str] = (PRIMARY_TRD, PRIMARY_TRMDD),
) -> pd.DataFrame:
    """Meta-regression of each replication cohort's log ORs on the discovery cohort's.

    Parameters
    ----------
    associations_df : results/associations rows.
    discovery : the reference cohort.
    primary : the definition combination compared.

    Returns
    -------
    DataFrame with REPLICATION_COLUMNS (``analysis`` = ``logistic``), one row per contrast
    and replication cohort.
    """
    base_df = _select(associations_df, *primary)
    rows = []
    for contrast in CONTRASTS:
        reference_df = base_df[(base_df.contrast == contrast) & (base_df.cohort == discovery)]
        for cohort in sorted(set(base_df.cohort) - {discovery}):
            other_df = base_df[(base_df.contrast == contrast) & (base_df.cohort == cohort)]
            rows.append(
                {"analysis": LOGISTIC, "contrast": contrast, "cohort": cohort,
                 "reference_cohort": discovery}
                | _meta_row(other_df, reference_df)
            )  # fmt: skip
    return pd.DataFrame(rows, columns=REPLICATION_COLUMNS)


def replicate_survival(
    survival_df: pd.DataFrame, comparisons: list[tuple[str, str]]
) -> pd.DataFrame:
    """Meta-regression of a replication set's log HR per SD on a reference set's (eFigure 6).

    Parameters
    ----------
    survival_df : results/survival rows.
    comparisons : (replication set, reference set) pairs, e.g. (``microarray``,
        ``wgs_european``).

    Returns
    -------
    DataFrame with REPLICATION_COLUMNS, ``analysis`` = ``survival`` and ``contrast`` =
    ``time_to_trd``: yi = log HR per SD in the replication set, vi = its SE^2, moderator =
    log HR per SD in the reference set, over the traits fitted in both.
    """
    per_sd_df = survival_df[(survival_df.term == "pgs_per_sd") & (survival_df.status == "ok")]
    per_sd_df = per_sd_df.rename(columns={"coef": "beta"})
    rows = []
    for cohort, reference in comparisons:
        rows.append(
            {"analysis": SURVIVAL, "contrast": SURVIVAL_CONTRAST, "cohort": cohort,
             "reference_cohort": reference}
            | _meta_row(per_sd_df[per_sd_df.cohort == cohort],
                        per_sd_df[per_sd_df.cohort == reference])
        )  # fmt: skip
    return pd.DataFrame(rows, columns=REPLICATION_COLUMNS)


def _select(frame: pd.DataFrame, trd_def: str, trmdd_def: str) -> pd.DataFrame:
    """Converged whole-sample rows of one definition combination."""
    keep = (
        (frame.trd_def == trd_def)
        & (frame.trmdd_def == trmdd_def)
        & (frame.stratum == "all")
        & frame.converged
    )
    return frame[keep]


def _meta_row(yi_df: pd.DataFrame, x_df: pd.DataFrame) -> dict[str, float]:
    """Meta-regression fields (META_FIELDS) for traits present in both; NaN when fewer than 3."""
    merged = yi_df.merge(x_df, on="trait", suffixes=("", "_ref"))
    try:
        fit = fit_meta_regression(
            merged.beta.to_numpy(float),
            merged.se.to_numpy(float) ** 2,
            merged.beta_ref.to_numpy(float),
        )
    except (InputError, np.linalg.LinAlgError):
        return {name: float("nan") for name in META_FIELDS} | {"k": len(merged)}
    fields = {"k": fit.k, "tau2": fit.tau2, "tau2_null": fit.tau2_null, "r2": fit.r2,
              "qe": fit.qe, "qe_p": fit.qe_p, "qm": fit.qm, "qm_p": fit.qm_p}  # fmt: skip
    return fields | fit.slope_summary()


def sensitivity_table(
    associations_df: pd.DataFrame,
    discovery: str,
    primary: tuple[str, str] = (PRIMARY_TRD, PRIMARY_TRMDD),
) -> pd.DataFrame:
    """The paper's Table 2 from the discovery cohort's TRD vs trMDD rows.

    Parameters
    ----------
    associations_df : results/associations rows.
    discovery : the discovery cohort.
    primary : the reference combination.

    Returns
    -------
    DataFrame with SENSITIVITY_COLUMNS, one row per combination.
    """
    rows_df = associations_df[
        (associations_df.cohort == discovery)
        & (associations_df.contrast == "TRD_vs_trMDD")
        & (associations_df.stratum == "all")
    ]
    primary_df = _select(rows_df, *primary)
    primary_sig = set(primary_df.trait[primary_df.significant])
    out = []
    for trd_def, trmdd_def in COMBINATIONS:
        combo_df = rows_df[(rows_df.trd_def == trd_def) & (rows_df.trmdd_def == trmdd_def)]
        if combo_df.empty:
            continue
        sig = set(combo_df.trait[combo_df.significant])
        overlap = 100.0 * len(sig & primary_sig) / len(primary_sig) if primary_sig else np.nan
        meta = _meta_row(_select(combo_df, trd_def, trmdd_def), primary_df)
        out.append((trd_def, trmdd_def, int(combo_df.n_controls.max()),
                    int(combo_df.n_cases.max()), meta["r2"], len(sig), overlap, meta["slope"],
                    meta["slope_ci_low"], meta["slope_ci_high"]))  # fmt: skip
    return pd.DataFrame(out, columns=SENSITIVITY_COLUMNS)
