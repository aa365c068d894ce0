"""Drawing rules every figure of the report follows, so each is legible at the size it is shown.

The page is at most 1200 px wide (``templates/style.css``) and a PNG is shown at its own size
up to that width, so a figure at :data:`DPI` is at most :data:`MAX_WIDTH` inches wide and
its text is never below :data:`SMALL` points (about 11 px on screen).  Layout is matplotlib's
constrained layout, which makes room for tick labels, titles and legends placed outside the
axes; legends never sit on the data.  Numeric axes get at least three labelled ticks
(:func:`ratio_ticks` for odds and hazard ratios on a log scale).  Lines that only mark a
reference (no effect, identity) carry the gid :data:`REFERENCE`; everything else drawn in an
axes is data.
"""

from __future__ import annotations

import math
import re

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FixedLocator, FormatStrFormatter, MaxNLocator, NullFormatter
from matplotlib.transforms import Bbox
from numpy.typing import ArrayLike

DPI = 110
MAX_WIDTH = 1200 / DPI  # inches: the page's width at DPI
SMALL, NORMAL, LARGE = 8.0, 9.0, 10.0  # font sizes (points)
REFERENCE = "reference"  # gid of lines that mark a reference value, not data
# ladders of readable ratio ticks, finest first (a log-scaled OR or HR axis)
RATIO_LADDERS: tuple[tuple[float, ...], ...] = (
    (0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0),
    (0.25, 0.5, 1.0, 2.0, 4.0),
    (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
    (0.01, 0.1, 1.0, 10.0, 100.0),
)
# below this max/min ratio a log axis is nearly linear: evenly spaced ticks read best
LINEAR_RATIO_SPAN = 2.2


def new_figure(width: float, height: float) -> Figure:
    """A figure with constrained layout, at most :data:`MAX_WIDTH` inches wide."""
    figure = Figure(figsize=(min(width, MAX_WIDTH), height), dpi=DPI, layout="constrained")
    figure.get_layout_engine().set(w_pad=0.04, h_pad=0.04, wspace=0.03, hspace=0.03)  # type: ignore[call-arg, union-attr]
    return figure


def save(figure: Figure, path: str) -> Figure:
    """Write ``figure`` as a PNG at :data:`DPI`; returns it (tests inspect the drawn objects)."""
    figure.savefig(path, dpi=DPI)
    return figure


def ratio_ticks(low: float, high: float) -> list[float]:
    """At least three readable ticks for a log-scaled ratio axis showing ``low`` to ``high``.

    Parameters
    ----------
    low, high : the axis limits (ratios, 0 < low < high).

    Returns
    -------
    Narrow ranges: evenly spaced round values (0.95, 1, 1.05); wider ones: the finest ladder
    of :data:`RATIO_LADDERS` with 3 to 6 ticks inside the limits.
    """
    if not (0 < low < high and math.isfinite(high)):
        raise ValueError(f"ratio axis limits must satisfy 0 < low < high, got {low}, {high}")
    if high / low <= LINEAR_RATIO_SPAN:
        locator = MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], min_n_ticks=3)
        return [float(t) for t in locator.tick_values(low, high) if low <= t <= high]
    for ladder in RATIO_LADDERS:
        inside = [t for t in ladder if low <= t <= high]
        if 3 <= len(inside) <= 6:
            return inside
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    return [10.0**k for k in decades if low <= 10.0**k <= high]


def ratio_limits(lows: ArrayLike, highs: ArrayLike) -> tuple[float, float]:
    """Limits of a ratio axis holding every interval and 1, with a margin on the log scale."""
    values = np.concatenate([np.asarray(lows, float), np.asarray(highs, float), [1.0]])
    values = values[np.isfinite(values) & (values > 0)]
    low, high = float(values.min()), float(values.max())
    margin = 0.06 * max(math.log(high / low), 0.1)
    return low * math.exp(-margin), high * math.exp(margin)


def set_ratio_axis(ax: Axes, low: float, high: float) -> None:
    """A log-scaled x axis from ``low`` to ``high`` with :func:`ratio_ticks` labelled
    plainly (``0.8``, ``1``, ``1.25``)."""
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(FixedLocator(ratio_ticks(low, high)))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def set_numeric_ticks(ax: Axes, axis: str = "both") -> None:
    """Round, evenly spaced ticks (3 to 6 labelled) on a linear axis."""
    for name in ("x", "y") if axis == "both" else (axis,):
        target = ax.xaxis if name == "x" else ax.yaxis
        target.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10], min_n_ticks=3))


def reference_line(ax: Axes, value: float, vertical: bool = True, **style: object) -> None:
    """A thin line marking a reference value (gid :data:`REFERENCE`)."""
    options: dict[str, object] = {"color": "#555555", "linewidth": 0.7} | style
    line = ax.axvline(value, **options) if vertical else ax.axhline(value, **options)  # type: ignore[arg-type]
    line.set_gid(REFERENCE)


def style_axes(ax: Axes) -> None:
    """Tick labels at :data:`SMALL` points, no top or right frame."""
    ax.tick_params(labelsize=SMALL)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def format_p_threshold(threshold: float) -> str:
    """``1e-05`` -> ``1e-5`` (how a significance threshold is written in legends)."""
    mantissa, _, exponent = f"{threshold:.0e}".partition("e")
    if 1e-3 <= threshold < 1:
        return f"{threshold:g}"
    return f"{mantissa}e{int(exponent)}"


# --- checks of what a reader sees ------------------------------------------------------------

MIN_TICKS = 3
_NUMBER = re.compile(r"^[−\-+]?[\d,]*\.?\d+(e[−\-+]?\d+)?%?$")


def _drawn_texts(figure: Figure) -> list[tuple[str, Bbox]]:
    """Every visible, non-empty text of ``figure`` with its box on the canvas (pixels);
    tick labels only of ticks inside the axis limits (matplotlib keeps the others, undrawn)."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    tick_labels: set[int] = set()
    shown: list[Text] = []
    for ax in figure.get_axes():
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * abs(high - low)
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                tick_labels |= {id(tick.label1), id(tick.label2)}
                if ax.get_visible() and low - slack <= tick.get_loc() <= high + slack:
                    shown += [tick.label1, tick.label2]
    shown += [t for t in figure.findobj(Text) if isinstance(t, Text) and id(t) not in tick_labels]
    texts = []
    for text in shown:
        if not text.get_visible() or not text.get_text().strip():
            continue
        if text.axes is not None and not text.axes.get_visible():
            continue
        box = text.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            texts.append((text.get_text(), box))
    return texts


def _labelled_ticks(axis: Axis) -> list[str]:
    low, high = sorted(axis.get_view_interval())
    shown = []
    for tick in axis.get_major_ticks():
        inside = low - 1e-9 * abs(high - low) <= tick.get_loc() <= high + 1e-9 * abs(high - low)
        label = tick.label1.get_text().strip() or tick.label2.get_text().strip()
        visible = tick.label1.get_visible() or tick.label2.get_visible()
        if inside and label and visible:
            shown.append(label)
    return shown


def legibility_problems(figure: Figure, min_ticks: int = MIN_TICKS) -> list[str]:
    """What makes a drawn figure hard to read, as sentences (empty: nothing found).

    Three rules (``docs/report.md``, "Figures"):

    * every numeric axis of a visible axes (its tick labels all numbers) has at least
      ``min_ticks`` labelled ticks inside its limits;
    * no two visible texts (tick labels, titles, axis labels, legend entries, numbers at
      risk) overlap by more than a pixel on the canvas;
    * no visible text extends more than a pixel beyond the figure's edges (the PNG would cut
      it).

    Parameters
    ----------
    figure : a figure as a ``plot_*`` function of :mod:`trd_spark.report.figures` returns it.
    min_ticks : labelled ticks a numeric axis needs.

    Returns
    -------
    One sentence per problem, naming the axes title or the two texts.
    """
    problems = []
    texts = _drawn_texts(figure)  # draws the figure, so tick labels are final
    for ax in figure.get_axes():
        if not ax.get_visible() or not ax.axison:
            continue
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            labels = _labelled_ticks(axis)
            numeric = labels and all(_NUMBER.match(t.replace(" ", "")) for t in labels)
            if numeric and len(labels) < min_ticks:
                problems.append(f"axes '{ax.get_title() or ax.get_label()}': {name} axis "
                                    f"has {len(labels)} labelled tick(s) {labels}")  # fmt: skip
    problems += outside_figure(figure, texts)
    boxes = np.array([[b.x0, b.y0, b.x1, b.y1] for _, b in texts]).reshape(-1, 4)
    for i in range(len(texts)):
        others = boxes[i + 1 :]
        overlap_x = np.minimum(boxes[i, 2], others[:, 2]) - np.maximum(boxes[i, 0], others[:, 0])
        overlap_y = np.minimum(boxes[i, 3], others[:, 3]) - np.maximum(boxes[i, 1], others[:, 1])
        for j in np.flatnonzero((overlap_x > 1) & (overlap_y > 1)):
            problems.append(f"texts overlap: {texts[i][0]!r} and {texts[i + 1 + j][0]!r}")
    return problems


def outside_figure(figure: Figure, texts: list[tuple[str, Bbox]]) -> list[str]:
    """Texts whose box reaches more than a pixel beyond the figure's canvas, as sentences.

    Parameters
    ----------
    figure : the drawn figure.
    texts : from :func:`_drawn_texts` (boxes in canvas pixels).

    Returns
    -------
    One sentence per text cut by an edge, naming the text and the edges.
    """
    width, height = figure.bbox.width, figure.bbox.height
    problems = []
    for text, box in texts:
        edges = [name for name, beyond in (("left", box.x0 < -1), ("right", box.x1 > width + 1),
                                           ("bottom", box.y0 < -1), ("top", box.y1 > height + 1))
                 if beyond]  # fmt: skip
        if edges:
            problems.append(f"text beyond the figure's {' and '.join(edges)} edge: {text!r}")
    return problems
