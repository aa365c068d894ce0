"""A block-LD model of the GWAS population, and an LD reference panel drawn from it.

The simulator's target genotypes are drawn site by site (no LD).  The GWAS that the
summary statistics come from, and the reference persons of the LD panel, are drawn from a
block-LD model instead (a simplification, written up in ``docs/prscs.md``):

- the weight sites of each chromosome, in position order, are cut into blocks of random
  size (gamma-distributed around ``mean_block`` SNPs);
- within a block a haplotype is a Gaussian AR(1) chain ``z_j = rho_j z_(j-1) + ...``, with
  ``rho_j`` uniform in [0.75, 0.99], and carries ALT at SNP j when ``sign_j * z_j`` is below
  the normal quantile of the SNP's ALT frequency; blocks are independent.

So LD decays with distance inside a block, has both signs, and is exactly zero between
blocks.  The LD panel is the correlation of A1 counts among ``n_persons`` reference persons
(two haplotypes each), written in PRS-CS's layout by :func:`trd_spark.prscs.ldref.write_panel`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from trd_spark.prscs.ldref import LDBlock, LDPanel, write_panel

RHO_RANGE = (0.75, 0.99)
BLOCK_SHAPE = 4.0  # gamma shape of block sizes (coefficient of variation 0.5)
MIN_BLOCK = 5


@dataclass(frozen=True)
class LDModel:
    """The block-LD model over the weight sites (rows in chromosome and position order)."""

    blocks: list[np.ndarray]  # row numbers of each block, blocks in genome order
    rho: np.ndarray  # latent correlation of each SNP with the previous one in its block
    sign: np.ndarray  # +1 / -1: which side of the latent threshold carries ALT
    threshold: np.ndarray  # normal quantile of the ALT frequency


def draw_block_sizes(rng: np.random.Generator, n_sites: int, mean_block: float) -> np.ndarray:
    """Sizes (at least MIN_BLOCK, the last one taking the rest) summing to ``n_sites``."""
    sizes: list[int] = []
    left = n_sites
    while left > 0:
        size = max(MIN_BLOCK, round(rng.gamma(BLOCK_SHAPE, mean_block / BLOCK_SHAPE)))
        size = left if left - size < MIN_BLOCK else size
        sizes.append(size)
        left -= size
    return np.array(sizes, dtype=np.int64)


def draw_ld_model(
    rng: np.random.Generator, chrom: np.ndarray, alt_freq: np.ndarray, mean_block: float
) -> LDModel:
    """Blocks within each chromosome, AR(1) correlations, signs and thresholds.

    Parameters
    ----------
    rng : random generator.
    chrom : chromosome of each site (sites sorted by chromosome and position).
    alt_freq : ALT frequency of each site in the GWAS population.
    mean_block : mean SNPs per block.
    """
    blocks = []
    for value in pd.unique(chrom):
        rows = np.flatnonzero(chrom == value)
        bounds = np.concatenate([[0], np.cumsum(draw_block_sizes(rng, len(rows), mean_block))])
        blocks += [rows[a:b] for a, b in itertools.pairwise(bounds)]
    n = len(chrom)
    return LDModel(
        blocks=blocks,
        rho=rng.uniform(*RHO_RANGE, n),
        sign=np.where(rng.random(n) < 0.5, -1.0, 1.0),
        threshold=stats.norm.ppf(alt_freq),
    )


def draw_haplotypes(
    rng: np.random.Generator, model: LDModel, block: np.ndarray, n_haplotypes: int
) -> np.ndarray:
    """ALT indicators (int8, haplotypes x SNPs) of one block."""
    latent = np.empty((n_haplotypes, len(block)))
    latent[:, 0] = rng.standard_normal(n_haplotypes)
    for j in range(1, len(block)):
        rho = model.rho[block[j]]
        latent[:, j] = rho * latent[:, j - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(
            n_haplotypes
        )
    return (latent * model.sign[block] < model.threshold[block]).astype(np.int8)


def correlation(values: np.ndarray) -> np.ndarray:
    """Correlation matrix of the columns of ``values`` (persons or haplotypes x SNPs)."""
    centred = values - values.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0))
    standard = centred / scale
    matrix = standard.T @ standard
    np.fill_diagonal(matrix, 1.0)
    return matrix


def population_ld(rng: np.random.Generator, model: LDModel, n_haplotypes: int) -> list[np.ndarray]:
    """The GWAS population's LD per block: correlations among ``n_haplotypes`` haplotypes."""
    return [correlation(draw_haplotypes(rng, model, block, n_haplotypes)) for block in model.blocks]


@dataclass(frozen=True)
class PanelSites:
    """The weight sites as the panel names them (rows as the LD model's)."""

    chrom: np.ndarray  # str
    snp: np.ndarray  # rsIDs
    bp: np.ndarray
    ref: np.ndarray
    alt: np.ndarray


def write_reference_panel(
    rng: np.random.Generator,
    folder: Path,
    panel: str,
    model: LDModel,
    sites: PanelSites,
    n_persons: int,
    drop_fraction: float,
) -> LDPanel:
    """Draw the reference persons, compute each block's LD and write the panel.

    Each SNP's A1 is REF or ALT at random (the LD is of A1 counts); ``drop_fraction`` of
    the SNPs are left out of the panel (summary statistics then name SNPs it lacks), and so
    is any SNP monomorphic among the reference persons.

    Returns
    -------
    The written panel.
    """
    a1_is_alt = rng.random(len(sites.snp)) < 0.5
    dropped = rng.random(len(sites.snp)) < drop_fraction
    rows: list[np.ndarray] = []
    blocks: dict[str, list[LDBlock]] = {}
    maf_parts: list[np.ndarray] = []
    for block in model.blocks:
        haplotypes = draw_haplotypes(rng, model, block, 2 * n_persons)
        alt_counts = haplotypes[0::2] + haplotypes[1::2]
        a1_counts = np.where(a1_is_alt[block], alt_counts, 2 - alt_counts).astype(np.float64)
        freq = a1_counts.mean(axis=0) / 2
        keep = ~dropped[block] & (freq > 0) & (freq < 1)
        if not keep.any():
            continue
        kept = block[keep]
        blocks.setdefault(str(sites.chrom[kept[0]]), []).append(
            LDBlock(sites.snp[kept], correlation(a1_counts[:, keep]))
        )
        rows.append(kept)
        maf_parts.append(np.minimum(freq[keep], 1 - freq[keep]))
    used = np.concatenate(rows)
    a1 = np.where(a1_is_alt[used], sites.alt[used], sites.ref[used])
    a2 = np.where(a1_is_alt[used], sites.ref[used], sites.alt[used])
    snpinfo_df = pd.DataFrame(
        {
            "chrom": sites.chrom[used],
            "snp": sites.snp[used],
            "bp": sites.bp[used],
            "a1": a1,
            "a2": a2,
            "maf": np.concatenate(maf_parts),
        }
    )
    return write_panel(str(folder), panel, snpinfo_df, blocks)
