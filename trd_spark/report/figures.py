"""The report's figures as PNG files, drawn with matplotlib's object API.

``matplotlib.figure.Figure`` renders through the Agg canvas without pyplot, so nothing
here touches the global backend of a notebook or a server.  Every ``plot_*`` function
writes its PNG and returns the :class:`~matplotlib.figure.Figure` it drew, so a test can
check what a reader sees (ticks, overlapping text) from the objects themselves.  The
drawing rules (sizes, fonts, ticks, legends outside the data) are in
:mod:`trd_spark.report.plotting`.  Every count of persons a figure shows (subtitles,
at-risk tables) is handed in as text already through disclosure control
(:mod:`trd_spark.report.disclose`).  Names are shown with :func:`trd_spark.study.label`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from trd_spark.report.plotting import (
    LARGE,
    NORMAL,
    REFERENCE,
    SMALL,
    format_p_threshold,
    new_figure,
    ratio_limits,
    reference_line,
    save,
    set_numeric_ticks,
    set_ratio_axis,
    style_axes,
)
from trd_spark.study import (
    CONTRASTS,
    DOMAIN_LABELS,
    PGS_STRATA,
    TraitCatalog,
    label,
    platform_label,
)

COHORT_COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000")
STRATUM_COLOURS = ("#2e75b6", "#7f7f7f", "#c00000", "#548235", "#7030a0")
FIT_COLOUR = "#c00000"
# the Cox terms (trd_spark.study.SURVIVAL_TERMS) in the order of Figure 2's panels
TERM_TITLES = {
    "pgs_80_100": "Top 20% vs bottom 20% of PGS",
    "pgs_20_80": "Middle 60% vs bottom 20% of PGS",
    "pgs_per_sd": "Per SD of PGS",
}
ROW_HEIGHT = 0.19  # inches per row of a forest plot (8-point labels)
Z_95 = 1.959963984540054


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


def domain_label(domain: str) -> str:
    """A domain's display name (``education_cognition`` -> ``Education and cognition``)."""
    return DOMAIN_LABELS.get(str(domain), label(str(domain)).capitalize())


# --- forest plots (Figures 1 and 2) ----------------------------------------------------------


@dataclass(frozen=True)
class ForestRows:
    """The rows of a forest plot: a bold header row per domain, then its traits."""

    labels: list[str]
    headers: list[bool]
    positions: dict[str, int]  # trait -> its row

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.labels)


def forest_rows(traits_df: pd.DataFrame) -> ForestRows:
    """Rows for :func:`order_traits`' traits: each domain's name on a row of its own above
    its traits (so it never sits on a confidence interval), full trait labels."""
    labels: list[str] = []
    headers: list[bool] = []
    positions: dict[str, int] = {}
    for domain, block_df in traits_df.groupby("domain", sort=False):
        labels.append(domain_label(str(domain)))
        headers.append(True)
        for trait, trait_label in zip(block_df["trait"], block_df["label"], strict=True):
            positions[str(trait)] = len(labels)
            labels.append(str(trait_label))
            headers.append(False)
    return ForestRows(labels, headers, positions)


@dataclass(frozen=True)
class Series:
    """One set of estimates in a forest panel (a cohort)."""

    name: str
    label: str
    colour: str
    size: float
    offset: float


def cohort_series(cohorts: Sequence[str]) -> list[Series]:
    """One series per cohort, the first (discovery) drawn with the largest marker."""
    offsets = np.linspace(-0.22, 0.22, len(cohorts)) if len(cohorts) > 1 else [0.0]
    return [
        Series(
            c,
            label(c),
            COHORT_COLOURS[k % len(COHORT_COLOURS)],
            22 if k == 0 else 12,
            float(offsets[k]),
        )
        for k, c in enumerate(cohorts)
    ]


def _forest_figure(n_panels: int, rows: ForestRows, extra_height: float) -> tuple[Figure, Any]:
    width = 3.2 + 2.45 * n_panels
    figure = new_figure(width, ROW_HEIGHT * rows.n + extra_height)
    axes = figure.subplots(1, n_panels, sharey=True, squeeze=False)[0]
    return figure, axes


def _draw_forest_panel(
    ax: Axes, panel_df: pd.DataFrame, rows: ForestRows, series: Sequence[Series], threshold: float
) -> None:
    """Ratio and CI per trait and series; filled marker when p < ``threshold``.

    ``panel_df`` columns: series (the series name), trait, ratio, ci_low, ci_high, p.
    """
    for s in series:
        rows_df = panel_df[(panel_df["series"] == s.name) & panel_df["trait"].isin(rows.positions)]
        y = rows_df["trait"].map(rows.positions).to_numpy(dtype=float) + s.offset
        ratio = rows_df["ratio"].to_numpy(dtype=float)
        err = [
            ratio - rows_df["ci_low"].to_numpy(float),
            rows_df["ci_high"].to_numpy(float) - ratio,
        ]
        ax.errorbar(ratio, y, xerr=err, fmt="none", ecolor=s.colour, elinewidth=0.9)
        filled = rows_df["p"].to_numpy(dtype=float) < threshold
        ax.scatter(ratio[filled], y[filled], s=s.size, color=s.colour, zorder=3)
        ax.scatter(ratio[~filled], y[~filled], s=s.size, facecolor="white", edgecolor=s.colour,
                   linewidth=0.9, zorder=3)  # fmt: skip
    reference_line(ax, 1.0)
    low, high = ratio_limits(panel_df["ci_low"], panel_df["ci_high"])
    set_ratio_axis(ax, low, high)
    for row, header in enumerate(rows.headers):
        if header and row:
            reference_line(ax, row - 0.5, vertical=False, color="#cccccc", linewidth=0.6)
    style_axes(ax)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.6)


def _label_rows(ax: Axes, rows: ForestRows) -> None:
    ax.set_yticks(range(rows.n), rows.labels)
    ax.set_ylim(rows.n - 0.5, -0.6)
    for text, header in zip(ax.get_yticklabels(), rows.headers, strict=True):
        text.set_fontsize(SMALL)
        if header:
            text.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)


def significance_handles(threshold: float) -> list[Line2D]:
    """Legend entries for the one marker rule of Figures 1 and 2."""
    shown = format_p_threshold(threshold)
    return [
        Line2D([], [], linestyle="none", marker="o", color="#444444", label=f"filled: p < {shown}"),
        Line2D([], [], linestyle="none", marker="o", markerfacecolor="white",
               markeredgecolor="#444444", label=f"open: p ≥ {shown}"),
    ]  # fmt: skip


def _series_handles(series: Sequence[Series]) -> list[Line2D]:
    return [Line2D([], [], color=s.colour, marker="o", label=s.label) for s in series]


def plot_forest_by_domain(
    primary_df: pd.DataFrame,
    catalog: TraitCatalog,
    cohorts: Sequence[str],
    path: str,
    case_counts: Mapping[str, str] | None = None,
    threshold: float = 1e-5,
) -> Figure:
    """Figure 1: OR per SD with 95% CI for every PGS, one panel per contrast.

    Parameters
    ----------
    primary_df : associations of the primary definitions, stratum ``all``.
    catalog : the trait catalog (labels, domains).
    cohorts : cohorts to draw, discovery first (drawn with the largest marker).
    path : the PNG to write.
    case_counts : contrast -> display text of its discovery n (already suppressed).
    threshold : markers are filled when p < threshold (the study's significance).

    Returns
    -------
    The figure written to ``path``.
    """
    traits_df = order_traits(catalog, primary_df["trait"].unique())
    rows = forest_rows(traits_df)
    contrasts = [c for c in CONTRASTS if c in set(primary_df["contrast"])]
    series = cohort_series(cohorts)
    figure, axes = _forest_figure(len(contrasts), rows, 1.9)
    for ax, contrast in zip(axes, contrasts, strict=True):
        panel_df = primary_df[primary_df["contrast"] == contrast].rename(
            columns={"cohort": "series", "odds_ratio": "ratio"}
        )
        _draw_forest_panel(ax, panel_df, rows, series, threshold)
        subtitle = (case_counts or {}).get(contrast, "")
        ax.set_title(label(contrast) + (f"\n{subtitle}" if subtitle else ""), fontsize=NORMAL)
        ax.set_xlabel("OR per SD of PGS (95% CI)", fontsize=SMALL)
    _label_rows(axes[0], rows)
    figure.legend(handles=_series_handles(series) + significance_handles(threshold),
                  loc="outside upper center", ncol=5, fontsize=SMALL, frameon=False)  # fmt: skip
    return save(figure, path)


def plot_hr_forest(
    survival_df: pd.DataFrame,
    catalog: TraitCatalog,
    cohort: str,
    path: str,
    threshold: float = 1e-5,
) -> Figure:
    """Figure 2: hazard ratios of time to TRD for every PGS, one panel per term.

    Parameters
    ----------
    survival_df : ``results/survival.parquet``.
    catalog : the trait catalog.
    cohort : the survival set to draw (the pooled WGS set when there is one).
    path : the PNG to write.
    threshold : markers are filled when p < threshold (the same rule as Figure 1).

    Returns
    -------
    The figure written to ``path``.
    """
    cohort_df = survival_df[(survival_df["cohort"] == cohort) & survival_df["hr"].notna()]
    traits_df = order_traits(catalog, cohort_df["trait"].unique())
    rows = forest_rows(traits_df)
    terms = [t for t in TERM_TITLES if t in set(cohort_df["term"])]
    series = [Series(cohort, label(cohort), COHORT_COLOURS[0], 22, 0.0)]
    figure, axes = _forest_figure(max(1, len(terms)), rows, 1.9)
    for ax, term in zip(axes, terms, strict=False):
        panel_df = cohort_df[cohort_df["term"] == term].rename(
            columns={"cohort": "series", "hr": "ratio"}
        )
        _draw_forest_panel(ax, panel_df, rows, series, threshold)
        ax.set_xlabel("HR of TRD (95% CI)", fontsize=SMALL)
        ax.set_title(TERM_TITLES.get(term, label(term)), fontsize=NORMAL)
    _label_rows(axes[0], rows)
    figure.suptitle(f"Time to TRD: {label(cohort)}", fontsize=LARGE)
    figure.legend(handles=significance_handles(threshold), loc="outside lower center", ncol=2,
                  fontsize=SMALL, frameon=False)  # fmt: skip
    return save(figure, path)


# --- overview and match rates ----------------------------------------------------------------


def plot_overview_heatmap(
    primary_df: pd.DataFrame, catalog: TraitCatalog, cohorts: Sequence[str], path: str
) -> Figure:
    """Overview: log OR of all PGS x (cohort, contrast), significant cells starred.

    Parameters
    ----------
    primary_df : associations of the primary definitions, stratum ``all``.
    catalog : the trait catalog.
    cohorts : cohort order of the columns.
    path : the PNG to write.

    Returns
    -------
    The figure written to ``path``.
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
) -> Figure:
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    figure = new_figure(0.62 * len(columns) + 4.6, 0.165 * len(traits_df) + 2.4)
    ax = figure.subplots()
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    for i, j in zip(*np.nonzero(stars), strict=True):
        ax.text(j, i, "*", ha="center", va="center", fontsize=SMALL)
    ax.set_yticks(range(len(traits_df)), list(traits_df["label"]), fontsize=SMALL - 0.5)
    ax.set_xticks(
        range(len(columns)),
        [f"{label(k)}\n{label(c)}" for c, k in columns],
        fontsize=SMALL,
        rotation=90,
    )
    boundaries = np.flatnonzero(
        traits_df["domain"].to_numpy()[1:] != traits_df["domain"].to_numpy()[:-1]
    )
    for boundary in boundaries:
        reference_line(ax, boundary + 0.5, vertical=False, color="white", linewidth=1.2)
    colorbar = figure.colorbar(image, ax=ax, shrink=0.4, aspect=25)
    colorbar.set_label("log OR per SD of PGS", fontsize=SMALL)
    colorbar.ax.tick_params(labelsize=SMALL)
    return save(figure, path)


def plot_match_rates(
    match_df: pd.DataFrame, overlap_column: str, path: str, labels: Mapping[str, str] | None = None
) -> Figure:
    """PGS match rates: the fraction of each trait's weights matched, one dot per platform.

    Parameters
    ----------
    match_df : ``pgs/match_report.parquet`` (one row per trait, or per trait and platform).
    overlap_column : its column holding the overlap fraction.
    path : the PNG to write.
    labels : trait -> display label (the trait name where absent).

    Returns
    -------
    The figure written to ``path``.
    """
    platforms = match_df["platform"] if "platform" in match_df.columns else pd.Series("all")
    rates_df = match_df.assign(platform=platforms.astype(str).to_numpy())
    order = rates_df.groupby("trait")[overlap_column].min().sort_values().index.tolist()
    positions = {trait: i for i, trait in enumerate(order)}
    figure = new_figure(7.5, 0.16 * len(order) + 1.6)
    ax = figure.subplots()
    handles = []
    for k, (platform, rows_df) in enumerate(rates_df.groupby("platform")):
        colour = COHORT_COLOURS[k % len(COHORT_COLOURS)]
        ax.scatter(rows_df[overlap_column].astype(float), rows_df["trait"].map(positions),
                   s=14, color=colour)  # fmt: skip
        handles.append(Line2D([], [], linestyle="none", marker="o", color=colour,
                              label=platform_label(str(platform))))  # fmt: skip
    names = labels or {}
    ax.set_yticks(range(len(order)), [names.get(t, t) for t in order], fontsize=SMALL - 0.5)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.set_xlim(0, 1.02)
    set_numeric_ticks(ax, "x")
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_xlabel("Fraction of the weight file's variants matched", fontsize=SMALL)
    style_axes(ax)
    figure.legend(
        handles=handles, title="Genotyping platform", loc="outside upper center",
        ncol=len(handles), fontsize=SMALL, title_fontsize=SMALL, frameon=False,
    )  # fmt: skip
    return save(figure, path)


# --- replication (logistic and survival) -----------------------------------------------------


@dataclass(frozen=True)
class MetaLine:
    """A replication meta-regression as drawn: intercept, slope with CI, R² (NaN: none)."""

    intercept: float = float("nan")
    slope: float = float("nan")
    slope_low: float = float("nan")
    slope_high: float = float("nan")
    r2: float = float("nan")

    def text(self) -> str:
        """``R² 45%, slope 0.61 [0.40, 0.82]`` (or why there is none)."""
        if not np.isfinite(self.r2):
            return "meta-regression not available"
        slope = ""
        if np.isfinite(self.slope):
            slope = f", slope {self.slope:.2f} [{self.slope_low:.2f}, {self.slope_high:.2f}]"
        return f"R² {self.r2:.0f}%{slope}"


def meta_line(replication_df: pd.DataFrame | None, **keys: str) -> MetaLine:
    """The replication row matching ``keys`` (column -> value) as a :class:`MetaLine`."""
    if replication_df is None:
        return MetaLine()
    match = np.ones(len(replication_df), dtype=bool)
    for column, value in keys.items():
        if column not in replication_df.columns:
            return MetaLine()
        match &= (replication_df[column] == value).to_numpy()
    if not match.any():
        return MetaLine()
    row = replication_df[match].iloc[0]

    def get(column: str) -> float:
        return float(row[column]) if column in row.index and pd.notna(row[column]) else float("nan")

    return MetaLine(get("intercept"), get("slope"), get("slope_ci_low"), get("slope_ci_high"),
                    get("r2"))  # fmt: skip


def paired_estimates(
    estimates_df: pd.DataFrame, group: str, reference: str, column: str = "cohort"
) -> pd.DataFrame:
    """The traits estimated in both ``group`` and ``reference``: beta_x, se_x (reference)
    and beta_y, se_y (``group``), from columns trait, beta, se."""
    x_df = estimates_df[estimates_df[column] == reference][["trait", "beta", "se"]]
    y_df = estimates_df[estimates_df[column] == group][["trait", "beta", "se"]]
    return x_df.merge(y_df, on="trait", suffixes=("_x", "_y"))


def _draw_scatter_panel(ax: Axes, pair_df: pd.DataFrame, fit: MetaLine) -> None:
    ax.errorbar(
        pair_df["beta_x"],
        pair_df["beta_y"],
        xerr=Z_95 * pair_df["se_x"],
        yerr=Z_95 * pair_df["se_y"],
        fmt="o",
        markersize=3,
        elinewidth=0.5,
        color=COHORT_COLOURS[0],
        alpha=0.8,
    )
    reference_line(ax, 0.0, color="#aaaaaa", linewidth=0.5)
    reference_line(ax, 0.0, vertical=False, color="#aaaaaa", linewidth=0.5)
    if len(pair_df):
        values = pair_df[["beta_x", "beta_y"]].to_numpy(dtype=float)
        limit = float(np.nanmax(np.abs(values))) * 1.25 or 0.1
        (identity,) = ax.plot([-limit, limit], [-limit, limit], color="#777777", linewidth=0.7,
                              linestyle="--")  # fmt: skip
        identity.set_gid(REFERENCE)
        if np.isfinite(fit.slope) and np.isfinite(fit.intercept):
            x = np.array([-limit, limit])
            ax.plot(x, fit.intercept + fit.slope * x, color=FIT_COLOUR, linewidth=1.1)
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
    set_numeric_ticks(ax)
    style_axes(ax)


def _replication_legend(figure: Figure, what: str) -> None:
    handles = [
        Line2D([], [], color=COHORT_COLOURS[0], marker="o", markersize=3, linewidth=0.5,
               label=f"{what} per SD of one PGS (95% CI)"),
        Line2D([], [], color=FIT_COLOUR, linewidth=1.1, label="meta-regression fit"),
        Line2D([], [], color="#777777", linewidth=0.7, linestyle="--",
               label="identity (replication = reference)"),
    ]  # fmt: skip
    figure.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=SMALL,
                  frameon=False)  # fmt: skip


def plot_replication(
    primary_df: pd.DataFrame,
    replication_df: pd.DataFrame | None,
    discovery: str,
    path: str,
) -> Figure:
    """Replication of the logistic results: each replication cohort's log OR against the
    discovery cohort's, with the meta-regression line, R² and slope.

    Parameters
    ----------
    primary_df : associations of the primary definitions, stratum ``all``.
    replication_df : ``results/replication.parquet`` (rows with ``analysis`` ``logistic``,
        or without that column), or None.
    discovery : the discovery cohort.
    path : the PNG to write.

    Returns
    -------
    The figure written to ``path``.
    """
    others = [c for c in primary_df["cohort"].unique() if c != discovery]
    contrasts = [c for c in CONTRASTS if c in set(primary_df["contrast"])]
    figure = new_figure(3.45 * len(contrasts), 3.5 * max(1, len(others)) + 0.5)
    axes = figure.subplots(max(1, len(others)), len(contrasts), squeeze=False)
    logistic_df = _analysis_rows(replication_df, "logistic")
    for i, cohort in enumerate(others):
        for j, contrast in enumerate(contrasts):
            rows_df = primary_df[primary_df["contrast"] == contrast]
            fit = meta_line(logistic_df, contrast=contrast, cohort=cohort,
                            reference_cohort=discovery)  # fmt: skip
            ax = axes[i][j]
            _draw_scatter_panel(ax, paired_estimates(rows_df, cohort, discovery), fit)
            ax.set_title(f"{label(contrast)}: {label(cohort)}\n{fit.text()}", fontsize=NORMAL)
            ax.set_xlabel(f"log OR, {label(discovery)}", fontsize=SMALL)
            ax.set_ylabel(f"log OR, {label(cohort)}", fontsize=SMALL)
    _replication_legend(figure, "log OR")
    return save(figure, path)


def _analysis_rows(replication_df: pd.DataFrame | None, analysis: str) -> pd.DataFrame | None:
    if replication_df is None or "analysis" not in replication_df.columns:
        return replication_df if analysis == "logistic" else None
    return replication_df[replication_df["analysis"] == analysis]


def per_sd_estimates(survival_df: pd.DataFrame) -> pd.DataFrame:
    """log HR per SD and its SE per set and trait (models with estimates only): columns
    cohort, trait, beta, se (from ``coef`` and ``se``, or from the HR and its CI)."""
    rows_df = survival_df[(survival_df["term"] == "pgs_per_sd") & survival_df["hr"].notna()]
    if "status" in rows_df.columns:
        rows_df = rows_df[rows_df["status"] == "ok"]
    if {"coef", "se"} <= set(rows_df.columns):
        beta = rows_df["coef"].to_numpy(float)
        se = rows_df["se"].to_numpy(float)
    else:
        beta = np.log(rows_df["hr"].to_numpy(float))
        width = np.log(rows_df["ci_high"].to_numpy(float)) - np.log(
            rows_df["ci_low"].to_numpy(float)
        )
        se = width / (2 * Z_95)
    return pd.DataFrame({"cohort": rows_df["cohort"], "trait": rows_df["trait"],
                         "beta": beta, "se": se}, index=rows_df.index)  # fmt: skip


def plot_survival_replication(
    survival_df: pd.DataFrame, replication_df: pd.DataFrame, path: str
) -> Figure:
    """Replication of the Cox results (the paper's eFigure 6): log HR per SD of each PGS in a
    replication set against a reference set, one panel per replication row.

    Parameters
    ----------
    survival_df : ``results/survival.parquet``.
    replication_df : ``results/replication.parquet``; its rows with ``analysis`` ``survival``
        say which sets are compared.
    path : the PNG to write.

    Returns
    -------
    The figure written to ``path``.
    """
    rows_df = _analysis_rows(replication_df, "survival")
    pairs = [] if rows_df is None else list(zip(rows_df["cohort"], rows_df["reference_cohort"],
                                                strict=True))  # fmt: skip
    estimates_df = per_sd_estimates(survival_df)
    figure = new_figure(3.45 * max(1, len(pairs)), 4.3)
    axes = figure.subplots(1, max(1, len(pairs)), squeeze=False)[0]
    for ax, (cohort, reference) in zip(axes, pairs, strict=False):
        fit = meta_line(rows_df, cohort=cohort, reference_cohort=reference)
        _draw_scatter_panel(ax, paired_estimates(estimates_df, cohort, reference), fit)
        ax.set_title(f"{label(cohort)}\nvs {label(reference)}\n{fit.text()}", fontsize=NORMAL)
        ax.set_xlabel(f"log HR per SD, {label(reference)}", fontsize=SMALL)
        ax.set_ylabel(f"log HR per SD, {label(cohort)}", fontsize=SMALL)
    _replication_legend(figure, "log HR")
    return save(figure, path)


# --- Kaplan-Meier ----------------------------------------------------------------------------


def plot_km(
    km_df: pd.DataFrame,
    at_risk_df: pd.DataFrame,
    title: str,
    path: str,
    threshold: int,
    suppress: bool,
) -> Figure:
    """Kaplan-Meier curves of one PGS by strata, with CI bands and an at-risk table.

    Parameters
    ----------
    km_df : rows of ``results/km.parquet`` for one trait (and survival set).
    at_risk_df : the published Kaplan-Meier rows of that trait (stratum, time, at_risk as
        text through disclosure control); the at-risk table shows some of them.
    title : the panel title (the PGS and the survival set).
    path : the PNG to write.
    threshold, suppress : with suppression, curves stop once ``threshold`` or fewer
        remain at risk.

    Returns
    -------
    The figure written to ``path``.
    """
    shown_df = km_df[km_df["at_risk"] > threshold] if suppress else km_df
    strata = ordered_strata(km_df["stratum"])
    figure = new_figure(7.4, 5.2)
    ax, table_ax = figure.subplots(2, 1, height_ratios=[4, 1.1], sharex=True)
    handles = []
    for k, stratum in enumerate(strata):
        curve_df = shown_df[shown_df["stratum"] == stratum]
        colour = STRATUM_COLOURS[k % len(STRATUM_COLOURS)]
        _draw_km_curve(ax, curve_df, colour)
        handles.append(Line2D([], [], color=colour, label=stratum_label(stratum)))
    ax.set_ylabel("Proportion free of TRD", fontsize=SMALL)
    ax.set_title(title, fontsize=NORMAL)
    set_numeric_ticks(ax)
    style_axes(ax)
    ax.legend(handles=handles, title="PGS stratum", fontsize=SMALL, title_fontsize=SMALL,
              loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # fmt: skip
    limit = float(km_df["time"].max()) if len(km_df) else 1.0
    labels = at_risk_labels(at_risk_df, strata, min_gap=0.11 * limit)
    _draw_at_risk_table(table_ax, labels, strata)
    table_ax.set_xlim(0, limit * 1.02)
    return save(figure, path)


def _draw_km_curve(ax: Axes, curve_df: pd.DataFrame, colour: str) -> None:
    # the table starts at the first event or censoring time; every curve starts at 1 at 0
    start_df = pd.DataFrame({"time": [0.0], "survival": [1.0], "ci_low": [1.0], "ci_high": [1.0]})
    columns = ["time", "survival", "ci_low", "ci_high"]
    curve_df = pd.concat([start_df, curve_df[columns].sort_values("time")], ignore_index=True)
    ax.step(curve_df["time"], curve_df["survival"], where="post", color=colour)
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
    """``pgs_0_20`` -> ``0-20%`` (PGS percentile range); other names through ``label``."""
    text = str(stratum)
    if text.startswith("pgs_") and text.removeprefix("pgs_").replace("_", "").isdigit():
        return text.removeprefix("pgs_").replace("_", "-") + "%"
    return label(text)


MAX_AT_RISK_POINTS = 6  # numbers at risk shown per stratum under a KM plot


def at_risk_labels(
    at_risk_df: pd.DataFrame,
    strata: Sequence[str],
    most: int = MAX_AT_RISK_POINTS,
    min_gap: float = 0.0,
) -> list[list[tuple[float, str]]]:
    """The numbers at risk shown under a KM plot: per stratum, up to ``most`` published
    points spread over its published times (the first, time 0, included).

    Parameters
    ----------
    at_risk_df : published KM rows of one trait (stratum, time, at_risk text).
    strata : the strata, one table row each.
    most : points per stratum.
    min_gap : points closer in time than this to the previous one shown are skipped (so
        the numbers do not print over each other).

    Returns
    -------
    Per stratum, (time, text) pairs; the texts are the published ones, unchanged.
    """
    labels = []
    for stratum in strata:
        rows_df = at_risk_df[at_risk_df["stratum"] == stratum].sort_values("time")
        chosen = np.unique(np.linspace(0, len(rows_df) - 1, min(most, len(rows_df))).round())
        row: list[tuple[float, str]] = []
        for i in chosen:
            time = float(rows_df["time"].iloc[int(i)])
            if row and time - row[-1][0] < min_gap:
                continue
            row.append((time, str(rows_df["at_risk"].iloc[int(i)])))
        labels.append(row)
    return labels


def _draw_at_risk_table(
    ax: Axes, labels: list[list[tuple[float, str]]], strata: Sequence[str]
) -> None:
    for k, row in enumerate(labels):
        for t, text in row:
            colour = STRATUM_COLOURS[k % len(STRATUM_COLOURS)]
            ax.text(t, k, text, ha="left", va="center", fontsize=SMALL, color=colour)
    ax.set_ylim(len(strata) - 0.5, -0.5)
    ax.set_yticks(range(len(strata)), [stratum_label(s) for s in strata], fontsize=SMALL)
    ax.set_xlabel("Days since first MDD diagnosis (below: numbers still at risk)", fontsize=SMALL)
    set_numeric_ticks(ax, "x")
    ax.tick_params(labelsize=SMALL)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def ordered_strata(strata: Iterable[str]) -> list[str]:
    """The PGS strata present, lowest first (:data:`trd_spark.study.PGS_STRATA`), then others."""
    present = {str(s) for s in strata}
    return [s for s in PGS_STRATA if s in present] + sorted(present - set(PGS_STRATA))
