"""Turn the simulated PLINK files (and the few 3-allele rows) into Hail MatrixTables."""

from __future__ import annotations

from pathlib import Path

import hail as hl


def import_simulated_plink(prefix: Path, multi_vcf: Path | None) -> hl.MatrixTable:
    """Read one platform's .bed/.bim/.fam (+ optional 3-allele VCF) as the contract's schema.

    Parameters
    ----------
    prefix : path prefix of the PLINK files (A1 = ALT, A2 = REF).
    multi_vcf : VCF text file with multi-allelic rows for the same persons, or None.

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
    )
    plink_mt = plink_mt.select_rows("rsid").select_cols()
    if multi_vcf is None:
        return plink_mt
    multi_mt = hl.import_vcf(str(multi_vcf), reference_genome="GRCh38")
    multi_mt = multi_mt.select_rows("rsid").select_cols().select_entries("GT")
    return plink_mt.union_rows(multi_mt)


def write_platform_mt(genotypes_mt: hl.MatrixTable, path: Path, n_partitions: int) -> None:
    """Write the MatrixTable (overwriting) with a fixed number of partitions."""
    genotypes_mt.repartition(n_partitions, shuffle=False).write(str(path), overwrite=True)


def export_platform_vcf(path_mt: Path, path_vcf: Path) -> None:
    """Write the platform's MatrixTable as a bgzipped VCF (all rows, multi-allelic included)."""
    hl.export_vcf(hl.read_matrix_table(str(path_mt)), str(path_vcf))
