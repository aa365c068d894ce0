"""Variant QC: the study's site filters, applied in a fixed order, each counted.

Rules, in order (each counts the sites it removes among those still left):
``multiallelic``, ``non_snv``, ``call_rate``, ``population_af``, ``overall_af``,
``excess_het``.  All metrics come from one aggregation pass over the entries.
"""

from __future__ import annotations

from dataclasses import dataclass

import hail as hl
from pyspark.sql import DataFrame

from trd_spark.genomics.scoring import DosageCache

QC_RULES: tuple[str, ...] = (
    "multiallelic",
    "non_snv",
    "call_rate",
    "population_af",
    "overall_af",
    "excess_het",
)


@dataclass(frozen=True)
class QCThresholds:
    """Plain thresholds of the variant QC (copied from the config by the stage)."""

    min_pop_af: float = 0.01
    min_pop_ac: int = 100
    min_af: float = 0.005
    min_call_rate: float = 0.99
    excess_het_p: float = 1e-6
    multiallelic: str = "drop"
    snv_only: bool = True


METRICS = ("call_rate", "ac", "af", "het_p")  # per-site QC metrics kept in the variants table


def split_multiallelic(mt: hl.MatrixTable) -> hl.MatrixTable:
    """Split multi-allelic rows into bi-allelic ones (``rsid`` and ``GT`` kept)."""
    mt = hl.split_multi_hts(mt.annotate_rows(), keep_star=False)
    return mt.select_rows("rsid").select_entries("GT")


def split_or_flag_multiallelic(mt: hl.MatrixTable, mode: str) -> hl.MatrixTable:
    """Split multi-allelic rows (``mode='split'``) or flag them for the ``multiallelic`` rule.

    Parameters
    ----------
    mt : genotypes in the common shape.
    mode : ``drop`` or ``split``.

    Returns
    -------
    MatrixTable with row field ``is_multiallelic`` (bool): more than two alleles, or a
    locus that appears on more than one row.
    """
    if mode == "split":
        return split_multiallelic(mt).annotate_rows(is_multiallelic=False)
    per_locus_ht = mt.rows().group_by("locus").aggregate(n_rows=hl.agg.count())
    n_rows = per_locus_ht[mt.locus].n_rows
    return mt.annotate_rows(is_multiallelic=(hl.len(mt.alleles) > 2) | (n_rows > 1))


def annotate_qc_metrics(mt: hl.MatrixTable, group_expr: hl.StringExpression) -> hl.MatrixTable:
    """Add the per-site QC metrics in one pass over the entries.

    Parameters
    ----------
    mt : genotypes with ``is_multiallelic``.
    group_expr : column expression naming each person's ancestry group; missing for a
        person in no group (absent from the ancestry file), who then counts only overall.

    Returns
    -------
    MatrixTable with row fields ``call_rate``, ``ac``, ``af`` (alternate allele, overall),
    ``group_ac``/``group_af`` (dict group -> value), ``het_p`` (one-sided HWE excess-het p).
    """
    biallelic = hl.len(mt.alleles) == 2
    alt_dosage = hl.agg.filter(biallelic, hl.agg.sum(mt.GT.n_alt_alleles()))
    n_called = hl.agg.count_where(hl.is_defined(mt.GT))
    mt = mt.annotate_rows(
        call_rate=n_called / hl.agg.count(),
        ac=alt_dosage,
        an=2 * n_called,
        group_counts=hl.agg.filter(
            hl.is_defined(group_expr),
            hl.agg.group_by(
                group_expr,
                hl.struct(
                    ac=hl.agg.sum(mt.GT.n_alt_alleles()),
                    an=2 * hl.agg.count_where(hl.is_defined(mt.GT)),
                ),
            ),
        ),
        het_p=hl.agg.filter(biallelic, hl.agg.hardy_weinberg_test(mt.GT, one_sided=True).p_value),
    )
    return mt.annotate_rows(
        af=hl.or_missing(mt.an > 0, mt.ac / mt.an),
        group_af=mt.group_counts.map_values(lambda c: hl.or_missing(c.an > 0, c.ac / c.an)),
        group_ac=mt.group_counts.map_values(lambda c: c.ac),
    ).drop("group_counts")


def first_failed_rule_expr(mt: hl.MatrixTable, t: QCThresholds) -> hl.StringExpression:
    """The first QC rule a site fails, in ``QC_RULES`` order; missing when it passes all.

    Parameters
    ----------
    mt : genotypes with the fields of :func:`annotate_qc_metrics`.
    t : the thresholds.

    Returns
    -------
    String expression (row-indexed).
    """
    is_snv = (hl.len(mt.alleles) == 2) & hl.is_snp(mt.alleles[0], mt.alleles[1])
    pop_ok = hl.any(
        lambda g: (
            (hl.or_else(mt.group_af[g], 0.0) > t.min_pop_af) | (mt.group_ac[g] > t.min_pop_ac)
        ),
        mt.group_af.keys(),
    )
    return (
        hl.case()
        .when(mt.is_multiallelic, "multiallelic")
        .when(t.snv_only & ~is_snv, "non_snv")
        .when(mt.call_rate < t.min_call_rate, "call_rate")
        .when(~pop_ok, "population_af")
        .when(hl.or_else(mt.af, 0.0) <= t.min_af, "overall_af")
        .when(hl.or_else(mt.het_p, 1.0) < t.excess_het_p, "excess_het")
        .or_missing()
    )


def run_variant_qc(
    mt: hl.MatrixTable, groups: dict[str, str] | None, thresholds: QCThresholds
) -> tuple[hl.Table, dict[str, int]]:
    """Apply every QC rule and count what each removes.

    Parameters
    ----------
    mt : genotypes in the common shape.
    groups : person id (``s``) -> ancestry group; persons absent count only overall.
        None (no ancestry file): everyone is one group.
    thresholds : the QC settings.

    Returns
    -------
    (table of every site with its metrics and ``failed_rule``, counts with ``n_input``,
    one entry per rule and ``n_kept``).
    """
    if groups is None:
        mt = mt.annotate_cols(qc_group=hl.literal("all"))
    else:
        mt = mt.annotate_cols(qc_group=hl.literal(groups).get(mt.s))
    mt = split_or_flag_multiallelic(mt, thresholds.multiallelic)
    mt = annotate_qc_metrics(mt, mt.qc_group)
    mt = mt.annotate_rows(failed_rule=first_failed_rule_expr(mt, thresholds))
    sites_ht = mt.rows().checkpoint(hl.utils.new_temp_file("qc_sites", "ht"))
    counter = sites_ht.aggregate(hl.agg.counter(hl.or_else(sites_ht.failed_rule, "kept")))
    counts = {"n_input": int(sum(counter.values()))}
    counts.update({rule: int(counter.get(rule, 0)) for rule in QC_RULES})
    counts["n_kept"] = int(counter.get("kept", 0))
    return sites_ht, counts


@dataclass(frozen=True)
class WeightSites:
    """Where some weight file names a site: by locus, and by rsID (Hail tables, checkpointed)."""

    by_locus: hl.Table  # key: locus
    by_rsid: hl.Table  # key: rsid


def read_weight_sites(sites_glob: str, reference_genome: str) -> WeightSites:
    """Read the weight files' sites once, as tables to filter each platform's genotypes with.

    Parameters
    ----------
    sites_glob : TSV files of ``chrom, pos, rsid`` (``.`` for none) as
        :func:`trd_spark.genomics.pgs.write_weight_sites` writes them.
    reference_genome : the genotypes' build (the weights are on it too).
    """
    sites_ht = hl.import_table(sites_glob, no_header=True, types={"f1": hl.tint32}, missing=".")
    return weight_sites_of(sites_ht, reference_genome)


def read_snpinfo_sites(snpinfo: str, reference_genome: str) -> WeightSites:
    """The sites of an LD panel's SNP table (``CHR SNP BP ...``, whitespace-separated).

    With a ``prscs`` section the weights are not written yet when qc runs; they will be a
    subset of the panel's SNPs, so the dosage cache keeps the panel's sites.
    """
    raw_ht = hl.import_table(snpinfo, delimiter=r"\s+", types={"BP": hl.tint32})
    sites_ht = raw_ht.select(f0=raw_ht.CHR, f1=raw_ht.BP, f2=raw_ht.SNP)
    return weight_sites_of(sites_ht, reference_genome)


def weight_sites_of(sites_ht: hl.Table, reference_genome: str) -> WeightSites:
    """:class:`WeightSites` from a table of ``f0`` chromosome, ``f1`` position, ``f2`` rsID."""
    rg = hl.get_reference(reference_genome)
    chrom = sites_ht.f0.replace("^chr", "")
    if rg.contigs[0].startswith("chr"):
        chrom = "chr" + hl.if_else(chrom == "MT", "M", chrom)
    sites_ht = sites_ht.annotate(contig=chrom)
    valid = hl.is_defined(sites_ht.f1) & hl.is_valid_locus(sites_ht.contig, sites_ht.f1, rg)
    by_locus = sites_ht.filter(valid)
    by_locus = by_locus.key_by(locus=hl.locus(by_locus.contig, by_locus.f1, rg))
    by_rsid = sites_ht.filter(hl.is_defined(sites_ht.f2))
    by_rsid = by_rsid.key_by(rsid=by_rsid.f2)
    return WeightSites(
        by_locus=by_locus.select().distinct().checkpoint(hl.utils.new_temp_file("sites", "ht")),
        by_rsid=by_rsid.select().distinct().checkpoint(hl.utils.new_temp_file("rsids", "ht")),
    )


def at_weight_sites(mt: hl.MatrixTable, sites: WeightSites) -> hl.MatrixTable:
    """Rows at a position or rsID that some weight file names (matching decides the alleles)."""
    by_locus = hl.is_defined(sites.by_locus[mt.locus])
    return mt.filter_rows(by_locus | hl.or_else(hl.is_defined(sites.by_rsid[mt.rsid]), False))


def kept_genotypes(mt: hl.MatrixTable, sites_ht: hl.Table, mode: str) -> hl.MatrixTable:
    """The genotypes of the sites that pass QC, with their QC metrics as row fields.

    Parameters
    ----------
    mt : the genotypes QC ran on (common shape).
    sites_ht : output of :func:`run_variant_qc`.
    mode : the ``multiallelic`` setting QC ran with (``split`` splits ``mt`` the same way).

    Returns
    -------
    MatrixTable of the kept sites (row order unchanged).
    """
    if mode == "split":
        mt = split_multiallelic(mt)
    return mt.semi_join_rows(sites_ht.filter(hl.is_missing(sites_ht.failed_rule)))


def flat_sites_ht(sites_ht: hl.Table, extra: list[str] | None = None) -> hl.Table:
    """Sites keyed by locus/alleles as a flat, unkeyed table (what Spark and Parquet want).

    Parameters
    ----------
    sites_ht : a table keyed by ``locus``, ``alleles`` (bi-allelic) with ``rsid``.
    extra : further row fields to keep.

    Returns
    -------
    Table: contig, chrom (no ``chr``), position, ref, alt, rsid, then ``extra``.
    """
    flat_ht = sites_ht.key_by()
    return flat_ht.select(
        contig=flat_ht.locus.contig,
        chrom=flat_ht.locus.contig.replace("^chr", ""),
        position=flat_ht.locus.position,
        ref=flat_ht.alleles[0],
        alt=flat_ht.alleles[1],
        rsid=flat_ht.rsid,
        **{name: flat_ht[name] for name in extra or []},
    )


def write_dosage_cache(mt: hl.MatrixTable, prefix: str) -> DosageCache:
    """Write genotypes as a PLINK 1 fileset whose site ``i`` is ``var_idx`` ``i``.

    Parameters
    ----------
    mt : bi-allelic genotypes (common shape), restricted to the sites and persons to keep.
    prefix : output prefix (local or remote path).

    Returns
    -------
    The cache; :func:`cache_index_df` reads its sites back with their ``var_idx``.
    """
    mt = mt.add_row_index("var_idx")
    hl.export_plink(mt, prefix, ind_id=mt.s, varid=hl.str(mt.var_idx))
    n_variants = cache_index_df(prefix).count()
    return DosageCache(prefix, mt.count_cols(), n_variants)


def cache_index_df(prefix: str) -> DataFrame:
    """The cache's sites from its ``.bim``: ``contig, position, ref, alt, var_idx`` (Spark)."""
    from hail.utils.java import Env

    return (
        Env.spark_session()
        .read.csv(
            prefix + ".bim",
            sep="\t",
            schema="contig string, var_idx long, cm double, position int, alt string, ref string",
        )
        .drop("cm")
    )


def index_variants(variants_df: DataFrame, prefix: str) -> DataFrame:
    """``variants_df`` (``contig, position, ref, alt``, ...) with each site's ``var_idx`` in the
    cache at ``prefix``; null for a site the cache does not hold."""
    return variants_df.join(cache_index_df(prefix), ["contig", "position", "ref", "alt"], "left")


def kept_sites_ht(sites_ht: hl.Table) -> hl.Table:
    """The sites that pass QC, flat (``flat_sites_ht``) with their QC metrics."""
    kept_ht = sites_ht.filter(hl.is_missing(sites_ht.failed_rule))
    return flat_sites_ht(kept_ht, list(METRICS))
