"""The report's numbers as display text: estimates, p-values, variant counts.

Counts of persons are never formatted here: they come published from
:mod:`trd_spark.report.disclose` and are only placed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from trd_spark.study import label

# columns whose values are names of the study's vocabulary (shown through study.label)
VOCABULARY_COLUMNS: tuple[str, ...] = (
    "cohort", "contrast", "trd_def", "trmdd_def", "stratum", "term", "reference_cohort", "step",
    "Cohort", "TRD definition", "trMDD definition",
)  # fmt: skip
# how a column of an output table is headed on the page (others: underscores as spaces)
HEADERS: dict[str, str] = {
    "cohort": "Cohort", "contrast": "Contrast", "trd_def": "TRD definition",
    "trmdd_def": "trMDD definition", "stratum": "Stratum", "trait": "PGS", "term": "Term",
    "odds_ratio": "OR", "ci_low": "95% CI low", "ci_high": "95% CI high", "p": "p",
    "n_cases": "Cases", "n_controls": "Controls", "converged": "Converged",
    "significant": "Significant", "step": "Step", "n_persons": "Persons",
    "n_rows_dropped": "Excluded", "reason": "Reason", "n_trd": "TRD", "n_trmdd": "trMDD",
    "n_non_mdd": "non-MDD", "platform": "Platform", "n_in_file": "Variants in file",
    "n_matched": "Matched", "n_flipped": "Flipped", "n_ambiguous": "Ambiguous dropped",
    "n_missing": "Missing", "overlap": "Overlap", "step_count": "Count",
}  # fmt: skip
# a name of the vocabulary inside free text (``mdd_1``, ``wgs_european``), not part of a
# path or file name (``phenotypes/time_to_event.parquet`` stays as it is)
_SNAKE_NAME = re.compile(r"(?<![\w./])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w./])")


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


def header(column: str) -> str:
    """How a column is headed on the page (``n_cases`` -> ``Cases``)."""
    return HEADERS.get(column, column.replace("_", " "))


def headed(columns: Sequence[str]) -> dict[str, str]:
    """Shown header -> source column, for :meth:`trd_spark.report.disclose.Disclosed.view`."""
    return {header(c): c for c in columns}


def readable_text(text: Any) -> str:
    """Free text with the study's names as a reader writes them (``mdd_1`` -> ``MDD 1``,
    ``wgs_european`` -> ``WGS European``, other ``snake_case`` words with spaces); paths and
    file names are left as they are."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    return _SNAKE_NAME.sub(lambda m: label(m.group(0)), str(text))


def labelled(table_df: pd.DataFrame, columns: Sequence[str] = VOCABULARY_COLUMNS) -> pd.DataFrame:
    """A copy (same index) whose vocabulary columns show labels (``wgs_european`` ->
    ``WGS European``, ``trd_1`` -> ``TRD 1``, ``pgs_x_sex`` -> ``PGS x sex``); a
    ``reason`` column's definition names too.  Missing values stay missing."""
    shown_df = table_df.copy()
    for column in columns:
        if column in shown_df.columns:
            shown_df[column] = [
                v if v is None or (not isinstance(v, str) and pd.isna(v)) else label(str(v))
                for v in shown_df[column]
            ]
    if "reason" in shown_df.columns:
        shown_df["reason"] = [readable_text(v) for v in shown_df["reason"]]
    return shown_df


def with_labels(table_df: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """``table_df`` with its ``trait`` column replaced by display labels."""
    return table_df.assign(trait=[labels.get(t, t) for t in table_df["trait"]])


def with_interval(
    estimates: Iterable[Any],
    lows: Iterable[Any],
    highs: Iterable[Any],
    digits: int,
    sep: str = "-",
) -> list[str]:
    """``estimate [low-high]`` per row with ``digits`` decimals (empty where missing);
    ``sep=", "`` for values that may be negative."""
    return [
        "" if pd.isna(e) else f"{e:.{digits}f} [{lo:.{digits}f}{sep}{hi:.{digits}f}]"
        for e, lo, hi in zip(estimates, lows, highs, strict=True)
    ]


def hazard_ratios(survival_df: pd.DataFrame) -> list[str]:
    """``HR [low-high]`` per Cox row (empty where the model has no estimate)."""
    return with_interval(survival_df["hr"], survival_df["ci_low"], survival_df["ci_high"], 2)


REPLICATION_ANALYSES = {"logistic": "Logistic (log OR)", "survival": "Cox (log HR per SD)"}


def format_replication(replication_df: pd.DataFrame) -> pd.DataFrame:
    """Meta-regressions of replication on reference estimates as display text (labels,
    R², slope with its 95% CI)."""
    analysis = replication_df.get("analysis", pd.Series("logistic", index=replication_df.index))
    slope = replication_df.get("slope", pd.Series(np.nan, index=replication_df.index))
    low = replication_df.get("slope_ci_low", pd.Series(np.nan, index=replication_df.index))
    high = replication_df.get("slope_ci_high", pd.Series(np.nan, index=replication_df.index))
    return pd.DataFrame(
        {
            "Analysis": [REPLICATION_ANALYSES.get(str(a), label(str(a))) for a in analysis],
            "Contrast": [label(str(c)) for c in replication_df["contrast"]],
            "Cohort": [label(str(c)) for c in replication_df["cohort"]],
            "Against": [label(str(c)) for c in replication_df["reference_cohort"]],
            "PGS (k)": [integer(v) for v in replication_df["k"]],
            "Meta R² (%)": [fixed(v, 1) for v in replication_df["r2"]],
            "Slope [95% CI]": with_interval(slope, low, high, 2, ", "),
            "τ² without moderator": [fixed(v, 4) for v in replication_df["tau2_null"]],
            "τ² with moderator": [fixed(v, 4) for v in replication_df["tau2"]],
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
