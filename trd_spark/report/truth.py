"""Truth beside estimate, for studies written by ``trd-spark simulate``.

A simulated study carries ``truth/effects.tsv``: per trait, the effect the simulator planted
per SD of the true genetic value, and, per cohort and pooled set, the **expected marginal
effect** of the trait's PGS fitted alone (``marginal_<outcome>_<set>``).  The run estimates
effects per SD of one PGS at a time, and that estimate carries more than the trait's own
planted effect: the PGS correlates imperfectly with the genetic value, and traits of a genetic
cluster (education / cognition, the neuroticism items) share a genetic component, so a PGS also
picks up its cluster partners' planted effects.  The expected marginal effect accounts for
both (``trd_spark.simulate.marginal``; ``docs/report.md``, "Truth beside estimate").  For a
study simulated before those columns existed, the comparison falls back to the planted effect
on the PGS scale: ``expected_<effect>_<platform>``, else the planted effect times
``pgs_r_<platform>`` (the source column is named in the section).  The report looks for
``<output_dir>/truth/effects.tsv``: a simulated study's config has ``output_dir: .``, so its
outputs sit beside ``truth/``; a study without that file gets no truth section.

Three outcomes are compared, each under the primary definitions:

* TRD vs trMDD: ``marginal_log_or_trd_vs_trmdd_<set>`` against the TRD vs trMDD log OR;
* MDD vs non-MDD: ``marginal_log_or_mdd_<set>`` against the trMDD vs non-MDD log OR (the
  simulator's value includes the TRD effects' removal of persons from trMDD; in the fallback,
  only traits with no planted TRD effect are compared);
* time to TRD: ``marginal_log_hr_<set>`` against the log HR per SD.

A trait is **null** for an outcome when nothing is planted on it for that outcome and its
expected marginal effect is zero (no cluster partner carries a planted effect either).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from trd_spark.errors import InputError
from trd_spark.report.figures import COHORT_COLOURS, Z_95, per_sd_estimates
from trd_spark.report.load import TRUTH_EFFECTS
from trd_spark.report.plotting import (
    NORMAL,
    REFERENCE,
    SMALL,
    new_figure,
    reference_line,
    save,
    set_numeric_ticks,
    style_axes,
)
from trd_spark.study import label

NOMINAL_P = 0.05


@dataclass(frozen=True)
class Outcome:
    """One planted effect and the estimate it is compared with."""

    key: str
    title: str
    planted: str  # column of effects.tsv
    scale: str  # what is estimated
    marginal: str  # prefix of the expected marginal effect columns (``<marginal>_<set>``)
    contrast: str = ""  # logistic contrast, or "" for the Cox per-SD term
    only_without: str = ""  # fallback without marginal columns: only traits with this at 0


OUTCOMES: tuple[Outcome, ...] = (
    Outcome("trd_vs_trmdd", "TRD vs trMDD", "log_or_trd_vs_trmdd", "log OR per SD",
            "marginal_log_or_trd_vs_trmdd", "TRD_vs_trMDD"),
    Outcome("mdd", "MDD vs non-MDD", "log_or_mdd", "log OR per SD (trMDD vs non-MDD)",
            "marginal_log_or_mdd", "trMDD_vs_nonMDD", only_without="log_or_trd_vs_trmdd"),
    Outcome("time_to_trd", "Time to TRD", "log_hr_time_to_trd", "log HR per SD",
            "marginal_log_hr"),
)  # fmt: skip
REQUIRED_COLUMNS = ("trait", *(o.planted for o in OUTCOMES))


def truth_effects_path(output_dir: str) -> tuple[str, bool]:
    """Where a simulated study's planted effects are, and whether the report shows them.

    Parameters
    ----------
    output_dir : the run's outputs as a local folder.

    Returns
    -------
    (path of ``truth/effects.tsv``, whether that file exists).
    """
    path = os.path.join(output_dir, *TRUTH_EFFECTS.split("/"))
    return path, os.path.isfile(path)


def read_effects(path: str) -> pd.DataFrame:
    """``truth/effects.tsv``; InputError naming the file and what is missing."""
    if not os.path.isfile(path):
        raise InputError(
            f"{path} not found; the truth section needs the truth/ folder of a study "
            "written by trd-spark simulate"
        )
    effects_df = pd.read_csv(path, sep="\t")
    absent = [c for c in REQUIRED_COLUMNS if c not in effects_df.columns]
    if absent:
        raise InputError(
            f"{path} lacks column(s) {', '.join(absent)}; it is not the effects table "
            "trd-spark simulate writes (simulate the study again with this version)"
        )
    return effects_df


def expected_effect(
    effects_df: pd.DataFrame, outcome: Outcome, set_name: str, platform: str
) -> tuple[pd.Series, str]:
    """What a PGS fitted alone should estimate in ``set_name``, and how it was obtained.

    Returns
    -------
    (values, source): the expected marginal effect ``<outcome.marginal>_<set_name>`` when the
    simulator wrote it; else (older studies) the planted effect on the PGS scale of
    ``platform``: ``expected_<planted>_<platform>``, else ``<planted> x pgs_r_<platform>``,
    else the planted value itself.
    """
    planted = outcome.planted
    marginal = f"{outcome.marginal}_{set_name}"
    expected, correlation = f"expected_{planted}_{platform}", f"pgs_r_{platform}"
    for column in (marginal, expected):
        if column in effects_df.columns and effects_df[column].notna().any():
            return effects_df[column].astype(float), column
    if correlation in effects_df.columns and effects_df[correlation].notna().any():
        return effects_df[planted] * effects_df[correlation], f"{planted} × {correlation}"
    return effects_df[planted].astype(float), planted


def has_marginal(effects_df: pd.DataFrame, outcome: Outcome, set_name: str) -> bool:
    """Whether ``truth/effects.tsv`` has the expected marginal effects of ``set_name``."""
    column = f"{outcome.marginal}_{set_name}"
    return column in effects_df.columns and bool(effects_df[column].notna().any())


def logistic_estimates(primary_df: pd.DataFrame, contrast: str) -> pd.DataFrame:
    """cohort, trait, beta, se, p of one contrast (primary definitions, converged)."""
    rows_df = primary_df[primary_df["contrast"] == contrast]
    return rows_df[["cohort", "trait", "beta", "se", "p"]].reset_index(drop=True)


def survival_estimates(survival_df: pd.DataFrame) -> pd.DataFrame:
    """cohort, trait, beta, se, p of the per-SD Cox models with estimates."""
    estimates_df = per_sd_estimates(survival_df)
    rows_df = survival_df.loc[estimates_df.index]
    return estimates_df.assign(p=rows_df["p"].astype(float)).reset_index(drop=True)


def beside_truth(
    effects_df: pd.DataFrame,
    estimates: Mapping[str, pd.DataFrame],
    platforms: Mapping[str, str],
    significance: float,
) -> pd.DataFrame:
    """Every estimate beside its planted effect.

    Parameters
    ----------
    effects_df : ``truth/effects.tsv``.
    estimates : outcome key -> estimates (cohort, trait, beta, se, p).
    platforms : cohort or pooled set -> genotyping platform (for the PGS scale).
    significance : the study's significance threshold.

    Returns
    -------
    One row per outcome, set and trait: outcome, cohort, trait, planted (the trait's own
    effect per SD of its genetic value), expected (the expected marginal effect of its PGS,
    or the fallback of :func:`expected_effect`), expected_from (its column), beta, ci_low,
    ci_high, p, covered (the CI holds the expected value), null (nothing planted and an
    expected value of zero), significant (p < significance).
    """
    frames = []
    for outcome in OUTCOMES:
        estimates_df = estimates.get(outcome.key)
        if estimates_df is None or estimates_df.empty:
            continue
        for cohort, rows_df in estimates_df.groupby("cohort", sort=False):
            platform = platforms.get(str(cohort), str(cohort))
            chosen_df = effects_df
            if outcome.only_without and not has_marginal(effects_df, outcome, str(cohort)):
                chosen_df = effects_df[effects_df[outcome.only_without] == 0]
            expected, source = expected_effect(chosen_df, outcome, str(cohort), platform)
            truth_df = pd.DataFrame({"trait": chosen_df["trait"],
                                     "planted": chosen_df[outcome.planted].astype(float),
                                     "expected": expected})  # fmt: skip
            merged_df = truth_df.merge(rows_df, on="trait")
            frames.append(_compare(merged_df, outcome.key, str(cohort), source, significance))
    if not frames:
        return pd.DataFrame(columns=BESIDE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[BESIDE_COLUMNS]


BESIDE_COLUMNS = ["outcome", "cohort", "trait", "planted", "expected", "expected_from", "beta",
                  "ci_low", "ci_high", "p", "covered", "null", "significant"]  # fmt: skip


def _compare(
    merged_df: pd.DataFrame, outcome: str, cohort: str, source: str, significance: float
) -> pd.DataFrame:
    low = merged_df["beta"] - Z_95 * merged_df["se"]
    high = merged_df["beta"] + Z_95 * merged_df["se"]
    return merged_df.assign(
        outcome=outcome,
        cohort=cohort,
        expected_from=source,
        ci_low=low,
        ci_high=high,
        covered=(low <= merged_df["expected"]) & (merged_df["expected"] <= high),
        null=(merged_df["planted"] == 0) & (merged_df["expected"] == 0),
        significant=merged_df["p"] < significance,
    )


def coverage_summary(beside_df: pd.DataFrame, order: Sequence[str] = ()) -> pd.DataFrame:
    """Per outcome and set: coverage, sign agreement of non-null effects, false positives.

    Parameters
    ----------
    beside_df : from :func:`beside_truth`.
    order : sets listed first, in this order.

    Returns
    -------
    outcome, cohort, n_traits, n_covered, n_planted (non-null traits: an effect planted on the
    trait or a cluster partner), n_planted_same_sign (estimate of the expected value's sign),
    n_planted_significant, n_null, n_null_significant, n_null_nominal (p < 0.05) — counts of
    traits, not of persons.
    """
    rows = []
    for (outcome, cohort), rows_df in beside_df.groupby(["outcome", "cohort"], sort=False):
        planted = rows_df[~rows_df["null"]]
        null = rows_df[rows_df["null"]]
        rows.append({
            "outcome": outcome, "cohort": cohort, "n_traits": len(rows_df),
            "n_covered": int(rows_df["covered"].sum()), "n_planted": len(planted),
            "n_planted_same_sign": int(
                (np.sign(planted["beta"]) == np.sign(planted["expected"])).sum()),
            "n_planted_significant": int(planted["significant"].sum()),
            "n_null": len(null), "n_null_significant": int(null["significant"].sum()),
            "n_null_nominal": int((null["p"] < NOMINAL_P).sum()),
        })  # fmt: skip
    summary_df = pd.DataFrame(rows)
    if summary_df.empty:
        return summary_df
    rank = {name: i for i, name in enumerate(order)}
    outcome_rank = {o.key: i for i, o in enumerate(OUTCOMES)}
    return summary_df.sort_values(
        ["outcome", "cohort"],
        key=lambda s: s.map(outcome_rank) if s.name == "outcome" else s.map(rank).fillna(99),
        kind="stable",
    ).reset_index(drop=True)


def panel_title(outcome: Outcome, set_name: str, covered: int, n: int) -> str:
    """A panel's title: outcome, set and coverage on lines of their own (a pooled set's name
    is long; one line would run past a narrow panel)."""
    return f"{outcome.title}\n{label(set_name)}\n{covered} of {n} CIs hold the expected value"


def plot_truth(beside_df: pd.DataFrame, panels: Sequence[tuple[str, str]], path: str) -> Figure:
    """Estimates (95% CI) against the expected marginal effects, one panel per (outcome, set)
    of ``panels``.

    Parameters
    ----------
    beside_df : from :func:`beside_truth`.
    panels : (outcome key, set) pairs to draw.
    path : the PNG to write.

    Returns
    -------
    The figure written to ``path``.
    """
    titles = {o.key: o for o in OUTCOMES}
    figure = new_figure(3.45 * max(1, len(panels)), 4.6)
    axes = figure.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, (outcome, cohort) in zip(axes, panels, strict=False):
        rows_df = beside_df[(beside_df["outcome"] == outcome) & (beside_df["cohort"] == cohort)]
        _draw_truth_panel(ax, rows_df)
        ax.set_title(panel_title(titles[outcome], cohort, int(rows_df["covered"].sum()),
                                 len(rows_df)), fontsize=NORMAL)  # fmt: skip
        ax.set_xlabel(f"expected {titles[outcome].scale.split(' (')[0]}", fontsize=SMALL)
        ax.set_ylabel("estimate (95% CI)", fontsize=SMALL)
    handles = [
        Line2D([], [], linestyle="none", marker="o", color=COHORT_COLOURS[0],
               label="expected effect ≠ 0"),
        Line2D([], [], linestyle="none", marker="o", markerfacecolor="white",
               markeredgecolor="#777777", label="null trait (expected 0)"),
        Line2D([], [], color="#777777", linestyle="--", label="estimate = expected"),
    ]  # fmt: skip
    figure.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=SMALL,
                  frameon=False)  # fmt: skip
    return save(figure, path)


def _draw_truth_panel(ax: Axes, rows_df: pd.DataFrame) -> None:
    for null, colour, face in ((True, "#777777", "white"), (False, COHORT_COLOURS[0], None)):
        part = rows_df[rows_df["null"] == null]
        ax.errorbar(part["expected"], part["beta"],
                    yerr=[part["beta"] - part["ci_low"], part["ci_high"] - part["beta"]],
                    fmt="none", ecolor=colour, elinewidth=0.6)  # fmt: skip
        ax.scatter(part["expected"], part["beta"], s=14, edgecolor=colour,
                   facecolor=face or colour, zorder=3, linewidth=0.8)  # fmt: skip
    values = rows_df[["expected", "ci_low", "ci_high"]].to_numpy(dtype=float)
    limit = float(np.nanmax(np.abs(values))) * 1.1 if np.isfinite(values).any() else 0.1
    (identity,) = ax.plot([-limit, limit], [-limit, limit], color="#777777", linestyle="--",
                          linewidth=0.7)  # fmt: skip
    identity.set_gid(REFERENCE)
    reference_line(ax, 0.0, vertical=False, color="#bbbbbb", linewidth=0.5)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    set_numeric_ticks(ax)
    style_axes(ax)
