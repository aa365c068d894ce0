"""The report's sections on replication, time to TRD (Figure 2) and, for a simulated study,
truth beside estimate.

Like :mod:`trd_spark.report.sections`, each takes every count of persons it shows from the
published tables (:class:`~trd_spark.report.disclose.Disclosed`); the estimates, R², slopes
and residuals they draw are read from ``results/`` as the analyze stage wrote them (the
numbers its tests check against R, ``docs/statistics.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from trd_spark.report import figures, select, truth, zph
from trd_spark.report.disclose import Disclosed
from trd_spark.report.display import (
    fixed,
    format_p,
    format_replication,
    hazard_ratios,
    labelled,
    with_interval,
)
from trd_spark.report.load import RunOutputs
from trd_spark.report.methods import PGS_ADJUST_TEXT
from trd_spark.report.plotting import format_p_threshold
from trd_spark.report.render import TableView, table_view
from trd_spark.report.section_base import (
    ReportSettings,
    SectionResult,
    missing,
    published,
    section,
)
from trd_spark.study import OUTPUT_TABLES, REPLICATION_ANALYSES, TraitCatalog, label

N_SURVIVAL_SHOWN = 30
ZPH_MODELS = {"pgs_80_100": "PGS strata (2 df)", "pgs_per_sd": "Per SD of PGS (1 df)"}


def build_replication_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Replication of the logistic results (log OR) and of the Cox results (log HR per SD,
    the paper's eFigure 6): scatter plots with the meta-regression line, R² and slope, and
    the meta-regression table."""
    assoc_df = outputs.get("associations")
    replication_df = outputs.get("replication")
    survival_df = outputs.get("survival")
    if assoc_df is None:
        return missing("replication", "associations")
    primary_df = select.primary_associations(assoc_df, s.primary_trd, s.primary_trmdd)
    if replication_df is not None:
        select.require_contract(replication_df, "replication")
    logistic = figures.plot_replication(
        primary_df, replication_df, s.discovery, s.figure("replication_scatter.png")
    )
    has_cox = (
        replication_df is not None
        and survival_df is not None
        and "analysis" in replication_df.columns
        and (replication_df["analysis"] == REPLICATION_ANALYSES[1]).any()
    )
    cox = None
    if has_cox:
        assert replication_df is not None and survival_df is not None
        cox = figures.plot_survival_replication(
            survival_df, replication_df, s.figure("replication_cox.png")
        )
    view = None if replication_df is None else table_view(format_replication(replication_df))
    compared = [] if replication_df is None else [
        str(c) for c in (*replication_df["cohort"], *replication_df["reference_cohort"])
    ]  # fmt: skip
    result = section(
        "replication",
        discovery=label(s.discovery),
        has_cox=has_cox,
        pooled_note=s.set_definition(*compared),
        replication=view,
        replication_file=OUTPUT_TABLES["replication"],
    )
    result.add_figure("replication_scatter.png", logistic)
    if cox is not None:
        result.add_figure("replication_cox.png", cox)
    if replication_df is not None:
        result.tables.append(s.share(replication_df, "replication"))
    return result


def pgs_note(survival_df: pd.DataFrame | None, survival_set: str) -> str:
    """Which PGS the survival results used (``analysis.pgs_adjust``) and, for a pooled set,
    where its strata and SD were taken."""
    if survival_df is None:
        return ""
    if "pgs_adjust" not in survival_df.columns:
        return (
            f"PGS used: not recorded ({OUTPUT_TABLES['survival']} has no pgs_adjust column; "
            "runs before the ancestry calibration existed used the raw scores)."
        )
    methods = sorted(str(m) for m in survival_df["pgs_adjust"].dropna().unique())
    text = "PGS used: " + "; ".join(PGS_ADJUST_TEXT.get(m, m) for m in methods) + "."
    set_df = survival_df[survival_df["cohort"] == survival_set]
    if "pgs_scale" in set_df.columns and set_df["pgs_scale"].notna().any():
        scale = str(set_df["pgs_scale"].dropna().iloc[0])
        if scale == "within_cohort":
            text += (
                f" In {label(survival_set)} the PGS strata and SD are taken within each cohort "
                "(raw PGS means differ by ancestry), with cohort as a Cox stratum."
            )
        elif scale == "within_set":
            text += (
                f" In {label(survival_set)} the PGS strata and SD are taken over the pooled "
                "set, with cohort as a Cox stratum."
            )
    return text


def build_survival_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """Figure 2: HR forest plot, the proportional-hazards check (cox.zph table and scaled
    Schoenfeld residuals), Kaplan-Meier curves by PGS strata, the Cox table, mean time to TRD."""
    survival_df, km_df = outputs.get("survival"), outputs.get("km")
    if survival_df is None and km_df is None:
        return missing("figure2", "survival", "km")
    survival_set = d.facts.km_set
    drawn: dict[str, Figure] = {}
    tables: list[str] = []
    survival_view = zph_view = None
    zph_missing = ""
    published_df = published(d, "survival", "survival")
    published_km = published(d, "km", "km")
    traits = [] if published_km is None else [str(t) for t in dict.fromkeys(published_km["trait"])]
    if survival_df is not None and published_df is not None:
        forest = figures.plot_hr_forest(
            survival_df, catalog, survival_set, s.figure("figure2_hr_forest.png"), s.significance
        )
        drawn["figure2_hr_forest.png"] = forest
        tables.append(s.share(published_df, "survival"))
        survival_view = _survival_view(d, published_df, catalog)
        zph_view = _zph_view(survival_df, survival_set, traits, catalog)
        zph_missing = _draw_schoenfeld(outputs, survival_df, survival_set, traits, catalog, s,
                                       drawn)  # fmt: skip
    km_figures: list[dict[str, str]] = []
    if km_df is not None and published_km is not None:
        km_figures = _km_figures(select.km_of_set(km_df, survival_set), published_km, catalog,
                                 s, survival_set, drawn)  # fmt: skip
        tables.append(s.share(published_km, "km"))
    time_df = published(d, "time_to_trd", "time_to_trd")
    if time_df is not None:
        tables.append(s.share(time_df, "time_to_trd"))
    built = section(
        "figure2",
        survival=survival_view,
        survival_set=label(survival_set),
        pooled_note=s.set_definition(survival_set),
        threshold=format_p_threshold(s.significance),
        pgs_note=pgs_note(survival_df, survival_set),
        survival_file=OUTPUT_TABLES["survival"],
        zph=zph_view,
        zph_figure="figure2_schoenfeld.png" if "figure2_schoenfeld.png" in drawn else "",
        zph_missing=zph_missing,
        min_count=s.min_count,
        km_missing=km_df is None,
        km_file=OUTPUT_TABLES["km"],
        km_figures=km_figures,
        time_to_trd=None if time_df is None else d.view("time_to_trd", labelled(time_df)),
        time_to_trd_file=OUTPUT_TABLES["time_to_trd"],
    )
    for name, figure in drawn.items():
        built.add_figure(name, figure)
    built.tables = tables
    return built


def _survival_view(d: Disclosed, published_df: pd.DataFrame, catalog: TraitCatalog) -> TableView:
    top_df = select.top_survival(published_df, N_SURVIVAL_SHOWN)
    shown_df = labelled(top_df).assign(
        PGS=[catalog.label(t) for t in top_df["trait"]],
        hr_text=hazard_ratios(top_df),
        p_text=[format_p(v) for v in top_df["p"]],
        zph_text=[format_p(v) for v in top_df["zph_p"]],
    )
    columns = {"Set": "cohort", "PGS": "PGS", "Term": "term", "HR [95% CI]": "hr_text",
               "p": "p_text", "n": "n", "Events": "n_events", "PH test p": "zph_text"}  # fmt: skip
    return d.view("survival", shown_df, columns)


def _zph_view(
    survival_df: pd.DataFrame, survival_set: str, traits: Sequence[str], catalog: TraitCatalog
) -> TableView | None:
    """cox.zph per PGS term and GLOBAL for Figure 2's traits in the drawn set."""
    needed = {"zph_chisq", "zph_p", "zph_global_chisq", "zph_global_p"}
    if not needed <= set(survival_df.columns):
        return None
    rows = []
    for trait in traits:
        for term, model in ZPH_MODELS.items():
            match_df = survival_df[(survival_df["cohort"] == survival_set)
                                   & (survival_df["trait"] == trait)
                                   & (survival_df["term"] == term)]  # fmt: skip
            if match_df.empty:
                continue
            row = match_df.iloc[0]
            rows.append({"PGS": catalog.label(trait), "Model": model,
                         "PGS term χ²": fixed(row["zph_chisq"], 2),
                         "PGS term p": format_p(row["zph_p"]),
                         "GLOBAL χ²": fixed(row["zph_global_chisq"], 2),
                         "GLOBAL p": format_p(row["zph_global_p"])})  # fmt: skip
    return table_view(pd.DataFrame(rows)) if rows else None


def _draw_schoenfeld(
    outputs: RunOutputs,
    survival_df: pd.DataFrame,
    survival_set: str,
    traits: Sequence[str],
    catalog: TraitCatalog,
    s: ReportSettings,
    drawn: dict[str, Figure],
) -> str:
    """Draw the scaled Schoenfeld residuals of Figure 2's traits into ``drawn``; returns why
    not, if not."""
    resid_df = outputs.get("schoenfeld")
    if resid_df is None:
        return f"{OUTPUT_TABLES['schoenfeld']} (the analyze stage of this version writes it)"
    panels = [
        p for p in zph.zph_panels(resid_df, survival_df, survival_set, traits)
        if len(p.y) > max(zph.SMOOTH_DF * 3, s.min_count)
    ]  # fmt: skip
    if not panels:
        return (
            f"{OUTPUT_TABLES['schoenfeld']} has no residuals of the drawn traits in "
            f"{label(survival_set)} with more than {s.min_count} deaths"
        )
    name = "figure2_schoenfeld.png"
    drawn[name] = zph.plot_schoenfeld(panels, catalog, survival_set, s.figure(name), s.min_count)
    return ""


def _km_figures(
    km_df: pd.DataFrame,
    published_km: pd.DataFrame,
    catalog: TraitCatalog,
    s: ReportSettings,
    survival_set: str,
    drawn: dict[str, Figure],
) -> list[dict[str, str]]:
    shown = []
    for trait in dict.fromkeys(published_km["trait"]):
        name = f"figure2_km_{trait}.png"
        trait_label = catalog.label(str(trait))
        figure = figures.plot_km(
            km_df[km_df["trait"] == trait],
            published_km[published_km["trait"] == trait],
            f"{trait_label} PGS\n{label(survival_set)}",
            s.figure(name),
            s.min_count,
            s.suppress,
        )
        drawn[name] = figure
        shown.append({"name": name, "label": trait_label})
    return shown


# --- truth beside estimate ---------------------------------------------------------------


def build_truth_section(
    outputs: RunOutputs, d: Disclosed, catalog: TraitCatalog, s: ReportSettings
) -> SectionResult:
    """A simulated study's planted effects beside the run's estimates: coverage of the 95%
    CIs, sign of the planted effects, false positives among the null traits."""
    effects_df = truth.read_effects(s.truth_effects)
    estimates: dict[str, pd.DataFrame] = {}
    assoc_df, survival_df = outputs.get("associations"), outputs.get("survival")
    if assoc_df is not None:
        primary_df = select.primary_associations(assoc_df, s.primary_trd, s.primary_trmdd)
        for outcome in truth.OUTCOMES:
            if outcome.contrast:
                estimates[outcome.key] = truth.logistic_estimates(primary_df, outcome.contrast)
    if survival_df is not None:
        estimates["time_to_trd"] = truth.survival_estimates(survival_df)
    if not estimates:
        return missing("truth", "associations", "survival")
    sets = {str(c) for frame in estimates.values() for c in frame["cohort"]}
    beside_df = truth.beside_truth(effects_df, estimates, {c: s.platform_of(c) for c in sets},
                                   s.significance)  # fmt: skip
    order = [*s.cohorts, *sorted(sets - set(s.cohorts))]
    panels = [(o, c) for o, c in (("trd_vs_trmdd", s.discovery), ("mdd", s.discovery),
                                  ("time_to_trd", d.facts.km_set))
              if ((beside_df["outcome"] == o) & (beside_df["cohort"] == c)).any()]  # fmt: skip
    result = section(
        "truth",
        effects_file=s.truth_effects,
        summary=table_view(_summary_display(truth.coverage_summary(beside_df, order), s)),
        details=table_view(_details_display(beside_df, panels, catalog)),
        sources=sorted(set(beside_df["expected_from"])),
        threshold=format_p_threshold(s.significance),
        primary=f"{label(s.primary_trd)} / {label(s.primary_trmdd)}",
        pooled_note=s.set_definition(*sets),
        figure="truth_beside_estimate.png" if panels else "",
    )
    if panels:
        name = "truth_beside_estimate.png"
        result.add_figure(name, truth.plot_truth(beside_df, panels, s.figure(name)))
    result.tables.append(s.share(beside_df, "truth_beside_estimate"))
    return result


def _summary_display(summary_df: pd.DataFrame, s: ReportSettings) -> pd.DataFrame:
    titles = {o.key: f"{o.title} ({o.scale})" for o in truth.OUTCOMES}
    shown = format_p_threshold(s.significance)

    def share(k: pd.Series, n: pd.Series) -> list[str]:
        return [f"{a} of {b} ({100 * a / b:.0f}%)" if b else "-" for a, b in zip(k, n, strict=True)]

    return pd.DataFrame(
        {
            "Outcome": [titles[o] for o in summary_df["outcome"]],
            "Set": [label(str(c)) for c in summary_df["cohort"]],
            "95% CIs holding the expected value": share(summary_df["n_covered"],
                                                        summary_df["n_traits"]),
            "Non-null: estimate of the expected sign": share(
                summary_df["n_planted_same_sign"], summary_df["n_planted"]),
            f"Non-null: p < {shown}": share(summary_df["n_planted_significant"],
                                                   summary_df["n_planted"]),
            f"Null traits: false positives (p < {shown})": share(
                summary_df["n_null_significant"], summary_df["n_null"]),
            "Null traits: p < 0.05 (about 5% expected)": share(summary_df["n_null_nominal"],
                                                               summary_df["n_null"]),
        }
    )  # fmt: skip


def _details_display(
    beside_df: pd.DataFrame, panels: Sequence[tuple[str, str]], catalog: TraitCatalog
) -> pd.DataFrame:
    titles = {o.key: o.title for o in truth.OUTCOMES}
    chosen = np.zeros(len(beside_df), dtype=bool)
    for outcome, cohort in panels:
        chosen |= ((beside_df["outcome"] == outcome) & (beside_df["cohort"] == cohort)).to_numpy()
    rows_df = beside_df[chosen]
    return pd.DataFrame(
        {
            "Outcome": [titles[o] for o in rows_df["outcome"]],
            "Set": [label(str(c)) for c in rows_df["cohort"]],
            "PGS": [catalog.label(str(t)) for t in rows_df["trait"]],
            "Planted (per SD of the genetic value)": [fixed(v, 3) for v in rows_df["planted"]],
            "Expected marginal effect of the PGS": [fixed(v, 3) for v in rows_df["expected"]],
            "Estimate [95% CI]": with_interval(rows_df["beta"], rows_df["ci_low"],
                                               rows_df["ci_high"], 3, ", "),
            "p": [format_p(v) for v in rows_df["p"]],
            "CI holds expected": ["yes" if v else "no" for v in rows_df["covered"]],
        }
    )  # fmt: skip
