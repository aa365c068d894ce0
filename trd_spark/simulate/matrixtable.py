"""Turn the simulated PLINK files into Hail MatrixTables.

The few 3-allele rows travel through the .bed as biallelic rows (REF and the first ALT) and are
rebuilt here with one row annotation: cheaper than importing and unioning a second source.
"""

from __future__ import annotations

from pathlib import Path

import hail as hl


def import_simulated_plink(
    prefix: Path, multi_alleles: dict[str, list[str]], n_partitions: int
) -> hl.MatrixTable:
    """Read one platform's .bed/.bim/.fam as the contract's schema.

    Parameters
    ----------
    prefix : path prefix of the PLINK files (A1 = ALT, A2 = REF).
    multi_alleles : ``contig:position`` -> full allele list of the rows that are multi-allelic;
        their dosage d becomes 0/0, 0/2, 1/2 for d = 0, 1, 2.
    n_partitions : partitions of the result.

    Returns
    -------
    MatrixTable keyed by locus (GRCh38) and alleles, row field rsid, column key s, entry GT.
    """
    plink_mt = hl.import_plink(
        bed=str(prefix.with_suffix(".bed")),
        bim=str(prefix.with_suffix(".bim")),
        fam=str(prefix.with_suffix(".fam")),
        reference_genome="GRCh38",
        a2_reference=True,
        quant_pheno=False,
        n_partitions=n_partitions,
    )
    plink_mt = plink_mt.select_rows("rsid").select_cols()
    if not multi_alleles:
        return plink_mt
    return rebuild_multiallelic_rows(plink_mt, multi_alleles)


def rebuild_multiallelic_rows(
    plink_mt: hl.MatrixTable, multi_alleles: dict[str, list[str]]
) -> hl.MatrixTable:
    """Give the listed loci their third allele and 3-allele genotypes."""
    full_alleles = hl.literal(multi_alleles).get(hl.str(plink_mt.locus))
    genotypes_mt = plink_mt.annotate_rows(_full_alleles=full_alleles)
    n_alt = genotypes_mt.GT.n_alt_alleles()
    multi_gt = hl.switch(n_alt).when(0, hl.call(0, 0)).when(1, hl.call(0, 2)).default(hl.call(1, 2))
    genotypes_mt = genotypes_mt.annotate_entries(
        GT=hl.if_else(hl.is_defined(genotypes_mt._full_alleles), multi_gt, genotypes_mt.GT)
    )
    genotypes_mt = genotypes_mt.key_rows_by("locus")
    genotypes_mt = genotypes_mt.annotate_rows(
        alleles=hl.coalesce(genotypes_mt._full_alleles, genotypes_mt.alleles)
    ).drop("_full_alleles")
    # One row per locus, so changing the alleles cannot change the row order.
    return genotypes_mt._key_rows_by_assert_sorted("locus", "alleles")


def write_platform_mt(genotypes_mt: hl.MatrixTable, path: Path) -> None:
    """Write the MatrixTable (overwriting)."""
    genotypes_mt.write(str(path), overwrite=True)


def export_platform_vcf(path_mt: Path, path_vcf: Path) -> None:
    """Write the platform's MatrixTable as a bgzipped VCF (all rows, multi-allelic included)."""
    hl.export_vcf(hl.read_matrix_table(str(path_mt)), str(path_vcf))
