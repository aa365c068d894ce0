"""Genotype readers, variant QC, cohorts, allele matching, PGS scoring and PCs (Hail)."""
