"""Check a written report for participant counts the dissemination policy hides.

Run it on ``report/`` before sharing: it reads ``index.html`` (every element
marked ``class="count"``) and the CSVs under ``report/tables/`` (every
participant-count column) and lists any count from 1 to ``min_count``.
"""

from __future__ import annotations

import glob
import os

import pandas as pd

from trd_spark.report.html import find_unsuppressed_counts
from trd_spark.report.tables import COUNT_COLUMNS

# participant-count columns of the shared CSVs: raw names and Table 1/2, KM, mean-time labels
SHARED_COUNT_COLUMNS: frozenset[str] = frozenset(
    {c for columns in COUNT_COLUMNS.values() for c in columns}
    | {"Female n", "n trMDD", "n TRD", "Events", "at_risk"}
)


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
    findings = []
    for column in [c for c in table_df.columns if c in SHARED_COUNT_COLUMNS]:
        for value in table_df[column]:
            digits = value.replace(",", "").strip()
            if digits.isdigit() and 1 <= int(digits) <= min_count:
                findings.append(f"tables/{os.path.basename(path)}: {column}: {value}")
    return findings
