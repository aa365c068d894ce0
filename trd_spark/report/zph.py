"""The graphical proportional-hazards check beside the ``cox.zph`` table (Figure 2's traits).

For each PGS term of a Cox model, the scaled Schoenfeld residuals
(``results/schoenfeld.parquet``: the coefficient plus each death's scaled residual, against
the Kaplan-Meier transform of time) estimate how the log hazard ratio moves with time; a
smooth that stays flat around the fitted coefficient supports proportional hazards.  The
smooth is R's ``plot.cox.zph``: least squares on a natural cubic spline basis with 4 degrees
of freedom (``ns(df = 4, intercept = TRUE)``, knots at the 1/3 and 2/3 quantiles of the
residuals' times together with the 40 points it is drawn at) and a band of
+- 2 sqrt(var * diag(P (X'X)^-1 P')), var being ``cox.zph``'s ``var``: the number of deaths
times the coefficient's variance.  The time axis is labelled in days at round values, as R
labels it.  Each residual belongs to one person, so none is drawn: the points are means of
consecutive groups of more than ``threshold`` deaths (``docs/report.md``, "Proportional hazards").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator

from trd_spark.report.display import format_p
from trd_spark.report.figures import COHORT_COLOURS, FIT_COLOUR, TERM_TITLES, Z_95
from trd_spark.report.plotting import (
    LARGE,
    NORMAL,
    SMALL,
    new_figure,
    reference_line,
    save,
    set_numeric_ticks,
    style_axes,
)
from trd_spark.study import TraitCatalog, label

SMOOTH_DF = 4  # plot.cox.zph's df
SMOOTH_POINTS = 40  # plot.cox.zph's nsmo
MAX_BINS = 10


def natural_spline_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """A basis of the natural cubic splines with these knots (boundary knots first and last).

    Parameters
    ----------
    x : points.
    knots : K increasing knots, the outer two the boundary.

    Returns
    -------
    (len(x), K): 1, x and the K - 2 truncated-power terms of Hastie, Tibshirani and
    Friedman (Elements of Statistical Learning, eq. 5.4-5.5).  It spans the same functions
    as R's ``splines::ns(x, knots = inner, Boundary.knots = outer, intercept = TRUE)``, so
    least-squares fits on either are the same.
    """
    x = np.asarray(x, dtype=float)
    last = knots[-1]

    def d(k: int) -> np.ndarray:
        return (np.clip(x - knots[k], 0, None) ** 3 - np.clip(x - last, 0, None) ** 3) / (
            last - knots[k]
        )

    columns = [np.ones_like(x), x] + [d(k) - d(len(knots) - 2) for k in range(len(knots) - 2)]
    return np.column_stack(columns)


def spline_knots(values: np.ndarray, df: int = SMOOTH_DF) -> np.ndarray:
    """``ns(values, df, intercept = TRUE)``'s knots: the range and df - 2 inner quantiles
    (type 7, numpy's default and R's)."""
    inner = np.linspace(0, 1, df)[1:-1]
    return np.concatenate([[values.min()], np.quantile(values, inner), [values.max()]])


@dataclass(frozen=True)
class Smooth:
    """plot.cox.zph's smooth of one term: the curve and its +- 2 SE band at ``x``."""

    x: np.ndarray
    fit: np.ndarray
    low: np.ndarray
    high: np.ndarray


def zph_smooth(
    x: np.ndarray, y: np.ndarray, variance: float, points: int = SMOOTH_POINTS
) -> Smooth:
    """The smooth R's ``plot.cox.zph`` draws through scaled Schoenfeld residuals.

    Parameters
    ----------
    x : transformed times of the deaths (``cox.zph``'s ``x``).
    y : the scaled residuals (``cox.zph``'s ``y`` column of the term).
    variance : ``cox.zph``'s ``var`` of the term: deaths x the coefficient's variance.
    points : points the curve is evaluated at, evenly over the range of ``x``.

    Returns
    -------
    The curve and band (band NaN when ``variance`` is not finite).
    """
    grid = np.linspace(x.min(), x.max(), points)
    knots = spline_knots(np.concatenate([grid, x]))
    design, predict = natural_spline_basis(x, knots), natural_spline_basis(grid, knots)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    fit = predict @ coef
    inverse = np.linalg.pinv(design.T @ design)
    leverage = np.einsum("ij,jk,ik->i", predict, inverse, predict)
    half = 2 * np.sqrt(variance * leverage) if np.isfinite(variance) else np.full(points, np.nan)
    return Smooth(grid, fit, fit - half, fit + half)


def time_ticks(x: np.ndarray, time: np.ndarray, n: int = 5) -> tuple[list[float], list[str]]:
    """Positions on the transformed scale and their labels in days, as R's plot.cox.zph
    (``n`` evenly spaced positions, the days there rounded to two significant digits and
    placed back on the transformed scale).

    Parameters
    ----------
    x : transformed times; time : the same deaths' times in days.
    n : ticks wanted.

    Returns
    -------
    (positions, labels), distinct rounded days only.
    """
    order = np.argsort(x, kind="stable")
    xs, ts = x[order], time[order]
    keep = np.r_[True, np.diff(xs) > 0]
    xs, ts = xs[keep], np.maximum.accumulate(ts[keep])
    wanted = np.linspace(xs.min(), xs.max(), 2 * n + 1)[1::2]
    days = np.unique([float(f"{d:.2g}") for d in np.interp(wanted, xs, ts)])
    positions = np.interp(days, ts, xs)
    return [float(p) for p in positions], [f"{d:,.0f}" for d in days]


def binned_means(
    x: np.ndarray, y: np.ndarray, threshold: int, most: int = MAX_BINS
) -> pd.DataFrame:
    """Means of consecutive groups (by ``x``) of more than ``threshold`` residuals.

    Parameters
    ----------
    x, y : transformed times and scaled residuals of one term.
    threshold : every group holds more than this many deaths (the disclosure threshold).
    most : groups at most.

    Returns
    -------
    Columns x (mean), y (mean), half (1.96 SE of the mean); empty with too few deaths.
    """
    n_bins = min(most, len(x) // (threshold + 1))
    if n_bins < 1:
        return pd.DataFrame(columns=["x", "y", "half"])
    order = np.argsort(x, kind="stable")
    rows = []
    for part in np.array_split(order, n_bins):
        spread = y[part].std(ddof=1) if len(part) > 1 else np.nan
        rows.append({"x": x[part].mean(), "y": y[part].mean(),
                     "half": Z_95 * spread / np.sqrt(len(part))})  # fmt: skip
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class ZphPanel:
    """What one panel shows: a term's residuals, its coefficient and ``cox.zph`` p."""

    trait: str
    term: str
    x: np.ndarray
    time: np.ndarray
    y: np.ndarray
    coef: float
    variance: float
    p: float


def zph_panels(
    resid_df: pd.DataFrame, survival_df: pd.DataFrame, survival_set: str, traits: Sequence[str]
) -> list[ZphPanel]:
    """One panel per trait and PGS term of ``survival_set`` with residuals, in the order of
    ``traits`` and Figure 2's terms.

    Parameters
    ----------
    resid_df : ``results/schoenfeld.parquet``.
    survival_df : ``results/survival.parquet`` (coefficient, its SE and the cox.zph p).
    survival_set : the set drawn.
    traits : Figure 2's traits.
    """
    panels = []
    set_df = resid_df[resid_df["cohort"] == survival_set]
    for trait in traits:
        for term in TERM_TITLES:
            rows_df = set_df[(set_df["trait"] == trait) & (set_df["term"] == term)]
            model = survival_df[(survival_df["cohort"] == survival_set)
                                & (survival_df["trait"] == trait)
                                & (survival_df["term"] == term)]  # fmt: skip
            if rows_df.empty or model.empty:
                continue
            row = model.iloc[0]
            coef, se = _coefficient(row)
            panels.append(
                ZphPanel(str(trait), term, rows_df["transformed_time"].to_numpy(float),
                         rows_df["time"].to_numpy(float), rows_df["residual"].to_numpy(float),
                         coef, len(rows_df) * se**2, float(row.get("zph_p", np.nan)))
            )  # fmt: skip
    return panels


def _coefficient(row: pd.Series) -> tuple[float, float]:
    if "coef" in row.index and "se" in row.index and pd.notna(row["coef"]):
        return float(row["coef"]), float(row["se"])
    if pd.isna(row.get("hr")):
        return float("nan"), float("nan")
    se = (np.log(row["ci_high"]) - np.log(row["ci_low"])) / (2 * Z_95)
    return float(np.log(row["hr"])), float(se)


def plot_schoenfeld(
    panels: Sequence[ZphPanel],
    catalog: TraitCatalog,
    survival_set: str,
    path: str,
    threshold: int,
) -> Figure:
    """Scaled Schoenfeld residuals against time for Figure 2's traits, one panel per trait
    (row) and PGS term (column), with R's smooth and band.

    Parameters
    ----------
    panels : from :func:`zph_panels`.
    catalog : the trait catalog (labels).
    survival_set : the set drawn (named in the title).
    path : the PNG to write.
    threshold : points are means of groups of more than this many deaths.

    Returns
    -------
    The figure written to ``path``.
    """
    traits = list(dict.fromkeys(p.trait for p in panels))
    terms = [t for t in TERM_TITLES if any(p.term == t for p in panels)]
    figure = new_figure(3.45 * len(terms), 3.1 * len(traits) + 0.9)
    axes = figure.subplots(len(traits), len(terms), squeeze=False)
    for panel in panels:
        ax = axes[traits.index(panel.trait)][terms.index(panel.term)]
        _draw_zph_panel(ax, panel, threshold)
        ax.set_title(f"{catalog.label(panel.trait)}\n{TERM_TITLES[panel.term]}, "
                     f"cox.zph p = {format_p(panel.p)}", fontsize=NORMAL)  # fmt: skip
    for row in axes:
        for ax in row:
            if not ax.has_data():
                ax.set_visible(False)
    figure.suptitle(f"Proportional hazards check: {label(survival_set)}", fontsize=LARGE)
    figure.legend(handles=_legend_handles(threshold), loc="outside lower center", ncol=2,
                  fontsize=SMALL, frameon=False)  # fmt: skip
    return save(figure, path)


def _draw_zph_panel(ax: Axes, panel: ZphPanel, threshold: int) -> None:
    smooth = zph_smooth(panel.x, panel.y, panel.variance)
    ax.plot(smooth.x, smooth.fit, color=FIT_COLOUR, linewidth=1.2)
    ax.plot(smooth.x, smooth.low, color=FIT_COLOUR, linewidth=0.8, linestyle="--")
    ax.plot(smooth.x, smooth.high, color=FIT_COLOUR, linewidth=0.8, linestyle="--")
    means_df = binned_means(panel.x, panel.y, threshold)
    if len(means_df):
        ax.errorbar(means_df["x"], means_df["y"], yerr=means_df["half"], fmt="o", markersize=3.5,
                    color=COHORT_COLOURS[0], elinewidth=0.7)  # fmt: skip
    reference_line(ax, 0.0, vertical=False, color="#999999", linewidth=0.6)
    if np.isfinite(panel.coef):
        reference_line(ax, panel.coef, vertical=False, color="#333333", linestyle=":")
    positions, labels = time_ticks(panel.x, panel.time)
    ax.xaxis.set_major_locator(FixedLocator(positions))
    ax.set_xticklabels(labels)
    ax.set_xlim(float(panel.x.min()), float(panel.x.max()))
    set_numeric_ticks(ax, "y")
    ax.set_xlabel("Days since first MDD diagnosis (KM scale)", fontsize=SMALL)
    ax.set_ylabel("β(t): log HR at time t", fontsize=SMALL)
    style_axes(ax)


def _legend_handles(threshold: int) -> list[Line2D]:
    return [
        Line2D([], [], color=FIT_COLOUR, linewidth=1.2, label="smooth (R plot.cox.zph)"),
        Line2D([], [], color=FIT_COLOUR, linewidth=0.8, linestyle="--", label="± 2 SE"),
        Line2D([], [], color=COHORT_COLOURS[0], marker="o", markersize=3.5, linewidth=0.7,
               label=f"mean residual of > {threshold} deaths (95% CI)"),
        Line2D([], [], color="#333333", linestyle=":", label="fitted log HR (constant in time)"),
    ]  # fmt: skip
