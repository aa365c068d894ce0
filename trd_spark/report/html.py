"""HTML pieces of the report: one self-contained page, figures as relative PNG links.

Cells holding participant counts carry ``class="count"`` so that a check can
find every count the page shows (``find_unsuppressed_counts``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from trd_spark.report.suppress import format_count

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
td.count, td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; }
.missing { color: #a33; font-style: italic; }
.note { color: #555; font-size: 0.9em; }
figure { margin: 0.5em 0 1.5em; } figure img { max-width: 100%; }
figcaption { font-size: 0.85em; color: #444; }
nav a { margin-right: 1em; }
.flows { display: flex; flex-wrap: wrap; gap: 2em; margin: 0.5em 0 1.5em; }
.flow { display: flex; flex-direction: column; align-items: flex-start; font-size: 0.85em; }
.flow .box { border: 1px solid #2e75b6; border-radius: 4px; padding: 3px 10px;
             background: #f3f8fc; }
.flow .drop { margin: 2px 0 2px 1.2em; padding-left: 0.8em; border-left: 2px solid #999;
              color: #a33; }
"""


@dataclass
class Section:
    """One section of the report: an anchor id, a heading and its HTML body."""

    anchor: str
    title: str
    body: str


def render_table(
    table_df: pd.DataFrame, count_columns: Iterable[str] = (), caption: str = ""
) -> str:
    """A DataFrame of display text as an HTML table.

    Parameters
    ----------
    table_df : the table (values are shown with ``str``; missing as empty).
    count_columns : columns holding participant counts (marked ``class="count"``).
    caption : optional caption.

    Returns
    -------
    The ``<table>`` element.
    """
    counts = set(count_columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table_df.columns)
    rows = []
    for values in table_df.itertuples(index=False):
        cells = []
        for column, value in zip(table_df.columns, values, strict=True):
            text = (
                ""
                if value is None or (not isinstance(value, str) and pd.isna(value))
                else str(value)
            )
            css = ' class="count"' if column in counts else ""
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_attrition_flow(attrition_df: pd.DataFrame, min_count: int, suppress: bool) -> str:
    """Exclusion steps as a flow of boxes, one column per cohort.

    Parameters
    ----------
    attrition_df : step, n_persons (left after the step), n_rows_dropped, reason, and
        optionally cohort.
    min_count, suppress : the small-count policy.

    Returns
    -------
    HTML; every count is in a ``class="count"`` element, masked by the policy.
    """
    with_cohort_df = attrition_df.assign(
        cohort=attrition_df["cohort"] if "cohort" in attrition_df.columns else ""
    )
    columns = []
    for cohort, steps_df in with_cohort_df.groupby("cohort", sort=False):
        items = [f"<strong>{html.escape(str(cohort))}</strong>"] if cohort else []
        for row in steps_df.to_dict("records"):
            items.append(_flow_step(row, min_count, suppress))
        columns.append('<div class="flow">' + "".join(items) + "</div>")
    return '<div class="flows">' + "".join(columns) + "</div>"


def _flow_step(row: dict, min_count: int, suppress: bool) -> str:
    dropped = row["n_rows_dropped"]
    reason = html.escape(str(row["reason"] or ""))
    text = ""
    if dropped and not pd.isna(dropped):
        count = html.escape(format_count(dropped, min_count, suppress))
        text += f'<div class="drop">excluded <span class="count">{count}</span>: {reason}</div>'
    n = html.escape(format_count(row["n_persons"], min_count, suppress))
    label = html.escape(str(row["step"]))
    return text + f'<div class="box">{label}: n = <span class="count">{n}</span></div>'


def render_collapsed(summary: str, body: str) -> str:
    """A long table folded under a one-line summary (``<details>``)."""
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def render_figure(file_name: str, caption: str) -> str:
    """A figure linking a PNG next to index.html by its relative name."""
    return (
        f'<figure><img src="{html.escape(file_name)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def render_missing(paths: Sequence[str]) -> str:
    """The placeholder of a section whose input tables are missing."""
    listed = ", ".join(html.escape(p) for p in paths)
    return f'<p class="missing">not available: {listed} (the stage that writes it has not run)</p>'


def render_paragraphs(paragraphs: Iterable[str]) -> str:
    """Plain-text paragraphs as ``<p>`` elements."""
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)


def render_page(title: str, intro: str, sections: Sequence[Section]) -> str:
    """The whole page: title, navigation, sections.

    Parameters
    ----------
    title : the page title.
    intro : HTML shown under the title.
    sections : the sections in order.

    Returns
    -------
    A complete HTML document (UTF-8, no external resources but the PNGs beside it).
    """
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{s.body}</section>'
        for s in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{intro}<nav>{nav}</nav>{body}</body></html>\n"
    )


_COUNT_CELL = re.compile(r'class="count">([^<]*)<')


def find_unsuppressed_counts(page: str, min_count: int) -> list[str]:
    """Participant counts of a rendered page (``class="count"``) that show 1 to ``min_count``.

    Parameters
    ----------
    page : the HTML of the report.
    min_count : the largest count the policy hides.

    Returns
    -------
    The offending cell texts (empty when the page follows the policy).
    """
    offending = []
    for text in _COUNT_CELL.findall(page):
        digits = text.replace(",", "").strip()
        if digits.isdigit() and 1 <= int(digits) <= min_count:
            offending.append(text)
    return offending
