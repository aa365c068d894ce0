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

from trd_spark.simulate.ancestry import ancestry_table, compute_pcs, write_ancestry_file
from trd_spark.simulate.dosages import PlatformPersons
from trd_spark.simulate.genotypes import (
    GenotypeResult,
    PlatformOutput,
    simulate_genotypes,
    start_platform_files,
)
from trd_spark.simulate.persons import GROUPS
from trd_spark.simulate.plink import write_fam
from trd_spark.simulate.scales import Scale
from trd_spark.simulate.variants import build_variant_table, draw_frequencies
from trd_spark.simulate.weights import (
    WeightSet,
    alt_weights,
    draw_noise,
    draw_true_effects,
    orient_weight_sites,
    write_prscs_files,
)

PLATFORMS = ("wgs", "array")
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
    pgs_correlation: dict[str, np.ndarray] = field(default_factory=dict)
    n_pcs_persons: int = 0
    freqs: np.ndarray | None = None  # ALT frequency per catalog row and ancestry group

    def finish(self, root: Path, plan_df: pd.DataFrame, export: Sequence[str]) -> None:
        """Write .fam sex, the MatrixTables, exports, ancestry file, weights and their truth."""
        finish_genotypes(self, root, plan_df, export)


def weight_row_maps(catalog_df: pd.DataFrame, weights: WeightSet) -> dict:
    """Row numbers of each catalog site in the effect and weight matrices (-1 when none)."""
    hm3 = catalog_df["hm3"].to_numpy()
    genotyped_hm3 = hm3 & (catalog_df["kind"] != "absent").to_numpy()
    weight_row = np.full(len(catalog_df), -1)
    weight_row[hm3] = np.arange(hm3.sum())
    effect_row = np.full(len(catalog_df), -1)
    effect_row[genotyped_hm3] = np.arange(genotyped_hm3.sum())
    return {
        "weight": weight_row,
        "effect": effect_row,
        "effects": weights.effects,
        "noise": weights.noise,
    }


def platform_persons(persons_df: pd.DataFrame, name: str) -> PlatformPersons:
    """The platform's persons in id order, grouped as the ancestry file will say."""
    index = np.flatnonzero((persons_df["platform"] == name).to_numpy())
    ancestry = persons_df["ancestry"].to_numpy()[index]
    known = persons_df["in_ancestry_file"].to_numpy()[index]
    group = np.array([GROUPS.index(a) if k else -1 for a, k in zip(ancestry, known, strict=True)])
    return PlatformPersons(name=name, index=index, group=group)


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
    hm3_df = catalog_df[catalog_df["hm3"]]
    sites_df = orient_weight_sites(rng, hm3_df)
    n_effects = int(sites_df["genotyped"].sum())
    weights = WeightSet(
        sites_df=sites_df,
        effects=draw_true_effects(rng, n_effects, len(traits)),
        noise=draw_noise(rng, freqs[catalog_df["hm3"].to_numpy()].mean(1), len(traits)),
    )
    pca_sites = pick_pca_sites(rng, catalog_df, sizes.n_pca_sites) if write_genotypes else None
    work = root / "_work"
    platforms = {}
    if write_genotypes:
        work.mkdir(parents=True, exist_ok=True)
        (root / "data").mkdir(parents=True, exist_ok=True)
        for name in PLATFORMS:
            export_prefix = root / "data" / name if export_plink else None
            out = PlatformOutput(
                persons=platform_persons(persons_df, name),
                prefix=work / name,
                export_prefix=export_prefix,
            )
            out.score_effects = np.zeros((out.persons.n, len(traits)))
            out.score_noise = np.zeros((out.persons.n, len(traits)))
            start_platform_files(out)
            platforms[name] = out
    genotyped = (catalog_df["kind"] != "absent").to_numpy()
    group = np.array([GROUPS.index(a) for a in persons_df["ancestry"]])
    started = time.perf_counter()
    result = simulate_genotypes(
        seed,
        catalog_df[genotyped].reset_index(drop=True),
        freqs[genotyped],
        group,
        platforms,
        weight_row_maps(catalog_df, weights),
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
        genetics.pgs_correlation = pgs_correlations(genetics, result)
    return genetics


def check_planted(result: GenotypeResult) -> None:
    """Every site fails exactly the rule it was built to fail (good sites: none)."""
    for name, out in result.platforms.items():
        wrong = [(s, p, f) for s, p, f in out.qc_rows if p != f]
        if wrong:
            raise PlantingError(
                f"{name}: {len(wrong)} sites fail another QC rule than planted, e.g. {wrong[:5]}"
            )


def pgs_correlations(genetics: GeneticsResult, result: GenotypeResult) -> dict[str, np.ndarray]:
    """Per platform and trait: correlation of the score the pipeline should compute (matched,
    non-ambiguous weights; missing calls at the mean) with the true genetic value."""
    correlations = {}
    for name, out in result.platforms.items():
        assert out.score_effects is not None and out.score_noise is not None
        score = out.score_effects / genetics.gv_sd + out.score_noise
        truth = genetics.genetic_values[out.persons.index]
        correlations[name] = np.array(
            [np.corrcoef(score[:, t], truth[:, t])[0, 1] for t in range(score.shape[1])]
        )
    return correlations


def finish_genotypes(
    genetics: GeneticsResult, root: Path, plan_df: pd.DataFrame, export: Sequence[str]
) -> None:
    """Write the platforms' MTs (and exports), the ancestry file, weight files and truth tables."""
    from trd_spark.simulate.matrixtable import (
        export_platform_vcf,
        import_simulated_plink,
        write_platform_mt,
    )

    assert genetics.genotypes is not None and genetics.work is not None
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    sex_code = np.where(plan_df["female"].to_numpy(), 2, 1)
    for name, out in genetics.genotypes.platforms.items():
        assert out.prefix is not None
        for prefix in (out.prefix, out.export_prefix):
            if prefix is not None:
                write_fam(
                    prefix.with_suffix(".fam"),
                    plan_df["person_id"].to_numpy()[out.persons.index],
                    sex_code[out.persons.index],
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
    frames = []
    for name in PLATFORMS:
        rows = catalog_df[catalog_df[f"on_{name}"]]
        alleles = [[r, *a.split(",")] for r, a in zip(rows["ref"], rows["alt"], strict=True)]
        frames.append(
            pd.DataFrame(
                {
                    "platform": name,
                    "contig": rows["contig"],
                    "position": rows["position"],
                    "locus": rows["contig"] + ":" + rows["position"].astype(str),
                    "alleles": alleles,
                    "rsid": rows["rsid"],
                    "planted_fail": rows["planted_fail"],
                    "weight_site": rows["hm3"],
                    "ambiguous": rows["ambiguous"],
                }
            )
        )
    pd.concat(frames, ignore_index=True).to_parquet(truth / "variants.parquet", index=False)
    sites_df = genetics.weights.sites_df
    on_array = catalog_df.loc[catalog_df["hm3"], "on_array"].to_numpy()
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
            "on_wgs": sites_df["genotyped"],
            "on_array": on_array,
        }
    )
    weights_df = pd.concat([weights_df.assign(trait=t) for t in genetics.traits], ignore_index=True)
    weights_df[["trait", *weights_df.columns[:-1]]].to_parquet(
        truth / "weights.parquet", index=False
    )
