"""Which rows the report shows: pure functions from output tables to DataFrames of numbers.

Functions that choose rows keep the table's index, so the rows of a published table (whose
index is its row positions) still find their cells' disclosure keys.

Nothing here formats text or writes files; :mod:`trd_spark.report.display` turns these
frames into display text under the disclosure policy and :mod:`trd_spark.report.render`
into HTML.  Groups, contrasts and definitions come from :mod:`trd_spark.study`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trd_spark.errors import InputError
from trd_spark.study import (
    GROUP_LABELS,
    GROUPS,
    OUTPUT_TABLES,
    STRATA,
    group_masks,
    mdd_definition,
    treated_column,
)

# columns the report reads from each output table (docs/data-contracts.md, docs/architecture.md)
# fmt: off
CONTRACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "match_report": ("trait",),
    "associations": ("cohort", "contrast", "trd_def", "trmdd_def", "stratum", "trait", "beta",
                     "se", "odds_ratio", "ci_low", "ci_high", "p", "n_cases", "n_controls",
                     "converged", "significant"),
    "replication": ("contrast", "cohort", "reference_cohort", "k", "tau2", "tau2_null", "r2",
                    "qm_p", "qe_p"),
    "sensitivity": ("trd_def", "trmdd_def", "n_trmdd", "n_trd", "meta_r2", "n_significant",
                    "overlap_pct"),
    "survival": ("cohort", "trait", "term", "hr", "ci_low", "ci_high", "p", "n", "n_events",
                 "zph_p"),
    "km": ("trait", "stratum", "time", "survival", "ci_low", "ci_high", "at_risk"),
    "time_to_trd": ("cohort", "n_events", "mean_days", "ci_low", "ci_high"),
}
# fmt: on
TOP_SEX_STRATIFIED = 5  # rows per cohort and stratum in the sex-stratified table
SEX_STRATIFIED_COLUMNS = ["cohort", "stratum", "trait", "odds_ratio", "ci_low", "ci_high", "p",
                          "significant", "n_cases", "n_controls"]  # fmt: skip
FLAGGED_COLUMNS = ["cohort", "contrast", "trd_def", "trmdd_def", "stratum", "trait", "n_cases",
                   "n_controls"]  # fmt: skip
SIGNIFICANT_COLUMNS = ["cohort", "contrast", "trait", "odds_ratio", "ci_low", "ci_high", "p",
                       "n_cases", "n_controls", "converged"]  # fmt: skip


def require_columns(table_df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """InputError naming the file and columns when ``table_df`` lacks any of ``columns``.

    Parameters
    ----------
    table_df : an output table.
    columns : the columns the report needs from it.
    name : its key in :data:`trd_spark.study.OUTPUT_TABLES` (named by its path in the error).
    """
    absent = [c for c in columns if c not in table_df.columns]
    if absent:
        raise InputError(
            f"{OUTPUT_TABLES.get(name, name)} lacks column(s) {', '.join(absent)}; "
            "re-run the stage that writes it with this version of trd-spark"
        )


def require_contract(table_df: pd.DataFrame, name: str) -> None:
    """InputError when an output table lacks a column of its contract (CONTRACT_COLUMNS)."""
    require_columns(table_df, CONTRACT_COLUMNS[name], name)


def comparison_group(persons_df: pd.DataFrame, trd_def: str, trmdd_def: str) -> pd.Series:
    """Each person's group label (non-MDD / trMDD / TRD, or None) in one comparison.

    Parameters
    ----------
    persons_df : ``phenotypes/persons.parquet``.
    trd_def, trmdd_def : the comparison, e.g. ``trd_1`` and ``trmdd_1``.

    Returns
    -------
    A Series aligned with ``persons_df`` holding :data:`trd_spark.study.GROUP_LABELS`
    values, by :func:`trd_spark.study.group_masks` (docs/phenotypes.md).
    """
    masks = group_masks(
        lambda column: persons_df[column].fillna(False).astype(bool), trd_def, trmdd_def
    )
    group = pd.Series(None, index=persons_df.index, dtype=object)
    for name in GROUPS:
        group[masks[name].to_numpy()] = GROUP_LABELS[name]
    return group


def table1(
    persons_df: pd.DataFrame, trd_def: str, trmdd_def: str, cohort_order: Sequence[str] = ()
) -> pd.DataFrame:
    """Table 1: per cohort and group, n, female n and %, age median and IQR.

    Parameters
    ----------
    persons_df : ``phenotypes/persons.parquet`` (persons without a cohort are left out).
    trd_def, trmdd_def : the primary definitions.
    cohort_order : cohorts listed first, in this order (the rest follow alphabetically).

    Returns
    -------
    Columns cohort, group, n, n_female, pct_female, age_median, age_q1, age_q3.
    """
    require_columns(
        persons_df,
        [
            "cohort",
            "sex",
            "age",
            treated_column(trd_def),
            "non_mdd",
            trd_def,
            mdd_definition(trmdd_def),
        ],
        "persons",
    )
    grouped_df = persons_df.assign(group=comparison_group(persons_df, trd_def, trmdd_def))
    grouped_df = grouped_df[grouped_df["cohort"].notna() & grouped_df["group"].notna()]
    rows = [
        _summarise_group(grouped_df, cohort, GROUP_LABELS[group])
        for cohort in ordered_cohorts(grouped_df["cohort"], cohort_order)
        for group in GROUPS
    ]
    return pd.DataFrame(rows)


def ordered_cohorts(present: pd.Series, cohort_order: Sequence[str]) -> list[str]:
    """The cohorts in ``present``: those of ``cohort_order`` first, the rest alphabetically."""
    found = set(present.dropna())
    return [c for c in cohort_order if c in found] + sorted(found - set(cohort_order))


def _summarise_group(grouped_df: pd.DataFrame, cohort: str, group: str) -> dict[str, Any]:
    members_df = grouped_df[(grouped_df["cohort"] == cohort) & (grouped_df["group"] == group)]
    n = len(members_df)
    n_female = int((members_df["sex"] == "female").sum())
    ages = members_df["age"].dropna().to_numpy(dtype=float)
    q1, median, q3 = np.percentile(ages, [25, 50, 75]) if len(ages) else (np.nan,) * 3
    return {
        "cohort": cohort,
        "group": group,
        "n": n,
        "n_female": n_female,
        "pct_female": 100.0 * n_female / n if n else np.nan,
        "age_median": median,
        "age_q1": q1,
        "age_q3": q3,
    }


def primary_associations(assoc_df: pd.DataFrame, trd_def: str, trmdd_def: str) -> pd.DataFrame:
    """Associations of the primary definitions in the whole sample (stratum ``all``).

    A definition column that does not apply to a contrast (trd_def of trMDD vs non-MDD)
    may be null; such rows are kept.  Models that did not converge are left out here
    (:func:`flagged_models` lists them).

    Parameters
    ----------
    assoc_df : ``results/associations.parquet``.
    trd_def, trmdd_def : the primary definitions.

    Returns
    -------
    The rows; InputError when there are none.
    """
    require_contract(assoc_df, "associations")
    trd_ok = assoc_df["trd_def"].isna() | (assoc_df["trd_def"] == trd_def)
    trmdd_ok = assoc_df["trmdd_def"].isna() | (assoc_df["trmdd_def"] == trmdd_def)
    converged = assoc_df["converged"].fillna(False).astype(bool)
    primary_df = assoc_df[trd_ok & trmdd_ok & (assoc_df["stratum"] == STRATA[0]) & converged]
    if primary_df.empty:
        raise InputError(
            f"{OUTPUT_TABLES['associations']} has no converged rows for the primary definitions "
            f"({trd_def}, {trmdd_def}, stratum '{STRATA[0]}'); check "
            "analysis.primary_trd / primary_trmdd or re-run the analyze stage"
        )
    return primary_df


def case_counts(primary_df: pd.DataFrame, cohort: str) -> pd.DataFrame:
    """One row per contrast of one cohort (every trait of a design shows the same cases and
    controls), for figure subtitles.

    Parameters
    ----------
    primary_df : from :func:`primary_associations` (numbers, or the published table).
    cohort : the cohort (the discovery cohort in Figure 1).

    Returns
    -------
    The first row of each contrast present, in contrast order, index kept.
    """
    rows_df = primary_df[primary_df["cohort"] == cohort]
    return rows_df.sort_values("contrast", kind="stable").groupby("contrast").head(1)


def significant_rows(primary_df: pd.DataFrame) -> pd.DataFrame:
    """The significant primary associations, smallest p first."""
    hits_df = primary_df[primary_df["significant"].fillna(False).astype(bool)]
    return hits_df.sort_values("p")


def significant_counts(primary_df: pd.DataFrame) -> pd.DataFrame:
    """Number of significant PGS per cohort and contrast (only pairs with at least one).

    Parameters
    ----------
    primary_df : from :func:`primary_associations`.

    Returns
    -------
    Columns cohort, contrast, ``significant PGS`` (counts of PGS, not of persons).
    """
    hits_df = significant_rows(primary_df)
    return hits_df.groupby(["cohort", "contrast"]).size().rename("significant PGS").reset_index()


def sex_stratified_top(assoc_df: pd.DataFrame, n: int = TOP_SEX_STRATIFIED) -> pd.DataFrame:
    """TRD vs trMDD by sex and the PGS x sex interaction: the ``n`` smallest p per cohort and
    stratum (empty when the run has no sex-stratified models).

    Parameters
    ----------
    assoc_df : ``results/associations.parquet``.
    n : rows per cohort and stratum.

    Returns
    -------
    SEX_STRATIFIED_COLUMNS of those rows.
    """
    rows_df = assoc_df[assoc_df["stratum"].isin(STRATA[1:])]
    top_df = rows_df.sort_values("p").groupby(["cohort", "stratum"], sort=False).head(n)
    return top_df[SEX_STRATIFIED_COLUMNS]


def flagged_models(assoc_df: pd.DataFrame) -> pd.DataFrame:
    """Models that did not converge (or separated): listed, never shown as results."""
    flagged_df = assoc_df[~assoc_df["converged"].fillna(False).astype(bool)]
    return flagged_df[FLAGGED_COLUMNS]


def primary_group_sizes(sizes_df: pd.DataFrame, trd_def: str, trmdd_def: str) -> pd.DataFrame:
    """The group sizes of the primary definitions (all rows when the pairs are not named)."""
    if not {"trd_def", "trmdd_def"} <= set(sizes_df.columns):
        return sizes_df
    chosen = (sizes_df["trd_def"] == trd_def) & (sizes_df["trmdd_def"] == trmdd_def)
    return sizes_df[chosen]


def survival_set(survival_df: pd.DataFrame | None, pooled: str, discovery: str) -> str:
    """The survival set the report draws: the pooled set of the discovery cohort's platform
    when the run has it, else the discovery cohort.

    Parameters
    ----------
    survival_df : ``results/survival.parquet`` or None.
    pooled : :func:`trd_spark.study.pooled_set_name` of the discovery cohort's platform
        (empty when no set pools it).
    discovery : the discovery cohort.
    """
    if survival_df is not None and pooled and pooled in set(survival_df["cohort"]):
        return pooled
    return discovery


def km_of_set(km_df: pd.DataFrame, chosen: str) -> pd.DataFrame:
    """The Kaplan-Meier rows of one survival set (the first set present when it has none)."""
    if "cohort" not in km_df.columns or km_df.empty:
        return km_df
    present = set(km_df["cohort"])
    name = chosen if chosen in present else km_df["cohort"].iloc[0]
    return km_df[km_df["cohort"] == name].reset_index(drop=True)


def km_traits(
    km_df: pd.DataFrame, survival_df: pd.DataFrame | None, preferred: Sequence[str]
) -> list[str]:
    """The traits whose Kaplan-Meier curves are drawn.

    Parameters
    ----------
    km_df : one survival set's KM rows.
    survival_df : the Cox results (for the fallback), or None.
    preferred : ``report.km_traits`` (those present are drawn).

    Returns
    -------
    The preferred traits present; with fewer than two, the traits with the smallest p of
    the top-quintile term are added up to two; at least one trait when ``km_df`` has any.
    """
    present = set(km_df["trait"])
    chosen = [t for t in preferred if t in present]
    if survival_df is not None and len(chosen) < 2:
        top_df = survival_df[survival_df["term"] == "pgs_80_100"].sort_values("p")
        chosen += [t for t in top_df["trait"] if t in present and t not in chosen][
            : 2 - len(chosen)
        ]
    return chosen or sorted(present)[:1]


def top_survival(survival_df: pd.DataFrame, n: int = 30) -> pd.DataFrame:
    """The ``n`` Cox rows with the smallest p (the HTML shows these; the CSV has all)."""
    return survival_df.sort_values("p").head(n)
