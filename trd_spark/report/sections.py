"""The report's sections: each selects rows (:mod:`~trd_spark.report.select`), takes every
count of persons it shows from the published tables (:mod:`~trd_spark.report.disclose`),
writes the shareable CSVs (:mod:`~trd_spark.report.export`), draws its figures and
renders its template (:mod:`~trd_spark.report.render`).

A section whose tables are missing, or lack a column it needs, shows
"not available: ..." and the report goes on: a partial run still gets a
report of what it has, and the reason is on the page and in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from trd_spark.errors import InputError
from trd_spark.report import figures, select
from trd_spark.report.disclose import Disclosed
from trd_spark.report.display import (
    format_floats,
    headed,
    header,
    headline_display,
    labelled,
    qc_summary_table,
    readable_text,
    with_labels,
)
from trd_spark.report.headline import compare_hazard_ratios, compare_odds_ratios
from trd_spark.report.load import RunOutputs
from trd_spark.report.plotting import format_p_threshold
from trd_spark.report.render import Cell, Section, TableView, flow_columns, render, table_view
from trd_spark.report.section_base import (
    TITLES,
    ReportSettings,
    SectionBuilder,
    SectionResult,
    missing,
    missing_section,
    published,
    section,
)
from trd_spark.report.shareable import CHARACTERISTICS
from trd_spark.report.survival_sections import (
    build_replication_section,
    build_survival_section,
    build_truth_section,
)
from trd_spark.study import OUTPUT_TABLES, Layout, TraitCatalog, label, platform_label

log = logging.getLogger(__name__)

__all__ = ["ReportSettings", "SectionResult", "build_sections", "methods_section"]

# the count tables of the QC section, with their headings
ATTRITION_BLOCKS: tuple[tuple[str, str], ...] = (
    ("cohort_attrition", "Cohort building"),
    ("phenotype_attrition", "Phenotyping (EHR rows and persons)"),
    ("analysis_attrition", "Analysis samples"),
    ("group_sizes", "Group sizes per cohort and definition pair"),
)
# R² at or above this is 100 in the table: the residual heterogeneity estimate is 0
FULL_R2 = 99.95


def build_headline_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """The run's headline estimates beside the published ones (direction agreement)."""
    assoc_df, survival_df = outputs.get("associations"), outputs.get("survival")
    if assoc_df is None and survival_df is None:
        return missing("headline", "associations")
    odds = hazards = None
    if assoc_df is not None:
        primary_df = select.primary_associations(assoc_df, s.primary_trd, s.primary_trmdd)
        or_df = compare_odds_ratios(primary_df, s.discovery)
        odds = table_view(headline_display(or_df, catalog.labels))
    if survival_df is not None:
        select.require_contract(survival_df, "survival")
        hr_df = compare_hazard_ratios(survival_df, d.facts.km_set)
        hazards = table_view(headline_display(hr_df, catalog.labels))
    return section(
        "headline",
        odds=odds,
        hazards=hazards,
        discovery=label(s.discovery),
        survival_set=label(d.facts.km_set),
        pooled_note=s.set_definition(d.facts.km_set),
    )


def build_qc_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Variant QC counts, then attrition of cohorts, phenotypes and analysis samples."""
    tables: list[str] = []
    variant_qc = None
    if outputs.qc_summary is not None:
        summary_df = qc_summary_table(outputs.qc_summary)
        shown_df = summary_df.rename(columns={c: platform_label(c) for c in summary_df.columns
                                              if c != "step"} | {"step": "Step"})  # fmt: skip
        variant_qc = table_view(shown_df)
        tables.append(s.share(summary_df, "qc_summary"))
    blocks = [_counts_block(d, name, heading, s, tables) for name, heading in ATTRITION_BLOCKS]
    result = section("qc", variant_qc=variant_qc, variant_qc_file=Layout.QC_SUMMARY, blocks=blocks)
    result.tables = tables
    result.available = bool(tables)  # unavailable only when none of its inputs exist
    return result


def _counts_block(
    d: Disclosed, name: str, heading: str, s: ReportSettings, tables: list[str]
) -> dict[str, Any]:
    block: dict[str, Any] = {"heading": heading, "missing": "", "note": "", "flow": None}
    table_df = d.table(name)
    if table_df is None:
        return block | {"missing": d.errors.get(name, OUTPUT_TABLES[name])}
    tables.append(s.share(table_df, name))
    if name == "group_sizes":
        table_df = select.primary_group_sizes(table_df, s.primary_trd, s.primary_trmdd)
        block["note"] = (
            f"Primary definitions ({label(s.primary_trd)} / {label(s.primary_trmdd)}); all "
            "15 pairs in tables/group_sizes.csv."
        )
    shown_df = format_floats(labelled(table_df))
    block["table"] = d.view(name, shown_df, headed(list(shown_df.columns)))
    if name == "analysis_attrition":
        keys = [
            (d.key(name, int(i), "n_persons"), d.key(name, int(i), "n_rows_dropped"))
            for i in table_df.index
        ]
        block["flow"] = flow_columns(
            table_df,
            list(table_df["n_persons"]),
            list(table_df["n_rows_dropped"]),
            keys,
            labels=readable_text,
        )
    return block


def build_table1_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Table 1: demographics by cohort and status under the primary definitions, then race,
    ethnicity and decade of birth."""
    table1_df = published(d, "table1", "persons")
    if table1_df is None:
        return missing("table1", "persons")
    result = section(
        "table1",
        table1=d.view("table1", labelled(table1_df)),
        characteristics=_characteristics_view(d),
        not_available=_missing_characteristics(d),
        primary_trd=label(s.primary_trd),
        primary_trmdd=label(s.primary_trmdd),
    )
    result.tables.append(s.share(table1_df, "table1"))
    characteristics_df = d.table("table1_characteristics")
    if characteristics_df is not None and len(characteristics_df):
        result.tables.append(s.share(characteristics_df, "table1_characteristics"))
    return result


def _characteristics_view(d: Disclosed) -> TableView | None:
    """Race, ethnicity and birth decade wide: one row per level, one count column per
    cohort and group (percentages are in tables/table1_characteristics.csv)."""
    name = "table1_characteristics"
    table_df = d.table(name)
    if table_df is None or table_df.empty:
        return None
    columns = list(dict.fromkeys(zip(table_df["Cohort"], table_df["Group"], strict=True)))
    levels = list(dict.fromkeys(zip(table_df["Characteristic"], table_df["Level"], strict=True)))
    where = {
        (ch, lv, c, g): int(i)
        for i, (ch, lv, c, g) in enumerate(
            zip(
                table_df["Characteristic"],
                table_df["Level"],
                table_df["Cohort"],
                table_df["Group"],
                strict=True,
            )
        )
    }
    rows = []
    for ch, lv in levels:
        cells = [Cell(str(ch)), Cell(str(lv))]
        for c, g in columns:
            i = where.get((ch, lv, c, g))
            text = "" if i is None else str(table_df.at[i, "n"])
            cells.append(Cell(text, True, "" if i is None else d.key(name, i, "n")))
        rows.append(cells)
    header = ["Characteristic", "Level", *[f"{label(str(c))} {g}" for c, g in columns]]
    return TableView(header, rows)


def _missing_characteristics(d: Disclosed) -> list[str]:
    table_df = d.table("table1_characteristics")
    present = set() if table_df is None else set(table_df["Characteristic"])
    return [
        f"{label_}: not available (phenotypes/persons.parquet has no {column} column; runs "
        "before this version did not write it)"
        for label_, column in CHARACTERISTICS
        if label_ not in present
    ]


def build_match_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """PGS match rates: a dot plot of overlap fractions per platform and the match report."""
    match_df = outputs.get("match_report")
    if match_df is None:
        return missing("match", "match_report")
    select.require_contract(match_df, "match_report")
    overlap = next((c for c in match_df.columns if "overlap" in c.lower()), None)
    if overlap is None:
        raise InputError(f"{OUTPUT_TABLES['match_report']} has no overlap-fraction column")
    name = "pgs_match_rates.png"
    drawn = figures.plot_match_rates(match_df, overlap, s.figure(name), catalog.labels)
    shown_df = with_labels(match_df, catalog.labels)
    if "platform" in shown_df.columns:
        shown_df = shown_df.assign(platform=[platform_label(str(p)) for p in shown_df["platform"]])
    shown_df = format_floats(shown_df)
    match = table_view(shown_df.rename(columns={c: header(str(c)) for c in shown_df.columns}))
    result = section("match", figure=name, match=match)
    result.add_figure(name, drawn)
    result.tables.append(s.share(match_df, "match_report"))
    return result


def build_figure1_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Figure 1 (forest plots by domain for the three contrasts) and the 61 x contrasts overview."""
    assoc_df = outputs.get("associations")
    if assoc_df is None:
        return missing("figure1", "associations")
    primary_df = select.primary_associations(assoc_df, s.primary_trd, s.primary_trmdd)
    published_df = published(d, "associations", "associations")
    if published_df is None:
        return missing("figure1", "associations")
    cohorts = [c for c in s.cohorts if c in set(primary_df["cohort"])]
    shown_df = select.primary_associations(published_df, s.primary_trd, s.primary_trmdd)
    forest = figures.plot_forest_by_domain(
        primary_df, catalog, cohorts, s.figure("figure1_forest.png"),
        _case_subtitles(shown_df, s), s.significance,
    )  # fmt: skip
    heatmap = figures.plot_overview_heatmap(
        primary_df, catalog, cohorts, s.figure("overview_heatmap.png")
    )
    significant_df = with_labels(select.significant_rows(shown_df), catalog.labels)
    sex_df = with_labels(select.sex_stratified_top(published_df), catalog.labels)
    flagged_df = select.flagged_models(published_df)
    counts_df = labelled(select.significant_counts(primary_df))
    result = section(
        "figure1",
        discovery=label(s.discovery),
        threshold=format_p_threshold(s.significance),
        n_significant=table_view(counts_df.rename(columns={"cohort": "Cohort",
                                                           "contrast": "Contrast",
                                                           "significant PGS": "Significant PGS"})),
        significant=_associations_view(d, significant_df, select.SIGNIFICANT_COLUMNS),
        sex_stratified=None if sex_df.empty else _associations_view(d, sex_df),
        flagged=None if flagged_df.empty else _associations_view(d, flagged_df),
    )  # fmt: skip
    result.add_figure("figure1_forest.png", forest)
    result.add_figure("overview_heatmap.png", heatmap)
    result.tables.append(s.share(published_df, "associations"))
    return result


def _case_subtitles(shown_df: pd.DataFrame, s: ReportSettings) -> dict[str, str]:
    """Contrast -> ``"<cohort>:\n<n> cases, <n> controls"`` (two lines: three panels side by
    side leave each title a third of the width), counts as published."""
    return {
        str(row["contrast"]): (
            f"{label(s.discovery)}:\n{row['n_cases']} cases, {row['n_controls']} controls"
        )
        for row in select.case_counts(shown_df, s.discovery).to_dict("records")
    }


def _associations_view(
    d: Disclosed, rows_df: pd.DataFrame, columns: Sequence[str] | None = None
) -> TableView:
    shown = [c for c in (columns or list(rows_df.columns)) if c in rows_df.columns]
    shown_df = format_floats(labelled(rows_df[shown]))
    return d.view("associations", shown_df, headed(shown))


def build_table2_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Table 2: the 15 definition combinations in the discovery cohort, with a note when a
    meta R² is 100 because the residual heterogeneity estimate is zero."""
    table2_df = published(d, "table2_sensitivity", "sensitivity")
    if table2_df is None:
        return missing("table2", "sensitivity")
    caption = (
        f"TRD vs trMDD in {label(s.discovery)}; meta R² and slope of each pair's log ORs "
        f"regressed on the primary pair's ({label(s.primary_trd)} / {label(s.primary_trmdd)}); "
        "overlap = share of the primary's significant PGS also significant here."
    )
    r2 = pd.to_numeric(table2_df["Meta R² (%)"], errors="coerce")
    result = section(
        "table2",
        table2=d.view("table2_sensitivity", labelled(table2_df), caption=caption),
        full_r2=bool((r2 >= FULL_R2).any()),
        n_full=int((r2 >= FULL_R2).sum()),
    )
    result.tables.append(s.share(table2_df, "table2_sensitivity"))
    return result


def methods_section(
    paragraphs: Sequence[str], timings_df: pd.DataFrame, adjustment: TableView | None = None
) -> Section:
    """The methods paragraphs, the PGS calibration per platform (when one was used) and a
    table of the run's stages (when manifests were found)."""
    timings = table_view(timings_df) if len(timings_df) else None
    body = render("sections/methods.html.j2", paragraphs=list(paragraphs), timings=timings,
                  adjustment=adjustment)  # fmt: skip
    return Section("methods", TITLES["methods"], body)


SECTION_BUILDERS: tuple[tuple[str, SectionBuilder], ...] = (
    ("headline", build_headline_section),
    ("qc", build_qc_section),
    ("table1", build_table1_section),
    ("match", build_match_section),
    ("figure1", build_figure1_section),
    ("replication", build_replication_section),
    ("table2", build_table2_section),
    ("figure2", build_survival_section),
    ("truth", build_truth_section),
)


def build_sections(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> list[SectionResult]:
    """Every section in report order; one whose inputs are unusable says why and the rest go on.

    The truth section is built only for a simulated study (``s.show_truth``).

    Parameters
    ----------
    outputs : the run's tables.
    d : the published shareable tables (every count of persons shown comes from them).
    catalog : the trait catalog.
    s : the report settings.

    Returns
    -------
    The sections with the files each wrote.
    """
    results = []
    for anchor, builder in SECTION_BUILDERS:
        if anchor == "truth" and not s.show_truth:
            continue
        try:
            results.append(builder(outputs, d, catalog, s))
        except InputError as err:
            log.warning("report section %s left out: %s", anchor, err)
            results.append(missing_section(anchor, TITLES[anchor], [str(err)]))
        except Exception as err:  # a broken figure must not cost the rest of the report
            log.exception("report section %s failed", anchor)
            results.append(
                missing_section(
                    anchor, TITLES[anchor], [f"section failed: {type(err).__name__}: {err}"]
                )
            )
    return results
