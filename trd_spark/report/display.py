"""The report's numbers as display text: estimates, p-values, variant counts.

Counts of persons are never formatted here: they come published from
:mod:`trd_spark.report.disclose` and are only placed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd


def format_floats(table_df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose float columns are text for reading: p-values with two significant
    digits (columns ``p`` and ``*_p``), other floats with four decimals."""
    shown_df = table_df.copy()
    for column in shown_df.columns:
        if pd.api.types.is_float_dtype(shown_df[column]):
            shown_df[column] = [
                format_p(v) if column == "p" or str(column).endswith("_p") else fixed(v, 4)
                for v in shown_df[column]
            ]
    return shown_df


def with_labels(table_df: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """``table_df`` with its ``trait`` column replaced by display labels."""
    return table_df.assign(trait=[labels.get(t, t) for t in table_df["trait"]])


def with_interval(
    estimates: Iterable[Any], lows: Iterable[Any], highs: Iterable[Any], digits: int
) -> list[str]:
    """``estimate [low-high]`` per row with ``digits`` decimals (empty where missing)."""
    return [
        "" if pd.isna(e) else f"{e:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"
        for e, lo, hi in zip(estimates, lows, highs, strict=True)
    ]


def hazard_ratios(survival_df: pd.DataFrame) -> list[str]:
    """``HR [low-high]`` per Cox row (empty where the model has no estimate)."""
    return with_interval(survival_df["hr"], survival_df["ci_low"], survival_df["ci_high"], 2)


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
            "This run [95% CI]": with_interval(
                compare_df["estimate"], compare_df["ci_low"], compare_df["ci_high"], 2
            ),
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
