"""The methods paragraph, written from the configuration the run actually used."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from trd_spark.config import (
    AnalysisConfig,
    CohortRule,
    Config,
    PhenotypeConfig,
    VariantQCConfig,
)
from trd_spark.disclosure import Policy
from trd_spark.study import label, platform_label

# analysis.pgs_adjust as the report writes it (docs/statistics.md, "Ancestry-calibrated PGS")
PGS_ADJUST_TEXT: dict[str, str] = {
    "none": "raw PGS, standardised within each analysis sample (no ancestry calibration; "
    "analysis.pgs_adjust: none)",
    "z_norm1": "ancestry-calibrated PGS, Z_norm1 of pgsc_calc: the residual of the PGS "
    "regressed on the first PCs in a reference set, divided by the reference residuals' SD, "
    "then standardised (analysis.pgs_adjust: z_norm1)",
    "z_norm2": "ancestry-calibrated PGS, Z_norm2 of pgsc_calc: the residual of the PGS "
    "regressed on the first PCs, divided by an SD that depends on the PCs (Gamma model), then "
    "standardised (analysis.pgs_adjust: z_norm2)",
}


def describe_cohorts(cohorts: Mapping[str, CohortRule]) -> str:
    """One sentence part per cohort: its platform, ancestry filter, exclusions and role."""
    parts = []
    for name, rule in cohorts.items():
        text = f"{label(name)} ({platform_label(rule.genotypes)} genotypes"
        if rule.ancestry is not None:
            text += f", predicted ancestry {'/'.join(rule.ancestry)}"
        if rule.exclude_in:
            text += f", excluding persons genotyped on {'/'.join(rule.exclude_in)}"
        parts.append(text + f"; {rule.role})")
    return "; ".join(parts)


def describe_qc(qc: VariantQCConfig) -> str:
    """The variant QC thresholds as a sentence."""
    population = (
        f"Variants were kept when their allele frequency exceeded {qc.min_pop_af:g} or their "
        f"allele count exceeded {qc.min_pop_ac} in at least one ancestry group; multi-allelic "
        if qc.population_af
        else "Variants were used as genotyped, without a population allele-frequency rule; "
        "multi-allelic "
    )
    return (
        f"{population}sites were {'dropped' if qc.multiallelic == 'drop' else 'split'}"
        f"{', non-SNVs dropped' if qc.snv_only else ''}, and sites with call rate below "
        f"{qc.min_call_rate:g}, overall allele frequency at or below {qc.min_af:g} or an "
        f"excess-heterozygosity p-value below {qc.excess_het_p:g} were removed."
    )


def describe_platforms(config: Config) -> str:
    """Each platform's variant QC and overlap floor (they can differ: an array's default has
    no population-AF rule and a lower floor)."""
    parts = []
    for name, source in config.genotypes.items():
        parts.append(
            f"On {name} ({source.assay}): {describe_qc(config.platform_qc(name))} A trait was "
            f"scored there when at least {config.platform_min_overlap(name):g} of its weights "
            "matched."
        )
    return " ".join(parts)


def describe_definitions(ph: PhenotypeConfig) -> str:
    """The drug trial period and TRD definitions as sentences."""
    return (
        "MDD required at least one MDD diagnosis date and no schizophrenia or bipolar code "
        f"(MDD 1). Antidepressant exposures formed drug trial periods, a new period starting "
        f"when the gap ({ph.gap_basis.replace('_', ' ')}) exceeded {ph.default_gap_days} days. "
        f"TRD (TRD 1) was at least {ph.min_switch_drugs} distinct antidepressants started within "
        f"{ph.trd_1.window_days} days of the start of one period (gap {ph.trd_1.gap_days} days); "
        f"TRD 2 used a {ph.trd_2.gap_days}-day gap, TRD 3 a {ph.trd_3.window_days}-day window, "
        "TRD 4 added ECT or esketamine and TRD 5 antipsychotic augmentation. trMDD was MDD with "
        "at least two exposures within one period and no TRD; non-MDD had no MDD code."
    )


def describe_analysis(an: AnalysisConfig, min_mdd_dates_survival: int) -> str:
    """The statistical models as sentences (survival subset: ``min_mdd_dates_survival`` dates)."""
    lower, upper = an.strata_percentiles[0], an.strata_percentiles[-1]
    return (
        f"Each PGS ({PGS_ADJUST_TEXT.get(an.pgs_adjust, an.pgs_adjust)}) was tested by logistic "
        f"regression adjusted for {an.n_pcs} genetic principal components, sex and age for "
        "trMDD vs non-MDD, TRD vs non-MDD and TRD vs trMDD (primary definitions "
        f"{label(an.primary_trd)} / {label(an.primary_trmdd)}); significance was "
        f"p < {an.significance:g}. Time from first MDD diagnosis to TRD among persons with at "
        f"least {min_mdd_dates_survival} MDD diagnosis dates was modelled with Cox regression "
        f"(PGS strata cut at the {lower:g}th and {upper:g}th percentiles, and per SD), adjusted "
        f"for age at diagnosis, sex and {an.n_pcs} PCs, per cohort and in the cohorts of one "
        "genotyping platform pooled with cohort as a stratum. Proportional hazards were checked "
        "with the score test of R survival's cox.zph (Kaplan-Meier transform of time) and "
        "graphically by the scaled Schoenfeld residuals with R's smooth."
    )


def describe_replication() -> str:
    """How replication and sensitivity were summarised, as sentences."""
    return (
        "Replication was summarised by random-effects meta-regression (REML, as metafor's rma) "
        "of the replication cohort's estimates on the discovery cohort's: the log odds ratios "
        "of each contrast, and the log hazard ratios per SD of time to TRD (also against the "
        "pooled WGS set for the microarray cohort), reported as the meta-analytic R² (the "
        "share of between-PGS variance the discovery estimates explain, truncated to 0-100%) "
        "and the slope with its 95% CI (1: the same effects; below 1: smaller effects). Table 2 "
        "regresses each definition pair's TRD vs trMDD log ORs on the primary pair's."
    )


def describe_versions(manifests: Mapping[str, Mapping[str, Any]]) -> str:
    """Package versions recorded in the stage manifests, as a sentence."""
    versions: dict[str, str] = {}
    for manifest in manifests.values():
        versions.update({str(k): str(v) for k, v in (manifest.get("versions") or {}).items()})
    if not versions:
        return "Package versions were not recorded (no stage manifests found)."
    listed = ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))
    return f"Software: {listed}."


def adjustment_summary(adjustment_df: pd.DataFrame) -> pd.DataFrame:
    """The PGS calibration per platform (``results/pgs_adjustment.parquet``) for the methods:
    method, PCs, reference, traits, the median share of PGS variance the PCs explain and how
    many Gamma fits converged (no counts of persons).

    Returns
    -------
    One row per platform and method (empty when no calibration was used).
    """
    columns = ["Platform", "Method", "PCs", "Reference", "Traits", "Median R² of PGS on PCs",
               "Converged"]  # fmt: skip
    if adjustment_df.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (platform, method), rows_df in adjustment_df.groupby(["platform", "method"], sort=False):
        reference = rows_df["reference"].astype(str).value_counts().index[0]
        rows.append([platform_label(str(platform)), str(method), int(rows_df["n_pcs"].iloc[0]),
                     REFERENCE_TEXT.get(reference, reference), len(rows_df),
                     f"{rows_df['r2_pcs'].median():.3f}",
                     f"{int(rows_df['converged'].sum())} of {len(rows_df)}"])  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


REFERENCE_TEXT = {
    "not_projected": "persons with PCs from the ancestry file",
    "all": "all analysed persons of the platform",
}


def stage_timings(manifests: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per finished stage: when it finished and how long it took.

    Parameters
    ----------
    manifests : stage -> manifest.

    Returns
    -------
    Columns stage, finished, seconds (empty when no manifest was found).
    """
    rows = [
        {
            "stage": stage,
            "finished": str(manifest.get("finished", "")),
            "seconds": "" if manifest.get("seconds") is None else f"{manifest['seconds']:.1f}",
        }
        for stage, manifest in manifests.items()
    ]
    return pd.DataFrame(rows, columns=["stage", "finished", "seconds"])


def write_methods(config: Config, manifests: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The methods section as paragraphs, from the config and manifests of this run.

    The glue between the config and the ``describe_*`` functions, which take its sections.

    Parameters
    ----------
    config : the run's config.
    manifests : stage -> manifest (for package versions).

    Returns
    -------
    Paragraphs of plain text (HTML-escaped by the caller).
    """
    return [
        f"Cohorts: {describe_cohorts(config.cohorts)}. {describe_platforms(config)} "
        "PGS were computed from "
        f"{config.weights.format} weights (traits: {config.weights.traits}) matched to the "
        "genotypes"
        f"{'' if config.weights.keep_ambiguous else ', strand-ambiguous SNPs dropped'}.",
        describe_definitions(config.phenotypes),
        describe_analysis(config.analysis, config.phenotypes.min_mdd_dates_survival),
        describe_replication(),
        Policy(
            config.report.min_count,
            config.report.suppress_small_counts,
            config.report.rounding_base,
        ).describe(),
        describe_versions(manifests),
    ]
