"""Check a written report for participant counts the dissemination policy hides.

Run it on ``report/`` before sharing: it reads ``index.html`` (every element
marked ``class="count"``) and the CSVs under ``report/tables/`` (every
participant-count column) and lists any count from 1 to ``min_count``.
"""

from __future__ import annotations

import glob
import os
import re

import pandas as pd

from trd_spark.report.display import COUNT_COLUMNS, DISPLAY_COUNT_COLUMNS

# participant-count columns of the shared CSVs: raw names and Table 1/2, KM, mean-time labels
SHARED_COUNT_COLUMNS: frozenset[str] = frozenset(
    {c for columns in COUNT_COLUMNS.values() for c in columns}
    | {c for columns in DISPLAY_COUNT_COLUMNS.values() for c in columns}
    | {"at_risk"}
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
    return [text for text in _COUNT_CELL.findall(page) if _is_small(text, min_count)]


def _is_small(text: str, min_count: int) -> bool:
    digits = text.replace(",", "").strip()
    return digits.isdigit() and 1 <= int(digits) <= min_count


def audit_small_counts(report_dir: str, min_count: int = 20) -> list[str]:
    """Every participant count from 1 to ``min_count`` shown in a written report.

    Parameters
    ----------
    report_dir : the ``report/`` folder (index.html and tables/).
    min_count : the largest count the policy hides.

    Returns
    -------
    ``"<file>: <column or cell>: <value>"`` per offending count; empty when the report
    follows the policy.
    """
    findings = []
    with open(os.path.join(report_dir, "index.html"), encoding="utf-8") as handle:
        findings += [f"index.html: {v}" for v in find_unsuppressed_counts(handle.read(), min_count)]
    for path in sorted(glob.glob(os.path.join(report_dir, "tables", "*.csv"))):
        findings += _audit_csv(path, min_count)
    return findings


def _audit_csv(path: str, min_count: int) -> list[str]:
    table_df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [
        f"tables/{os.path.basename(path)}: {column}: {value}"
        for column in table_df.columns
        if column in SHARED_COUNT_COLUMNS
        for value in table_df[column]
        if _is_small(value, min_count)
    ]
