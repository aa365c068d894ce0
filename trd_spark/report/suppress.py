"""All of Us dissemination policy: small participant counts are never shown.

A count of participants from 1 to ``min_count`` (20 by default) is shown as
``"<20"``; 0 and counts above ``min_count`` are shown as they are.  A
percentage whose numerator or denominator is such a count is withheld (shown
as ``"-"``), because it would let the reader recover the count.  The same
rule covers counts inside figure annotations and Kaplan-Meier at-risk tables.

Only counts of persons (or of EHR rows, which map to few persons) are masked;
counts of variants and of PGS are not about participants and stay exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

WITHHELD = "-"


def is_small_count(value: float | int | None, min_count: int) -> bool:
    """True when ``value`` is a count the policy hides (1..min_count).

    Parameters
    ----------
    value : a count (None or NaN is not a count).
    min_count : the largest count that is hidden.

    Returns
    -------
    Whether the count must be masked.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return 1 <= value <= min_count


def format_count(value: float | int | None, min_count: int, suppress: bool = True) -> str:
    """A participant count as shown in the report: ``"<20"`` for 1..20, else the number.

    Parameters
    ----------
    value : the count; None / NaN gives an empty string.
    min_count : the largest count that is hidden.
    suppress : False shows every count (for private use, never for sharing).

    Returns
    -------
    The text to display.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if suppress and is_small_count(value, min_count):
        return f"<{min_count}"
    return f"{int(value):,}"


def format_percent(
    numerator: float | int | None,
    denominator: float | int | None,
    min_count: int,
    suppress: bool = True,
    digits: int = 1,
) -> str:
    """``100 * numerator / denominator``, withheld when either count is masked.

    Parameters
    ----------
    numerator, denominator : participant counts.
    min_count : the largest count that is hidden.
    suppress : apply the policy.
    digits : decimals shown.

    Returns
    -------
    The percentage as text, ``"-"`` when withheld or undefined.
    """
    if numerator is None or denominator is None or not denominator:
        return WITHHELD
    if pd.isna(numerator) or pd.isna(denominator):
        return WITHHELD
    if suppress and (
        is_small_count(numerator, min_count) or is_small_count(denominator, min_count)
    ):
        return WITHHELD
    return f"{100.0 * float(numerator) / float(denominator):.{digits}f}"


def suppress_count_columns(
    table_df: pd.DataFrame, columns: Iterable[str], min_count: int, suppress: bool = True
) -> pd.DataFrame:
    """Replace participant-count columns by their display text.

    Parameters
    ----------
    table_df : a table with numeric count columns.
    columns : the columns holding participant counts (absent ones are ignored).
    min_count : the largest count that is hidden.
    suppress : apply the policy.

    Returns
    -------
    A copy whose count columns are strings (``"<20"``, ``"0"``, ``"1,234"``).
    """
    out_df = table_df.copy()
    for column in columns:
        if column in out_df.columns:
            out_df[column] = [format_count(v, min_count, suppress) for v in out_df[column]]
    return out_df


def withhold_percent_columns(
    table_df: pd.DataFrame,
    percent_of: dict[str, tuple[str, str]],
    min_count: int,
    suppress: bool = True,
) -> pd.DataFrame:
    """Withhold percentage columns derived from masked counts.

    Parameters
    ----------
    table_df : a table whose count columns are still numeric.
    percent_of : percentage column -> (numerator column, denominator column).
    min_count : the largest count that is hidden.
    suppress : apply the policy.

    Returns
    -------
    A copy whose percentage columns are text, ``"-"`` where withheld.
    """
    out_df = table_df.copy()
    for pct_column, (num_column, den_column) in percent_of.items():
        if pct_column not in out_df.columns:
            continue
        out_df[pct_column] = [
            WITHHELD
            if suppress and (is_small_count(num, min_count) or is_small_count(den, min_count))
            else ("" if pd.isna(pct) else f"{float(pct):.1f}")
            for pct, num, den in zip(
                out_df[pct_column], out_df[num_column], out_df[den_column], strict=True
            )
        ]
    return out_df


def truncate_small_risk_sets(km_df: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """Drop the tail of Kaplan-Meier curves once ``min_count`` or fewer are at risk.

    Each step of a curve with few persons at risk reveals single events, so a
    shared curve stops where its risk set becomes a maskable count.

    Parameters
    ----------
    km_df : rows with ``at_risk`` (one curve or many).
    min_count : the largest count that is hidden.

    Returns
    -------
    The rows whose risk set is larger than ``min_count``.
    """
    return km_df[km_df["at_risk"] > min_count]
