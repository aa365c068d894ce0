"""Audit a written report before sharing it: ``trd-spark audit --report DIR``.

It attacks the report as a reader could, from nothing but what the folder holds: the
shareable tables under ``tables/`` (their counts, suppressed or shown) and their
structure (:mod:`trd_spark.report.structure`, with ``tables/disclosure.json``), bounding
every count they do not show by linear programming
(:func:`trd_spark.report.disclose.audit_tables`).  It also reads ``index.html``: every
count cell there must show what the tables show for the same count (``data-cell``), and
no count cell may show a number from 1 to the threshold.  The report stage runs the same
attack before writing.
"""

from __future__ import annotations

import os
import re
import sys

import pandas as pd

from trd_spark.disclosure import SUPPRESSED, Policy
from trd_spark.errors import InputError
from trd_spark.report.disclose import audit_tables, policy_of, read_back
from trd_spark.report.export import shared_csv_name
from trd_spark.report.shareable import Facts
from trd_spark.report.structure import build_ledger
from trd_spark.study import Layout

FACTS_FILE = shared_csv_name("disclosure").removesuffix(".csv") + ".json"
_COUNT_CELL = re.compile(r'class="count"(?: data-cell="([^"]*)")?>([^<]*)<')


def find_unsuppressed_counts(page: str, min_count: int) -> list[str]:
    """Count cells of a rendered page (``class="count"``) that show 1 to ``min_count``.

    Parameters
    ----------
    page : the HTML of the report.
    min_count : the largest count the policy hides.

    Returns
    -------
    The offending cell texts (empty when the page follows the policy).
    """
    return [text for _, text in _COUNT_CELL.findall(page) if _is_small(text, min_count)]


def _is_small(text: str, min_count: int) -> bool:
    digits = text.replace(",", "").strip()
    return digits.isdigit() and 1 <= int(digits) <= min_count


def read_report(report_dir: str) -> tuple[Facts, dict[str, pd.DataFrame]]:
    """The facts and the shareable tables of a written report (as text)."""
    facts_path = os.path.join(report_dir, *FACTS_FILE.split("/"))
    if not os.path.isfile(facts_path):
        raise InputError(
            f"{facts_path} not found: {report_dir} is not a report written by this version of "
            "trd-spark (re-run the report stage: trd-spark report --config FILE --force)"
        )
    with open(facts_path, encoding="utf-8") as handle:
        facts = Facts.from_json(handle.read())
    tables = {}
    for name in facts.tables:
        path = os.path.join(report_dir, *shared_csv_name(name).split("/"))
        if not os.path.isfile(path):
            raise InputError(f"{path} not found; the report lists it in {FACTS_FILE}")
        tables[name] = pd.read_csv(path, dtype=str, keep_default_na=False)
    return facts, tables


def audit_report(report_dir: str) -> list[str]:
    """Every problem the attack finds in a written report; empty when it may be shared.

    Parameters
    ----------
    report_dir : the ``report/`` folder (index.html, tables/).

    Returns
    -------
    One line per problem, naming the table and cell (no counts).
    """
    facts, tables = read_report(report_dir)
    if not facts.enabled:
        return [
            f"{report_dir}: disclosure control was off when it was written; it shows exact "
            "counts and must not be shared"
        ]
    problems = [f.message() for f in audit_tables(tables, facts)]
    index = os.path.join(report_dir, os.path.basename(Layout.REPORT_INDEX))
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as handle:
            problems += audit_page(handle.read(), tables, facts)
    return problems


def audit_page(page: str, tables: dict[str, pd.DataFrame], facts: Facts) -> list[str]:
    """Count cells of the page that are small, or differ from the tables' same count."""
    policy = policy_of(facts)
    ledger, _ = build_ledger(read_back(tables, policy), facts, exact=False)
    problems = []
    for key, text in _COUNT_CELL.findall(page):
        if _is_small(text, policy.threshold):
            problems.append(f"index.html: a count cell shows a count from 1 to {policy.threshold}")
        elif key and key not in ledger.values:
            problems.append(f"index.html: count {key} is in no shared table")
        elif key and text.strip() != _expected(ledger.values[key], policy):
            problems.append(f"index.html: count {key} is not shown as in the shared tables")
    return problems


def _expected(value: int | None, policy: Policy) -> str:
    return SUPPRESSED if value is None else policy.show(value)


def main(report_dir: str) -> int:
    """``trd-spark audit --report DIR``: print the problems; 0 when none, 1 otherwise."""
    problems = audit_report(report_dir)
    for line in problems:
        print(f"audit: {line}")
    if problems:
        print(
            f"audit: {report_dir} must not be shared ({len(problems)} problem(s))", file=sys.stderr
        )
        return 1
    print(f"audit: {report_dir}: no count of persons can be recovered; it may be shared")
    return 0
