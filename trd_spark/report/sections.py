"""The report's sections: each selects rows (:mod:`~trd_spark.report.select`), turns them
into display text (:mod:`~trd_spark.report.display`), writes the shareable CSVs
(:mod:`~trd_spark.report.export`), draws its figures and renders its template
(:mod:`~trd_spark.report.render`).

A section whose tables are missing, or lack a column it needs, shows
"not available: ..." and the report goes on: a partial run still gets a
report of what it has, and the reason is on the page and in the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trd_spark.errors import InputError
from trd_spark.report import figures, select
from trd_spark.report.display import (
    COUNT_COLUMNS,
    DISPLAY_COUNT_COLUMNS,
    case_count_labels,
    format_counts_table,
    format_replication,
    format_survival,
    format_table1,
    format_table2,
    format_time_to_trd,
    headline_display,
    qc_summary_table,
    with_labels,
)
from trd_spark.report.export import write_shared_csv
from trd_spark.report.headline import compare_hazard_ratios, compare_odds_ratios
from trd_spark.report.load import RunOutputs
from trd_spark.report.render import Section, TableView, flow_columns, render, table_view
from trd_spark.report.suppress import suppress_count_columns, truncate_small_risk_sets
from trd_spark.study import OUTPUT_TABLES, Layout, TraitCatalog

log = logging.getLogger(__name__)

TITLES: dict[str, str] = {
    "headline": "Headline results beside the published study",
    "qc": "QC summary and attrition",
    "table1": "Table 1: participants",
    "match": "PGS match rates",
    "figure1": "Figure 1: PGS associations",
    "replication": "Replication",
    "table2": "Table 2: sensitivity to the definitions",
    "figure2": "Figure 2: time to TRD",
    "methods": "Methods (from the configuration used)",
}
# the count tables of the QC section, with their headings
ATTRITION_BLOCKS: tuple[tuple[str, str], ...] = (
    ("cohort_attrition", "Cohort building"),
    ("phenotype_attrition", "Phenotyping (EHR rows and persons)"),
    ("analysis_attrition", "Analysis samples"),
    ("group_sizes", "Group sizes per cohort and definition pair"),
)
N_SURVIVAL_SHOWN = 30


@dataclass(frozen=True)
class ReportSettings:
    """What the report needs to know about the run, as plain values."""

    report_dir: str
    cohorts: list[str]
    discovery: str
    primary_trd: str = "trd_1"
    primary_trmdd: str = "trmdd_1"
    min_count: int = 20
    suppress: bool = True
    km_traits: list[str] = field(default_factory=list)
    # the survival set pooling the discovery cohort's platform (empty when none does)
    pooled_set: str = ""

    def figure(self, name: str) -> str:
        """Path of a PNG next to ``index.html``."""
        return os.path.join(self.report_dir, name)

    def share(self, table_df: pd.DataFrame, name: str) -> str:
        """Write a shareable table under ``report/tables/``; returns its relative path."""
        return write_shared_csv(table_df, name, self.report_dir)


@dataclass
class SectionResult:
    """A built section and the files it wrote (relative to the report folder)."""

    section: Section
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    available: bool = True


SectionBuilder = Callable[[RunOutputs, TraitCatalog, ReportSettings], SectionResult]


def _section(anchor: str, template: str | None = None, **context: Any) -> SectionResult:
    body = render(template or f"sections/{anchor}.html.j2", **context)
    return SectionResult(Section(anchor, TITLES[anchor], body))


def missing_section(anchor: str, title: str, paths: Sequence[str]) -> SectionResult:
    """A section that says which inputs it lacks ("not available: ...")."""
    body = render("sections/missing.html.j2", paths=list(paths))
    return SectionResult(Section(anchor, title, body), available=False)


def _missing(anchor: str, *names: str) -> SectionResult:
    return missing_section(anchor, TITLES[anchor], [OUTPUT_TABLES[n] for n in names])


def build_headline_section(
    outputs: RunOutputs, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """The run's headline estimates beside the published ones (direction agreement)."""
    assoc_df, survival_df = outputs.get("associations"), outputs.get("survival")
    if assoc_df is None and survival_df is None:
        return _missing("headline", "associations")
    odds = hazards = None
    survival_set = select.survival_set(survival_df, s.pooled_set, s.discovery)
    if assoc_df is not None:
        primary_df = select.primary_associations(assoc_df, s.primary_trd, s.primary_trmdd)
        or_df = compare_odds_ratios(primary_df, s.discovery)
        odds = table_view(headline_display(or_df, catalog.labels))
    if survival_df is not None:
        select.require_contract(survival_df, "survival")
        hr_df = compare_hazard_ratios(survival_df, survival_set)
        hazards = table_view(headline_display(hr_df, catalog.labels))
    return _section(
        "headline", odds=odds, hazards=hazards, discovery=s.discovery, survival_set=survival_set
    )


def build_qc_section(
    outputs: RunOutputs, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Variant QC counts, then attrition of cohorts, phenotypes and analysis samples."""
    tables: list[str] = []
    variant_qc = None
    if outputs.qc_summary is not None:
        summary_df = qc_summary_table(outputs.qc_summary)
        variant_qc = table_view(summary_df)
        tables.append(s.share(summary_df, "qc_summary"))
    blocks = [
        _counts_block(outputs, name, heading, s, tables) for name, heading in ATTRITION_BLOCKS
    ]
    result = _section("qc", variant_qc=variant_qc, variant_qc_file=Layout.QC_SUMMARY, blocks=blocks)
    result.tables = tables
    result.available = bool(tables)  # unavailable only when none of its inputs exist
    return result


def _counts_block(
    outputs: RunOutputs, name: str, heading: str, s: ReportSettings, tables: list[str]
) -> dict[str, Any]:
    block: dict[str, Any] = {"heading": heading, "missing": "", "note": "", "flow": None}
    table_df = outputs.get(name)
    if table_df is None:
        return block | {"missing": OUTPUT_TABLES[name]}
    count_columns = COUNT_COLUMNS[name]
    tables.append(
        s.share(suppress_count_columns(table_df, count_columns, s.min_count, s.suppress), name)
    )
    if name == "group_sizes":
        table_df = select.primary_group_sizes(table_df, s.primary_trd, s.primary_trmdd)
        block["note"] = "Primary definitions; all 15 pairs in tables/group_sizes.csv."
    shown_df = format_counts_table(table_df, name, s.min_count, s.suppress)
    block["table"] = table_view(shown_df, count_columns)
    if name == "analysis_attrition":
        block["flow"] = flow_columns(
            table_df, list(shown_df["n_persons"]), list(shown_df["n_rows_dropped"])
        )
    return block


def build_table1_section(
    outputs: RunOutputs, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Table 1: demographics by cohort and status under the primary definitions."""
    persons_df = outputs.get("persons")
    if persons_df is None:
        return _missing("table1", "persons")
    table1_df = select.table1(persons_df, s.primary_trd, s.primary_trmdd, s.cohorts)
    shown_df = format_table1(table1_df, s.min_count, s.suppress)
    result = _section(
        "table1",
        table1=table_view(shown_df, DISPLAY_COUNT_COLUMNS["table1"]),
        primary_trd=s.primary_trd,
        primary_trmdd=s.primary_trmdd,
    )
    result.tables.append(s.share(shown_df, "table1"))
    return result


def build_match_section(
    outputs: RunOutputs, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """PGS match rates: a dot plot of overlap fractions per platform and the match report."""
    match_df = outputs.get("match_report")
    if match_df is None:
        return _missing("match", "match_report")
    select.require_contract(match_df, "match_report")
    overlap = next((c for c in match_df.columns if "overlap" in c.lower()), None)
    if overlap is None:
        raise InputError(f"{OUTPUT_TABLES['match_report']} has no overlap-fraction column")
    figures.plot_match_rates(match_df, overlap, s.figure("pgs_match_rates.png"))
    shown_df = format_counts_table(match_df, "match_report", s.min_count, s.suppress)
    result = _section("match", figure="pgs_match_rates.png", match=table_view(shown_df))
    result.figures.append("pgs_match_rates.png")
    result.tables.append(s.share(match_df, "match_report"))
    return result


def build_figure1_section(
    outputs: RunOutputs, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Figure 1 (forest plots by domain for the three contrasts) and the 61 x contrasts overview."""
    assoc_df = outputs.get("associations")
    if assoc_df is None:
        return _missing("figure1", "associations")
    primary_df = select.primary_associations(assoc_df, s.primary_trd, s.primary_trmdd)
    cohorts = [c for c in s.cohorts if c in set(primary_df["cohort"])]
    subtitles = case_count_labels(
        select.case_counts(primary_df, s.discovery), s.discovery, s.min_count, s.suppress
    )
    figures.plot_forest_by_domain(
        primary_df, catalog, cohorts, s.figure("figure1_forest.png"), subtitles
    )
    figures.plot_overview_heatmap(primary_df, catalog, cohorts, s.figure("overview_heatmap.png"))
    counts = COUNT_COLUMNS["associations"]
    significant_df = with_labels(select.significant_rows(primary_df), catalog.labels)
    significant_df = significant_df[[c for c in select.SIGNIFICANT_COLUMNS if c in significant_df]]
    result = _section(
        "figure1",
        discovery=s.discovery,
        n_significant=table_view(select.significant_counts(primary_df)),
        significant=_associations_view(significant_df, s),
        sex_stratified=_optional_view(
            with_labels(select.sex_stratified_top(assoc_df), catalog.labels), s
        ),
        flagged=_optional_view(select.flagged_models(assoc_df), s),
    )
    result.figures += ["figure1_forest.png", "overview_heatmap.png"]
    shared_df = suppress_count_columns(assoc_df, counts, s.min_count, s.suppress)
    result.tables.append(s.share(shared_df, "associations"))
    return result


def _associations_view(rows_df: pd.DataFrame, s: ReportSettings) -> TableView:
    shown_df = format_counts_table(rows_df, "associations", s.min_count, s.suppress)
    return table_view(shown_df, COUNT_COLUMNS["associations"])


def _optional_view(rows_df: pd.DataFrame, s: ReportSettings) -> TableView | None:
    return None if rows_df.empty else _associations_view(rows_df, s)


def build_replication_section(
    outputs: RunOutputs, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Replication scatter plots with meta R², and the meta-regression table."""
    assoc_df = outputs.get("associations")
    replication_df = outputs.get("replication")
    if assoc_df is None:
        return _missing("replication", "associations")
    primary_df = select.primary_associations(assoc_df, s.primary_trd, s.primary_trmdd)
    if replication_df is not None:
        select.require_contract(replication_df, "replication")
    figures.plot_replication(
        primary_df, replication_df, s.discovery, s.figure("replication_scatter.png")
    )
    view = None if replication_df is None else table_view(format_replication(replication_df))
    result = _section(
        "replication",
        discovery=s.discovery,
        replication=view,
        replication_file=OUTPUT_TABLES["replication"],
    )
    result.figures.append("replication_scatter.png")
    if replication_df is not None:
        result.tables.append(s.share(replication_df, "replication"))
    return result


def build_table2_section(
    outputs: RunOutputs, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Table 2: the 15 definition combinations in the discovery cohort."""
    sensitivity_df = outputs.get("sensitivity")
    if sensitivity_df is None:
        return _missing("table2", "sensitivity")
    select.require_contract(sensitivity_df, "sensitivity")
    shown_df = format_table2(sensitivity_df, s.min_count, s.suppress)
    caption = (
        f"TRD vs trMDD in {s.discovery}; meta R² against the primary definitions; overlap = "
        "share of the primary's significant PGS also significant here."
    )
    result = _section(
        "table2", table2=table_view(shown_df, DISPLAY_COUNT_COLUMNS["table2"], caption)
    )
    result.tables.append(s.share(shown_df, "table2_sensitivity"))
    return result


def build_survival_section(
    outputs: RunOutputs, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Figure 2: HR forest plot, Kaplan-Meier curves by PGS strata, and the Cox table."""
    survival_df, km_df = outputs.get("survival"), outputs.get("km")
    if survival_df is None and km_df is None:
        return _missing("figure2", "survival", "km")
    if survival_df is not None:
        select.require_contract(survival_df, "survival")
    if km_df is not None:
        select.require_contract(km_df, "km")
    survival_set = select.survival_set(survival_df, s.pooled_set, s.discovery)
    written: list[str] = []
    tables: list[str] = []
    survival_view = None
    if survival_df is not None:
        figures.plot_hr_forest(
            survival_df, catalog, survival_set, s.figure("figure2_hr_forest.png")
        )
        written.append("figure2_hr_forest.png")
        shared_df = suppress_count_columns(
            survival_df, COUNT_COLUMNS["survival"], s.min_count, s.suppress
        )
        tables.append(s.share(shared_df, "survival"))
        shown_df = format_survival(
            select.top_survival(survival_df, N_SURVIVAL_SHOWN),
            catalog.labels,
            s.min_count,
            s.suppress,
        )
        survival_view = table_view(shown_df, DISPLAY_COUNT_COLUMNS["survival"])
    km_figures = []
    if km_df is not None:
        km_figures = _km_figures(select.km_of_set(km_df, survival_set), survival_df, catalog, s)
        written += [figure["name"] for figure in km_figures]
        set_df = select.km_of_set(km_df, survival_set)
        shared_km_df = truncate_small_risk_sets(set_df, s.min_count) if s.suppress else set_df
        tables.append(s.share(shared_km_df, "km"))
    time_view = _time_to_trd_view(outputs, s, tables)
    result = _section(
        "figure2",
        survival=survival_view,
        survival_set=survival_set,
        survival_file=OUTPUT_TABLES["survival"],
        km_missing=km_df is None,
        km_file=OUTPUT_TABLES["km"],
        km_figures=km_figures,
        time_to_trd=time_view,
        time_to_trd_file=OUTPUT_TABLES["time_to_trd"],
    )
    result.figures, result.tables = written, tables
    return result


def _km_figures(
    km_df: pd.DataFrame, survival_df: pd.DataFrame | None, catalog: TraitCatalog, s: ReportSettings
) -> list[dict[str, str]]:
    drawn = []
    for trait in select.km_traits(km_df, survival_df, s.km_traits):
        name = f"figure2_km_{trait}.png"
        trait_label = catalog.label(trait)
        figures.plot_km(
            km_df[km_df["trait"] == trait],
            f"PGS {trait_label}",
            s.figure(name),
            s.min_count,
            s.suppress,
        )
        drawn.append({"name": name, "label": trait_label})
    return drawn


def _time_to_trd_view(
    outputs: RunOutputs, s: ReportSettings, tables: list[str]
) -> TableView | None:
    time_df = outputs.get("time_to_trd")
    if time_df is None:
        return None
    select.require_contract(time_df, "time_to_trd")
    shown_df = format_time_to_trd(time_df, s.min_count, s.suppress)
    tables.append(s.share(shown_df, "time_to_trd"))
    return table_view(shown_df, DISPLAY_COUNT_COLUMNS["time_to_trd"])


def methods_section(paragraphs: Sequence[str], timings_df: pd.DataFrame) -> Section:
    """The methods paragraphs and a table of the run's stages (when manifests were found)."""
    timings = table_view(timings_df) if len(timings_df) else None
    body = render("sections/methods.html.j2", paragraphs=list(paragraphs), timings=timings)
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
)


def build_sections(
    outputs: RunOutputs, catalog: TraitCatalog, s: ReportSettings
) -> list[SectionResult]:
    """Every section in report order; one whose inputs are unusable says why and the rest go on.

    Parameters
    ----------
    outputs : the run's tables.
    catalog : the trait catalog.
    s : the report settings.

    Returns
    -------
    The sections with the files each wrote.
    """
    results = []
    for anchor, builder in SECTION_BUILDERS:
        try:
            results.append(builder(outputs, catalog, s))
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
