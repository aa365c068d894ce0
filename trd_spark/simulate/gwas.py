"""GWAS summary statistics and an LD reference panel for the weights stage (PRS-CS).

For every trait, the per-allele effects the simulator planted (those that make each
person's true genetic value) act in a GWAS population with block LD
(:mod:`trd_spark.simulate.ldref`, European allele frequencies): standardised effects
``beta = c * effect * sqrt(2 p (1 - p))``, scaled so the SNPs explain ``h2`` of the
phenotype, and marginal estimates ``m = R beta + R^(1/2) z / sqrt(N)`` per LD block ``R``.
Written:

- ``data/sumstats/<trait>.txt`` in the PRS-CS layout (``SNP A1 A2 BETA SE``,
  ``SNP A1 A2 BETA P`` or ``SNP A1 A2 OR P``, by trait), A1 the REF or ALT allele, now and
  then on the other strand, a few SNPs missing and a few with alleles that match nothing;
- ``data/ldref/`` the LD panel ``sim`` (``snpinfo_sim_hm3``, ``ldblk_sim_chr<N>.hdf5``);
- ``data/traits.tsv``, the catalog with each trait's GWAS ``n_gwas``;
- ``truth/gwas.tsv``: trait, n_gwas, h2, m_eff (SNPs over their mean LD score),
  r_expected (Daetwyler et al. 2008: sqrt(N h2 / (N h2 + m_eff)));
- ``config_prscs.yaml``: the study's config with the weights stage switched on.

Simplification: the target persons' genotypes have no LD (they are drawn as before);
only the GWAS population and the reference persons share the block-LD model.  The joint
effects PRS-CS estimates are the ones the targets' genetic values are made of.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from trd_spark.resources import conf_path
from trd_spark.simulate.ldref import (
    PanelSites,
    draw_ld_model,
    population_ld,
    write_reference_panel,
)
from trd_spark.simulate.persons import GROUPS

if TYPE_CHECKING:
    from trd_spark.simulate.genetics import GeneticsResult

PANEL = "sim"
GWAS_ANCESTRY = "eur"
H2_RANGE = (0.1, 0.4)
N_PER_SITE = (10.0, 40.0)  # GWAS N per weight site, drawn per trait
NOT_IN_GWAS = 0.01  # sites missing from the summary statistics
NOT_IN_PANEL = 0.02  # sites missing from the LD panel
ALLELE_MISMATCH = 0.003  # summary-statistic rows whose other allele matches nothing
COMPLEMENTED = 0.1  # non-ambiguous rows written on the other strand
COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}


@dataclass(frozen=True)
class GwasScale:
    """Sizes of the GWAS side of one simulation scale."""

    n_reference_persons: int
    n_population_haplotypes: int  # the GWAS population's LD is measured on these
    mean_block: float  # SNPs per LD block
    chain: tuple[int, int, int]  # n_iter, n_burnin, thin of config_prscs.yaml


GWAS_SCALES = {
    "tiny": GwasScale(400, 8_000, 30.0, (300, 150, 3)),
    "demo": GwasScale(500, 20_000, 60.0, (1000, 500, 5)),
    "aou": GwasScale(500, 20_000, 60.0, (1000, 500, 5)),
}


@dataclass(frozen=True)
class TraitGwas:
    """Per trait: GWAS N, heritability and the standardised effects (sites x traits)."""

    n_gwas: np.ndarray
    h2: np.ndarray
    beta_std: np.ndarray  # standardised joint effects of ALT in the GWAS population
    marginal: np.ndarray  # their marginal estimates


def simulate_gwas(root: Path, seed: int, scale: str, genetics: GeneticsResult) -> pd.DataFrame:
    """Write the summary statistics, the LD panel, the catalog with N, truth and config.

    Returns
    -------
    ``truth/gwas.tsv`` as a table.
    """
    assert genetics.freqs is not None
    sizes = GWAS_SCALES[scale]
    catalog_df = genetics.catalog_df
    hm3 = catalog_df["hm3"].to_numpy()
    sites_df = catalog_df[hm3].reset_index(drop=True)
    alt_freq = genetics.freqs[hm3, GROUPS.index(GWAS_ANCESTRY)]
    rng = np.random.default_rng([seed, 22])
    model = draw_ld_model(rng, sites_df["chrom"].to_numpy(), alt_freq, sizes.mean_block)
    ld = population_ld(np.random.default_rng([seed, 23]), model, sizes.n_population_haplotypes)
    effects = np.zeros((len(sites_df), len(genetics.traits)))
    effects[genetics.weights.sites_df["genotyped"].to_numpy()] = genetics.weights.effects
    gwas = draw_gwas(np.random.default_rng([seed, 24]), model.blocks, ld, effects, alt_freq)
    data = root / "data"
    panel_sites = PanelSites(
        chrom=sites_df["chrom"].astype(str).to_numpy(object),
        snp=sites_df["rsid"].to_numpy(object),
        bp=sites_df["position"].to_numpy(np.int64),
        ref=sites_df["ref"].to_numpy(object),
        alt=sites_df["alt"].to_numpy(object),
    )
    write_reference_panel(
        np.random.default_rng([seed, 25]), data / "ldref", PANEL, model, panel_sites,
        sizes.n_reference_persons, NOT_IN_PANEL,
    )  # fmt: skip
    write_sumstats(
        np.random.default_rng([seed, 26]), data / "sumstats", genetics.traits, sites_df, gwas,
        alt_freq,
    )  # fmt: skip
    write_catalog(data / "traits.tsv", genetics.traits, gwas.n_gwas)
    truth_df = gwas_truth(genetics.traits, gwas, ld)
    (root / "truth").mkdir(parents=True, exist_ok=True)
    truth_df.to_csv(root / "truth" / "gwas.tsv", sep="\t", index=False, float_format="%.6g")
    write_prscs_config(root, sizes)
    return truth_df


def draw_gwas(
    rng: np.random.Generator,
    blocks: list[np.ndarray],
    ld: list[np.ndarray],
    effects: np.ndarray,
    alt_freq: np.ndarray,
) -> TraitGwas:
    """Scale the planted effects to each trait's h2 and draw the marginal estimates.

    Parameters
    ----------
    rng : random generator.
    blocks, ld : the LD model's blocks (row numbers) and the population LD of each.
    effects : (sites, traits) per-ALT effects as planted (zero where none).
    alt_freq : ALT frequency in the GWAS population.
    """
    n_sites, n_traits = effects.shape
    h2 = np.asarray(rng.uniform(*H2_RANGE, n_traits))
    n_gwas = np.round(n_sites * rng.uniform(*N_PER_SITE, n_traits))
    beta = effects * np.sqrt(2 * alt_freq * (1 - alt_freq))[:, None]
    variance = sum(np.sum(beta[b] * (r @ beta[b]), axis=0) for b, r in zip(blocks, ld, strict=True))
    beta = beta * np.sqrt(h2 / np.asarray(variance))
    marginal = np.empty_like(beta)
    for rows, r in zip(blocks, ld, strict=True):
        values, vectors = np.linalg.eigh(r)
        root = vectors * np.sqrt(np.clip(values, 0, None))
        noise = root @ rng.standard_normal((len(rows), n_traits))
        marginal[rows] = r @ beta[rows] + noise / np.sqrt(n_gwas)
    return TraitGwas(n_gwas=n_gwas, h2=h2, beta_std=beta, marginal=marginal)


def write_sumstats(
    rng: np.random.Generator,
    folder: Path,
    traits: list[str],
    sites_df: pd.DataFrame,
    gwas: TraitGwas,
    alt_freq: np.ndarray,
) -> None:
    """One file per trait; the layout cycles through BETA+SE, BETA+P and OR+P."""
    folder.mkdir(parents=True, exist_ok=True)
    ref, alt = sites_df["ref"].to_numpy(object), sites_df["alt"].to_numpy(object)
    ambiguous = sites_df["ambiguous"].to_numpy(bool)
    a1_is_ref = rng.random(len(sites_df)) < 0.5
    other_strand = ~ambiguous & (rng.random(len(sites_df)) < COMPLEMENTED)
    a1 = _strand(np.where(a1_is_ref, ref, alt), other_strand)
    a2 = _strand(np.where(a1_is_ref, alt, ref), other_strand)
    mismatch = ~ambiguous & (rng.random(len(sites_df)) < ALLELE_MISMATCH)
    a2[mismatch] = [_third_base(x, y) for x, y in zip(a1[mismatch], a2[mismatch], strict=True)]
    present = rng.random(len(sites_df)) >= NOT_IN_GWAS
    sign = np.where(a1_is_ref, -1.0, 1.0)
    scale = np.sqrt(2 * alt_freq * (1 - alt_freq))
    for t, trait in enumerate(traits):
        z = gwas.marginal[:, t] * np.sqrt(gwas.n_gwas[t])
        beta = sign * gwas.marginal[:, t] / scale
        se = 1.0 / (scale * np.sqrt(gwas.n_gwas[t]))
        p = 2.0 * stats.norm.sf(np.abs(z))
        columns: dict[str, np.ndarray] = {"SNP": sites_df["rsid"].to_numpy(), "A1": a1, "A2": a2}
        layout = t % 3
        if layout == 2:
            columns["OR"] = np.exp(beta)
        else:
            columns["BETA"] = beta
        columns["SE" if layout == 0 else "P"] = se if layout == 0 else p
        frame = pd.DataFrame(columns)[present]
        frame.to_csv(folder / f"{trait}.txt", sep="\t", index=False, float_format="%.6g")


def _strand(alleles: np.ndarray, flip: np.ndarray) -> np.ndarray:
    return np.array([COMPLEMENT[a] if f else a for a, f in zip(alleles, flip, strict=True)], object)


def _third_base(a1: str, a2: str) -> str:
    """Another second allele: neither allele nor A1's complement, so no reading of the
    pair (direct, swapped, other strand) matches the site and it is not strand-ambiguous."""
    taken = {a1, a2, COMPLEMENT[a1]}
    return next(b for b in "ACGT" if b not in taken)


def write_catalog(path: Path, traits: list[str], n_gwas: np.ndarray) -> None:
    """The shipped trait catalog with an ``n_gwas`` column (the GWAS N of each trait)."""
    catalog_df = pd.read_csv(conf_path("traits.tsv"), sep="\t", dtype=str)
    sizes = dict(zip(traits, n_gwas, strict=True))
    catalog_df["n_gwas"] = [f"{sizes[t]:.0f}" for t in catalog_df["trait"]]
    catalog_df.to_csv(path, sep="\t", index=False)


def gwas_truth(traits: list[str], gwas: TraitGwas, ld: list[np.ndarray]) -> pd.DataFrame:
    """truth/gwas.tsv: each trait's N, h2, effective SNP count and expected PGS accuracy."""
    n_sites = sum(r.shape[0] for r in ld)
    ld_score_sum = sum(float(np.sum(r**2)) for r in ld)
    m_eff = n_sites**2 / ld_score_sum
    signal = gwas.n_gwas * gwas.h2
    return pd.DataFrame(
        {
            "trait": traits,
            "n_gwas": gwas.n_gwas.astype(np.int64),
            "h2": gwas.h2,
            "m_eff": m_eff,
            "r_expected": np.sqrt(signal / (signal + m_eff)),
        }
    )


PRSCS_HEADER = """\
# The study's config with the weights stage switched on: PRS-CS weights are computed from
# data/sumstats (GWAS N in data/traits.tsv) and the LD panel data/ldref, then scored.
# config.yaml beside it scores the ready weight files in data/weights instead.
"""


def write_prscs_config(root: Path, sizes: GwasScale) -> Path:
    """``config_prscs.yaml``: ``config.yaml`` with a ``prscs`` section instead of weight files."""
    raw = yaml.safe_load((root / "config.yaml").read_text())
    raw["weights"] = {"format": "prscs", "traits": "data/traits.tsv"}
    n_iter, n_burnin, thin = sizes.chain
    raw["prscs"] = {
        "sumstats": "data/sumstats",
        "ld_ref": "data/ldref",
        "phi": "auto",
        "n_iter": n_iter,
        "n_burnin": n_burnin,
        "thin": thin,
        "seed": 1,
    }
    path = root / "config_prscs.yaml"
    path.write_text(PRSCS_HEADER + yaml.safe_dump(raw, sort_keys=False))
    return path
