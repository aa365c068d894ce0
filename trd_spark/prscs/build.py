"""Build an LD reference panel in PRS-CS's layout from a Hail MatrixTable (docs/prscs.md).

For a biobank that wants an ancestry-matched panel of its own persons: the reference
persons' genotypes (a MatrixTable with ``locus``, ``alleles``, optional ``rsid``, entry
``GT``) and a BED file of LD-block boundaries (e.g. Berisa & Pickrell's blocks for the
ancestry).  Hail does the heavy part: per-SNP allele frequencies, the standardised
genotype matrix as a BlockMatrix, and the per-block correlation matrices as one sparse
product ``X X'`` restricted to the diagonal blocks, exported block by block; the driver
then writes the HDF5 files (:func:`trd_spark.prscs.ldref.write_panel`).

This module imports Hail: it runs on the driver only, never in Spark's Python workers.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import hail as hl
import numpy as np
import pandas as pd
from hail.linalg import BlockMatrix

from trd_spark import storage
from trd_spark.errors import InputError
from trd_spark.prscs.ldref import LDBlock, LDPanel, write_panel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PanelRows:
    """The panel's SNPs (snpinfo columns plus ``block``) and each block's row range."""

    snps: pd.DataFrame  # chrom, snp, bp, a1, a2, maf, block (row order = matrix order)
    ranges: list[tuple[int, int]]  # [start, stop) of each block with SNPs, genome order


def reference_snps(
    mt: hl.MatrixTable, blocks_bed: str, reference_genome: str, min_maf: float
) -> hl.MatrixTable:
    """Biallelic SNVs inside a block with minor allele frequency >= ``min_maf``.

    Returns
    -------
    The MatrixTable with row fields ``block`` (the BED line's number), ``snp`` (rsID, else
    ``chrom:pos:ref:alt``) and ``maf``, in locus order.
    """
    bed_ht = hl.import_bed(
        blocks_bed, reference_genome=reference_genome, skip_invalid_intervals=True
    )
    bed_ht = bed_ht.add_index("block")
    mt = mt.filter_rows((hl.len(mt.alleles) == 2) & hl.is_snp(mt.alleles[0], mt.alleles[1]))
    stats = hl.agg.call_stats(mt.GT, mt.alleles)
    mt = mt.annotate_rows(block=bed_ht.index(mt.locus).block, alt_af=stats.AF[1])
    mt = mt.filter_rows(hl.is_defined(mt.block) & hl.is_defined(mt.alt_af))
    mt = mt.annotate_rows(maf=hl.min(mt.alt_af, 1 - mt.alt_af))
    mt = mt.filter_rows(mt.maf >= min_maf)
    chrom = mt.locus.contig.replace("^chr", "")
    fallback = hl.delimit([chrom, hl.str(mt.locus.position), mt.alleles[0], mt.alleles[1]], ":")
    snp = fallback
    if "rsid" in mt.row:
        usable = hl.is_defined(mt.rsid) & (mt.rsid != ".") & (mt.rsid != "")
        snp = hl.if_else(usable, mt.rsid, fallback)
    return mt.annotate_rows(snp=snp)


def panel_rows(mt: hl.MatrixTable) -> PanelRows:
    """The rows of :func:`reference_snps` on the driver (one small record per SNP)."""
    rows_ht = mt.rows()
    rows_ht = rows_ht.select(
        chrom=rows_ht.locus.contig.replace("^chr", ""),
        snp=rows_ht.snp,
        bp=rows_ht.locus.position,
        a1=rows_ht.alleles[1],  # the correlations are of ALT counts
        a2=rows_ht.alleles[0],
        maf=rows_ht.maf,
        block=rows_ht.block,
    )
    snps = rows_ht.key_by().drop("locus", "alleles").to_pandas()
    if snps.empty:
        raise InputError("no SNP of the reference genotypes lies in a block of the BED file")
    if snps["snp"].duplicated().any():
        raise InputError(f"SNP id {snps['snp'][snps['snp'].duplicated()].iloc[0]} occurs twice")
    starts = np.flatnonzero(
        np.r_[True, snps["block"].to_numpy()[1:] != snps["block"].to_numpy()[:-1]]
    )
    stops = np.r_[starts[1:], len(snps)]
    return PanelRows(snps, [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)])


def block_correlations(mt: hl.MatrixTable, ranges: list[tuple[int, int]], folder: str) -> None:
    """Export each block's correlation matrix as a binary rectangle file into ``folder``.

    The genotypes are mean-imputed, centred and scaled to unit norm per SNP, so the product
    ``X X'`` holds correlations; only the diagonal blocks are computed.
    """
    bm = BlockMatrix.from_entry_expr(
        mt.GT.n_alt_alleles(), mean_impute=True, center=True, normalize=True
    )
    rectangles = [[a, b, a, b] for a, b in ranges]
    product = (bm @ bm.T).sparsify_rectangles(rectangles)
    product.export_rectangles(folder, rectangles, binary=True)


def read_rectangle(folder: str, number: int, start: int, stop: int) -> np.ndarray:
    """One exported block as a square float64 matrix."""
    name = f"rect-{number}_{start}-{stop}-{start}-{stop}"
    values = np.frombuffer(storage.read_bytes(f"{folder.rstrip('/')}/{name}"), dtype="<f8")
    matrix = values.reshape(stop - start, stop - start).copy()
    np.fill_diagonal(matrix, 1.0)
    return matrix


def build_ld_panel(
    mt: hl.MatrixTable,
    blocks_bed: str,
    out_folder: str,
    panel: str,
    reference_genome: str = "GRCh38",
    min_maf: float = 0.01,
    scratch: str | None = None,
) -> LDPanel:
    """Write ``snpinfo_<panel>_hm3`` and ``ldblk_<panel>_chr<N>.hdf5`` into ``out_folder``.

    Parameters
    ----------
    mt : reference genotypes (restrict them to the SNPs wanted, e.g. HapMap3, beforehand).
    blocks_bed : BED file of LD blocks (0-based starts, ends exclusive).
    out_folder : local folder for the panel.
    panel : the panel's name in the file names.
    reference_genome : build of ``mt`` and of the BED file.
    min_maf : SNPs with a lower minor allele frequency are left out.
    scratch : folder (local or remote) for the exported rectangles; default a Hail temp file.

    Returns
    -------
    The written panel.
    """
    mt = reference_snps(mt, blocks_bed, reference_genome, min_maf)
    mt = mt.checkpoint(hl.utils.new_temp_file("ldref", "mt"))
    rows = panel_rows(mt)
    log.info("LD panel %s: %d SNPs in %d blocks", panel, len(rows.snps), len(rows.ranges))
    folder = scratch or hl.utils.new_temp_file("ldref_blocks")
    block_correlations(mt, rows.ranges, folder)
    blocks: dict[str, list[LDBlock]] = {}
    snps = rows.snps
    for number, (start, stop) in enumerate(rows.ranges):
        chrom = str(snps["chrom"].iat[start])
        matrix = read_rectangle(folder, number, start, stop)
        blocks.setdefault(chrom, []).append(
            LDBlock(snps["snp"].to_numpy(object)[start:stop], matrix)
        )
    os.makedirs(out_folder, exist_ok=True)
    return write_panel(out_folder, panel, snps.drop(columns="block"), blocks)
