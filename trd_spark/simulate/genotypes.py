"""Genotypes block by block: PLINK files per platform, true genetic values, PCA input, QC re-check.

Every block of sites draws its weight-site (HapMap3-like) dosages from one random stream and the
other sites' from another, so the genetic values can be rebuilt without drawing (or writing) the
other sites: that is what ``parts=("ehr",)`` does at biobank scale.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.simulate.dosages import (
    PlatformPersons,
    draw_dosages,
    expected_rule,
    failed_rules,
    plant_column,
)
from trd_spark.simulate.plink import bim_lines, open_bed, pack_bed_rows, write_fam


@dataclass(frozen=True)
class PlinkTarget:
    """One PLINK 1 fileset a platform's genotypes are written to, block by block."""

    prefix: Path
    biallelic_only: bool = False  # leave the 3-allele rows out (PLINK 1 cannot hold them)

    def start(self) -> None:
        """Create the .bed (header only) and an empty .bim; the .fam comes last."""
        open_bed(self.prefix.with_suffix(".bed")).close()
        self.prefix.with_suffix(".bim").write_text("")

    def append(self, sites_df: pd.DataFrame, columns: np.ndarray) -> None:
        """Append a block of sites (persons x sites dosages, -1 missing)."""
        if self.biallelic_only:
            keep = (sites_df["kind"] != "multiallelic").to_numpy()
            sites_df, columns = sites_df[keep], columns[:, keep]
        if sites_df.empty:
            return
        with self.prefix.with_suffix(".bed").open("ab") as bed:
            bed.write(pack_bed_rows(columns))
        with self.prefix.with_suffix(".bim").open("a") as bim:
            bim.write(bim_lines(sites_df))

    def finish(self, person_ids: np.ndarray, sex: np.ndarray) -> None:
        """Write the .fam."""
        write_fam(self.prefix.with_suffix(".fam"), person_ids, sex)


@dataclass
class PlatformOutput:
    """What the block loop accumulates for one platform."""

    persons: PlatformPersons
    # the PLINK files Hail imports (3-allele rows as biallelic), then any export for users
    targets: list[PlinkTarget] = field(default_factory=list)
    qc_rows: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    score_effects: np.ndarray | None = None  # observed dosages @ true European effects
    score_error: np.ndarray | None = None  # observed dosages @ weight noise and bias

    @property
    def prefix(self) -> Path:
        """The PLINK files the MatrixTable is imported from."""
        return self.targets[0].prefix


@dataclass
class GenotypeResult:
    """Results of the block loop."""

    genetic_values: np.ndarray  # (n_persons, n_traits), unstandardised
    pca_dosages: np.ndarray | None  # (n_persons, n_pca_sites) true dosages, None in gv-only mode
    platforms: dict[str, PlatformOutput]


def iter_blocks(n_rows: int, block_rows: int) -> Iterator[tuple[int, slice]]:
    """(block number, row slice) over ``n_rows`` rows."""
    for number, start in enumerate(range(0, n_rows, block_rows)):
        yield number, slice(start, min(start + block_rows, n_rows))


def block_dosages(
    seed: int, number: int, freqs: np.ndarray, hm3: np.ndarray, group: np.ndarray, gv_only: bool
) -> np.ndarray:
    """True dosages of one block (persons x sites); non-weight columns left 0 when ``gv_only``."""
    dosages = np.zeros((len(group), len(hm3)), dtype=np.int8)
    rng_hm3 = np.random.default_rng([seed, 101, number])
    dosages[:, hm3] = draw_dosages(rng_hm3, freqs[hm3], group)
    if not gv_only and (~hm3).any():
        rng_other = np.random.default_rng([seed, 102, number])
        dosages[:, ~hm3] = draw_dosages(rng_other, freqs[~hm3], group)
    return dosages


def plant_block(
    sites: np.ndarray, kinds: np.ndarray, dosages: np.ndarray, persons: PlatformPersons
) -> np.ndarray:
    """Apply each site's planted failure (or its few missing calls) to a block of dosages."""
    columns = dosages.copy()
    for j, (site, kind) in enumerate(zip(sites, kinds, strict=True)):
        columns[:, j] = plant_column(str(kind), int(site), columns[:, j], persons)
    return columns


def impute_mean(columns: np.ndarray) -> np.ndarray:
    """Float copy with each missing call (-1) replaced by its column's mean dosage."""
    values = columns.astype(np.float64)
    called = columns >= 0
    means = np.where(called, values, 0).sum(0) / np.maximum(called.sum(0), 1)
    return np.where(called, values, means)


def write_platform_block(
    out: PlatformOutput, sites_df: pd.DataFrame, dosages: np.ndarray, weight_rows: WeightRows
) -> None:
    """Plant, re-check, pack and score one block of one platform's biallelic sites.

    Parameters
    ----------
    out : the platform's accumulators (its .bed/.bim are appended to when ``out.prefix`` is set).
    sites_df : the block's catalog rows on this platform.
    dosages : true dosages of the platform's persons for those sites.
    weight_rows : where each catalog site's effects and weights are.
    """
    persons = out.persons
    kinds = sites_df["kind"].to_numpy()
    columns = plant_block(sites_df["site"].to_numpy(), kinds, dosages, persons)
    is_snv = ((sites_df["ref"].str.len() == 1) & (sites_df["alt"].str.len() == 1)).to_numpy()
    snv = is_snv | (kinds == "multiallelic")
    found = failed_rules(columns, snv, persons.group, persons.population_af)
    for site, kind, rule in zip(sites_df["site"], kinds, found, strict=True):
        if kind == "multiallelic":  # more than 2 alleles: fails the first rule by definition
            rule = "multiallelic"
        out.qc_rows.append((int(site), expected_rule(str(kind), persons.population_af), rule))
    for target in out.targets:
        target.append(sites_df, columns)
    # the sites the pipeline scores: matched (not strand-ambiguous) weight sites passing QC
    scored = (
        ~sites_df["ambiguous"].to_numpy()
        & (kinds == "good")
        & (weight_rows.effect[sites_df["site"]] >= 0)
    )
    if scored.any() and out.score_effects is not None and out.score_error is not None:
        imputed = impute_mean(columns[:, scored])
        site_ids = sites_df["site"].to_numpy()[scored]
        out.score_effects += imputed @ weight_rows.effects[weight_rows.effect[site_ids]]
        out.score_error += imputed @ weight_rows.error[weight_rows.weight[site_ids]]


@dataclass(frozen=True)
class WeightRows:
    """Where each catalog site's true effects and weight errors are (row or -1 per site)."""

    weight: np.ndarray  # row in ``error`` (weight sites)
    effect: np.ndarray  # row in ``effects`` / ``other_effects`` (genotyped weight sites)
    effects: np.ndarray  # true European effects
    other_effects: np.ndarray  # the part of other groups' effects not shared with Europeans
    error: np.ndarray  # weight noise and bias
    mixing: tuple[np.ndarray, np.ndarray]  # per group: weight of effects, of other_effects


def simulate_genotypes(
    seed: int,
    catalog_df: pd.DataFrame,
    freqs: np.ndarray,
    group: np.ndarray,
    platforms: dict[str, PlatformOutput],
    weight_rows: WeightRows,
    block_rows: int,
    pca_sites: np.ndarray | None,
) -> GenotypeResult:
    """Run the block loop over the genotyped catalog rows.

    Parameters
    ----------
    seed : study seed.
    catalog_df : genotyped catalog rows (no ``absent`` rows), sorted by position.
    freqs : ALT frequencies per catalog row and group.
    group : true ancestry group index of every study person (draws use the true group).
    platforms : accumulators per platform; empty for ``gv_only`` (genetic values only).
    weight_rows : where each site's effects and weight errors are, and the ancestry mixing.
    block_rows : sites per block.
    pca_sites : catalog site numbers whose dosages feed the PCA (None: none kept).

    Returns
    -------
    GenotypeResult; a genetic value is the sum of effect x (dosage - the person's group's
    mean dosage), so it measures variation within ancestry groups: the planted effects act
    on that, and no outcome differs between groups through the genetic values.
    """
    gv_only = not platforms
    n_traits = weight_rows.effects.shape[1]
    genetic_values = np.zeros((len(group), n_traits))
    own = weight_rows.mixing[0][group][:, None]
    other = weight_rows.mixing[1][group][:, None]
    pca_parts = []
    for number, rows in iter_blocks(len(catalog_df), block_rows):
        block_df = catalog_df.iloc[rows]
        hm3 = block_df["hm3"].to_numpy()
        dosages = block_dosages(seed, number, freqs[rows], hm3, group, gv_only)
        effect_rows = weight_rows.effect[block_df["site"].to_numpy()[hm3]]
        twice_freqs = 2 * freqs[rows][hm3].T  # groups x sites: each group's mean dosage
        for mix, effects in ((own, weight_rows.effects), (other, weight_rows.other_effects)):
            block_effects = effects[effect_rows]
            centre = (twice_freqs @ block_effects)[group]
            genetic_values += mix * (dosages[:, hm3] @ block_effects - centre)
        if pca_sites is not None:
            pca_parts.append(dosages[:, np.isin(block_df["site"].to_numpy(), pca_sites)])
        for name, out in platforms.items():
            keep = block_df[f"on_{name}"].to_numpy()
            if keep.any():
                sub = dosages[np.ix_(out.persons.index, np.flatnonzero(keep))]
                write_platform_block(out, block_df[keep], sub, weight_rows)
    pca = np.concatenate(pca_parts, axis=1) if pca_parts else None
    return GenotypeResult(genetic_values=genetic_values, pca_dosages=pca, platforms=platforms)
