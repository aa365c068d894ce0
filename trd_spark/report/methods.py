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


def describe_cohorts(cohorts: Mapping[str, CohortRule]) -> str:
    """One sentence part per cohort: its platform, ancestry filter, exclusions and role."""
    parts = []
    for name, rule in cohorts.items():
        text = f"{name} ({rule.genotypes} genotypes"
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
        f"(mdd_1). Antidepressant exposures formed drug trial periods, a new period starting "
        f"when the gap ({ph.gap_basis.replace('_', ' ')}) exceeded {ph.default_gap_days} days. "
        f"TRD (trd_1) was at least {ph.min_switch_drugs} distinct antidepressants started within "
        f"{ph.trd_1.window_days} days of the start of one period (gap {ph.trd_1.gap_days} days); "
        f"trd_2 used a {ph.trd_2.gap_days}-day gap, trd_3 a {ph.trd_3.window_days}-day window, "
        "trd_4 added ECT or esketamine and trd_5 antipsychotic augmentation. trMDD was MDD with "
        "at least two exposures within one period and no TRD; non-MDD had no MDD code."
    )


def describe_analysis(an: AnalysisConfig, min_mdd_dates_survival: int) -> str:
    """The statistical models as sentences (survival subset: ``min_mdd_dates_survival`` dates)."""
    lower, upper = an.strata_percentiles[0], an.strata_percentiles[-1]
    return (
        f"Each PGS, standardised within the analysis sample, was tested by logistic regression "
        f"adjusted for {an.n_pcs} genetic principal components, sex and age for trMDD vs "
        f"non-MDD, TRD vs non-MDD and TRD vs trMDD (primary definitions {an.primary_trd} / "
        f"{an.primary_trmdd}); significance was p < {an.significance:g}. Replication was "
        "summarised by random-effects meta-regression (REML) of replication on discovery log "
        "odds ratios, reported as meta-analytic R². Time from first MDD diagnosis to TRD among "
        f"persons with at least {min_mdd_dates_survival} MDD diagnosis dates "
        f"was modelled with Cox regression (PGS strata cut at the {lower:g}th and {upper:g}th "
        f"percentiles, and per SD), adjusted for age at diagnosis, sex and {an.n_pcs} PCs."
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
        Policy(
            config.report.min_count,
            config.report.suppress_small_counts,
            config.report.rounding_base,
        ).describe(),
        describe_versions(manifests),
    ]
