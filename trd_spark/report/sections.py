"""The report's sections: each turns output tables into tables, figures and HTML.

A section whose tables are missing, or lack a column it needs, shows
"not available: ..." and the report goes on: a partial run still gets a
report of what it has, and the reason is on the page and in the log.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from trd_spark.errors import InputError
from trd_spark.report import figures
from trd_spark.report.headline import compare_hazard_ratios, compare_odds_ratios
from trd_spark.report.html import (
    Section,
    render_attrition_flow,
    render_collapsed,
    render_figure,
    render_missing,
    render_table,
)
from trd_spark.report.load import TABLE_FILES, RunOutputs
from trd_spark.report.suppress import format_count, suppress_count_columns, truncate_small_risk_sets
from trd_spark.report.tables import (
    COUNT_COLUMNS,
    build_table1,
    format_counts_table,
    format_p,
    format_replication,
    format_survival,
    format_table1,
    format_table2,
    format_time_to_trd,
    qc_summary_table,
)

log = logging.getLogger(__name__)


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

    def shared_csv(self, name: str) -> str:
        """Path of a shareable CSV under ``report/tables/``."""
        return os.path.join(self.report_dir, "tables", f"{name}.csv")

    def figure(self, name: str) -> str:
        """Path of a PNG next to ``index.html``."""
        return os.path.join(self.report_dir, name)


@dataclass
class SectionResult:
    """A built section and the files it wrote (relative to the report folder)."""

    section: Section
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    available: bool = True


SectionBuilder = Callable[[RunOutputs, pd.DataFrame, ReportSettings], SectionResult]


def require_columns(table_df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """InputError naming the file and columns when ``table_df`` lacks any of ``columns``."""
    absent = [c for c in columns if c not in table_df.columns]
    if absent:
        raise InputError(
            f"{TABLE_FILES.get(name, name)} lacks column(s) {', '.join(absent)}; "
            "re-run the stage that writes it with this version of trd-spark"
        )


def require_contract(table_df: pd.DataFrame, name: str) -> None:
    """InputError when an output table lacks a column of its contract (CONTRACT_COLUMNS)."""
    require_columns(table_df, CONTRACT_COLUMNS[name], name)


def write_shared_csv(table_df: pd.DataFrame, name: str, settings: ReportSettings) -> str:
    """Write a shareable table (already suppressed) under report/tables/; returns its name."""
    path = settings.shared_csv(name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    table_df.to_csv(path, index=False)
    return f"tables/{name}.csv"


def primary_associations(assoc_df: pd.DataFrame, settings: ReportSettings) -> pd.DataFrame:
    """Associations of the primary definitions in the whole sample (stratum ``all``).

    A definition column that does not apply to a contrast (trd_def of trMDD vs
    non-MDD) may be null; such rows are kept.  Models that did not converge are
    left out here (they are listed by ``flagged_models_html``).
    """
    require_contract(assoc_df, "associations")
    trd_ok = assoc_df["trd_def"].isna() | (assoc_df["trd_def"] == settings.primary_trd)
    trmdd_ok = assoc_df["trmdd_def"].isna() | (assoc_df["trmdd_def"] == settings.primary_trmdd)
    converged = assoc_df["converged"].fillna(False).astype(bool)
    primary_df = assoc_df[trd_ok & trmdd_ok & (assoc_df["stratum"] == "all") & converged]
    if primary_df.empty:
        raise InputError(
            f"{TABLE_FILES['associations']} has no converged rows for the primary definitions "
            f"({settings.primary_trd}, {settings.primary_trmdd}, stratum 'all'); check "
            "analysis.primary_trd / primary_trmdd or re-run the analyze stage"
        )
    return primary_df.reset_index(drop=True)


def build_qc_section(
    outputs: RunOutputs, catalog_df: pd.DataFrame, s: ReportSettings
) -> SectionResult:
    """Variant QC counts, then attrition of cohorts, phenotypes and analysis samples."""
    parts: list[str] = []
    result = SectionResult(Section("qc", "QC summary and attrition", ""))
    if outputs.qc_summary is None:
        parts.append(render_missing(["qc/summary.json"]))
    else:
        summary_df = qc_summary_table(outputs.qc_summary)
        parts.append(
            "<h3>Variant QC (variants removed at each rule, in order)</h3>"
            + render_table(summary_df)
        )
        result.tables.append(write_shared_csv(summary_df, "qc_summary", s))
    for name, heading in (
        ("cohort_attrition", "Cohort building"),
        ("phenotype_attrition", "Phenotyping (EHR rows and persons)"),
        ("analysis_attrition", "Analysis samples"),
        ("group_sizes", "Group sizes per cohort and definition pair"),
    ):
        parts.append(f"<h3>{heading}</h3>" + _counts_table_html(outputs, name, s, result))
    result.section.body = "".join(parts)
    result.available = bool(result.tables)  # unavailable only when none of its inputs exist
    return result


def _counts_table_html(
    outputs: RunOutputs, name: str, s: ReportSettings, result: SectionResult
) -> str:
    table_df = outputs.get(name)
    if table_df is None:
        return render_missing([TABLE_FILES[name]])
    shared_df = suppress_count_columns(table_df, COUNT_COLUMNS[name], s.min_count, s.suppress)
    result.tables.append(write_shared_csv(shared_df, name, s))
    note = ""
    if name == "group_sizes" and {"trd_def", "trmdd_def"} <= set(table_df.columns):
        table_df = table_df[
            (table_df["trd_def"] == s.primary_trd) & (table_df["trmdd_def"] == s.primary_trmdd)
        ]
        note = "<p class='note'>Primary definitions; all 15 pairs in tables/group_sizes.csv.</p>"
    shown_df = format_counts_table(table_df, name, s.min_count, s.suppress)
    table_html = render_table(shown_df, COUNT_COLUMNS[name])
    if name == "analysis_attrition":
        flow = render_attrition_flow(table_df, s.min_count, s.suppress)
        return flow + render_collapsed(f"As a table ({len(table_df)} rows)", table_html)
    return note + table_html


def build_table1_section(
    outputs: RunOutputs, catalog_df: pd.DataFrame, s: ReportSettings
) -> SectionResult:
    """Table 1: demographics by cohort and status under the primary definitions."""
    persons_df = outputs.get("persons")
    if persons_df is None:
        return _missing("table1", "Table 1: participants", ["phenotypes/persons.parquet"])
    mdd_column = s.primary_trmdd.replace("trmdd_", "mdd_")
    require_columns(
        persons_df,
        ["cohort", "sex", "age", "treated", "non_mdd", s.primary_trd, mdd_column],
        "persons",
    )
    shown_df = format_table1(
        build_table1(persons_df, s.primary_trd, s.primary_trmdd, s.cohorts), s.min_count, s.suppress
    )
    result = SectionResult(Section("table1", "Table 1: participants", ""))
    result.tables.append(write_shared_csv(shown_df, "table1", s))
    note = (
        f"<p class='note'>Groups under {s.primary_trd} / {s.primary_trmdd}; persons in a "
        "cohort, before exclusions for missing covariates (see attrition).</p>"
    )
    result.section.body = note + render_table(shown_df, ("n", "Female n"))
    return result


def build_match_section(
    outputs: RunOutputs, catalog_df: pd.DataFrame, s: ReportSettings
) -> SectionResult:
    """PGS match rates: a dot plot of overlap fractions per platform and the match report."""
    match_df = outputs.get("match_report")
    if match_df is None:
        return _missing("match", "PGS match rates", [TABLE_FILES["match_report"]])
    require_contract(match_df, "match_report")
    overlap = next((c for c in match_df.columns if "overlap" in c.lower()), None)
    if overlap is None:
        raise InputError(f"{TABLE_FILES['match_report']} has no overlap-fraction column")
    result = SectionResult(Section("match", "PGS match rates", ""))
    figures.plot_match_rates(match_df, overlap, s.figure("pgs_match_rates.png"))
    result.figures.append("pgs_match_rates.png")
    result.tables.append(write_shared_csv(match_df, "match_report", s))
    result.section.body = render_figure(
        "pgs_match_rates.png", "Fraction of each PGS's weight variants matched (variant counts)."
    ) + render_collapsed(
        f"Match report ({len(match_df)} rows)",
        render_table(format_counts_table(match_df, "match_report", s.min_count, s.suppress)),
    )
    return result


def build_figure1_section(
    outputs: RunOutputs, catalog_df: pd.DataFrame, s: ReportSettings
) -> SectionResult:
    """Figure 1 (forest plots by domain for the three contrasts) and the 61 x contrasts overview."""
    assoc_df = outputs.get("associations")
    if assoc_df is None:
        return _missing("figure1", "Figure 1: PGS associations", [TABLE_FILES["associations"]])
    primary_df = primary_associations(assoc_df, s)
    cohorts = [c for c in s.cohorts if c in set(primary_df["cohort"])]
    counts = case_count_labels(primary_df, s)
    figures.plot_forest_by_domain(
        primary_df, catalog_df, cohorts, s.figure("figure1_forest.png"), counts
    )
    figures.plot_overview_heatmap(primary_df, catalog_df, cohorts, s.figure("overview_heatmap.png"))
    result = SectionResult(Section("figure1", "Figure 1: PGS associations", ""))
    result.figures += ["figure1_forest.png", "overview_heatmap.png"]
    shared_df = suppress_count_columns(
        assoc_df, COUNT_COLUMNS["associations"], s.min_count, s.suppress
    )
    result.tables.append(write_shared_csv(shared_df, "associations", s))
    result.section.body = (
        render_figure(
            "figure1_forest.png",
            "Odds ratio per SD of each PGS (95% CI), by domain, "
            f"primary definitions; {s.discovery} is the discovery cohort.",
        )
        + render_figure(
            "overview_heatmap.png", "All PGS x cohorts x contrasts: log OR per SD; * = significant."
        )
        + _significant_table(primary_df, catalog_df, s)
        + sex_stratified_html(assoc_df, catalog_df, s)
        + flagged_models_html(assoc_df, s)
    )
    return result


def case_count_labels(primary_df: pd.DataFrame, s: ReportSettings) -> dict[str, str]:
    """Contrast -> "<cohort>: <n> cases, <n> controls" in the discovery cohort, masked."""
    counts = {}
    for contrast, rows_df in primary_df[primary_df["cohort"] == s.discovery].groupby("contrast"):
        cases = format_count(rows_df["n_cases"].max(), s.min_count, s.suppress)
        controls = format_count(rows_df["n_controls"].max(), s.min_count, s.suppress)
        counts[str(contrast)] = f"{s.discovery}: {cases} cases, {controls} controls"
    return counts


def _significant_table(
    primary_df: pd.DataFrame, catalog_df: pd.DataFrame, s: ReportSettings
) -> str:
    hits_df = primary_df[primary_df["significant"].fillna(False).astype(bool)]
    n_hits = hits_df.groupby(["cohort", "contrast"]).size().rename("significant PGS").reset_index()
    shown_df = format_counts_table(
        hits_df.sort_values("p"), "associations", s.min_count, s.suppress
    )
    labels = dict(zip(catalog_df["trait"], catalog_df["label"], strict=True))
    shown_df = shown_df.assign(trait=[labels.get(t, t) for t in shown_df["trait"]])
    keep = [
        "cohort",
        "contrast",
        "trait",
        "odds_ratio",
        "ci_low",
        "ci_high",
        "p",
        "n_cases",
        "n_controls",
        "converged",
    ]
    hits_html = render_table(
        shown_df[[c for c in keep if c in shown_df.columns]], COUNT_COLUMNS["associations"]
    )
    return (
        "<h3>Number of significant PGS (of the PGS tested)</h3>"
        + render_table(n_hits)
        + render_collapsed(f"Significant associations ({len(hits_df)})", hits_html)
    )


def flagged_models_html(assoc_df: pd.DataFrame, s: ReportSettings) -> str:
    """Models that did not converge (or separated): listed, never shown as results.

    Parameters
    ----------
    assoc_df : ``results/associations.parquet``.
    s : the report settings.

    Returns
    -------
    HTML: a count per cohort and contrast and the flagged rows, or a line saying none.
    """
    flagged_df = assoc_df[~assoc_df["converged"].fillna(False).astype(bool)]
    heading = "<h3>Models flagged (not converged or separated)</h3>"
    if flagged_df.empty:
        return heading + "<p>None: every model converged.</p>"
    columns = ["cohort", "contrast", "trd_def", "trmdd_def", "stratum", "trait", "n_cases",
               "n_controls"]  # fmt: skip
    shown_df = format_counts_table(flagged_df[columns], "associations", s.min_count, s.suppress)
    return heading + render_collapsed(
        f"{len(flagged_df)} models flagged; their estimates are left out of the figures",
        render_table(shown_df, COUNT_COLUMNS["associations"]),
    )


def sex_stratified_html(assoc_df: pd.DataFrame, catalog_df: pd.DataFrame, s: ReportSettings) -> str:
    """TRD vs trMDD by sex and the PGS x sex interaction: the 5 smallest p per stratum.

    Parameters
    ----------
    assoc_df : ``results/associations.parquet``.
    catalog_df : the trait catalog.
    s : the report settings.

    Returns
    -------
    HTML heading and table (or a line saying there are no sex-stratified rows).
    """
    heading = "<h3>Sex-stratified TRD vs trMDD and PGS x sex interaction</h3>"
    rows_df = assoc_df[assoc_df["stratum"].isin(["female", "male", "pgs_x_sex"])]
    if rows_df.empty:
        return heading + "<p>No sex-stratified models in this run.</p>"
    top_df = rows_df.sort_values("p").groupby(["cohort", "stratum"], sort=False).head(5)
    labels = dict(zip(catalog_df["trait"], catalog_df["label"], strict=True))
    top_df = top_df.assign(trait=[labels.get(t, t) for t in top_df["trait"]])
    columns = ["cohort", "stratum", "trait", "odds_ratio", "ci_low", "ci_high", "p",
               "significant", "n_cases", "n_controls"]  # fmt: skip
    shown_df = format_counts_table(top_df[columns], "associations", s.min_count, s.suppress)
    note = "<p class='note'>pgs_x_sex: the odds-ratio ratio of the interaction term.</p>"
    return heading + note + render_table(shown_df, COUNT_COLUMNS["associations"])


def build_replication_section(
    outputs: RunOutputs, catalog_df: pd.DataFrame, s: ReportSettings
) -> SectionResult:
    """Replication scatter plots with meta R², and the meta-regression table."""
    assoc_df = outputs.get("associations")
    replication_df = outputs.get("replication")
    if assoc_df is None:
        return _missing("replication", "Replication", [TABLE_FILES["associations"]])
    primary_df = primary_associations(assoc_df, s)
    figures.plot_replication(
        primary_df, replication_df, s.discovery, s.figure("replication_scatter.png")
    )
    result = SectionResult(Section("replication", "Replication", ""))
    result.figures.append("replication_scatter.png")
    body = render_figure(
        "replication_scatter.png",
        f"Log OR per SD in each replication cohort against {s.discovery} "
        "(95% CI); dashed: identity; meta R² from random-effects meta-regression.",
    )
    if replication_df is None:
        body += render_missing([TABLE_FILES["replication"]])
    else:
        require_contract(replication_df, "replication")
        result.tables.append(write_shared_csv(replication_df, "replication", s))
        body += render_table(format_replication(replication_df))
    result.section.body = body
    return result


def build_table2_section(
    outputs: RunOutputs, catalog_df: pd.DataFrame, s: ReportSettings
) -> SectionResult:
    """Table 2: the 15 definition combinations in the discovery cohort."""
    sensitivity_df = outputs.get("sensitivity")
    if sensitivity_df is None:
        return _missing(
            "table2", "Table 2: sensitivity to the definitions", [TABLE_FILES["sensitivity"]]
        )
    require_contract(sensitivity_df, "sensitivity")
    shown_df = format_table2(sensitivity_df, s.min_count, s.suppress)
    result = SectionResult(Section("table2", "Table 2: sensitivity to the definitions", ""))
    result.tables.append(write_shared_csv(shown_df, "table2_sensitivity", s))
    result.section.body = render_table(
        shown_df,
        ("n trMDD", "n TRD"),
        caption=(
            f"TRD vs trMDD in {s.discovery}; meta R² against the primary definitions; overlap = "
            "share of the primary's significant PGS also significant here."
        ),
    )
    return result


def build_survival_section(
    outputs: RunOutputs, catalog_df: pd.DataFrame, s: ReportSettings
) -> SectionResult:
    """Figure 2: HR forest plot, Kaplan-Meier curves by PGS strata, and the Cox table."""
    survival_df = outputs.get("survival")
    km_df = outputs.get("km")
    if survival_df is None and km_df is None:
        return _missing(
            "figure2", "Figure 2: time to TRD", [TABLE_FILES["survival"], TABLE_FILES["km"]]
        )
    result = SectionResult(Section("figure2", "Figure 2: time to TRD", ""))
    parts = []
    cohort = s.discovery
    if survival_df is None:
        parts.append(render_missing([TABLE_FILES["survival"]]))
    else:
        require_contract(survival_df, "survival")
        cohort = "wgs" if "wgs" in set(survival_df["cohort"]) else s.discovery
        parts.append(_hr_forest_html(survival_df, catalog_df, cohort, s, result))
    if km_df is None:
        parts.append(render_missing([TABLE_FILES["km"]]))
    else:
        require_contract(km_df, "km")
        parts.append(_km_html(km_df, catalog_df, cohort, survival_df, s, result))
    parts.append(_time_to_trd_html(outputs, s, result))
    result.section.body = "".join(parts)
    return result


def _hr_forest_html(
    survival_df: pd.DataFrame,
    catalog_df: pd.DataFrame,
    cohort: str,
    s: ReportSettings,
    result: SectionResult,
) -> str:
    figures.plot_hr_forest(survival_df, catalog_df, cohort, s.figure("figure2_hr_forest.png"))
    result.figures.append("figure2_hr_forest.png")
    shared_df = suppress_count_columns(
        survival_df, COUNT_COLUMNS["survival"], s.min_count, s.suppress
    )
    result.tables.append(write_shared_csv(shared_df, "survival", s))
    labels = dict(zip(catalog_df["trait"], catalog_df["label"], strict=True))
    shown_df = format_survival(survival_df, labels, s.min_count, s.suppress).head(30)
    return (
        render_figure(
            "figure2_hr_forest.png",
            f"Hazard ratios of time from first MDD diagnosis to TRD "
            f"({cohort}); strata vs the lowest 20%, and per SD.",
        )
        + "<h3>Cox models (30 smallest p-values; all in tables/survival.csv)</h3>"
        + render_table(shown_df, ("n", "Events"))
    )


def _km_html(
    km_df: pd.DataFrame,
    catalog_df: pd.DataFrame,
    cohort: str,
    survival_df: pd.DataFrame | None,
    s: ReportSettings,
    result: SectionResult,
) -> str:
    if "cohort" in km_df.columns:
        chosen = cohort if cohort in set(km_df["cohort"]) else km_df["cohort"].iloc[0]
        km_df = km_df[km_df["cohort"] == chosen]
    labels = dict(zip(catalog_df["trait"], catalog_df["label"], strict=True))
    parts = []
    for trait in _km_traits(km_df, survival_df, s):
        name = f"figure2_km_{trait}.png"
        figures.plot_km(
            km_df[km_df["trait"] == trait],
            f"PGS {labels.get(trait, trait)}",
            s.figure(name),
            s.min_count,
            s.suppress,
        )
        result.figures.append(name)
        parts.append(
            render_figure(
                name,
                f"Kaplan-Meier: free of TRD by {labels.get(trait, trait)} "
                "PGS strata (95% CI, log-log).",
            )
        )
    shared_df = truncate_small_risk_sets(km_df, s.min_count) if s.suppress else km_df
    result.tables.append(write_shared_csv(shared_df, "km", s))
    return "".join(parts)


def _time_to_trd_html(outputs: RunOutputs, s: ReportSettings, result: SectionResult) -> str:
    time_df = outputs.get("time_to_trd")
    heading = "<h3>Mean time to TRD among those who convert</h3>"
    if time_df is None:
        return heading + render_missing([TABLE_FILES["time_to_trd"]])
    require_contract(time_df, "time_to_trd")
    shown_df = format_time_to_trd(time_df, s.min_count, s.suppress)
    result.tables.append(write_shared_csv(shown_df, "time_to_trd", s))
    return heading + render_table(shown_df, ("Events",))


def _km_traits(
    km_df: pd.DataFrame, survival_df: pd.DataFrame | None, s: ReportSettings
) -> list[str]:
    present = set(km_df["trait"])
    chosen = [t for t in s.km_traits if t in present]
    if survival_df is not None and len(chosen) < 2:
        top_df = survival_df[survival_df["term"] == "pgs_80_100"].sort_values("p")
        chosen += [t for t in top_df["trait"] if t in present and t not in chosen][
            : 2 - len(chosen)
        ]
    return chosen or sorted(present)[:1]


def _missing(anchor: str, title: str, paths: list[str]) -> SectionResult:
    return SectionResult(Section(anchor, title, render_missing(paths)), available=False)


def build_headline_section(
    outputs: RunOutputs, catalog_df: pd.DataFrame, s: ReportSettings
) -> SectionResult:
    """The run's headline estimates beside the published ones (direction agreement)."""
    assoc_df = outputs.get("associations")
    survival_df = outputs.get("survival")
    if assoc_df is None and survival_df is None:
        return _missing("headline", HEADLINE_TITLE, [TABLE_FILES["associations"]])
    labels = dict(zip(catalog_df["trait"], catalog_df["label"], strict=True))
    parts = []
    if assoc_df is not None:
        or_df = compare_odds_ratios(primary_associations(assoc_df, s), s.discovery)
        parts.append(f"<h3>TRD vs trMDD, OR per SD ({html.escape(s.discovery)})</h3>")
        parts.append(render_table(_headline_display(or_df, labels)))
    if survival_df is not None:
        cohort = "wgs" if "wgs" in set(survival_df["cohort"]) else s.discovery
        require_contract(survival_df, "survival")
        hr_df = compare_hazard_ratios(survival_df, cohort)
        parts.append(f"<h3>Time to TRD, HR top vs bottom PGS quintile ({html.escape(cohort)})</h3>")
        parts.append(render_table(_headline_display(hr_df, labels)))
    note = (
        "<p class='note'>Published: Xu et al., JAMA Psychiatry 2025;82(5):505-513 (All of Us "
        "v7). On a synthetic study with planted effects the directions should agree.</p>"
    )
    return SectionResult(Section("headline", HEADLINE_TITLE, note + "".join(parts)))


def _headline_display(compare_df: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
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


HEADLINE_TITLE = "Headline results beside the published study"
SECTION_BUILDERS: tuple[tuple[str, str, SectionBuilder], ...] = (
    ("headline", HEADLINE_TITLE, build_headline_section),
    ("qc", "QC summary and attrition", build_qc_section),
    ("table1", "Table 1: participants", build_table1_section),
    ("match", "PGS match rates", build_match_section),
    ("figure1", "Figure 1: PGS associations", build_figure1_section),
    ("replication", "Replication", build_replication_section),
    ("table2", "Table 2: sensitivity to the definitions", build_table2_section),
    ("figure2", "Figure 2: time to TRD", build_survival_section),
)


def build_sections(
    outputs: RunOutputs, catalog_df: pd.DataFrame, s: ReportSettings
) -> list[SectionResult]:
    """Every section in report order; one whose inputs are unusable says why and the rest go on.

    Parameters
    ----------
    outputs : the run's tables.
    catalog_df : the trait catalog.
    s : the report settings.

    Returns
    -------
    The sections with the files each wrote.
    """
    results = []
    for anchor, title, builder in SECTION_BUILDERS:
        try:
            results.append(builder(outputs, catalog_df, s))
        except InputError as err:
            log.warning("report section %s left out: %s", anchor, err)
            results.append(_missing(anchor, title, [str(err)]))
        except Exception as err:  # a broken figure must not cost the rest of the report
            log.exception("report section %s failed", anchor)
            results.append(
                _missing(anchor, title, [f"section failed: {type(err).__name__}: {err}"])
            )
    return results
