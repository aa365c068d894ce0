"""The report's HTML, rendered from Jinja2 templates (``trd_spark/report/templates/``).

Python prepares what a section shows (tables as rows of display text, figure names,
notes); the templates hold every tag.  They are package data, loaded with
:class:`jinja2.PackageLoader`, so the report renders from an installed wheel or a zip as
from a source checkout.  Autoescaping is on: text from the data can never become markup.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


@dataclass(frozen=True)
class Cell:
    """One table cell as shown: its text, whether it is a participant count, and the key of
    that count in the report's disclosure ledger (``data-cell``, read by the audit)."""

    text: str
    count: bool = False
    key: str = ""


@dataclass(frozen=True)
class TableView:
    """A table as the templates render it: header, rows of cells, optional caption."""

    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    caption: str = ""


@dataclass(frozen=True)
class FlowStep:
    """One step of an attrition flow: the persons it excluded (a line) and, in a box, the
    persons remaining after it (``start``: a population's first box, e.g. the cohort)."""

    label: str
    n: str
    dropped: str = ""
    reason: str = ""
    n_key: str = ""
    dropped_key: str = ""
    start: bool = False
    box: bool = True  # False: the next step shows the same persons remaining


@dataclass(frozen=True)
class FlowColumn:
    """The steps of one cohort (``title`` empty when the table has no cohort column)."""

    title: str
    steps: list[FlowStep]


@dataclass
class Section:
    """One section of the report: an anchor id, a heading and its rendered body."""

    anchor: str
    title: str
    body: Markup


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment of the report's templates (built once per process)."""
    return Environment(
        loader=PackageLoader("trd_spark.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(template: str, **context: Any) -> Markup:
    """``template`` (a name under ``templates/``) rendered with ``context``."""
    return Markup(environment().get_template(template).render(**context).strip())


def table_view(
    table_df: pd.DataFrame, count_columns: Iterable[str] = (), caption: str = ""
) -> TableView:
    """A DataFrame of display text as a :class:`TableView`.

    Parameters
    ----------
    table_df : the table (values are shown with ``str``; missing values as empty text).
    count_columns : columns holding participant counts (rendered with ``class="count"``).
    caption : optional caption.

    Returns
    -------
    The view the ``table`` macro renders.
    """
    counts = set(count_columns)
    rows = [
        [
            Cell(_text(value), column in counts)
            for column, value in zip(table_df.columns, values, strict=True)
        ]
        for values in table_df.itertuples(index=False)
    ]
    return TableView([str(c) for c in table_df.columns], rows, caption)


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def render_table(
    table_df: pd.DataFrame, count_columns: Iterable[str] = (), caption: str = ""
) -> Markup:
    """A DataFrame of display text as an HTML ``<table>`` (see :func:`table_view`)."""
    return render_macro("table", table_view(table_df, count_columns, caption))


def render_macro(name: str, *args: Any) -> Markup:
    """One macro of ``templates/macros.html.j2`` called with ``args``."""
    module = environment().get_template("macros.html.j2").module
    return Markup(getattr(module, name)(*args))


# a step with this suffix starts a new population in the same cohort (the survival subset)
START_SUFFIX = "subset"


def flow_columns(
    attrition_df: pd.DataFrame,
    n_persons: Sequence[str],
    n_dropped: Sequence[str],
    keys: Sequence[tuple[str, str]] | None = None,
    labels: Callable[[str], str] = str,
) -> list[FlowColumn]:
    """Exclusion steps as flow columns, one per cohort.

    Parameters
    ----------
    attrition_df : step, reason, and optionally cohort, one row per step, in order.
    n_persons, n_dropped : persons left and persons excluded at each row, as display text
        (already through the disclosure policy); an empty or ``"0"`` drop shows no line.
    keys : the ledger keys of (n_persons, n_rows_dropped) per row, when known; a step whose
        persons left are the same count as the next step's (the survival subset's
        exclusions all leave those kept) shows no box of its own.
    labels : how a step, cohort or reason is written for a reader.

    Returns
    -------
    The columns the ``flow`` macro renders: the first step of a cohort, and a step named
    ``*subset``, start a population; every other box holds those remaining after its step.
    """
    if "cohort" in attrition_df.columns:
        cohorts = [_text(c) for c in attrition_df["cohort"]]
    else:
        cohorts = [""] * len(attrition_df)
    keys = keys or [("", "")] * len(attrition_df)
    rows = list(zip(
        cohorts, attrition_df["step"], attrition_df["reason"], n_persons, n_dropped, keys,
        strict=True,
    ))  # fmt: skip
    columns: dict[str, list[FlowStep]] = {}
    for i, (cohort, step, reason, n, dropped, (n_key, dropped_key)) in enumerate(rows):
        shown = "" if dropped in ("", "0") else dropped
        start = cohort not in columns or _text(step).endswith(START_SUFFIX)
        following = rows[i + 1] if i + 1 < len(rows) else None
        box = not (
            n_key and following is not None and following[0] == cohort
            and following[5][0] == n_key
        )  # fmt: skip
        columns.setdefault(cohort, []).append(
            FlowStep(labels(_text(step)), n, shown, labels(_text(reason)), n_key,
                     dropped_key if shown else "", start, box)
        )  # fmt: skip
    return [FlowColumn(labels(title) if title else "", steps) for title, steps in columns.items()]


def render_attrition_flow(
    attrition_df: pd.DataFrame,
    n_persons: Sequence[str],
    n_dropped: Sequence[str],
    keys: Sequence[tuple[str, str]] | None = None,
) -> Markup:
    """Exclusion steps as a flow of boxes, one column per cohort (see :func:`flow_columns`)."""
    return render_macro("flow", flow_columns(attrition_df, n_persons, n_dropped, keys))


def render_page(title: str, intro: Sequence[str], notice: str, sections: Sequence[Section]) -> str:
    """The whole page: title, the run's description, navigation, sections.

    Parameters
    ----------
    title : the page title.
    intro : plain-text paragraphs under the title.
    notice : the disclosure notice shown under them.
    sections : the sections in order.

    Returns
    -------
    A complete HTML document (UTF-8, no external resources but the PNGs beside it).
    """
    page = (
        environment()
        .get_template("page.html.j2")
        .render(title=title, intro=list(intro), notice=notice, sections=list(sections))
    )
    return page.strip() + "\n"
