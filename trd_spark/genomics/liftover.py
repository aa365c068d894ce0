"""Lift PGS weights over to the genotypes' build with a user-supplied chain file."""

from __future__ import annotations

import os

import hail as hl
from pyspark.sql import DataFrame

from trd_spark.errors import InputError


def liftover_weights(
    weights_df: DataFrame, source_rg: str, target_rg: str, chain_file: str
) -> DataFrame:
    """Move weight positions from ``source_rg`` to ``target_rg``.

    Parameters
    ----------
    weights_df : long weights (``chrom`` without ``chr``, ``pos``).
    source_rg : build of the weights (``GRCh37`` or ``GRCh38``).
    target_rg : build of the genotypes.
    chain_file : UCSC chain file from ``source_rg`` to ``target_rg``.

    Returns
    -------
    The weights with lifted ``chrom`` and ``pos``; sites that do not lift keep a
    missing position and so count as missing in the match report.
    """
    if "://" not in chain_file and not os.path.exists(chain_file):
        raise InputError(f"chain file {chain_file} does not exist; check weights.chain_file")
    source = hl.get_reference(source_rg)
    target = hl.get_reference(target_rg)
    if not source.has_liftover(target):
        source.add_liftover(chain_file, target)
    weights_ht = hl.Table.from_spark(weights_df)
    prefix = "chr" if source_rg == "GRCh38" else ""
    contig = (
        hl.if_else(weights_ht.chrom == "MT", "M", weights_ht.chrom) if prefix else weights_ht.chrom
    )
    locus = hl.locus(prefix + contig, hl.int32(weights_ht.pos), reference_genome=source)
    lifted = hl.liftover(locus, target)
    lifted_ht = weights_ht.annotate(
        chrom=lifted.contig.replace("^chr", ""), pos=hl.int64(lifted.position)
    )
    return lifted_ht.to_spark()
