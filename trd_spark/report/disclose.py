"""Disclosure control of the whole report at once: every count of persons any section
shows goes through here before a byte is written.

:func:`shareable_tables` builds the shareable tables with their true counts
(:mod:`~trd_spark.report.shareable`); :func:`disclose` declares their structure
(:mod:`~trd_spark.report.structure`), chooses primary and complementary suppressions
(:func:`trd_spark.disclosure.suppress`), writes the published text, and attacks that text
as ``trd-spark audit`` does (:func:`audit_tables`: the tables read back, their structure
rebuilt from them, every unshown count bounded by linear programming).  If the attack
recovers any count, :class:`~trd_spark.disclosure.DisclosureError` names the table and
cell and the report is not written.  The sections then take every count they show
(tables, figure titles, at-risk tables, flows) from :class:`Disclosed`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trd_spark.disclosure import (
    SUPPRESSED,
    WITHHELD,
    DisclosureError,
    Finding,
    Interval,
    Ledger,
    Policy,
    Protection,
    StructureError,
    View,
    audit,
    protect,
)
from trd_spark.disclosure.attack import models, recovered
from trd_spark.errors import InputError
from trd_spark.report import select, shareable
from trd_spark.report.load import RunOutputs
from trd_spark.report.render import Cell, TableView
from trd_spark.report.shareable import UNKNOWN, Facts
from trd_spark.report.structure import SPECS, TableError, TableSpec, build_ledger

log = logging.getLogger(__name__)


def policy_of(facts: Facts) -> Policy:
    """The disclosure policy recorded in the facts."""
    return Policy(facts.threshold, facts.enabled, facts.rounding_base)


@dataclass
class Disclosed:
    """The published shareable tables and the cells behind them."""

    facts: Facts
    ledger: Ledger
    protection: Protection
    published: dict[str, pd.DataFrame] = field(default_factory=dict)
    keys: dict[str, dict[tuple[int, str], str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # table -> why it could not be built
    seconds: float = 0.0

    @property
    def policy(self) -> Policy:
        """The policy applied."""
        return self.protection.policy

    def table(self, name: str) -> pd.DataFrame | None:
        """A published table (display text), or None when it was not built."""
        return self.published.get(name)

    def key(self, name: str, row: int, column: str) -> str:
        """The cell key of a count of a published table ("" for a cell without a count)."""
        return self.keys.get(name, {}).get((row, column), "")

    def text(self, key: str) -> str:
        """How the cell ``key`` is shown."""
        return self.protection.text(self.ledger, key)

    def view(
        self,
        name: str,
        rows_df: pd.DataFrame,
        columns: Mapping[str, str] | Sequence[str] | None = None,
        caption: str = "",
    ) -> TableView:
        """Rows of a published table (its index = row positions) as a table view whose
        count cells carry their keys.

        Parameters
        ----------
        name : the published table.
        rows_df : some of its rows (any order), possibly with columns added or relabelled.
        columns : shown column -> source column (a list: the same names); default all.
        caption : optional caption.
        """
        mapping = _columns(rows_df, columns)
        counts = set(SPECS[name].count_columns) if name in SPECS else set()
        rows = [
            [
                Cell(
                    _text(rows_df.at[i, source]),
                    source in counts,
                    self.key(name, int(i), source) if source in counts else "",
                )
                for source in mapping.values()
            ]
            for i in rows_df.index
        ]
        return TableView(list(mapping), rows, caption)


def _columns(
    rows_df: pd.DataFrame, columns: Mapping[str, str] | Sequence[str] | None
) -> dict[str, str]:
    if columns is None:
        return {str(c): str(c) for c in rows_df.columns}
    if isinstance(columns, Mapping):
        return dict(columns)
    return {c: c for c in columns}


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


# --- the tables with their true counts ----------------------------------------------------


def shareable_tables(
    outputs: RunOutputs,
    primary: tuple[str, str],
    cohorts: Sequence[str],
    survival_set: str,
    threshold: int,
    km_traits: Sequence[str] = (),
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every shareable table with counts of persons, true counts, in its shared layout.

    Parameters
    ----------
    outputs : the run's tables.
    primary : the primary (trd_def, trmdd_def).
    cohorts : cohort order (discovery first).
    survival_set : the survival set whose Kaplan-Meier curves are shown.
    threshold : the disclosure threshold (the KM grid depends on it).
    km_traits : ``report.km_traits``; the KM table holds the curves the report draws
        (:func:`trd_spark.report.select.km_traits`).

    Returns
    -------
    (table name -> table, table name -> why it could not be built); a table whose
    inputs are missing is in neither.
    """
    builders: dict[str, Callable[[], pd.DataFrame | None]] = {
        "cohort_attrition": lambda: outputs.get("cohort_attrition"),
        "phenotype_attrition": lambda: outputs.get("phenotype_attrition"),
        "analysis_attrition": lambda: outputs.get("analysis_attrition"),
        "group_sizes": lambda: outputs.get("group_sizes"),
        "table1": lambda: _with(
            outputs, "persons", lambda df: shareable.table1_numbers(df, *primary, cohorts)
        ),
        "table1_characteristics": lambda: _with(
            outputs, "persons", lambda df: shareable.characteristics_numbers(df, *primary, cohorts)
        ),
        "associations": lambda: _checked(outputs, "associations"),
        "table2_sensitivity": lambda: _with(outputs, "sensitivity", shareable.table2_numbers),
        "survival": lambda: _checked(outputs, "survival"),
        "km": lambda: _with(
            outputs,
            "km",
            lambda df: _drawn_km(df, outputs, survival_set, km_traits, threshold),
        ),
        "time_to_trd": lambda: _with(outputs, "time_to_trd", shareable.time_to_trd_numbers),
    }
    tables: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    for name, build in builders.items():
        try:
            table_df = build()
        except InputError as err:
            errors[name] = str(err)
            continue
        if table_df is not None:
            tables[name] = table_df.reset_index(drop=True)
    return tables, errors


def _drawn_km(
    km_df: pd.DataFrame,
    outputs: RunOutputs,
    survival_set: str,
    km_traits: Sequence[str],
    threshold: int,
) -> pd.DataFrame:
    set_df = select.km_of_set(km_df, survival_set)
    drawn = select.km_traits(set_df, outputs.get("survival"), km_traits) if len(set_df) else []
    return shareable.coarse_km(set_df[set_df["trait"].isin(drawn)], threshold)


def _checked(outputs: RunOutputs, name: str) -> pd.DataFrame | None:
    table_df = outputs.get(name)
    if table_df is not None and name in select.CONTRACT_COLUMNS:
        select.require_contract(table_df, name)
    return table_df


def _with(
    outputs: RunOutputs, name: str, build: Callable[[pd.DataFrame], pd.DataFrame | None]
) -> pd.DataFrame | None:
    table_df = _checked(outputs, name)
    return None if table_df is None else build(table_df)


def run_facts(
    outputs: RunOutputs,
    policy: Policy,
    primary: tuple[str, str],
    discovery: str,
    platforms: Mapping[str, str],
    survival_set: str,
) -> Facts:
    """The facts the tables' structure needs (docs/disclosure.md), from the config's
    values and the persons table (inclusions between the comparisons' groups)."""
    facts = Facts(
        threshold=policy.threshold,
        rounding_base=policy.rounding_base,
        enabled=policy.enabled,
        primary=primary,
        discovery=discovery,
        platforms=dict(platforms),
        pooled_sets=shareable.pooled_sets(platforms),
        km_set=survival_set,
    )
    survival_df = outputs.get("survival")
    if survival_df is not None and {"n", "n_events"} <= set(survival_df.columns):
        counts = survival_df.groupby("cohort")[["n", "n_events"]].nunique()
        facts.uniform_survival = sorted(str(c) for c in counts.index[(counts <= 1).all(axis=1)])
    persons_df = outputs.get("persons")
    if persons_df is not None:
        try:
            facts.subsets, broken = shareable.verified_inclusions(
                persons_df, shareable.definitional_inclusions()
            )
        except KeyError as err:
            raise InputError(
                f"phenotypes/persons.parquet lacks column {err}; re-run the phenotype stage"
            ) from err
        for part, whole in broken:
            log.warning(
                "report: the definitions no longer put group %s inside %s "
                "(trd_spark.study.DEFINITION_IMPLICATIONS needs updating); disclosure control "
                "leaves that inclusion out",
                part,
                whole,
            )
    return facts


# --- protection and publication -----------------------------------------------------------


def disclose(tables: Mapping[str, pd.DataFrame], facts: Facts) -> Disclosed:
    """Protect the tables together, publish them, and attack what is published.

    Parameters
    ----------
    tables : shareable tables with true counts (:func:`shareable_tables`).
    facts : the run's facts (policy included).

    Returns
    -------
    The published tables; StructureError when the true counts break a declared relation
    (the structure would prove nothing), DisclosureError naming every table and cell the
    attack recovers (nothing is then written).
    """
    started = time.perf_counter()
    policy = policy_of(facts)
    tables, errors = dict(tables), {}
    while True:
        try:
            ledger, placed = build_ledger(tables, facts, exact=True)
            break
        except TableError as err:  # the table is not shared; its section says why
            log.warning("report: %s is left out: %s", err.table, err)
            errors[err.table] = str(err)
            del tables[err.table]
    broken = ledger.check()
    if broken:
        raise StructureError(
            f"the report's tables do not follow the structure declared for them "
            f"({len(broken)} relation(s), first: {broken[0]}); the disclosure audit cannot "
            "vouch for this report, so it is not written (docs/disclosure.md)"
        )
    protection = protect(ledger, policy)
    published = {
        name: publish(tables[name], placed[name], ledger, protection, SPECS[name])
        for name in tables
    }
    facts.tables = sorted(published)
    if policy.enabled:
        findings = verify_published(published, facts, ledger)
        if findings:
            raise DisclosureError(
                "the report would reveal counts of 1 to "
                f"{policy.threshold} persons; nothing was written. "
                + "; ".join(f.message() for f in findings[:10])
                + (f"; and {len(findings) - 10} more" if len(findings) > 10 else "")
            )
    seconds = time.perf_counter() - started
    log.info(
        "report: disclosure control of %d shareable counts: %d rounds of complementary "
        "suppression, the attack recovers none (%.1f s)",
        len(ledger.shown),
        protection.rounds,
        seconds,
    )
    return Disclosed(facts, ledger, protection, published, placed, errors, seconds)


def publish(
    table_df: pd.DataFrame,
    placed: Mapping[tuple[int, str], str],
    ledger: Ledger,
    protection: Protection,
    spec: TableSpec,
) -> pd.DataFrame:
    """A table with its counts as published text and its derived columns withheld where
    they rest on a suppressed count (recomputed from the published counts otherwise)."""
    out_df = table_df.reset_index(drop=True).copy()
    texts: dict[tuple[int, str], str] = {
        cell: protection.text(ledger, key) for cell, key in placed.items()
    }
    for column in spec.count_columns:
        out_df[column] = [texts.get((i, column), "") for i in range(len(out_df))]
    for column, (uses, recompute) in spec.derived.items():
        out_df[column] = [
            _derived(
                out_df.at[i, column],
                [texts.get((i, c), "") for c in uses],
                recompute,
                protection.policy,
            )
            for i in range(len(out_df))
        ]
    return out_df


def _derived(
    current: Any, counts: list[str], recompute: Callable[..., str] | None, policy: Policy
) -> str:
    if any(text in ("", SUPPRESSED) for text in counts):
        return WITHHELD if any(text == SUPPRESSED for text in counts) else _text(current)
    if recompute is None:
        return _text(current)
    return recompute(*(policy.parse(text) for text in counts)) or WITHHELD


# --- the attack on published tables (the report stage and ``trd-spark audit``) ------------


def read_back(published: Mapping[str, pd.DataFrame], policy: Policy) -> dict[str, pd.DataFrame]:
    """Published tables with their count columns parsed: a number, UNKNOWN for
    :data:`~trd_spark.disclosure.SUPPRESSED`, None for an empty cell."""
    parsed = {}
    for name, table_df in published.items():
        if name not in SPECS:
            continue
        out_df = table_df.copy()
        for column in SPECS[name].count_columns:
            if column not in out_df.columns:
                raise InputError(f"tables/{name}.csv lacks its count column {column}")
            out_df[column] = [_parse(v, policy, name, column) for v in out_df[column]]
        parsed[name] = out_df
    return parsed


def _parse(value: Any, policy: Policy, name: str, column: str) -> Any:
    text = _text(value)
    if not text:
        return None
    try:
        number = policy.parse(text)
    except ValueError as err:
        raise InputError(f"tables/{name}.csv, column {column}: {err}") from None
    return UNKNOWN if number is None else number


def verify_published(
    published: Mapping[str, pd.DataFrame], facts: Facts, truth: Ledger
) -> list[Finding]:
    """The report stage's audit: the attack on the tables as they will be written.

    The tables are read back and their structure rebuilt from the text, as
    ``trd-spark audit`` does; the true counts (``truth``, the same cells) then let each
    unshown count be settled with as few programs as possible
    (:func:`trd_spark.disclosure.attack.recovered`): the verdicts equal those of
    :func:`audit_tables`, which bounds every count both ways.

    Returns
    -------
    The findings; StructureError when the published tables do not read back into the
    cells and relations they were written from.
    """
    policy = policy_of(facts)
    ledger, _ = build_ledger(read_back(published, policy), facts, exact=False)
    if set(ledger.values) != set(truth.values) or ledger.relations != truth.relations:
        raise StructureError(
            "the published tables do not read back into the structure they were written "
            "from; the report is not written"
        )
    shown_numbers = {k: v for k, v in ledger.values.items() if ledger.is_shown(k) and v is not None}
    findings = [
        Finding(k, tuple(ledger.places[k]), Interval(v, v), suppressed=False, shown=True)
        for k, v in shown_numbers.items()
        if policy.is_small(v)
    ]
    by_key = models(ledger, View({k: policy.bounds(v) for k, v in shown_numbers.items()}))
    for key, value in truth.values.items():
        if key in shown_numbers or value is None:
            continue
        suppressed = ledger.is_shown(key)
        if recovered(by_key[key], key, value, suppressed, policy):
            interval = by_key[key].interval(key)
            findings.append(Finding(key, tuple(ledger.places.get(key, [])), interval, suppressed))
    return findings


def audit_tables(published: Mapping[str, pd.DataFrame], facts: Facts) -> list[Finding]:
    """The attack on published tables: every count shown from 1 to the threshold, and
    every unshown count whose interval lies inside 1..threshold or (suppressed) is a
    single value.

    Parameters
    ----------
    published : the shareable tables as written (text), by name.
    facts : the facts written with them.

    Returns
    -------
    The findings (empty when the tables are safe to share).
    """
    policy = policy_of(facts)
    ledger, _ = build_ledger(read_back(published, policy), facts, exact=False)
    shown_numbers = {k: v for k, v in ledger.values.items() if ledger.is_shown(k) and v is not None}
    small = [
        Finding(k, tuple(ledger.places[k]), Interval(v, v), suppressed=False, shown=True)
        for k, v in shown_numbers.items()
        if policy.is_small(v)
    ]
    view = View({k: policy.bounds(v) for k, v in shown_numbers.items()})
    return small + audit(ledger, view, policy)
