"""The study folder's small files: truth tables, effects, config.yaml, README.md."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from trd_spark.simulate.plan import EPOCH
from trd_spark.simulate.scales import Scale

if TYPE_CHECKING:
    from trd_spark.simulate.genetics import GeneticsResult

DATE_COLUMNS = (
    "first_mdd_date",
    "end_of_observation",
    "trd_1_onset",
    "trd_2_onset",
    "trd_3_onset",
    "trd_4_onset",
    "trd_5_onset",
    "origin_date",
    "onset_date",
)
BOOL_COLUMNS = (
    "mdd_1",
    "mdd_2",
    "mdd_3",
    "treated",
    "treated_trd_1",
    "treated_trd_2",
    "treated_trd_3",
    "has_ehr",
    "non_mdd",
    "trd_1",
    "trd_2",
    "trd_3",
    "trd_4",
    "trd_5",
)
CONFIG_TEXT = """\
# A synthetic study written by `trd-spark simulate` (scale {scale}, seed {seed}).
# Paths are relative to this file; outputs land beside the data.
output_dir: .
spark: {{master: "local[*]"}}
genotypes:
  wgs:   {{path: data/wgs.mt,   format: mt}}
  array: {{path: data/array.mt, format: mt, assay: array}}
ancestry: data/ancestry_preds.tsv
cohorts:
  wgs_european: {{genotypes: wgs,   ancestry: [eur], role: discovery}}
  wgs_diverse:  {{genotypes: wgs,   ancestry: [afr, amr, eas, mid, sas, oth], role: replication}}
  microarray:   {{genotypes: array, exclude_in: [wgs], role: replication}}
weights: {{path: data/weights, format: prscs}}
omop: {{path: data/omop, format: parquet}}
"""


def as_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Day-number columns converted to dates (nullable)."""
    for column in DATE_COLUMNS:
        if column in frame:
            days = frame[column].astype("Int64")
            frame[column] = [
                None if pd.isna(d) else EPOCH + pd.Timedelta(days=int(d)) for d in days
            ]
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame


def write_truth_persons(
    root: Path, plan_df: pd.DataFrame, truth_df: pd.DataFrame, tte_df: pd.DataFrame
) -> None:
    """truth/persons.parquet (every person) and truth/time_to_event.parquet."""
    folder = root / "truth"
    folder.mkdir(parents=True, exist_ok=True)
    base = plan_df[
        [
            "person_id",
            "platform",
            "on_array",
            "cohort",
            "ancestry",
            "in_ancestry_file",
            "has_ehr",
            "group",
            "time_to_trd",
        ]
    ].rename(
        columns={
            "group": "planned_group",
            "time_to_trd": "planned_time_to_trd",
            "has_ehr": "planned_has_ehr",
        }
    )
    base["ancestry_pred"] = base["ancestry"].where(base["in_ancestry_file"])
    persons_df = base.merge(truth_df, how="left", left_on="person_id", right_index=True)
    for column in BOOL_COLUMNS:
        persons_df[column] = persons_df[column].astype("boolean").fillna(False).astype(bool)
    for column in ("n_mdd_dates", "year_of_birth", "age", "age_at_diagnosis"):
        persons_df[column] = persons_df[column].astype("Int64")
    as_dates(persons_df).to_parquet(folder / "persons.parquet", index=False)
    as_dates(tte_df.copy()).to_parquet(folder / "time_to_event.parquet", index=False)


def write_effects(
    root: Path, effects_df: pd.DataFrame, genetics: GeneticsResult, sizes: Scale
) -> None:
    """truth/effects.tsv: planted effects, the expected attenuation of the PGS on each platform
    and in each cohort, and the raw-score mean shift between the WGS sets."""
    from trd_spark.simulate.genetics import COHORT_PLATFORMS, PLATFORMS

    folder = root / "truth"
    folder.mkdir(parents=True, exist_ok=True)
    table_df = effects_df.copy()
    shift = genetics.ancestry_shift
    table_df["ancestry_mean_shift"] = np.round(
        shift if shift is not None else np.full(len(table_df), np.nan), 4
    )
    for name in (*PLATFORMS, *COHORT_PLATFORMS):
        r = genetics.pgs_correlation.get(name, np.full(len(table_df), np.nan))
        table_df[f"pgs_r_{name}"] = np.round(r, 4)
        table_df[f"expected_log_or_trd_vs_trmdd_{name}"] = np.round(
            table_df["log_or_trd_vs_trmdd"] * r, 4
        )
    for column, values in marginal_columns(effects_df, genetics, sizes).items():
        table_df[column] = np.round(values, 4)
    table_df.to_csv(folder / "effects.tsv", sep="\t", index=False, float_format="%.6g")


# outcome column prefix of truth/effects.tsv -> (planted effects it is built from, link)
MARGINAL_OUTCOMES = {
    "marginal_log_or_trd_vs_trmdd": ("log_or_trd_vs_trmdd", "logit"),
    "marginal_log_or_mdd": ("log_or_mdd", "logit"),
    "marginal_log_hr": ("log_hr_time_to_trd", "log_hazard"),
}


def marginal_columns(
    effects_df: pd.DataFrame, genetics: GeneticsResult, sizes: Scale
) -> dict[str, np.ndarray]:
    """``marginal_<outcome>_<set>`` per cohort and pooled set: the expected per-SD effect of
    each PGS fitted alone (:mod:`trd_spark.simulate.marginal`).  ``marginal_log_or_mdd`` is
    the trMDD vs non-MDD log OR (planted MDD effects less the TRD removal from trMDD).

    Returns
    -------
    Column name -> values in the rows of ``effects_df`` (none without genotypes).
    """
    from trd_spark.simulate.marginal import marginal_slopes, trmdd_vs_non_mdd_beta

    fractions = sizes.fractions
    planted = {
        "log_or_trd_vs_trmdd": effects_df["log_or_trd_vs_trmdd"].to_numpy(float),
        "log_hr_time_to_trd": effects_df["log_hr_time_to_trd"].to_numpy(float),
        "log_or_mdd": trmdd_vs_non_mdd_beta(
            effects_df["log_or_mdd"].to_numpy(float),
            effects_df["log_hr_time_to_trd"].to_numpy(float),
            fractions.trd / (fractions.trd + fractions.trmdd),
        ),
    }
    columns = {}
    for prefix, (source, link) in MARGINAL_OUTCOMES.items():
        for set_name, moments in genetics.pgs_moments.items():
            columns[f"{prefix}_{set_name}"] = marginal_slopes(moments, planted[source], link)
    return columns


def write_genetic_values(
    root: Path, persons_df: pd.DataFrame, traits_df: pd.DataFrame, genetics: GeneticsResult
) -> None:
    """truth/genetic_values.parquet: person_id + the standardised true value of each trait."""
    folder = root / "truth"
    folder.mkdir(parents=True, exist_ok=True)
    values_df = pd.DataFrame(genetics.genetic_values, columns=traits_df["trait"].tolist())
    values_df.insert(0, "person_id", persons_df["person_id"].to_numpy())
    values_df.to_parquet(folder / "genetic_values.parquet", index=False)


def write_config(root: Path, parts: Sequence[str], scale: str = "", seed: int = 0) -> Path:
    """The study's ready-to-run config.yaml (relative paths, output_dir ".")."""
    path = root / "config.yaml"
    path.write_text(CONFIG_TEXT.format(scale=scale, seed=seed))
    return path


README_TEXT = """\
# Synthetic study (trd-spark simulate, scale `{scale}`, seed {seed})

Parts: {parts}; exports: {exports}.  Everything here is simulated.

## Persons
WGS European {n_eur:,}, WGS Diverse {n_div:,}, Microarray {n_array:,} (the study's cohorts;
array persons never have WGS), plus {n_ehr_only:,} persons with EHR but no genotypes,
{n_no_ehr:,} genotyped persons without any EHR and {n_person_only:,} persons with neither (every
person is in `person`; about a quarter of its rows have no EHR record).  About 0.5% of the
genotyped persons are left out of `data/ancestry_preds.tsv`.  EHR record density:
{density}.
Planned status shares per cohort: trMDD {f.trmdd:.3f}, TRD {f.trd:.3f}, untreated MDD
{f.mdd_untreated:.3f}, MDD with schizophrenia/bipolar {f.mdd_psych:.3f}, the rest non-MDD.
{enriched}

## Files
- `data/wgs.mt`, `data/array.mt`: Hail MatrixTables (locus GRCh38, alleles; rsid; s; GT).
- `data/<platform>.vcf.bgz` (export `vcf`): all rows.  `data/<platform>.{{bed,bim,fam}}`
  (export `plink`): PLINK 1 cannot hold multi-allelic rows, so the 3-allele rows are left out
  of the PLINK files (they are in the MatrixTables and VCFs).
- `data/ancestry_preds.tsv`, `data/weights/*.txt` (PRS-CS format), `data/omop/<table>/`.
- `truth/`: persons.parquet (status under every definition, recomputed from the OMOP rows),
  time_to_event.parquet, genetic_values.parquet, effects.tsv, variants.parquet (planted QC
  failures), weights.parquet (kind of each weight: matched / flipped / ambiguous / absent).

## Planted effects (truth/effects.tsv, per SD of the true genetic value)
- MDD liability: `log_or_mdd` (about two thirds of the traits raise MDD risk; women more often).
- TRD among treated MDD: an exponential proportional-hazards time from the first MDD date with
  log hazard ratio `log_hr_time_to_trd` per SD; TRD = onset within follow-up.  It is chosen so
  that TRD vs trMDD odds ratios are near the study's (`log_or_trd_vs_trmdd`); psychiatric PGS
  raise MDD risk only.
- The estimated PGS correlate imperfectly with the true values (`pgs_r_<platform>`: weight
  noise, ambiguous and absent SNPs dropped); a trait's own effect on the PGS scale is about
  `log_or * r` (`expected_log_or_trd_vs_trmdd_<platform>`).
- Traits of a genetic cluster (`genetic_cluster`: education / cognition, the neuroticism
  items) share a genetic component, so a PGS fitted alone also carries its partners' planted
  effects.  What a per-trait analysis should estimate is the expected marginal effect per SD
  of the PGS in each cohort and pooled set (`wgs` = WGS European + WGS Diverse):
  `marginal_log_or_trd_vs_trmdd_<set>` (TRD vs trMDD), `marginal_log_or_mdd_<set>` (trMDD vs
  non-MDD: the MDD effects less the TRD effects' removal of persons from trMDD) and
  `marginal_log_hr_<set>` (time to TRD).  They are `sum_j cov(PGS_k, G_j) beta_j`, divided on
  the logit scale by `sqrt(1 + 0.346 var(rest))` for the part of the liability the PGS does not
  carry (an approximation; see the trd-spark docs, docs/the-study.md).
"""


def write_readme(
    root: Path,
    sizes: Scale,
    seed: int,
    parts: Sequence[str],
    export: Sequence[str],
    density: str | None = None,
) -> None:
    """README.md describing the study folder."""
    enriched = (
        "Case fractions are enriched relative to the study so the planted TRD-vs-trMDD "
        "directions are visible at this size."
        if sizes.name not in ("aou", "bench")
        else "Case fractions follow the study's discovery set (104,128 / 16,640 / 4,177)."
    )
    text = README_TEXT.format(
        scale=sizes.name,
        seed=seed,
        parts=", ".join(parts),
        exports=", ".join(export) or "none",
        n_eur=sizes.n_wgs_eur,
        n_div=sizes.n_wgs_diverse,
        n_array=sizes.n_array,
        n_ehr_only=sizes.n_ehr_only,
        n_no_ehr=sizes.n_no_ehr,
        n_person_only=sizes.n_person_only,
        density=density or sizes.ehr_density,
        f=sizes.fractions,
        enriched=enriched,
    )
    (root / "README.md").write_text(text)
