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
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trd_spark.errors import InputError
from trd_spark.report import figures, select
from trd_spark.report.disclose import Disclosed
from trd_spark.report.display import (
    format_floats,
    format_p,
    format_replication,
    hazard_ratios,
    headline_display,
    qc_summary_table,
    with_labels,
)
from trd_spark.report.export import write_shared_csv
from trd_spark.report.headline import compare_hazard_ratios, compare_odds_ratios
from trd_spark.report.load import RunOutputs
from trd_spark.report.render import Cell, Section, TableView, flow_columns, render, table_view
from trd_spark.report.shareable import CHARACTERISTICS
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
    platforms: dict[str, str] = field(default_factory=dict)  # cohort -> genotyping platform
    rounding_base: int = 0

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


SectionBuilder = Callable[[RunOutputs, Disclosed, TraitCatalog, ReportSettings], SectionResult]


def _section(anchor: str, **context: Any) -> SectionResult:
    body = render(f"sections/{anchor}.html.j2", **context)
    return SectionResult(Section(anchor, TITLES[anchor], body))


def missing_section(anchor: str, title: str, paths: Sequence[str]) -> SectionResult:
    """A section that says which inputs it lacks ("not available: ...")."""
    body = render("sections/missing.html.j2", paths=list(paths))
    return SectionResult(Section(anchor, title, body), available=False)


def _missing(anchor: str, *names: str) -> SectionResult:
    return missing_section(anchor, TITLES[anchor], [OUTPUT_TABLES[n] for n in names])


def _published(d: Disclosed, name: str, source: str) -> pd.DataFrame | None:
    """A published table; InputError (with its reason) when it could not be built."""
    if name in d.errors:
        raise InputError(d.errors[name])
    table_df = d.table(name)
    if table_df is None and source in d.errors:
        raise InputError(d.errors[source])
    return table_df


def build_headline_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """The run's headline estimates beside the published ones (direction agreement)."""
    assoc_df, survival_df = outputs.get("associations"), outputs.get("survival")
    if assoc_df is None and survival_df is None:
        return _missing("headline", "associations")
    odds = hazards = None
    if assoc_df is not None:
        primary_df = select.primary_associations(assoc_df, s.primary_trd, s.primary_trmdd)
        or_df = compare_odds_ratios(primary_df, s.discovery)
        odds = table_view(headline_display(or_df, catalog.labels))
    if survival_df is not None:
        select.require_contract(survival_df, "survival")
        hr_df = compare_hazard_ratios(survival_df, d.facts.km_set)
        hazards = table_view(headline_display(hr_df, catalog.labels))
    return _section(
        "headline", odds=odds, hazards=hazards, discovery=s.discovery, survival_set=d.facts.km_set
    )


def build_qc_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Variant QC counts, then attrition of cohorts, phenotypes and analysis samples."""
    tables: list[str] = []
    variant_qc = None
    if outputs.qc_summary is not None:
        summary_df = qc_summary_table(outputs.qc_summary)
        variant_qc = table_view(summary_df)
        tables.append(s.share(summary_df, "qc_summary"))
    blocks = [_counts_block(d, name, heading, s, tables) for name, heading in ATTRITION_BLOCKS]
    result = _section("qc", variant_qc=variant_qc, variant_qc_file=Layout.QC_SUMMARY, blocks=blocks)
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
        block["note"] = "Primary definitions; all 15 pairs in tables/group_sizes.csv."
    block["table"] = d.view(name, format_floats(table_df))
    if name == "analysis_attrition":
        keys = [
            (d.key(name, int(i), "n_persons"), d.key(name, int(i), "n_rows_dropped"))
            for i in table_df.index
        ]
        block["flow"] = flow_columns(
            table_df, list(table_df["n_persons"]), list(table_df["n_rows_dropped"]), keys
        )
    return block


def build_table1_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Table 1: demographics by cohort and status under the primary definitions, then race,
    ethnicity and decade of birth."""
    table1_df = _published(d, "table1", "persons")
    if table1_df is None:
        return _missing("table1", "persons")
    result = _section(
        "table1",
        table1=d.view("table1", table1_df),
        characteristics=_characteristics_view(d),
        not_available=_missing_characteristics(d),
        primary_trd=s.primary_trd,
        primary_trmdd=s.primary_trmdd,
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
    header = ["Characteristic", "Level", *[f"{c} {g}" for c, g in columns]]
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
        return _missing("match", "match_report")
    select.require_contract(match_df, "match_report")
    overlap = next((c for c in match_df.columns if "overlap" in c.lower()), None)
    if overlap is None:
        raise InputError(f"{OUTPUT_TABLES['match_report']} has no overlap-fraction column")
    figures.plot_match_rates(match_df, overlap, s.figure("pgs_match_rates.png"))
    result = _section(
        "match", figure="pgs_match_rates.png", match=table_view(format_floats(match_df))
    )
    result.figures.append("pgs_match_rates.png")
    result.tables.append(s.share(match_df, "match_report"))
    return result


def build_figure1_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Figure 1 (forest plots by domain for the three contrasts) and the 61 x contrasts overview."""
    assoc_df = outputs.get("associations")
    if assoc_df is None:
        return _missing("figure1", "associations")
    primary_df = select.primary_associations(assoc_df, s.primary_trd, s.primary_trmdd)
    published_df = _published(d, "associations", "associations")
    if published_df is None:
        return _missing("figure1", "associations")
    cohorts = [c for c in s.cohorts if c in set(primary_df["cohort"])]
    shown_df = select.primary_associations(published_df, s.primary_trd, s.primary_trmdd)
    figures.plot_forest_by_domain(
        primary_df, catalog, cohorts, s.figure("figure1_forest.png"), _case_subtitles(shown_df, s)
    )
    figures.plot_overview_heatmap(primary_df, catalog, cohorts, s.figure("overview_heatmap.png"))
    significant_df = with_labels(select.significant_rows(shown_df), catalog.labels)
    sex_df = with_labels(select.sex_stratified_top(published_df), catalog.labels)
    flagged_df = select.flagged_models(published_df)
    result = _section(
        "figure1",
        discovery=s.discovery,
        n_significant=table_view(select.significant_counts(primary_df)),
        significant=_associations_view(d, significant_df, select.SIGNIFICANT_COLUMNS),
        sex_stratified=None if sex_df.empty else _associations_view(d, sex_df),
        flagged=None if flagged_df.empty else _associations_view(d, flagged_df),
    )
    result.figures += ["figure1_forest.png", "overview_heatmap.png"]
    result.tables.append(s.share(published_df, "associations"))
    return result


def _case_subtitles(shown_df: pd.DataFrame, s: ReportSettings) -> dict[str, str]:
    """Contrast -> ``"<cohort>: <n> cases, <n> controls"``, counts as published."""
    return {
        str(row["contrast"]): (
            f"{s.discovery}: {row['n_cases']} cases, {row['n_controls']} controls"
        )
        for row in select.case_counts(shown_df, s.discovery).to_dict("records")
    }


def _associations_view(
    d: Disclosed, rows_df: pd.DataFrame, columns: Sequence[str] | None = None
) -> TableView:
    shown = [c for c in (columns or list(rows_df.columns)) if c in rows_df.columns]
    return d.view("associations", format_floats(rows_df[shown]))


def build_replication_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
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
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Table 2: the 15 definition combinations in the discovery cohort."""
    table2_df = _published(d, "table2_sensitivity", "sensitivity")
    if table2_df is None:
        return _missing("table2", "sensitivity")
    caption = (
        f"TRD vs trMDD in {s.discovery}; meta R² against the primary definitions; overlap = "
        "share of the primary's significant PGS also significant here."
    )
    result = _section("table2", table2=d.view("table2_sensitivity", table2_df, caption=caption))
    result.tables.append(s.share(table2_df, "table2_sensitivity"))
    return result


def build_survival_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Figure 2: HR forest plot, Kaplan-Meier curves by PGS strata, and the Cox table."""
    survival_df, km_df = outputs.get("survival"), outputs.get("km")
    if survival_df is None and km_df is None:
        return _missing("figure2", "survival", "km")
    survival_set = d.facts.km_set
    written: list[str] = []
    tables: list[str] = []
    survival_view = None
    published_df = _published(d, "survival", "survival")
    if survival_df is not None and published_df is not None:
        figures.plot_hr_forest(
            survival_df, catalog, survival_set, s.figure("figure2_hr_forest.png")
        )
        written.append("figure2_hr_forest.png")
        tables.append(s.share(published_df, "survival"))
        survival_view = _survival_view(d, published_df, catalog)
    km_figures: list[dict[str, str]] = []
    published_km = _published(d, "km", "km")
    if km_df is not None and published_km is not None:
        km_figures = _km_figures(select.km_of_set(km_df, survival_set), published_km, catalog, s)
        written += [figure["name"] for figure in km_figures]
        tables.append(s.share(published_km, "km"))
    time_df = _published(d, "time_to_trd", "time_to_trd")
    if time_df is not None:
        tables.append(s.share(time_df, "time_to_trd"))
    result = _section(
        "figure2",
        survival=survival_view,
        survival_set=survival_set,
        survival_file=OUTPUT_TABLES["survival"],
        km_missing=km_df is None,
        km_file=OUTPUT_TABLES["km"],
        km_figures=km_figures,
        time_to_trd=None if time_df is None else d.view("time_to_trd", time_df),
        time_to_trd_file=OUTPUT_TABLES["time_to_trd"],
    )
    result.figures, result.tables = written, tables
    return result


def _survival_view(d: Disclosed, published_df: pd.DataFrame, catalog: TraitCatalog) -> TableView:
    top_df = select.top_survival(published_df, N_SURVIVAL_SHOWN)
    shown_df = top_df.assign(
        PGS=[catalog.label(t) for t in top_df["trait"]],
        hr_text=hazard_ratios(top_df),
        p_text=[format_p(v) for v in top_df["p"]],
        zph_text=[format_p(v) for v in top_df["zph_p"]],
    )
    columns = {"Cohort": "cohort", "PGS": "PGS", "Term": "term", "HR [95% CI]": "hr_text",
               "p": "p_text", "n": "n", "Events": "n_events", "PH test p": "zph_text"}  # fmt: skip
    return d.view("survival", shown_df, columns)


def _km_figures(
    km_df: pd.DataFrame, published_km: pd.DataFrame, catalog: TraitCatalog, s: ReportSettings
) -> list[dict[str, str]]:
    drawn = []
    for trait in dict.fromkeys(published_km["trait"]):
        name = f"figure2_km_{trait}.png"
        trait_label = catalog.label(str(trait))
        figures.plot_km(
            km_df[km_df["trait"] == trait],
            published_km[published_km["trait"] == trait],
            f"PGS {trait_label}",
            s.figure(name),
            s.min_count,
            s.suppress,
        )
        drawn.append({"name": name, "label": trait_label})
    return drawn


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
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> list[SectionResult]:
    """Every section in report order; one whose inputs are unusable says why and the rest go on.

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
