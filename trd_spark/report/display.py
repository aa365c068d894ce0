"""The report's numbers as display text, with the small-count policy applied.

Each ``format_*`` function takes a frame of numbers from :mod:`trd_spark.report.select`
(or an output table) and returns a frame of text: participant counts through the
disclosure policy, percentages and means of a withheld count withheld too, estimates
rounded for reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from trd_spark.report.suppress import (
    WITHHELD,
    format_count,
    format_percent,
    is_small_count,
    suppress_count_columns,
)

# participant-count columns of each shared table
COUNT_COLUMNS: dict[str, tuple[str, ...]] = {
    "table1": ("n", "n_female"),
    "group_sizes": ("n_trd", "n_trmdd", "n_non_mdd"),
    "associations": ("n_cases", "n_controls"),
    "sensitivity": ("n_trmdd", "n_trd"),
    "survival": ("n", "n_events"),
    "time_to_trd": ("n_events",),
    "cohort_attrition": ("n_persons", "n_rows_dropped"),
    "phenotype_attrition": ("n_persons", "n_rows_dropped"),
    "analysis_attrition": ("n_persons", "n_rows_dropped"),
}
# participant-count columns of the display tables (Table 1, Table 2, survival, time to TRD)
DISPLAY_COUNT_COLUMNS: dict[str, tuple[str, ...]] = {
    "table1": ("n", "Female n"),
    "table2": ("n trMDD", "n TRD"),
    "survival": ("n", "Events"),
    "time_to_trd": ("Events",),
}


def format_table1(table1_df: pd.DataFrame, min_count: int, suppress: bool) -> pd.DataFrame:
    """Table 1 as display text; summaries of a masked group are withheld too.

    The female count is also withheld when the rest of the group (n minus female)
    is a small count, since a reader could subtract it.

    Parameters
    ----------
    table1_df : from :func:`trd_spark.report.select.table1`.
    min_count, suppress : the small-count policy.

    Returns
    -------
    Columns Cohort, Group, n, Female n, Female %, Age median [IQR].
    """
    rows = []
    for row in table1_df.to_dict("records"):
        hidden = suppress and is_small_count(row["n"], min_count)
        age = (
            WITHHELD
            if hidden or np.isnan(row["age_median"])
            else f"{row['age_median']:.0f} [{row['age_q1']:.0f}-{row['age_q3']:.0f}]"
        )
        female = format_count(row["n_female"], min_count, suppress)
        percent = format_percent(row["n_female"], row["n"], min_count, suppress)
        # n minus the female count (male or unknown sex) must not reveal a small count either
        complement = suppress and is_small_count(row["n"] - row["n_female"], min_count)
        rows.append(
            {
                "Cohort": row["cohort"],
                "Group": row["group"],
                "n": format_count(row["n"], min_count, suppress),
                "Female n": WITHHELD if complement else female,
                "Female %": WITHHELD if complement else percent,
                "Age median [IQR]": age,
            }
        )
    return pd.DataFrame(rows)


def format_table2(sensitivity_df: pd.DataFrame, min_count: int, suppress: bool) -> pd.DataFrame:
    """Table 2 (sensitivity of the definitions) as display text.

    Parameters
    ----------
    sensitivity_df : ``results/sensitivity.parquet``.
    min_count, suppress : the small-count policy (n_trmdd and n_trd are participants).

    Returns
    -------
    One row per definition pair, in trd_def, trmdd_def order.
    """
    ordered_df = sensitivity_df.sort_values(["trd_def", "trmdd_def"]).reset_index(drop=True)
    shown_df = suppress_count_columns(ordered_df, COUNT_COLUMNS["sensitivity"], min_count, suppress)
    return pd.DataFrame(
        {
            "TRD definition": shown_df["trd_def"],
            "trMDD definition": shown_df["trmdd_def"],
            "n trMDD": shown_df["n_trmdd"],
            "n TRD": shown_df["n_trd"],
            "Meta R² (%)": [fixed(v, 1) for v in ordered_df["meta_r2"]],
            "Significant PGS": [integer(v) for v in ordered_df["n_significant"]],
            "Overlap with primary (%)": [fixed(v, 1) for v in ordered_df["overlap_pct"]],
        }
    )


def format_survival(
    survival_df: pd.DataFrame, labels: Mapping[str, str], min_count: int, suppress: bool
) -> pd.DataFrame:
    """The Cox results as display text (HR [95% CI], p, n, events, PH test p).

    Parameters
    ----------
    survival_df : ``results/survival.parquet`` rows.
    labels : trait -> label (:attr:`trd_spark.study.TraitCatalog.labels`).
    min_count, suppress : the small-count policy.

    Returns
    -------
    One row per cohort, trait and term, most significant first.
    """
    ordered_df = survival_df.sort_values("p").reset_index(drop=True)
    shown_df = suppress_count_columns(ordered_df, COUNT_COLUMNS["survival"], min_count, suppress)
    return pd.DataFrame(
        {
            "Cohort": ordered_df["cohort"],
            "PGS": [labels.get(t, t) for t in ordered_df["trait"]],
            "Term": ordered_df["term"],
            "HR [95% CI]": [
                "" if pd.isna(hr) else f"{hr:.2f} [{lo:.2f}-{hi:.2f}]"
                for hr, lo, hi in zip(
                    ordered_df["hr"], ordered_df["ci_low"], ordered_df["ci_high"], strict=True
                )
            ],
            "p": [format_p(v) for v in ordered_df["p"]],
            "n": shown_df["n"],
            "Events": shown_df["n_events"],
            "PH test p": [format_p(v) for v in ordered_df["zph_p"]],
        }
    )


def format_time_to_trd(time_df: pd.DataFrame, min_count: int, suppress: bool) -> pd.DataFrame:
    """Mean days from first MDD diagnosis to TRD among converters, per survival set.

    Parameters
    ----------
    time_df : ``results/time_to_trd.parquet`` (cohort, n_events, mean_days, ci_low, ci_high).
    min_count, suppress : the small-count policy; a mean over a masked number of events
        is withheld too.

    Returns
    -------
    Columns Cohort, Events, Mean days [95% CI].
    """
    rows = []
    for row in time_df.to_dict("records"):
        hidden = suppress and is_small_count(row["n_events"], min_count)
        mean = (
            WITHHELD
            if hidden or pd.isna(row["mean_days"])
            else f"{row['mean_days']:.0f} [{row['ci_low']:.0f}-{row['ci_high']:.0f}]"
        )
        rows.append(
            {
                "Cohort": row["cohort"],
                "Events": format_count(row["n_events"], min_count, suppress),
                "Mean days [95% CI]": mean,
            }
        )
    return pd.DataFrame(rows, columns=["Cohort", "Events", "Mean days [95% CI]"])


def format_replication(replication_df: pd.DataFrame) -> pd.DataFrame:
    """Meta-regression of replication on discovery log ORs as display text."""
    return pd.DataFrame(
        {
            "Contrast": replication_df["contrast"],
            "Cohort": replication_df["cohort"],
            "Against": replication_df["reference_cohort"],
            "PGS (k)": [integer(v) for v in replication_df["k"]],
            "τ² null": [fixed(v, 4) for v in replication_df["tau2_null"]],
            "τ² with moderator": [fixed(v, 4) for v in replication_df["tau2"]],
            "Meta R² (%)": [fixed(v, 1) for v in replication_df["r2"]],
            "QM p": [format_p(v) for v in replication_df["qm_p"]],
            "QE p": [format_p(v) for v in replication_df["qe_p"]],
        }
    )


def format_counts_table(
    table_df: pd.DataFrame, name: str, min_count: int, suppress: bool
) -> pd.DataFrame:
    """Any output table with its participant-count columns masked (for display and sharing).

    Parameters
    ----------
    table_df : an output table.
    name : its key in COUNT_COLUMNS (others have no participant counts).
    min_count, suppress : the small-count policy.

    Returns
    -------
    A copy with count columns as text and floats rounded for reading.
    """
    shown_df = suppress_count_columns(table_df, COUNT_COLUMNS.get(name, ()), min_count, suppress)
    for column in shown_df.columns:
        if pd.api.types.is_float_dtype(shown_df[column]):
            shown_df[column] = [
                format_p(v) if column == "p" or column.endswith("_p") else fixed(v, 4)
                for v in shown_df[column]
            ]
    return shown_df


def with_labels(table_df: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """``table_df`` with its ``trait`` column replaced by display labels."""
    return table_df.assign(trait=[labels.get(t, t) for t in table_df["trait"]])


def case_count_labels(
    counts_df: pd.DataFrame, cohort: str, min_count: int, suppress: bool
) -> dict[str, str]:
    """Contrast -> ``"<cohort>: <n> cases, <n> controls"``, counts masked.

    Parameters
    ----------
    counts_df : from :func:`trd_spark.report.select.case_counts`.
    cohort : the cohort named in the text.
    min_count, suppress : the small-count policy.
    """
    return {
        str(row["contrast"]): (
            f"{cohort}: {format_count(row['n_cases'], min_count, suppress)} cases, "
            f"{format_count(row['n_controls'], min_count, suppress)} controls"
        )
        for row in counts_df.to_dict("records")
    }


def headline_display(compare_df: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """The run's headline estimates beside the published ones, as display text.

    Parameters
    ----------
    compare_df : from :mod:`trd_spark.report.headline` (trait, published, estimate,
        ci_low, ci_high, p, same_direction).
    labels : trait -> label.
    """
    return pd.DataFrame(
        {
            "PGS": [labels.get(t, t) for t in compare_df["trait"]],
            "Published": [f"{v:.2f}" for v in compare_df["published"]],
            "This run [95% CI]": [
                f"{e:.2f} [{lo:.2f}-{hi:.2f}]"
                for e, lo, hi in zip(
                    compare_df["estimate"],
                    compare_df["ci_low"],
                    compare_df["ci_high"],
                    strict=True,
                )
            ],
            "p": [format_p(v) for v in compare_df["p"]],
            "Same direction": ["yes" if v else "no" for v in compare_df["same_direction"]],
        }
    )


def qc_summary_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """Variant QC counts as one row per step and one column per platform.

    Parameters
    ----------
    summary : ``qc/summary.json``; its ``platforms`` maps platform -> {step: count}
        (``n_input``, the rules in order, ``n_kept``).  Any other layout is flattened.

    Returns
    -------
    Columns step and one per platform (variant counts as text), or ``flatten_summary``'s
    item / value table.
    """
    platforms = summary.get("platforms")
    if not isinstance(platforms, Mapping) or not all(
        isinstance(v, Mapping) for v in platforms.values()
    ):
        return flatten_summary(summary)
    steps = list(dict.fromkeys(k for counts in platforms.values() for k in counts))
    columns: dict[str, list[str]] = {"step": [s.replace("_", " ") for s in steps]}
    for platform, counts in platforms.items():
        columns[str(platform)] = [
            integer(counts[step]) if _is_int(counts.get(step)) else str(counts.get(step, ""))
            for step in steps
        ]
    return pd.DataFrame(columns)


def flatten_summary(summary: Mapping[str, Any], prefix: str = "") -> pd.DataFrame:
    """``qc/summary.json`` as rows of (item, value), nested keys joined by " / ".

    Parameters
    ----------
    summary : the parsed JSON object.
    prefix : the path of ``summary`` inside the whole object.

    Returns
    -------
    Columns item, value (value as text; these are variant counts, not participants).
    """
    return pd.DataFrame(_summary_rows(summary, prefix), columns=["item", "value"])


def _summary_rows(summary: Mapping[str, Any], prefix: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in summary.items():
        item = f"{prefix} / {key}" if prefix else str(key)
        if isinstance(value, Mapping):
            rows.extend(_summary_rows(value, item))
        elif isinstance(value, list):
            rows.append((item, ", ".join(map(str, value))))
        else:
            rows.append((item, integer(value) if _is_int(value) else str(value)))
    return rows


def format_p(value: float | None) -> str:
    """A p-value with two significant digits (``3.1e-07``), empty when missing."""
    if value is None or pd.isna(value):
        return ""
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def fixed(value: Any, digits: int) -> str:
    """A number with ``digits`` decimals; empty when missing."""
    return "" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"


def integer(value: Any) -> str:
    """A whole number with thousands separators; empty when missing."""
    return "" if value is None or pd.isna(value) else f"{int(value):,}"


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
