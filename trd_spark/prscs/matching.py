"""Which SNPs PRS-CS uses: summary statistics x LD reference x target genotypes.

The allele logic is the score stage's (:func:`trd_spark.genomics.matching.plan_match`):
same alleles, swapped, or the same on the other strand; strand-ambiguous A/T and C/G SNPs
dropped unless kept (``weights.keep_ambiguous``).  The reference's A1/A2 is the working
orientation: an effect whose A1 is the reference's A2 changes sign.  Every SNP left out is
counted under one reason, in this order: ``not_snv`` (alleles not single A/C/G/T letters,
counted by the reader), ``ambiguous``, ``not_in_reference``, ``allele_mismatch``,
``not_in_target``, and (in the sampler task) ``not_in_ld_block``.

numpy/pandas only: it runs inside Spark's Python workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trd_spark.genomics.matching import SiteTable, plan_match, site_table
from trd_spark.prscs.sumstats import SumStats

DROP_REASONS = (
    "not_snv",
    "ambiguous",
    "not_in_reference",
    "allele_mismatch",
    "not_in_target",
    "not_in_ld_block",
)


def reference_as_weights(reference_df: pd.DataFrame, by_position: bool) -> pd.DataFrame:
    """Reference SNPs in the shape :func:`plan_match` takes for weights (A1 = effect allele).

    ``by_position`` False leaves positions unknown, so only rsIDs pair (another build)."""
    position = reference_df["bp"].to_numpy(np.float64)
    return pd.DataFrame(
        {
            "pos": position if by_position else np.full(len(reference_df), np.nan),
            "rsid": reference_df["snp"].to_numpy(object),
            "a1": reference_df["a1"].to_numpy(object),
            "a2": reference_df["a2"].to_numpy(object),
            "duplicate": np.zeros(len(reference_df), dtype=bool),
        }
    )


def reference_in_target(
    reference_df: pd.DataFrame,
    targets: list[tuple[SiteTable, bool]],
    keep_ambiguous: bool,
) -> np.ndarray:
    """For one chromosome's reference SNPs: on at least one target platform after QC.

    Parameters
    ----------
    reference_df : the chromosome's rows of the snpinfo table.
    targets : per platform, its QC'd sites of the chromosome and whether positions may pair
        (same build as the reference).
    keep_ambiguous : keep A/T and C/G SNPs.

    Returns
    -------
    Boolean array, one entry per reference row.
    """
    present = np.zeros(len(reference_df), dtype=bool)
    for sites, by_position in targets:
        plan = plan_match(reference_as_weights(reference_df, by_position), sites, keep_ambiguous)
        present[plan.rows] = True
    return present


def reference_sites(reference_df: pd.DataFrame) -> SiteTable:
    """The reference as the "sites" side of :func:`plan_match`: ALT = A1, REF = A2, var_idx =
    the row number in ``reference_df``."""
    return site_table(
        reference_df["bp"].to_numpy(np.int64),
        reference_df["a2"].to_numpy(object),
        reference_df["a1"].to_numpy(object),
        reference_df["snp"].to_numpy(object),
        np.arange(len(reference_df), dtype=np.int64),
    )


@dataclass(frozen=True)
class MatchedSumStats:
    """A trait's usable SNPs: reference rows and effects in the reference's orientation."""

    reference_row: np.ndarray  # int64 row numbers into the reference table, sorted
    beta_std: np.ndarray  # float64, standardised marginal effect of the reference's A1
    counts: dict[str, int]  # n_in_file, dropped per reason (but not_in_ld_block), n_matched


def match_sumstats(
    sumstats: SumStats,
    reference_df: pd.DataFrame,
    in_target: np.ndarray,
    keep_ambiguous: bool,
    sites: SiteTable | None = None,
) -> MatchedSumStats:
    """Match one trait's summary statistics to the reference, keep those on a target.

    Parameters
    ----------
    sumstats : the trait's SNV rows.
    reference_df : every chromosome's snpinfo rows (``snp, a1, a2, ...``).
    in_target : per reference row, whether a target platform has the SNP.
    keep_ambiguous : keep A/T and C/G SNPs.
    sites : :func:`reference_sites` of ``reference_df`` when already built.

    Returns
    -------
    The matched SNPs and the counts of the per-trait log.
    """
    weights = pd.DataFrame(
        {
            "pos": np.full(len(sumstats), np.nan),
            "rsid": sumstats.snp,
            "a1": sumstats.a1,
            "a2": sumstats.a2,
            "duplicate": np.zeros(len(sumstats), dtype=bool),
        }
    )
    plan = plan_match(weights, sites or reference_sites(reference_df), keep_ambiguous)
    used = plan.apply(sumstats.beta_std)
    if keep_ambiguous:
        considered = np.ones(len(sumstats), dtype=bool)
    else:
        considered = ~_ambiguous(sumstats.a1, sumstats.a2)
    not_in_reference = int((considered & ~np.isin(sumstats.snp, reference_df["snp"])).sum())
    on_target = in_target[used.var_idx]
    counts = {
        "n_in_file": sumstats.n_rows,
        "not_snv": sumstats.n_not_snv,
        "ambiguous": plan.counts["n_ambiguous_dropped"],
        "not_in_reference": not_in_reference,
        "allele_mismatch": plan.counts["n_missing"]
        + plan.counts["n_duplicates"]
        - not_in_reference,
        "not_in_target": int((~on_target).sum()),
    }
    return MatchedSumStats(used.var_idx[on_target], used.weight[on_target], counts)


_PAIRS = {("A", "T"), ("T", "A"), ("C", "G"), ("G", "C")}


def _ambiguous(a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
    return np.array([(x, y) in _PAIRS for x, y in zip(a1, a2, strict=True)], dtype=bool)
