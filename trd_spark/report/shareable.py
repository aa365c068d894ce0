"""The report's shareable tables as numbers, before disclosure control, and the facts about
the run that their structure needs.

Every table here is laid out as its CSV under ``report/tables/`` (same columns, same
rows), with its counts of persons still as numbers; :mod:`trd_spark.report.disclose`
turns them into the published text.  ``trd-spark audit`` reads the CSVs back into the
same layout (a suppressed count becomes :data:`UNKNOWN`), so
:mod:`trd_spark.report.structure` declares one structure for both.

The Kaplan-Meier table is coarsened here: a curve is published only at the times where
more than ``threshold`` persons have left the risk set since the previous published
time, of whom none or more than ``threshold`` had the event, and while more than
``threshold`` remain at risk (docs/disclosure.md).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from trd_spark.report import select
from trd_spark.report.display import fixed, integer, with_interval
from trd_spark.study import (
    COMBINATIONS,
    DEFINITION_IMPLICATIONS,
    GROUP_LABELS,
    STATUS_COLUMNS,
    TRD_DEFS,
    group_masks,
    treated_column,
)


class Unknown:
    """A count of a table read back from a report whose cell is suppressed."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()
# groups whose membership the subset facts compare: TRD, trMDD, and their union (the pool)
POOL = "pool"
SUBSET_GROUPS = ("TRD", "trMDD", POOL)
NO_COHORT = "(none)"  # group_sizes' row of persons in no cohort
ALL_COHORTS = "all"  # group_sizes' row of everyone


@dataclass
class Facts:
    """What the structure of the shareable tables depends on beyond the tables themselves.

    Written beside the tables (``tables/disclosure.json``) so an audit of a written report
    uses the same structure; it holds names and set inclusions, no counts.
    """

    threshold: int = 20
    rounding_base: int = 0
    enabled: bool = True
    primary: tuple[str, str] = ("trd_1", "trmdd_1")
    discovery: str = ""
    platforms: dict[str, str] = field(default_factory=dict)  # cohort -> platform
    pooled_sets: dict[str, list[str]] = field(default_factory=dict)  # pooled set -> cohorts
    km_set: str = ""
    # survival sets in which every trait's Cox model has the same persons and events (one
    # count each, shown on every row) rather than per-trait counts
    uniform_survival: list[str] = field(default_factory=list)
    # (part, whole): by definition, the persons of group ``part`` are all in group ``whole``
    # (in every cohort); groups named "<TRD, trMDD or pool>|<trd_def>|<trmdd_def>"
    subsets: list[tuple[str, str]] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # the shareable tables written

    def to_json(self) -> str:
        """The facts as JSON."""
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Facts:
        """Facts read back from :meth:`to_json`."""
        raw = json.loads(text)
        raw["primary"] = tuple(raw["primary"])
        raw["subsets"] = [tuple(pair) for pair in raw["subsets"]]
        return cls(**raw)


def group_id(group: str, trd_def: str, trmdd_def: str) -> str:
    """The name of a group of one comparison (see :attr:`Facts.subsets`)."""
    return f"{group}|{trd_def}|{trmdd_def}"


def _group_members(flag: Callable[[str], np.ndarray]) -> dict[str, np.ndarray]:
    """Membership of every group of the 15 comparisons (TRD, trMDD, pool) under ``flag``."""
    members = {}
    for trd_def, trmdd_def in COMBINATIONS:
        masks = group_masks(flag, trd_def, trmdd_def)
        members[group_id("TRD", trd_def, trmdd_def)] = masks["TRD"]
        members[group_id("trMDD", trd_def, trmdd_def)] = masks["trMDD"]
        members[group_id(POOL, trd_def, trmdd_def)] = masks["TRD"] | masks["trMDD"]
    return members


def definitional_inclusions(
    implications: Sequence[tuple[str, str]] = DEFINITION_IMPLICATIONS,
) -> list[tuple[str, str]]:
    """Which groups of the 15 comparisons contain which by definition.

    Every assignment of the status flags that respects ``implications`` is a possible
    person; group ``a`` is in group ``b`` when every possible person of ``a`` is in ``b``
    (for example TRD under trd_1 in TRD under trd_4, or the pools of trd_1 and trd_3,
    which are the same persons).  A reader who knows the definitions knows these.

    Returns
    -------
    Covering (part, whole) pairs of group ids (a chain a in b in c gives a in b and b in
    c); equal groups give both directions.
    """
    treated = {treated_column(trd) for trd in TRD_DEFS}
    flags = sorted({f for pair in implications for f in pair} | set(STATUS_COLUMNS) | treated)
    grid = np.array(list(itertools.product([False, True], repeat=len(flags))))
    allowed = np.ones(len(grid), bool)
    for part, whole in implications:
        allowed &= ~grid[:, flags.index(part)] | grid[:, flags.index(whole)]
    possible = grid[allowed]
    members = _group_members(lambda f: possible[:, flags.index(f)])
    names = list(members)
    pairs = covering_pairs(np.column_stack([members[n] for n in names]))
    return [(names[a], names[b]) for a, b in pairs]


def verified_inclusions(
    persons_df: pd.DataFrame, inclusions: Sequence[tuple[str, str]]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The inclusions that hold among ``persons_df`` (and those that do not, which a
    definition changed without ``DEFINITION_IMPLICATIONS`` following).

    Returns
    -------
    (holding, broken) pairs of group ids.
    """
    members = _group_members(lambda c: persons_df[c].fillna(False).astype(bool).to_numpy())
    holding: list[tuple[str, str]] = []
    broken: list[tuple[str, str]] = []
    for part, whole in inclusions:
        (broken if (members[part] & ~members[whole]).any() else holding).append((part, whole))
    return holding, broken


def covering_pairs(members: np.ndarray) -> list[tuple[int, int]]:
    """Columns (a, b) of a possibilities x sets boolean matrix where set a is in set b and
    no third distinct set lies strictly between them; equal sets are chained both ways.
    Empty sets are left out (they are in every set and say nothing)."""
    counts = members.sum(axis=0)
    outside = members.astype(np.int64).T @ (~members).astype(np.int64)  # |a minus b|
    inside = (outside == 0) & (counts[:, None] > 0)
    np.fill_diagonal(inside, False)
    equal = inside & inside.T
    pairs: list[tuple[int, int]] = []
    representative = list(range(members.shape[1]))
    for a in range(members.shape[1]):
        same = [b for b in range(a) if equal[a, b]]
        if same:
            representative[a] = representative[same[0]]
            pairs += [(a, representative[a]), (representative[a], a)]
    reps = sorted({r for r, c in zip(representative, counts, strict=True) if c > 0})
    strict = {(a, b) for a in reps for b in reps if inside[a, b] and not equal[a, b]}
    for a, b in sorted(strict):
        if not any((a, c) in strict and (c, b) in strict for c in reps):
            pairs.append((a, b))
    return pairs


def table1_numbers(
    persons_df: pd.DataFrame, trd_def: str, trmdd_def: str, cohort_order: Sequence[str]
) -> pd.DataFrame:
    """Table 1 in its shared layout (Cohort, Group, n, Female n, Female %, Age median
    [IQR]) with the counts as numbers (:func:`trd_spark.report.select.table1`)."""
    numbers_df = select.table1(persons_df, trd_def, trmdd_def, cohort_order)
    ages = with_interval(numbers_df["age_median"], numbers_df["age_q1"], numbers_df["age_q3"], 0)
    return pd.DataFrame(
        {
            "Cohort": numbers_df["cohort"],
            "Group": numbers_df["group"],
            "n": numbers_df["n"].astype("Int64"),
            "Female n": numbers_df["n_female"].astype("Int64"),
            "Female %": numbers_df["pct_female"],
            "Age median [IQR]": ages,
        }
    )


def table2_numbers(sensitivity_df: pd.DataFrame) -> pd.DataFrame:
    """Table 2 in its shared layout, counts as numbers, in trd_def, trmdd_def order (the
    meta-regression slope with its CI when the run wrote it)."""
    ordered_df = sensitivity_df.sort_values(["trd_def", "trmdd_def"]).reset_index(drop=True)
    missing = pd.Series(np.nan, index=ordered_df.index)
    slopes = with_interval(
        ordered_df.get("meta_slope", missing),
        ordered_df.get("meta_slope_ci_low", missing),
        ordered_df.get("meta_slope_ci_high", missing),
        2,
        ", ",
    )
    return pd.DataFrame(
        {
            "TRD definition": ordered_df["trd_def"],
            "trMDD definition": ordered_df["trmdd_def"],
            "n trMDD": ordered_df["n_trmdd"].astype("Int64"),
            "n TRD": ordered_df["n_trd"].astype("Int64"),
            "Meta R² (%)": [fixed(v, 1) for v in ordered_df["meta_r2"]],
            "Meta slope [95% CI]": slopes,
            "Significant PGS": [integer(v) for v in ordered_df["n_significant"]],
            "Overlap with primary (%)": [fixed(v, 1) for v in ordered_df["overlap_pct"]],
        }
    )


def time_to_trd_numbers(time_df: pd.DataFrame) -> pd.DataFrame:
    """Mean time to TRD in its shared layout (Cohort, Events, Mean days [95% CI])."""
    means = with_interval(time_df["mean_days"], time_df["ci_low"], time_df["ci_high"], 0)
    return pd.DataFrame(
        {
            "Cohort": time_df["cohort"],
            "Events": time_df["n_events"].astype("Int64"),
            "Mean days [95% CI]": means,
        }
    )


# Table 1's characteristics: (label, persons column); race and ethnicity are text labels
# (null when unknown), year of birth is shown by decade
CHARACTERISTICS: tuple[tuple[str, str], ...] = (
    ("Race", "race"),
    ("Ethnicity", "ethnicity"),
    ("Year of birth", "year_of_birth"),
)
UNKNOWN_LEVEL = "unknown"
CHARACTERISTIC_COLUMNS = ["Cohort", "Group", "Characteristic", "Level", "n", "Group n", "%"]


def characteristics_numbers(
    persons_df: pd.DataFrame, trd_def: str, trmdd_def: str, cohort_order: Sequence[str]
) -> pd.DataFrame:
    """Table 1's race, ethnicity and decade of birth: persons per cohort, group and level.

    Parameters
    ----------
    persons_df : ``phenotypes/persons.parquet``; ``race`` and ``ethnicity`` are read when
        present (older runs lack them), ``year_of_birth`` always.
    trd_def, trmdd_def : the primary definitions.
    cohort_order : cohorts listed first, in this order.

    Returns
    -------
    CHARACTERISTIC_COLUMNS, every level (``unknown`` for a missing value, listed even when
    empty) for every cohort and group, so the levels of a characteristic add up to the
    group's size; ``%`` of the group.
    """
    grouped_df = persons_df.assign(group=select.comparison_group(persons_df, trd_def, trmdd_def))
    grouped_df = grouped_df[grouped_df["cohort"].notna() & grouped_df["group"].notna()]
    rows = []
    for label, column in CHARACTERISTICS:
        if column not in grouped_df.columns:
            continue
        levels = characteristic_levels(grouped_df[column], column)
        known = sorted(set(levels.dropna()), key=_level_order)
        for cohort in select.ordered_cohorts(grouped_df["cohort"], cohort_order):
            for group in GROUP_LABELS.values():
                members = (grouped_df["cohort"] == cohort) & (grouped_df["group"] == group)
                counts = levels[members].fillna(UNKNOWN_LEVEL).value_counts()
                size = int(members.sum())
                for level in [*known, UNKNOWN_LEVEL]:
                    n = int(counts.get(level, 0))
                    rows.append(
                        (cohort, group, label, level, n, size, 100.0 * n / size if size else np.nan)
                    )
    numbers_df = pd.DataFrame(rows, columns=CHARACTERISTIC_COLUMNS)
    return numbers_df.astype({"n": "Int64", "Group n": "Int64"})


def characteristic_levels(values: pd.Series, column: str) -> pd.Series:
    """Each person's level of a characteristic (None when unknown): decades of birth as
    ``1950s``, text labels as they are (blank text counts as unknown)."""
    if column == "year_of_birth":
        years = pd.to_numeric(values, errors="coerce")
        return pd.Series(
            [None if pd.isna(y) else f"{int(y) // 10 * 10}s" for y in years],
            index=values.index,
            dtype=object,
        )
    return pd.Series(
        [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in values],
        index=values.index,
        dtype=object,
    )


def _level_order(level: str) -> tuple[int, str]:
    return (0, level) if level[:4].isdigit() else (1, level.lower())


KM_COLUMNS = ["cohort", "trait", "stratum", "time", "survival", "ci_low", "ci_high", "at_risk"]


def coarse_km(km_df: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Kaplan-Meier curves on a coarse grid that reveals no count of 1..threshold.

    Parameters
    ----------
    km_df : ``results/km.parquet`` rows (time, survival, ci_low, ci_high, at_risk = persons
        at risk at that time, one row per distinct time).
    threshold : the disclosure threshold.

    Returns
    -------
    KM_COLUMNS; per curve a row at time 0 (survival 1, at_risk = the stratum's size, which
    disclosure control suppresses when small) and rows at the chosen times, where
    ``at_risk`` is the number still at risk just after that time.  Between two rows more
    than ``threshold`` persons leave the risk set, and none or more than ``threshold`` of
    them have the event (so neither the at-risk difference nor the drop in survival
    reveals a small count); every ``at_risk`` after time 0 is above ``threshold``.  A
    curve whose stratum has ``threshold`` persons or fewer has only its time-0 row.
    """
    frames = [
        _coarse_curve(curve_df.sort_values("time"), threshold)
        for _, curve_df in km_df.groupby(["cohort", "trait", "stratum"], sort=False)
    ]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=KM_COLUMNS)
    return pd.concat(frames, ignore_index=True)[KM_COLUMNS]


def _coarse_curve(curve_df: pd.DataFrame, threshold: int) -> pd.DataFrame:
    at_risk = curve_df["at_risk"].to_numpy(dtype=np.int64)
    survival = curve_df["survival"].to_numpy(dtype=float)
    if not len(at_risk):
        return pd.DataFrame(columns=KM_COLUMNS)
    previous = np.r_[1.0, survival[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        events = np.where(previous > 0, np.rint(at_risk * (1.0 - survival / previous)), 0)
    after = np.r_[at_risk[1:], 0]  # still at risk just after each time
    keys = {c: curve_df[c].iloc[0] for c in ("cohort", "trait", "stratum")}
    rows = [keys | {"time": 0.0, "survival": 1.0, "ci_low": np.nan, "ci_high": np.nan,
                    "at_risk": int(at_risk[0])}]  # fmt: skip
    last_after, events_since = int(at_risk[0]), 0
    for i in range(len(at_risk) if at_risk[0] > threshold else 0):
        events_since += int(events[i])
        left = last_after - int(after[i])
        if after[i] <= threshold:
            break
        if left > threshold and (events_since == 0 or events_since > threshold):
            rows.append(keys | {"time": float(curve_df["time"].iloc[i]),
                                "survival": survival[i], "ci_low": curve_df["ci_low"].iloc[i],
                                "ci_high": curve_df["ci_high"].iloc[i],
                                "at_risk": int(after[i])})  # fmt: skip
            last_after, events_since = int(after[i]), 0
    return pd.DataFrame(rows, columns=KM_COLUMNS)


def group_of_label(label: str) -> str:
    """The group name of a Table 1 label (``non-MDD`` -> ``nonMDD``)."""
    names = {v: k for k, v in GROUP_LABELS.items()}
    return names.get(label, label)


def count_values(table_df: pd.DataFrame, column: str) -> list[Any]:
    """The cells of a count column: an int, :data:`UNKNOWN` (suppressed) or None (empty)."""
    out: list[Any] = []
    for value in table_df[column]:
        if value is UNKNOWN:
            out.append(UNKNOWN)
        elif value is None or (not isinstance(value, str) and pd.isna(value)):
            out.append(None)
        else:
            out.append(int(value))
    return out


def pooled_sets(platforms: Mapping[str, str]) -> dict[str, list[str]]:
    """Pooled survival set -> its cohorts, for platforms with two or more cohorts."""
    from trd_spark.study import pooled_set_name

    by_platform: dict[str, list[str]] = {}
    for cohort, platform in platforms.items():
        by_platform.setdefault(platform, []).append(cohort)
    return {
        pooled_set_name(p): members
        for p, members in by_platform.items()
        if len(members) >= 2 and p not in platforms
    }
