"""The genetic side of the study: catalog, dosages, genetic values, MTs, ancestry, weights."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.config import ASSAY_QC_DEFAULTS
from trd_spark.simulate.ancestry import ancestry_table, compute_pcs, write_ancestry_file
from trd_spark.simulate.dosages import PlatformPersons, expected_rule
from trd_spark.simulate.genotypes import (
    GenotypeResult,
    PlatformOutput,
    PlinkTarget,
    WeightRows,
    simulate_genotypes,
)
from trd_spark.simulate.marginal import SetMoments, set_moments, standardise
from trd_spark.simulate.persons import GROUPS
from trd_spark.simulate.scales import Scale
from trd_spark.simulate.variants import build_variant_table, draw_frequencies
from trd_spark.simulate.weights import (
    WeightSet,
    alt_weights,
    ancestry_mixing,
    draw_noise,
    draw_shifts,
    draw_true_effects,
    orient_weight_sites,
    stratification_bias,
    write_prscs_files,
)

# the simulated platforms and their assay (the pipeline's QC policy follows the assay)
PLATFORM_ASSAYS = {"wgs": "sequencing", "array": "array"}
PLATFORMS = tuple(PLATFORM_ASSAYS)
# the study's cohorts and the platform each is built from
COHORT_PLATFORMS = {"wgs_european": "wgs", "wgs_diverse": "wgs", "microarray": "array"}
log = logging.getLogger(__name__)


class PlantingError(AssertionError):
    """A simulated site does not fail the QC rule it was built to fail (a simulator bug)."""


@dataclass
class GeneticsResult:
    """Everything later steps need from the genetic simulation."""

    catalog_df: pd.DataFrame
    weights: WeightSet
    traits: list[str]
    genetic_values: np.ndarray  # standardised, rows as the persons table
    gv_sd: np.ndarray
    person_ids: np.ndarray
    seed: int = 0
    genotypes: GenotypeResult | None = None
    work: Path | None = None
    # per platform and per cohort: correlation of the expected score with the true value
    pgs_correlation: dict[str, np.ndarray] = field(default_factory=dict)
    # per trait: raw-score mean of WGS Diverse minus WGS European, in European SDs
    ancestry_shift: np.ndarray | None = None
    # per cohort and pooled set: moments of standardised scores and true values (marginal.py)
    pgs_moments: dict[str, SetMoments] = field(default_factory=dict)
    n_pcs_persons: int = 0
    freqs: np.ndarray | None = None  # ALT frequency per catalog row and ancestry group

    def finish(self, root: Path, plan_df: pd.DataFrame, export: Sequence[str]) -> None:
        """Write .fam sex, the MatrixTables, exports, ancestry file, weights and their truth."""
        finish_genotypes(self, root, plan_df, export)


def weight_rows(catalog_df: pd.DataFrame, weights: WeightSet) -> WeightRows:
    """Where each catalog site's effects and weight errors are (row numbers, -1 when none)."""
    hm3 = catalog_df["hm3"].to_numpy()
    genotyped_hm3 = hm3 & (catalog_df["kind"] != "absent").to_numpy()
    weight_row = np.full(len(catalog_df), -1)
    weight_row[hm3] = np.arange(hm3.sum())
    effect_row = np.full(len(catalog_df), -1)
    effect_row[genotyped_hm3] = np.arange(genotyped_hm3.sum())
    return WeightRows(
        weight=weight_row,
        effect=effect_row,
        effects=weights.effects,
        other_effects=weights.other_effects,
        error=weights.error,
        mixing=ancestry_mixing(GROUPS),
    )


def platform_persons(persons_df: pd.DataFrame, name: str) -> PlatformPersons:
    """The platform's persons in id order, grouped as the ancestry file will say."""
    on_platform = persons_df["on_array"] if name == "array" else persons_df["platform"] == name
    index = np.flatnonzero(on_platform.to_numpy())
    ancestry = persons_df["ancestry"].to_numpy()[index]
    known = persons_df["in_ancestry_file"].to_numpy()[index]
    group = np.array([GROUPS.index(a) if k else -1 for a, k in zip(ancestry, known, strict=True)])
    population_af = ASSAY_QC_DEFAULTS[PLATFORM_ASSAYS[name]].get("population_af", True)
    return PlatformPersons(name=name, index=index, group=group, population_af=population_af)


def platform_output(persons_df: pd.DataFrame, name: str, work: Path, export: Path | None,
                    n_traits: int) -> PlatformOutput:  # fmt: skip
    """A platform's accumulators and PLINK targets (the files Hail imports, then the export)."""
    persons = platform_persons(persons_df, name)
    targets = [PlinkTarget(work / name)]
    if export is not None:
        targets.append(PlinkTarget(export / name, biallelic_only=True))
    for target in targets:
        target.start()
    return PlatformOutput(
        persons=persons,
        targets=targets,
        score_effects=np.zeros((persons.n, n_traits)),
        score_error=np.zeros((persons.n, n_traits)),
    )


def draw_weights(
    rng: np.random.Generator, catalog_df: pd.DataFrame, freqs: np.ndarray, traits: list[str]
) -> WeightSet:
    """The weight sites, true effects (European and other groups'), noise and bias."""
    hm3 = catalog_df["hm3"].to_numpy()
    sites_df = orient_weight_sites(rng, catalog_df[hm3])
    n_effects = int(sites_df["genotyped"].sum())
    return WeightSet(
        sites_df=sites_df,
        effects=draw_true_effects(rng, n_effects, traits),
        other_effects=draw_true_effects(rng, n_effects, traits),
        noise=draw_noise(rng, freqs[hm3].mean(1), len(traits)),
        bias=stratification_bias(freqs[hm3], draw_shifts(rng, traits), GROUPS),
    )


def pick_pca_sites(rng: np.random.Generator, catalog_df: pd.DataFrame, count: int) -> np.ndarray:
    """Good non-ambiguous sites on both platforms, for the PCs of the ancestry file."""
    eligible = catalog_df[
        (catalog_df["kind"] == "good")
        & ~catalog_df["ambiguous"]
        & catalog_df["on_wgs"]
        & catalog_df["on_array"]
    ]
    chosen = rng.choice(eligible["site"].to_numpy(), size=min(count, len(eligible)), replace=False)
    return np.sort(chosen)


def simulate_genetics(
    root: Path,
    seed: int,
    sizes: Scale,
    persons_df: pd.DataFrame,
    traits_df: pd.DataFrame,
    write_genotypes: bool,
    export_plink: bool = False,
) -> GeneticsResult:
    """Draw the catalog, effects and dosages; write PLINK files when ``write_genotypes``.

    Returns
    -------
    GeneticsResult with standardised true genetic values of every person.
    """
    rng = np.random.default_rng([seed, 3])
    catalog_df = build_variant_table(rng, sizes.n_sites, sizes.n_chromosomes)
    freqs = draw_frequencies(rng, len(catalog_df))
    traits = traits_df["trait"].tolist()
    weights = draw_weights(rng, catalog_df, freqs, traits)
    pca_sites = pick_pca_sites(rng, catalog_df, sizes.n_pca_sites) if write_genotypes else None
    work = root / "_work"
    platforms = {}
    if write_genotypes:
        work.mkdir(parents=True, exist_ok=True)
        (root / "data").mkdir(parents=True, exist_ok=True)
        export = root / "data" if export_plink else None
        platforms = {
            name: platform_output(persons_df, name, work, export, len(traits)) for name in PLATFORMS
        }
    genotyped = (catalog_df["kind"] != "absent").to_numpy()
    group = np.array([GROUPS.index(a) for a in persons_df["ancestry"]])
    started = time.perf_counter()
    result = simulate_genotypes(
        seed,
        catalog_df[genotyped].reset_index(drop=True),
        freqs[genotyped],
        group,
        platforms,
        weight_rows(catalog_df, weights),
        sizes.block_rows,
        pca_sites,
    )
    log.info(
        "dosages drawn for %d sites (%.1f s)", int(genotyped.sum()), time.perf_counter() - started
    )
    raw = result.genetic_values
    mean, sd = raw.mean(0), raw.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    genetics = GeneticsResult(
        catalog_df=catalog_df,
        weights=weights,
        traits=traits,
        genetic_values=(raw - mean) / sd,
        gv_sd=sd,
        person_ids=persons_df["person_id"].to_numpy(),
        seed=seed,
        genotypes=result if write_genotypes else None,
        work=work,
        freqs=freqs,
    )
    if write_genotypes:
        check_planted(result)
        scores = expected_scores(genetics, result)
        genetics.pgs_correlation = pgs_correlations(genetics, persons_df, scores)
        genetics.ancestry_shift = ancestry_shifts(persons_df, scores["wgs"])
        genetics.pgs_moments = pgs_set_moments(genetics, persons_df, scores)
    return genetics


def check_planted(result: GenotypeResult) -> None:
    """Every site fails exactly the rule it was built to fail (good sites: none)."""
    for name, out in result.platforms.items():
        wrong = [(s, p, f) for s, p, f in out.qc_rows if p != f]
        if wrong:
            raise PlantingError(
                f"{name}: {len(wrong)} sites fail another QC rule than planted, e.g. {wrong[:5]}"
            )


def expected_scores(
    genetics: GeneticsResult, result: GenotypeResult
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per platform: (row numbers of its persons, the score the pipeline should compute from
    their genotypes: matched, non-ambiguous weights of sites passing QC, missing at the mean)."""
    scores = {}
    for name, out in result.platforms.items():
        assert out.score_effects is not None and out.score_error is not None
        scores[name] = (out.persons.index, out.score_effects / genetics.gv_sd + out.score_error)
    return scores


def correlations(score: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per trait (column): the correlation of score and truth."""
    return np.array([np.corrcoef(score[:, t], truth[:, t])[0, 1] for t in range(score.shape[1])])


def pgs_correlations(
    genetics: GeneticsResult,
    persons_df: pd.DataFrame,
    scores: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Per platform (all its persons) and per study cohort (its members): the correlation of
    the expected score with the true genetic value, trait by trait."""
    out = {}
    cohort = persons_df["cohort"].to_numpy()
    for name, (index, score) in scores.items():
        out[name] = correlations(score, genetics.genetic_values[index])
        for set_name in [c for c, p in COHORT_PLATFORMS.items() if p == name]:
            members = cohort[index] == set_name
            if members.sum() > 2:
                truth = genetics.genetic_values[index[members]]
                out[set_name] = correlations(score[members], truth)
    return out


def pgs_set_moments(
    genetics: GeneticsResult,
    persons_df: pd.DataFrame,
    scores: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, SetMoments]:
    """Per cohort and per pooled set (named after its platform): the moments of the scores,
    standardised within each cohort, and the true values, within ancestry groups
    (:func:`trd_spark.simulate.marginal.set_moments`); members with EHR only."""
    out = {}
    cohort = persons_df["cohort"].to_numpy()
    ancestry = persons_df["ancestry"].to_numpy()
    has_ehr = persons_df["has_ehr"].to_numpy()
    for name, (index, score) in scores.items():
        parts = []
        for set_name in [c for c, p in COHORT_PLATFORMS.items() if p == name]:
            rows = np.flatnonzero((cohort[index] == set_name) & has_ehr[index])
            if len(rows) > 2:
                z, gv = standardise(score[rows]), genetics.genetic_values[index[rows]]
                strata = np.array([f"{set_name}/{a}" for a in ancestry[index[rows]]])
                out[set_name] = set_moments(z, gv, strata, genetics.traits)
                parts.append((z, gv, strata))
        if parts:
            z, gv, strata = (np.concatenate(column) for column in zip(*parts, strict=True))
            out[name] = set_moments(z, gv, strata, genetics.traits)
    return out


def ancestry_shifts(persons_df: pd.DataFrame, wgs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per trait: raw-score mean of WGS Diverse minus WGS European, in European-score SDs."""
    index, score = wgs
    cohort = persons_df["cohort"].to_numpy()[index]
    european, diverse = score[cohort == "wgs_european"], score[cohort == "wgs_diverse"]
    return (diverse.mean(0) - european.mean(0)) / european.std(0, ddof=1)


def finish_genotypes(
    genetics: GeneticsResult, root: Path, plan_df: pd.DataFrame, export: Sequence[str]
) -> None:
    """Write the platforms' MTs (and exports), the ancestry file, weight files and truth tables."""
    assert genetics.genotypes is not None and genetics.work is not None
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    sex_code = np.where(plan_df["female"].to_numpy(), 2, 1)
    for name, out in genetics.genotypes.platforms.items():
        for target in out.targets:
            target.finish(
                plan_df["person_id"].to_numpy()[out.persons.index], sex_code[out.persons.index]
            )
        write_platform_genotypes(genetics, name, out, data, export)
    started = time.perf_counter()
    if "plink" in export:
        log.info("PLINK export: multi-allelic rows left out (PLINK 1 cannot hold them)")
    write_ancestry(genetics, root, plan_df)
    log.info("ancestry file written (%.1f s)", time.perf_counter() - started)
    values = alt_weights(genetics.weights, genetics.gv_sd)
    write_prscs_files(data / "weights", genetics.traits, genetics.weights.sites_df, values)
    write_variant_truth(genetics, root)
    log.info("weights and variant truth written (%.1f s)", time.perf_counter() - started)
    shutil.rmtree(genetics.work, ignore_errors=True)


def write_platform_genotypes(
    genetics: GeneticsResult, name: str, out: PlatformOutput, data: Path, export: Sequence[str]
) -> None:
    """One platform's MatrixTable from its PLINK files, and its VCF when exported."""
    from trd_spark.simulate.matrixtable import (
        export_platform_vcf,
        import_simulated_plink,
        write_platform_mt,
    )

    started = time.perf_counter()
    n_cells = int(genetics.catalog_df[f"on_{name}"].sum()) * out.persons.n
    multi = multiallelic_alleles(genetics.catalog_df, name)
    mt = import_simulated_plink(out.prefix, multi, max(1, min(16, n_cells // 40_000_000 + 1)))
    write_platform_mt(mt, data / f"{name}.mt")
    log.info("%s.mt written (%.1f s)", name, time.perf_counter() - started)
    if "vcf" in export:
        export_platform_vcf(data / f"{name}.mt", data / f"{name}.vcf.bgz")
        (data / f".{name}.vcf.bgz.crc").unlink(missing_ok=True)
        log.info("%s.vcf.bgz written (%.1f s)", name, time.perf_counter() - started)


def multiallelic_alleles(catalog_df: pd.DataFrame, name: str) -> dict[str, list[str]]:
    """``contig:position`` -> full allele list of the platform's 3-allele rows."""
    multi_df = catalog_df[(catalog_df["kind"] == "multiallelic") & catalog_df[f"on_{name}"]]
    return {
        f"{c}:{p}": [r, *a.split(",")]
        for c, p, r, a in zip(
            multi_df["contig"], multi_df["position"], multi_df["ref"], multi_df["alt"], strict=True
        )
    }


def write_ancestry(genetics: GeneticsResult, root: Path, plan_df: pd.DataFrame) -> None:
    """PCs of all genotyped persons; the file leaves out the planned absentees."""
    assert genetics.genotypes is not None and genetics.genotypes.pca_dosages is not None
    genotyped = plan_df["platform"].notna().to_numpy()
    rng = np.random.default_rng([genetics.seed, 5])
    pcs = compute_pcs(rng, genetics.genotypes.pca_dosages[genotyped])
    present = plan_df["in_ancestry_file"].to_numpy()[genotyped]
    subset_df = plan_df[genotyped][present]
    table_df = ancestry_table(
        subset_df["person_id"].to_numpy(), subset_df["ancestry"].to_numpy(), pcs[present], rng
    )
    write_ancestry_file(root / "data" / "ancestry_preds.tsv", table_df)
    genetics.n_pcs_persons = int(genotyped.sum())


def write_variant_truth(genetics: GeneticsResult, root: Path) -> None:
    """truth/variants.parquet (one row per platform and site) and truth/weights.parquet."""
    truth = root / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    catalog_df = genetics.catalog_df
    pd.concat(
        [platform_variants(catalog_df, name) for name in PLATFORMS], ignore_index=True
    ).to_parquet(truth / "variants.parquet", index=False)
    sites_df = genetics.weights.sites_df
    weight_sites_df = catalog_df[catalog_df["hm3"]]
    weights_df = pd.DataFrame(
        {
            "rsid": sites_df["rsid"],
            "chrom": sites_df["chrom"],
            "position": sites_df["position"],
            "a1": sites_df["a1"],
            "a2": sites_df["a2"],
            "kind": sites_df["kind"],
            "a1_is_ref": sites_df["a1_is_ref"],
            "complemented": sites_df["complemented"],
            "fails_qc": weight_sites_df["planted_fail"].notna().to_numpy(),
            "on_wgs": sites_df["genotyped"],
            "on_array": weight_sites_df["on_array"].to_numpy(),
        }
    )
    weights_df = pd.concat([weights_df.assign(trait=t) for t in genetics.traits], ignore_index=True)
    weights_df[["trait", *weights_df.columns[:-1]]].to_parquet(
        truth / "weights.parquet", index=False
    )


def platform_variants(catalog_df: pd.DataFrame, name: str) -> pd.DataFrame:
    """One platform's rows of truth/variants.parquet; ``planted_fail`` is the rule the
    pipeline's QC policy for the platform's assay removes the site by."""
    rows = catalog_df[catalog_df[f"on_{name}"]]
    population_af = ASSAY_QC_DEFAULTS[PLATFORM_ASSAYS[name]].get("population_af", True)
    alleles = [[r, *a.split(",")] for r, a in zip(rows["ref"], rows["alt"], strict=True)]
    return pd.DataFrame(
        {
            "platform": name,
            "contig": rows["contig"],
            "position": rows["position"],
            "locus": rows["contig"] + ":" + rows["position"].astype(str),
            "alleles": alleles,
            "rsid": rows["rsid"],
            "planted_fail": [expected_rule(str(k), population_af) for k in rows["kind"]],
            "weight_site": rows["hm3"],
            "ambiguous": rows["ambiguous"],
        }
    )
