"""The report's figures as PNG files, drawn with matplotlib's object API.

``matplotlib.figure.Figure`` renders through the Agg canvas without pyplot,
so nothing here touches the global backend of a notebook or a server.
Every count of persons a figure shows (subtitles, at-risk tables) is handed in as text
already through disclosure control (:mod:`trd_spark.report.disclose`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from trd_spark.study import CONTRASTS, DOMAIN_LABELS, PGS_STRATA, TraitCatalog, label

COHORT_COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000")
STRATUM_COLOURS = ("#2e75b6", "#7f7f7f", "#c00000", "#548235", "#7030a0")
# the Cox terms (trd_spark.study.SURVIVAL_TERMS) in the order of Figure 2's panels
TERM_TITLES = {
    "pgs_80_100": "top 20% vs bottom 20% of PGS",
    "pgs_20_80": "middle 60% vs bottom 20% of PGS",
    "pgs_per_sd": "per SD of PGS",
}
DPI = 110


def order_traits(catalog: TraitCatalog, traits: Iterable[Any]) -> pd.DataFrame:
    """The traits present, in catalog order (grouped by domain), with label and domain.

    Parameters
    ----------
    catalog : the trait catalog.
    traits : traits that have results.

    Returns
    -------
    Catalog rows of those traits, domains contiguous in order of first appearance;
    traits not in the catalog come last under domain ``other``.
    """
    present = {str(t) for t in traits}
    catalog_df = catalog.frame()
    known_df = catalog_df[catalog_df["trait"].isin(present)]
    domain_order = list(dict.fromkeys(known_df["domain"]))
    known_df = known_df.assign(_d=known_df["domain"].map(domain_order.index))
    known_df = known_df.sort_values("_d", kind="stable").drop(columns="_d")
    extra = sorted(present - set(known_df["trait"]))
    extra_df = pd.DataFrame({"trait": extra, "label": extra, "domain": "other"})
    return pd.concat([known_df[["trait", "label", "domain"]], extra_df], ignore_index=True)


def plot_forest_by_domain(
    primary_df: pd.DataFrame,
    catalog: TraitCatalog,
    cohorts: Sequence[str],
    path: str,
    case_counts: Mapping[str, str] | None = None,
) -> str:
    """Figure 1: OR per SD with 95% CI for every PGS, one panel per contrast.

    Parameters
    ----------
    primary_df : associations of the primary definitions, stratum ``all``.
    catalog : the trait catalog (labels, domains).
    cohorts : cohorts to draw, discovery first (drawn with the largest marker).
    path : the PNG to write.
    case_counts : contrast -> display text of its discovery n (already suppressed).

    Returns
    -------
    ``path``.
    """
    traits_df = order_traits(catalog, primary_df["trait"].unique())
    contrasts = [c for c in CONTRASTS if c in set(primary_df["contrast"])]
    figure = Figure(figsize=(4.2 * len(contrasts) + 2.5, 0.2 * len(traits_df) + 1.5))
    axes = figure.subplots(1, len(contrasts), sharey=True, squeeze=False)[0]
    for ax, contrast in zip(axes, contrasts, strict=True):
        contrast_df = primary_df[primary_df["contrast"] == contrast]
        _draw_forest_panel(ax, contrast_df, traits_df, cohorts)
        subtitle = (case_counts or {}).get(contrast, "")
        ax.set_title(label(contrast) + (f"\n{subtitle}" if subtitle else ""), fontsize=9)
    _label_trait_axis(axes[0], traits_df)
    axes[-1].legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def _draw_forest_panel(
    ax: Axes, contrast_df: pd.DataFrame, traits_df: pd.DataFrame, cohorts: Sequence[str]
) -> None:
    positions = {trait: i for i, trait in enumerate(traits_df["trait"])}
    offsets = np.linspace(-0.25, 0.25, len(cohorts)) if len(cohorts) > 1 else [0.0]
    for k, cohort in enumerate(cohorts):
        rows_df = contrast_df[contrast_df["cohort"] == cohort]
        y = rows_df["trait"].map(positions).to_numpy(dtype=float) + offsets[k]
        odds = rows_df["odds_ratio"].to_numpy(dtype=float)
        err = [odds - rows_df["ci_low"].to_numpy(float), rows_df["ci_high"].to_numpy(float) - odds]
        colour = COHORT_COLOURS[k % len(COHORT_COLOURS)]
        ax.errorbar(odds, y, xerr=err, fmt="none", ecolor=colour, elinewidth=0.8, label=cohort)
        filled = rows_df["significant"].fillna(False).to_numpy(dtype=bool)
        size = 16 if k == 0 else 9
        ax.scatter(odds[filled], y[filled], s=size, color=colour, zorder=3)
        ax.scatter(odds[~filled], y[~filled], s=size, facecolor="white", edgecolor=colour, zorder=3)
    ax.axvline(1.0, color="black", linewidth=0.6)
    ax.set_xscale("log")
    _set_ratio_ticks(ax)
    ax.set_xlabel("OR per SD (95% CI); filled = significant", fontsize=8)
    ax.tick_params(labelsize=7)


def _label_trait_axis(ax: Axes, traits_df: pd.DataFrame) -> None:
    ax.set_yticks(range(len(traits_df)))
    ax.set_yticklabels([shorten_label(label) for label in traits_df["label"]], fontsize=6)
    ax.set_ylim(len(traits_df) - 0.5, -0.5)
    boundaries = np.flatnonzero(
        traits_df["domain"].to_numpy()[1:] != traits_df["domain"].to_numpy()[:-1]
    )
    for boundary in boundaries:
        ax.axhline(boundary + 0.5, color="#bbbbbb", linewidth=0.6)
    # domain names sit inside the panel, above each block, clear of the trait labels
    for domain, rows_df in traits_df.reset_index(drop=True).groupby("domain", sort=False):
        ax.text(
            0.01,
            rows_df.index.min() - 0.45,
            DOMAIN_LABELS.get(str(domain), label(str(domain))),
            fontsize=6,
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="top",
            color="#555555",
            style="italic",
        )


def shorten_label(label: str, width: int = 34) -> str:
    """A trait label cut to ``width`` characters (with an ellipsis) to fit beside a panel."""
    text = str(label)
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _set_ratio_ticks(ax: Axes) -> None:
    """Readable ticks on a log-scaled ratio axis (0.5, 0.8, 1, 1.25, 2 ...)."""
    ax.xaxis.set_major_locator(FixedLocator([0.25, 0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0, 4.0]))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_overview_heatmap(
    primary_df: pd.DataFrame, catalog: TraitCatalog, cohorts: Sequence[str], path: str
) -> str:
    """Overview: log OR of all PGS x (cohort, contrast), significant cells starred.

    Parameters
    ----------
    primary_df : associations of the primary definitions, stratum ``all``.
    catalog : the trait catalog.
    cohorts : cohort order of the columns.
    path : the PNG to write.

    Returns
    -------
    ``path``.
    """
    traits_df = order_traits(catalog, primary_df["trait"].unique())
    columns = [(c, k) for k in CONTRASTS for c in cohorts]
    cells = {
        (str(r["trait"]), str(r["cohort"]), str(r["contrast"])): r
        for r in primary_df.to_dict("records")
    }
    values = np.full((len(traits_df), len(columns)), np.nan)
    stars = np.zeros_like(values, dtype=bool)
    for j, (cohort, contrast) in enumerate(columns):
        for i, trait in enumerate(traits_df["trait"]):
            cell = cells.get((str(trait), cohort, contrast))
            if cell is not None:
                values[i, j] = float(np.log(cell["odds_ratio"]))
                stars[i, j] = bool(pd.notna(cell["significant"]) and cell["significant"])
    return _draw_heatmap(values, stars, traits_df, columns, path)


def _draw_heatmap(
    values: np.ndarray,
    stars: np.ndarray,
    traits_df: pd.DataFrame,
    columns: Sequence[tuple[str, str]],
    path: str,
) -> str:
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    figure = Figure(figsize=(0.55 * len(columns) + 3.5, 0.17 * len(traits_df) + 2.2))
    ax = figure.subplots()
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for i, j in zip(*np.nonzero(stars), strict=True):
        ax.text(j, i, "*", ha="center", va="center", fontsize=7)
    ax.set_yticks(range(len(traits_df)), [shorten_label(t) for t in traits_df["label"]], fontsize=6)
    ax.set_xticks(
        range(len(columns)),
        [f"{label(k)}\n{c}" for c, k in columns],
        fontsize=6,
        rotation=60,
        ha="right",
    )
    figure.colorbar(image, ax=ax, label="log OR per SD", shrink=0.5)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def plot_replication(
    primary_df: pd.DataFrame,
    replication_df: pd.DataFrame | None,
    discovery: str,
    path: str,
) -> str:
    """Replication scatter: each replication cohort's log OR against the discovery log OR.

    Parameters
    ----------
    primary_df : associations of the primary definitions, stratum ``all``.
    replication_df : ``results/replication.parquet`` (for meta R²), or None.
    discovery : the discovery cohort.
    path : the PNG to write.

    Returns
    -------
    ``path``.
    """
    others = [c for c in primary_df["cohort"].unique() if c != discovery]
    contrasts = [c for c in CONTRASTS if c in set(primary_df["contrast"])]
    figure = Figure(figsize=(3.4 * len(contrasts), 3.2 * max(1, len(others))))
    axes = figure.subplots(max(1, len(others)), len(contrasts), squeeze=False)
    for i, cohort in enumerate(others):
        for j, contrast in enumerate(contrasts):
            pair_df = _paired_log_or(primary_df, contrast, discovery, cohort)
            r2 = _meta_r2(replication_df, contrast, cohort)
            _draw_scatter_panel(axes[i][j], pair_df, f"{label(contrast)}: {cohort}", r2)
            axes[i][j].set_xlabel(f"log OR, {discovery}", fontsize=7)
            axes[i][j].set_ylabel(f"log OR, {cohort}", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def _paired_log_or(
    primary_df: pd.DataFrame, contrast: str, discovery: str, cohort: str
) -> pd.DataFrame:
    rows_df = primary_df[primary_df["contrast"] == contrast]
    x_df = rows_df[rows_df["cohort"] == discovery][["trait", "beta", "se"]]
    y_df = rows_df[rows_df["cohort"] == cohort][["trait", "beta", "se"]]
    return x_df.merge(y_df, on="trait", suffixes=("_x", "_y"))


def _meta_r2(replication_df: pd.DataFrame | None, contrast: str, cohort: str) -> float | None:
    if replication_df is None:
        return None
    match_df = replication_df[
        (replication_df["contrast"] == contrast) & (replication_df["cohort"] == cohort)
    ]
    return None if match_df.empty else float(match_df["r2"].iloc[0])


def _draw_scatter_panel(ax: Axes, pair_df: pd.DataFrame, title: str, r2: float | None) -> None:
    ax.errorbar(
        pair_df["beta_x"],
        pair_df["beta_y"],
        xerr=1.96 * pair_df["se_x"],
        yerr=1.96 * pair_df["se_y"],
        fmt="o",
        markersize=3,
        elinewidth=0.4,
        alpha=0.8,
    )
    ax.axhline(0, color="#999999", linewidth=0.5)
    ax.axvline(0, color="#999999", linewidth=0.5)
    if len(pair_df):
        limit = float(np.nanmax(np.abs(pair_df[["beta_x", "beta_y"]].to_numpy()))) * 1.2
        ax.plot([-limit, limit], [-limit, limit], color="#999999", linewidth=0.5, linestyle="--")
    ax.set_title(title, fontsize=8)
    text = "meta R² not available" if r2 is None else f"meta R² = {r2:.1f}%"
    ax.text(0.03, 0.95, text, transform=ax.transAxes, fontsize=7, va="top")
    ax.tick_params(labelsize=7)


def plot_km(
    km_df: pd.DataFrame,
    at_risk_df: pd.DataFrame,
    title: str,
    path: str,
    threshold: int,
    suppress: bool,
) -> str:
    """Kaplan-Meier curves of one PGS by strata, with CI bands and an at-risk table.

    Parameters
    ----------
    km_df : rows of ``results/km.parquet`` for one trait (and survival set).
    at_risk_df : the published Kaplan-Meier rows of that trait (stratum, time, at_risk as
        text through disclosure control); the at-risk table shows some of them.
    title : the panel title.
    path : the PNG to write.
    threshold, suppress : with suppression, curves stop once ``threshold`` or fewer
        remain at risk.

    Returns
    -------
    ``path``.
    """
    shown_df = km_df[km_df["at_risk"] > threshold] if suppress else km_df
    strata = ordered_strata(km_df["stratum"])
    figure = Figure(figsize=(6.0, 4.6))
    ax, table_ax = figure.subplots(2, 1, height_ratios=[4, 1], sharex=True)
    for k, stratum in enumerate(strata):
        curve_df = shown_df[shown_df["stratum"] == stratum]
        colour = STRATUM_COLOURS[k % len(STRATUM_COLOURS)]
        _draw_km_curve(ax, curve_df, colour, stratum_label(stratum))
    ax.set_ylabel("Free of TRD", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.legend(title="PGS percentile", fontsize=7, title_fontsize=7, loc="lower left")
    _draw_at_risk_table(table_ax, at_risk_labels(at_risk_df, strata), strata)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def _draw_km_curve(ax: Axes, curve_df: pd.DataFrame, colour: str, label: str) -> None:
    # the table starts at the first event or censoring time; every curve starts at 1 at 0
    start_df = pd.DataFrame({"time": [0.0], "survival": [1.0], "ci_low": [1.0], "ci_high": [1.0]})
    columns = ["time", "survival", "ci_low", "ci_high"]
    curve_df = pd.concat([start_df, curve_df[columns].sort_values("time")], ignore_index=True)
    ax.step(curve_df["time"], curve_df["survival"], where="post", color=colour, label=label)
    band_df = curve_df.fillna({"ci_low": curve_df["survival"], "ci_high": curve_df["survival"]})
    ax.fill_between(
        band_df["time"],
        band_df["ci_low"].astype(float),
        band_df["ci_high"].astype(float),
        step="post",
        color=colour,
        alpha=0.15,
        linewidth=0,
    )


def stratum_label(stratum: str) -> str:
    """``pgs_0_20`` -> ``0-20`` (PGS percentile range); other names unchanged."""
    text = str(stratum)
    if text.startswith("pgs_"):
        return text.removeprefix("pgs_").replace("_", "-")
    return text


MAX_AT_RISK_POINTS = 6  # numbers at risk shown per stratum under a KM plot


def at_risk_labels(
    at_risk_df: pd.DataFrame, strata: Sequence[str], most: int = MAX_AT_RISK_POINTS
) -> list[list[tuple[float, str]]]:
    """The numbers at risk shown under a KM plot: per stratum, up to ``most`` published
    points spread over its published times (the first, time 0, included).

    Parameters
    ----------
    at_risk_df : published KM rows of one trait (stratum, time, at_risk text).
    strata : the strata, one table row each.
    most : points per stratum.

    Returns
    -------
    Per stratum, (time, text) pairs; the texts are the published ones, unchanged.
    """
    labels = []
    for stratum in strata:
        rows_df = at_risk_df[at_risk_df["stratum"] == stratum].sort_values("time")
        chosen = np.unique(np.linspace(0, len(rows_df) - 1, min(most, len(rows_df))).round())
        labels.append(
            [
                (float(rows_df["time"].iloc[int(i)]), str(rows_df["at_risk"].iloc[int(i)]))
                for i in chosen
            ]
        )
    return labels


def _draw_at_risk_table(
    ax: Axes, labels: list[list[tuple[float, str]]], strata: Sequence[str]
) -> None:
    for k, row in enumerate(labels):
        for t, text in row:
            colour = STRATUM_COLOURS[k % len(STRATUM_COLOURS)]
            ax.text(t, k, text, ha="center", va="center", fontsize=7, color=colour)
    ax.set_ylim(len(strata) - 0.5, -0.5)
    ax.set_yticks(range(len(strata)), [stratum_label(s) for s in strata], fontsize=7)
    ax.set_xlabel("Days since first MDD diagnosis (numbers still at risk below)", fontsize=8)
    ax.tick_params(labelsize=7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def ordered_strata(strata: Iterable[str]) -> list[str]:
    """The PGS strata present, lowest first (:data:`trd_spark.study.PGS_STRATA`), then others."""
    present = {str(s) for s in strata}
    return [s for s in PGS_STRATA if s in present] + sorted(present - set(PGS_STRATA))


def plot_hr_forest(survival_df: pd.DataFrame, catalog: TraitCatalog, cohort: str, path: str) -> str:
    """Figure 2: hazard ratios of time to TRD for every PGS, one panel per term.

    Parameters
    ----------
    survival_df : ``results/survival.parquet``.
    catalog : the trait catalog.
    cohort : the cohort to draw (the pooled WGS fit when there is one).
    path : the PNG to write.

    Returns
    -------
    ``path``.
    """
    cohort_df = survival_df[survival_df["cohort"] == cohort]
    traits_df = order_traits(catalog, cohort_df["trait"].unique())
    terms = [t for t in TERM_TITLES if t in set(cohort_df["term"])]
    figure = Figure(figsize=(3.6 * max(1, len(terms)) + 2.5, 0.2 * len(traits_df) + 1.5))
    axes = figure.subplots(1, max(1, len(terms)), sharey=True, squeeze=False)[0]
    for ax, term in zip(axes, terms, strict=False):
        term_df = (
            cohort_df[cohort_df["term"] == term]
            .rename(columns={"hr": "odds_ratio"})
            .assign(significant=lambda d: d["p"] < 0.05, cohort=cohort)
        )
        _draw_forest_panel(ax, term_df, traits_df, [cohort])
        ax.set_xlabel("HR (95% CI); filled = p < 0.05", fontsize=8)
        ax.set_title(f"{cohort}: {TERM_TITLES.get(term, term)}", fontsize=9)
    _label_trait_axis(axes[0], traits_df)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def plot_match_rates(match_df: pd.DataFrame, overlap_column: str, path: str) -> str:
    """PGS match rates: the fraction of each trait's weights matched, one dot per platform.

    Parameters
    ----------
    match_df : ``pgs/match_report.parquet`` (one row per trait, or per trait and platform).
    overlap_column : its column holding the overlap fraction.
    path : the PNG to write.

    Returns
    -------
    ``path``.
    """
    platforms = match_df["platform"] if "platform" in match_df.columns else pd.Series("all")
    rates_df = match_df.assign(platform=platforms.astype(str).to_numpy())
    order = rates_df.groupby("trait")[overlap_column].min().sort_values().index.tolist()
    positions = {trait: i for i, trait in enumerate(order)}
    figure = Figure(figsize=(6.0, 0.13 * len(order) + 1.4))
    ax = figure.subplots()
    for k, (platform, rows_df) in enumerate(rates_df.groupby("platform")):
        ax.scatter(rows_df[overlap_column].astype(float), rows_df["trait"].map(positions), s=10,
                   color=COHORT_COLOURS[k % len(COHORT_COLOURS)], label=str(platform))  # fmt: skip
    ax.set_yticks(range(len(order)), order, fontsize=5)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlim(0, 1.02)
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_xlabel("fraction of weight variants matched", fontsize=8)
    ax.legend(title="platform", fontsize=7, title_fontsize=7, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path
