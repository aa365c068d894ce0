"""The linear structure of the report's shareable tables: which population each count is, and
the relations a reader knows between them (docs/disclosure.md lists them).

One function per shareable table declares its cells into a
:class:`~trd_spark.disclosure.ledger.Ledger` (a count of the same population in two tables
is one cell) and the relations inside the table; :func:`link_tables` then adds the
relations across tables.  The functions read the tables in their shared layout
(:mod:`trd_spark.report.shareable`), with true counts (the report stage) or with the
published ones read back (``trd-spark audit``, where a suppressed count is
:data:`~trd_spark.report.shareable.UNKNOWN`), so both attack the same structure.

Cell keys (``|``-separated):

* ``G|cohort|group|trd|trmdd``: a group of one comparison among the persons of the
  phenotype stage (``group_sizes``, Table 1); ``G|cohort|nonMDD`` (no definitions);
  ``group`` may also be ``pool`` (TRD + trMDD) or ``nogroup`` (hidden);
* ``A|cohort|group|trd|trmdd|stratum``: the same in the analysis sample (associations,
  Table 2; ``stratum`` all, female, male);
* ``T1|cohort|group|...``: Table 1's female counts and characteristics;
* ``C|...``: cohort building; ``AA|cohort|...``: analysis attrition; ``PA|...``:
  phenotype attrition; ``SV|set|trait|...``: Cox models; ``TT|set``: events behind the
  mean time to TRD; ``KM|set|trait|stratum|time``: persons at risk.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trd_spark.disclosure.ledger import Ledger, Place
from trd_spark.errors import InputError
from trd_spark.report.shareable import (
    ALL_COHORTS,
    POOL,
    UNKNOWN,
    Facts,
    count_values,
    group_of_label,
)
from trd_spark.study import GROUPS, PGS_STRATA, STRATA, contrast_groups

# what complementary suppression gives up first: working tables before the paper's tables
LOW, MIDDLE, HIGH = 0, 1, 2
NON_MDD = GROUPS[0]
STRATUM_ALL = STRATA[0]
SURVIVAL_PREFIX = "survival_"  # analysis attrition: the survival subset's rows


@dataclass(frozen=True)
class TableSpec:
    """A shareable table with counts of persons.

    ``derived``: display columns computed from counts (withheld when one is suppressed),
    each with the count columns it uses and how to recompute it from published counts
    (None: kept as it is while its counts are published).
    """

    name: str
    count_columns: tuple[str, ...]
    declare: Callable[[Ledger, pd.DataFrame, Facts], dict[tuple[int, str], str]]
    derived: Mapping[str, tuple[tuple[str, ...], Callable[..., str] | None]] = field(
        default_factory=dict
    )


def _value(cell: Any) -> int | None:
    return None if cell is UNKNOWN else int(cell)


def _declare_column(
    ledger: Ledger,
    table_df: pd.DataFrame,
    column: str,
    table: str,
    keys: Sequence[str | None],
    rows: Sequence[str],
    priority: int,
) -> dict[tuple[int, str], str]:
    """Declare the cells of one count column (a row whose key is None is skipped)."""
    placed = {}
    for i, (cell, key, row) in enumerate(
        zip(count_values(table_df, column), keys, rows, strict=True)
    ):
        if cell is None or key is None:
            continue
        ledger.cell(key, _value(cell), Place(table, row, column), priority)
        placed[(i, column)] = key
    return placed


def group_key(level: str, cohort: str, group: str, trd: str, trmdd: str, stratum: str = "") -> str:
    """The key of a group cell (see the module docstring); non-MDD has no definitions."""
    parts = [level, cohort, group] if group == NON_MDD else [level, cohort, group, trd, trmdd]
    return "|".join(parts + ([stratum] if stratum else []))


# --- group sizes, Table 1 -----------------------------------------------------------------

GROUP_SIZE_COLUMNS = {"n_trd": "TRD", "n_trmdd": "trMDD", "n_non_mdd": NON_MDD}


def declare_group_sizes(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Per cohort (and ``all``, ``(none)``) and definition pair: TRD, trMDD, non-MDD.
    Relation: the ``all`` row is the sum of the others."""
    placed: dict[tuple[int, str], str] = {}
    rows = [
        f"{c} {k} {j}"
        for c, k, j in zip(
            table_df["cohort"], table_df["trd_def"], table_df["trmdd_def"], strict=True
        )
    ]
    for column, group in GROUP_SIZE_COLUMNS.items():
        keys = [
            group_key("G", str(c), group, str(k), str(j))
            for c, k, j in zip(
                table_df["cohort"], table_df["trd_def"], table_df["trmdd_def"], strict=True
            )
        ]
        placed |= _declare_column(ledger, table_df, column, "group_sizes", keys, rows, LOW)
    cohorts = [str(c) for c in dict.fromkeys(table_df["cohort"]) if c != ALL_COHORTS]
    pairs = set(zip(table_df["trd_def"], table_df["trmdd_def"], strict=True))
    for group in GROUP_SIZE_COLUMNS.values():
        for trd, trmdd in sorted(pairs) if group != NON_MDD else [("", "")]:
            ledger.total_if_declared(
                group_key("G", ALL_COHORTS, group, trd, trmdd),
                [group_key("G", c, group, trd, trmdd) for c in cohorts],
            )
    return placed


def declare_table1(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Per cohort and group (primary definitions): n (the group's size, as in group_sizes)
    and female n.  Relation: n = female + not female (hidden)."""
    trd, trmdd = facts.primary
    groups = [group_of_label(str(g)) for g in table_df["Group"]]
    rows = [f"{c} {g}" for c, g in zip(table_df["Cohort"], table_df["Group"], strict=True)]
    n_keys = [
        group_key("G", str(c), g, trd, trmdd)
        for c, g in zip(table_df["Cohort"], groups, strict=True)
    ]
    female_keys = [f"T1|{c}|{g}|female" for c, g in zip(table_df["Cohort"], groups, strict=True)]
    placed = _declare_column(ledger, table_df, "n", "table1", n_keys, rows, HIGH)
    placed |= _declare_column(ledger, table_df, "Female n", "table1", female_keys, rows, HIGH)
    for n_key, female in zip(n_keys, female_keys, strict=True):
        if n_key in ledger.values and female in ledger.values:
            ledger.contains(n_key, female, female.replace("|female", "|not_female"))
    return placed


def declare_characteristics(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Table 1's race, ethnicity and birth decade: per cohort, group, characteristic and
    level, n.  Relation: the levels of a characteristic (``unknown`` included) add up to
    the group's size."""
    trd, trmdd = facts.primary
    cohorts, labels = table_df["Cohort"].astype(str), table_df["Group"].astype(str)
    groups = [group_of_label(g) for g in labels]
    keys = [
        f"T1|{c}|{g}|{ch}|{lv}"
        for c, g, ch, lv in zip(
            cohorts, groups, table_df["Characteristic"], table_df["Level"], strict=True
        )
    ]
    rows = [
        f"{c} {g} {ch}: {lv}"
        for c, g, ch, lv in zip(
            cohorts, labels, table_df["Characteristic"], table_df["Level"], strict=True
        )
    ]
    placed = _declare_column(ledger, table_df, "n", "table1_characteristics", keys, rows, MIDDLE)
    parts: dict[tuple[str, str, str], list[str]] = {}
    for key, c, g, ch in zip(keys, cohorts, groups, table_df["Characteristic"], strict=True):
        if key in ledger.values:
            parts.setdefault((c, g, str(ch)), []).append(key)
    for (c, g, _), levels in parts.items():
        ledger.sum_of(group_key("G", c, g, trd, trmdd), levels)
    return placed


# --- associations, Table 2 ----------------------------------------------------------------


def _design_keys(cohort: str, contrast: str, trd: str, trmdd: str, stratum: str) -> tuple[str, str]:
    cases, controls = contrast_groups(contrast)
    stratum = STRATUM_ALL if stratum not in STRATA[:3] else stratum  # pgs_x_sex: everyone
    return (
        group_key("A", cohort, cases, trd, trmdd, stratum),
        group_key("A", cohort, controls, trd, trmdd, stratum),
    )


def declare_associations(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Per design (cohort, contrast, definitions, stratum; every trait shows the same
    counts): cases and controls, the analysis sample's groups.  Relation: a group's count
    in all = female + male (the analysis needs sex, so no one is in neither)."""
    trd_primary, _ = facts.primary
    case_keys, control_keys, rows = [], [], []
    for c, contrast, k, j, s in zip(
        table_df["cohort"], table_df["contrast"], table_df["trd_def"], table_df["trmdd_def"],
        table_df["stratum"], strict=True,
    ):  # fmt: skip
        trd = trd_primary if k is None or (not isinstance(k, str) and pd.isna(k)) else str(k)
        cases, controls = _design_keys(str(c), str(contrast), trd, str(j), str(s))
        case_keys.append(cases)
        control_keys.append(controls)
        rows.append(f"{c} {contrast} {trd} {j} {s}")
    placed = _declare_column(
        ledger, table_df, "n_cases", "associations", list(case_keys), rows, HIGH
    )
    placed |= _declare_column(
        ledger, table_df, "n_controls", "associations", list(control_keys), rows, HIGH
    )
    _relate_sex_strata(ledger)
    return placed


def _relate_sex_strata(ledger: Ledger) -> None:
    for key in [k for k in ledger.values if k.startswith("A|") and k.endswith(f"|{STRATUM_ALL}")]:
        base = key.removesuffix(f"|{STRATUM_ALL}")
        female, male = f"{base}|{STRATA[1]}", f"{base}|{STRATA[2]}"
        if female in ledger.values and male in ledger.values:
            ledger.total(key, [female, male])


def declare_table2(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Per definition pair in the discovery cohort: trMDD and TRD of the analysis sample
    (the associations' TRD vs trMDD counts)."""
    c = facts.discovery
    pairs = list(zip(table_df["TRD definition"], table_df["trMDD definition"], strict=True))
    rows = [f"{k} {j}" for k, j in pairs]
    trmdd_keys = [group_key("A", c, "trMDD", str(k), str(j), STRATUM_ALL) for k, j in pairs]
    trd_keys = [group_key("A", c, "TRD", str(k), str(j), STRATUM_ALL) for k, j in pairs]
    placed = _declare_column(
        ledger, table_df, "n trMDD", "table2_sensitivity", trmdd_keys, rows, HIGH
    )
    placed |= _declare_column(ledger, table_df, "n TRD", "table2_sensitivity", trd_keys, rows, HIGH)
    return placed


# --- attrition ----------------------------------------------------------------------------


def declare_cohort_attrition(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Cohort building: ``genotyped_<platform>``, each cohort's exclusions
    (``<cohort>: <reason>``, persons excluded) and the cohort (``<cohort>``, its members).
    Cohorts take persons in turn: a platform's genotyped persons = the members of the
    cohorts built before on it + this cohort's members + its exclusions.  Rows on the
    members' PCs (``<cohort>: pcs_projected``) are parts of the members, not exclusions."""
    keys_n: list[str | None] = []
    keys_dropped: list[str | None] = []
    for step in table_df["step"].astype(str):
        cohort, _, reason = step.partition(": ")
        if step.startswith("genotyped_"):
            keys_n.append(f"C|{step.removeprefix('genotyped_')}|genotyped")
            keys_dropped.append(None)
        elif _describes_members(reason):
            keys_n.append(f"C|{cohort}|pcs|{reason}")
            keys_dropped.append(None)
        elif reason:
            keys_n.append(f"C|{cohort}|excluded|{reason}")
            keys_dropped.append(f"C|{cohort}|excluded|{reason}")
        else:
            keys_n.append(f"C|{cohort}|members")
            keys_dropped.append(None)
    rows = list(table_df["step"].astype(str))
    placed = _declare_column(ledger, table_df, "n_persons", "cohort_attrition", keys_n, rows, LOW)
    placed |= _declare_column(
        ledger, table_df, "n_rows_dropped", "cohort_attrition", keys_dropped, rows, LOW
    )
    _relate_cohort_building(ledger, rows, facts)
    return placed


def _describes_members(reason: str) -> bool:
    """A row that describes some of a cohort's members (where their PCs come from, or that
    they lack PCs) rather than persons excluded from it (trd_spark.genomics.cohorts.
    pcs_attrition): a part of the members, in no sum."""
    return reason.startswith("pcs_") or reason == "no_pcs"


def _relate_cohort_building(ledger: Ledger, steps: list[str], facts: Facts) -> None:
    built: dict[str, list[str]] = {}  # platform -> members of cohorts built so far
    exclusions: dict[str, list[str]] = {}
    for step in steps:
        cohort, _, reason = step.partition(": ")
        if _describes_members(reason):
            continue
        if reason:
            exclusions.setdefault(cohort, []).append(f"C|{cohort}|excluded|{reason}")
            continue
        platform = facts.platforms.get(cohort)
        genotyped = f"C|{platform}|genotyped"
        members = f"C|{cohort}|members"
        if platform is None or genotyped not in ledger.values or members not in ledger.values:
            continue
        earlier = built.setdefault(platform, [])
        ledger.total(genotyped, [*earlier, members, *exclusions.get(cohort, [])])
        earlier.append(members)


def declare_analysis_attrition(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Per cohort, exclusion steps from the cohort's members (``n_persons`` left after
    each step = before minus ``n_rows_dropped``), then the survival subset (its size,
    persons excluded by reason, and those kept: size = kept + exclusions)."""
    keys_n: list[str | None] = []
    keys_dropped: list[str | None] = []
    first: dict[str, int] = {}
    for i, (c, step) in enumerate(
        zip(table_df["cohort"].astype(str), table_df["step"].astype(str), strict=True)
    ):
        if step == f"{SURVIVAL_PREFIX}subset":
            keys_n.append(f"AA|{c}|survival|subset")
            keys_dropped.append(None)
        elif step.startswith(SURVIVAL_PREFIX):
            keys_n.append(f"AA|{c}|survival|kept")
            keys_dropped.append(f"AA|{c}|{step}|dropped")
        else:
            first.setdefault(c, i)
            keys_n.append(f"C|{c}|members" if first[c] == i else f"AA|{c}|{step}|n")
            keys_dropped.append(None if first[c] == i else f"AA|{c}|{step}|dropped")
    rows = [f"{c} {s}" for c, s in zip(table_df["cohort"], table_df["step"], strict=True)]
    placed = _declare_column(ledger, table_df, "n_persons", "analysis_attrition", keys_n, rows, LOW)
    placed |= _declare_column(
        ledger, table_df, "n_rows_dropped", "analysis_attrition", keys_dropped, rows, LOW
    )
    _relate_attrition_chains(ledger, table_df, keys_n, keys_dropped)
    return placed


def _relate_attrition_chains(
    ledger: Ledger, table_df: pd.DataFrame, keys_n: list[str | None], keys_dropped: list[str | None]
) -> None:
    previous: dict[str, str] = {}
    survival: dict[str, list[str]] = {}
    for c, key_n, key_dropped in zip(
        table_df["cohort"].astype(str), keys_n, keys_dropped, strict=True
    ):
        if key_n is None or key_n not in ledger.values:
            continue
        if key_n.startswith(f"AA|{c}|survival|"):
            if key_dropped is not None and key_dropped in ledger.values:
                survival.setdefault(c, []).append(key_dropped)
            continue
        if c in previous and key_dropped is not None and key_dropped in ledger.values:
            ledger.total(previous[c], [key_n, key_dropped])
        previous[c] = key_n
    for c, dropped in survival.items():
        subset, kept = f"AA|{c}|survival|subset", f"AA|{c}|survival|kept"
        if subset in ledger.values and kept in ledger.values:
            ledger.total(subset, [kept, *dropped])


def declare_phenotype_attrition(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Phenotyping: EHR rows dropped or kept with a field ignored (each row on its own),
    and the time-to-event subset (its size = those included + each exclusion)."""
    keys_n: list[str | None] = []
    keys_dropped: list[str | None] = []
    for i, (step, reason) in enumerate(
        zip(table_df["step"].astype(str), table_df["reason"].astype(str), strict=True)
    ):
        if step == "time_to_event":
            if reason.startswith("subset"):
                keys_n.append("PA|time_to_event|subset")
                keys_dropped.append(None)
            else:
                keys_n.append(f"PA|time_to_event|{reason}")
                keys_dropped.append(f"PA|time_to_event|{reason}")
        else:
            keys_n.append(f"PA|{i}|{step}|n")
            keys_dropped.append(f"PA|{i}|{step}|dropped")
    rows = [f"{s}: {r}" for s, r in zip(table_df["step"], table_df["reason"], strict=True)]
    placed = _declare_column(
        ledger, table_df, "n_persons", "phenotype_attrition", keys_n, rows, LOW
    )
    placed |= _declare_column(
        ledger, table_df, "n_rows_dropped", "phenotype_attrition", keys_dropped, rows, LOW
    )
    exclusions = [
        k
        for k in dict.fromkeys(keys_dropped)
        if k and k.startswith("PA|time_to_event|") and k in ledger.values
    ]
    if "PA|time_to_event|subset" in ledger.values:
        ledger.rest("PA|time_to_event|subset", exclusions, "PA|time_to_event|included")
    return placed


# --- survival -----------------------------------------------------------------------------


def declare_survival(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Per survival set and trait (every term shows the same counts): persons and events.
    Relations: persons = events + persons without the event; a pooled set's counts are
    the sums of its cohorts'."""
    sets = table_df["cohort"].astype(str)
    traits = pd.Series(
        [
            "*" if c in facts.uniform_survival else str(t)
            for c, t in zip(sets, table_df["trait"], strict=True)
        ]
    )
    rows = [
        f"{c} {t} {term}"
        for c, t, term in zip(sets, table_df["trait"], table_df["term"], strict=True)
    ]
    n_keys = [f"SV|{c}|{t}|n" for c, t in zip(sets, traits, strict=True)]
    event_keys = [f"SV|{c}|{t}|events" for c, t in zip(sets, traits, strict=True)]
    placed = _declare_column(ledger, table_df, "n", "survival", n_keys, rows, MIDDLE)
    placed |= _declare_column(ledger, table_df, "n_events", "survival", event_keys, rows, MIDDLE)
    for n_key, event_key in dict.fromkeys(zip(n_keys, event_keys, strict=True)):
        if n_key in ledger.values and event_key in ledger.values:
            ledger.contains(n_key, event_key, event_key.replace("|events", "|no_event"))
    for pooled, members in facts.pooled_sets.items():
        for trait in dict.fromkeys(traits):
            for what in ("n", "events"):
                ledger.total_if_declared(
                    f"SV|{pooled}|{trait}|{what}", [f"SV|{m}|{trait}|{what}" for m in members]
                )
    return placed


def declare_time_to_trd(
    ledger: Ledger, table_df: pd.DataFrame, facts: Facts
) -> dict[tuple[int, str], str]:
    """Per survival set: the events behind the mean time to TRD.  Relation: a pooled set's
    events are the sum of its cohorts'."""
    sets = [str(c) for c in table_df["Cohort"]]
    placed = _declare_column(
        ledger, table_df, "Events", "time_to_trd", [f"TT|{c}" for c in sets], sets, MIDDLE
    )
    for pooled, members in facts.pooled_sets.items():
        ledger.total_if_declared(f"TT|{pooled}", [f"TT|{m}" for m in members])
    return placed


def km_key(survival_set: str, trait: str, stratum: str, time: float) -> str:
    """The key of a published at-risk count."""
    return f"KM|{survival_set}|{trait}|{stratum}|{float(time):g}"


def declare_km(ledger: Ledger, table_df: pd.DataFrame, facts: Facts) -> dict[tuple[int, str], str]:
    """Per curve, persons still at risk after each published time.  Relations: each count
    is the next one plus those who left the risk set in between (hidden); the strata's
    sizes (time 0) add up to the Cox model's persons."""
    points = list(
        zip(
            table_df["cohort"],
            table_df["trait"],
            table_df["stratum"],
            table_df["time"],
            strict=True,
        )
    )
    keys = [km_key(str(c), str(t), str(s), float(time)) for c, t, s, time in points]
    rows = [f"{c} {t} {s} day {float(time):g}" for c, t, s, time in points]
    placed = _declare_column(ledger, table_df, "at_risk", "km", keys, rows, LOW)
    curves: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
    for (c, t, s, time), key in zip(points, keys, strict=True):
        curves.setdefault((str(c), str(t), str(s)), []).append((float(time), key))
    for curve in curves.values():
        curve.sort()
        for (_, before), (_, after) in itertools.pairwise(curve):
            ledger.contains(before, after, before.replace("KM|", "KMleft|", 1))
    for c, t in dict.fromkeys((c, t) for c, t, _ in curves):
        sizes = [km_key(c, t, s, 0.0) for s in PGS_STRATA]
        persons = f"SV|{c}|{t}|n" if f"SV|{c}|{t}|n" in ledger.values else f"SV|{c}|*|n"
        ledger.total_if_declared(persons, sizes)
    return placed


# --- across tables ------------------------------------------------------------------------

NO_EHR_STEP = "no_ehr"  # analysis attrition: cohort members found in phenotypes/persons.parquet


def link_tables(ledger: Ledger, facts: Facts) -> None:
    """The relations between tables: pools, definition inclusions, the analysis sample
    inside the phenotype stage's groups, attrition totals, survival sets."""
    _declare_pools(ledger)
    _relate_subsets(ledger, facts)
    _relate_analysis_to_groups(ledger, facts)
    _relate_attrition_to_groups(ledger, facts)
    _relate_survival_to_attrition(ledger)


def _group_cells(ledger: Ledger, level: str) -> list[list[str]]:
    return [k.split("|") for k in list(ledger.values) if k.startswith(f"{level}|")]


def _declare_pools(ledger: Ledger) -> None:
    for level, width in (("G", 5), ("A", 6)):
        for parts in _group_cells(ledger, level):
            if (
                len(parts) != width
                or parts[2] != "TRD"
                or parts[1] == ALL_COHORTS  # the all row's pools follow from the cohorts'
                or (level == "A" and parts[5] != STRATUM_ALL)
            ):
                continue
            trmdd = "|".join([*parts[:2], "trMDD", *parts[3:]])
            if trmdd in ledger.values:
                ledger.sum_of("|".join([*parts[:2], POOL, *parts[3:]]), ["|".join(parts), trmdd])


def _relate_subsets(ledger: Ledger, facts: Facts) -> None:
    # the ``all`` row's inclusions follow from the cohorts' and its margins: left out
    cohorts = {p[1] for level in ("G", "A") for p in _group_cells(ledger, level)} - {ALL_COHORTS}
    for cohort in sorted(cohorts):
        for part, whole in facts.subsets:
            for level, suffix in (("G", ""), ("A", f"|{STRATUM_ALL}")):
                part_key = f"{level}|{cohort}|{part}{suffix}"
                whole_key = f"{level}|{cohort}|{whole}{suffix}"
                if part_key in ledger.values and whole_key in ledger.values:
                    ledger.contains(whole_key, part_key, f"R|{whole_key}|{part_key}")


def _relate_analysis_to_groups(ledger: Ledger, facts: Facts) -> None:
    """The analysis sample's groups inside the phenotype stage's (after exclusions for
    missing covariates), and its women and men inside Table 1's female and other counts."""
    trd, trmdd = facts.primary
    for parts in _group_cells(ledger, "A"):
        key, group, stratum = "|".join(parts), parts[2], parts[-1]
        if stratum == STRATUM_ALL:
            phenotype = "G|" + "|".join(parts[1:-1])
            if phenotype in ledger.values:
                ledger.contains(phenotype, key, f"E|{phenotype}")
            continue
        primary = group == NON_MDD or parts[3:5] == [trd, trmdd]
        sex = "female" if stratum == STRATA[1] else "not_female"
        target = f"T1|{parts[1]}|{group}|{sex}"
        if primary and target in ledger.values:
            ledger.contains(target, key, f"E|{target}|{stratum}")


def _final_steps(ledger: Ledger) -> dict[str, str]:
    """Cohort -> the key of its analysis sample's size (the last step before survival)."""
    final: dict[str, str] = {}
    for key in ledger.values:
        parts = key.split("|")
        if parts[0] == "AA" and len(parts) == 4 and parts[3] == "n" and parts[2] != "survival":
            final[parts[1]] = key
    return final


def _relate_attrition_to_groups(ledger: Ledger, facts: Facts) -> None:
    pairs = {tuple(p[3:5]) for p in _group_cells(ledger, "G") if len(p) == 5}
    for cohort, final in _final_steps(ledger).items():
        found = f"AA|{cohort}|{NO_EHR_STEP}|n"
        for trd, trmdd in sorted(pairs):
            groups = ["TRD", "trMDD", NON_MDD]
            g_keys = [group_key("G", cohort, g, trd, trmdd) for g in groups]
            a_keys = [group_key("A", cohort, g, trd, trmdd, STRATUM_ALL) for g in groups]
            g_rest = group_key("G", cohort, "nogroup", trd, trmdd)
            a_rest = group_key("A", cohort, "nogroup", trd, trmdd, STRATUM_ALL)
            if found in ledger.values and all(k in ledger.values for k in g_keys):
                ledger.rest(found, g_keys, g_rest)
            if all(k in ledger.values for k in a_keys):
                ledger.rest(final, a_keys, a_rest)
                if g_rest in ledger.values:
                    ledger.contains(g_rest, a_rest, f"E|{g_rest}")


def _relate_survival_to_attrition(ledger: Ledger) -> None:
    subsets = []
    for key in list(ledger.values):
        parts = key.split("|")
        if parts[0] == "SV" and parts[3] == "n":
            kept = f"AA|{parts[1]}|survival|kept"
            if kept in ledger.values:
                ledger.contains(kept, key, f"E|{key}")
        elif parts[0] == "SV" and parts[3] == "events" and f"TT|{parts[1]}" in ledger.values:
            ledger.contains(f"TT|{parts[1]}", key, f"E|{key}")
        elif parts[0] == "AA" and parts[2:] == ["survival", "subset"]:
            subsets.append(key)
    if subsets and "PA|time_to_event|subset" in ledger.values:
        ledger.rest("PA|time_to_event|subset", subsets, "PA|time_to_event|not_analysed")


# --- the tables ---------------------------------------------------------------------------


def percent(numerator: int, denominator: int) -> str:
    """``100 * numerator / denominator`` with one decimal (from published counts)."""
    return f"{100.0 * numerator / denominator:.1f}" if denominator else ""


SPECS: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("cohort_attrition", ("n_persons", "n_rows_dropped"), declare_cohort_attrition),
        TableSpec(
            "phenotype_attrition", ("n_persons", "n_rows_dropped"), declare_phenotype_attrition
        ),
        TableSpec(
            "analysis_attrition", ("n_persons", "n_rows_dropped"), declare_analysis_attrition
        ),
        TableSpec("group_sizes", tuple(GROUP_SIZE_COLUMNS), declare_group_sizes),
        TableSpec(
            "table1",
            ("n", "Female n"),
            declare_table1,
            {"Female %": (("Female n", "n"), percent), "Age median [IQR]": (("n",), None)},
        ),
        TableSpec(
            "table1_characteristics",
            ("n", "Group n"),
            declare_characteristics,
            {"%": (("n", "Group n"), percent)},
        ),
        TableSpec("associations", ("n_cases", "n_controls"), declare_associations),
        TableSpec("table2_sensitivity", ("n trMDD", "n TRD"), declare_table2),
        TableSpec("survival", ("n", "n_events"), declare_survival),
        TableSpec("km", ("at_risk",), declare_km),
        TableSpec(
            "time_to_trd",
            ("Events",),
            declare_time_to_trd,
            {"Mean days [95% CI]": (("Events",), None)},
        ),
    )
}


def build_ledger(
    tables: Mapping[str, pd.DataFrame], facts: Facts, exact: bool = True
) -> tuple[Ledger, dict[str, dict[tuple[int, str], str]]]:
    """Every shareable table's cells and relations in one ledger.

    Parameters
    ----------
    tables : shareable table name -> the table in its shared layout (absent ones skipped).
    facts : the run's facts.
    exact : True for true counts, False for published ones read back.

    Returns
    -------
    (ledger, table name -> (row position, column) -> cell key).
    """
    ledger = Ledger(exact=exact)
    placed = {}
    for name, spec in SPECS.items():
        if name in tables:
            try:
                placed[name] = spec.declare(ledger, tables[name].reset_index(drop=True), facts)
            except InputError as err:
                raise TableError(name, str(err)) from err
    link_tables(ledger, facts)
    return ledger, placed


class TableError(InputError):
    """A shareable table disagrees with another about a count of the same persons."""

    def __init__(self, table: str, message: str):
        super().__init__(message)
        self.table = table
