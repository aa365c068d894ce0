"""Allele matching of PGS weights to the QC'd genotype sites, one weight file at a time.

A weight matches a site of its chromosome by rsID when both have one, else by
position; the alleles then decide: effect allele = ALT (direct), effect allele =
REF (flipped: the score uses 2 - ALT dosage), or the same on the opposite strand.
Strand-ambiguous pairs (A/T, C/G) are dropped unless kept; weights whose position
occurs twice in their file, and sites that two weights of a trait match, are
dropped as duplicates.

The matcher is plain numpy/pandas: it runs inside the Spark tasks that parse the
weight files (see :mod:`trd_spark.genomics.pgs`), so a weight never becomes a
Spark row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trd_spark.errors import InputError

REPORT_COLUMNS = [
    "platform",
    "trait",
    "n_in_file",
    "n_matched",
    "n_flipped",
    "n_ambiguous_dropped",
    "n_missing",
    "n_duplicates",
    "overlap",
    "min_overlap",
    "scored",
]
COUNT_COLUMNS = REPORT_COLUMNS[2:-3]
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


@dataclass(frozen=True)
class SiteTable:
    """The QC'd sites of one chromosome (numpy columns, one entry per site, sorted by position).

    Alleles are integer codes into ``alleles``, coded once when the table is built
    (:func:`site_table`) so that every weight file matched against it compares integers.
    """

    position: np.ndarray  # int64
    ref: np.ndarray  # int64 code into alleles
    alt: np.ndarray  # int64 code into alleles
    rsid: np.ndarray  # object (str or None)
    var_idx: np.ndarray  # int64: the site's row in the dosage cache
    alleles: tuple[str, ...]


def site_table(
    position: np.ndarray, ref: np.ndarray, alt: np.ndarray, rsid: np.ndarray, var_idx: np.ndarray
) -> SiteTable:
    """Build a :class:`SiteTable` from allele strings (sorted by position here)."""
    order = np.argsort(position, kind="stable")
    codes, uniques = pd.factorize(np.concatenate([ref[order], alt[order]]))
    return SiteTable(
        position=np.asarray(position, np.int64)[order],
        ref=codes[: len(order)].astype(np.int64),
        alt=codes[len(order) :].astype(np.int64),
        rsid=np.asarray(rsid, object)[order],
        var_idx=np.asarray(var_idx, np.int64)[order],
        alleles=tuple(str(u) for u in uniques),
    )


@dataclass(frozen=True)
class MatchResult:
    """The used weights of one file and its counts for the match report."""

    var_idx: np.ndarray  # int64, one per used weight
    weight: np.ndarray  # float64: beta, negated when flipped
    offset: float  # sum of 2 * beta over flipped weights (the constant of 2 - dosage)
    counts: dict[str, int]  # n_in_file, n_matched, n_flipped, ...


def complement(allele: str) -> str:
    """Base-wise strand complement of an allele."""
    return allele.translate(_COMPLEMENT)


@dataclass(frozen=True)
class AlleleCodes:
    """Alleles as integer codes, with each code's strand complement (-1: not among them)."""

    codes: list[np.ndarray]  # one code array per allele array given
    complement: np.ndarray  # code -> code of its complement, or -1
    single_base: np.ndarray  # code -> the allele is one base long

    def is_ambiguous(self, a1: np.ndarray, a2: np.ndarray) -> np.ndarray:
        """True for A/T and C/G pairs, whose strand cannot be told from the alleles."""
        return self.single_base[a1] & self.single_base[a2] & (self.complement[a1] == a2)


def allele_codes(a1: np.ndarray, a2: np.ndarray, sites: SiteTable) -> AlleleCodes:
    """Code a weight file's alleles in the sites' code space (extended by alleles they lack)."""
    codes, uniques = pd.factorize(np.concatenate([a1, a2]))
    names = list(sites.alleles)
    code_of = {name: k for k, name in enumerate(names)}
    for name in uniques:
        code_of.setdefault(str(name), len(names))
        if len(names) < len(code_of):
            names.append(str(name))
    weight_codes = np.array([code_of[str(u)] for u in uniques], dtype=np.int64)[codes]
    return AlleleCodes(
        codes=[weight_codes[: len(a1)], weight_codes[len(a1) :], sites.ref, sites.alt],
        complement=np.array([code_of.get(complement(n), -1) for n in names], dtype=np.int64),
        single_base=np.array([len(n) == 1 for n in names]),
    )


def pairs_by_rsid(weight_rsid: np.ndarray, site_rsid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weight row, site row) pairs with the same rsID (rows without one never pair)."""
    w_rows = np.flatnonzero(pd.notna(weight_rsid))
    s_rows = np.flatnonzero(pd.notna(site_rsid))
    if len(w_rows) == 0 or len(s_rows) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    joined = pd.DataFrame({"rsid": weight_rsid[w_rows], "w": w_rows}).merge(
        pd.DataFrame({"rsid": site_rsid[s_rows], "s": s_rows}), on="rsid"
    )
    return joined["w"].to_numpy(np.int64), joined["s"].to_numpy(np.int64)


def pairs_by_position(
    weight_pos: np.ndarray, site_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(weight row, site row) pairs at the same position; ``site_pos`` is sorted."""
    known = (
        ~np.isnan(weight_pos) if weight_pos.dtype.kind == "f" else np.ones(len(weight_pos), bool)
    )
    rows = np.flatnonzero(known)
    pos = weight_pos[rows].astype(np.int64)
    first = np.searchsorted(site_pos, pos, side="left")
    n_sites = np.searchsorted(site_pos, pos, side="right") - first
    w_rows = np.repeat(rows, n_sites)
    within = np.arange(len(w_rows)) - np.repeat(np.cumsum(n_sites) - n_sites, n_sites)
    return w_rows, np.repeat(first, n_sites) + within


def candidate_pairs(
    weight_pos: np.ndarray, weight_rsid: np.ndarray, sites: SiteTable
) -> tuple[np.ndarray, np.ndarray]:
    """Weight/site pairs that may match: same rsID when both have one, else same position.

    Parameters
    ----------
    weight_pos, weight_rsid : positions and rsIDs of usable weights of one chromosome.
    sites : the chromosome's QC'd sites.

    Returns
    -------
    (weight rows, site rows), one entry per pair.
    """
    w_rsid, s_rsid = pairs_by_rsid(weight_rsid, sites.rsid)
    w_pos, s_pos = pairs_by_position(weight_pos, sites.position)
    no_rsid = pd.isna(weight_rsid)[w_pos] | pd.isna(sites.rsid)[s_pos]
    return np.concatenate([w_rsid, w_pos[no_rsid]]), np.concatenate([s_rsid, s_pos[no_rsid]])


def classify_alleles(
    codes: AlleleCodes, a1: np.ndarray, a2: np.ndarray, ref: np.ndarray, alt: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For allele-coded pairs: (alleles agree, effect allele is REF).

    The same-strand reading wins over the complement; a strand-ambiguous pair is
    read on the forward strand only.
    """
    c1, c2 = codes.complement[a1], codes.complement[a2]
    other_strand = ~codes.is_ambiguous(a1, a2)
    same = (a1 == alt) & (a2 == ref)
    direct = same | (other_strand & (c1 == alt) & (c2 == ref))
    flipped = ~same & (((a1 == ref) & (a2 == alt)) | (other_strand & (c1 == ref) & (c2 == alt)))
    return direct | flipped, flipped


@dataclass(frozen=True)
class MatchPlan:
    """How one weight file's rows map to sites: everything of a match but the betas.

    PRS-CS writes every trait on the same reference panel, so consecutive files often
    share positions and alleles; a plan made for one applies to the next.
    """

    rows: np.ndarray  # the weight row used for each matched site
    var_idx: np.ndarray  # the matched sites (sorted)
    flipped: np.ndarray  # bool per matched site: the effect allele is REF
    counts: dict[str, int]  # n_in_file, n_matched, n_flipped, ...

    def apply(self, beta: np.ndarray) -> MatchResult:
        """The used weights for the file's betas (one per weight row)."""
        used = np.asarray(beta, dtype=np.float64)[self.rows]
        return MatchResult(
            var_idx=self.var_idx,
            weight=np.where(self.flipped, -used, used),
            offset=float(2.0 * used[self.flipped].sum()),
            counts=dict(self.counts),
        )


def plan_match(weights: pd.DataFrame, sites: SiteTable, keep_ambiguous: bool) -> MatchPlan:
    """Match one weight file's weights (one chromosome) to that chromosome's sites.

    Parameters
    ----------
    weights : ``pos, rsid, a1, a2, duplicate`` as the weight readers return them
        (``duplicate``: the position occurs more than once in the file).
    sites : the chromosome's QC'd sites.
    keep_ambiguous : keep A/T and C/G weights.

    Returns
    -------
    The rows used, their sites and flips, and the counts of the match report.
    """
    codes = allele_codes(weights["a1"].to_numpy(object), weights["a2"].to_numpy(object), sites)
    a1, a2, ref, alt = codes.codes
    duplicate = weights["duplicate"].to_numpy(dtype=bool)
    ambiguous = np.zeros(len(weights), dtype=bool)
    if not keep_ambiguous:
        ambiguous = codes.is_ambiguous(a1, a2) & ~duplicate
    usable = np.flatnonzero(~duplicate & ~ambiguous)
    w_rows, s_rows = candidate_pairs(
        weights["pos"].to_numpy()[usable], weights["rsid"].to_numpy(object)[usable], sites
    )
    w_rows = usable[w_rows]
    agree, flipped = classify_alleles(codes, a1[w_rows], a2[w_rows], ref[s_rows], alt[s_rows])
    w_rows, s_rows, flipped = w_rows[agree], s_rows[agree], flipped[agree]
    site_ids, first, n_weights = np.unique(
        sites.var_idx[s_rows], return_index=True, return_counts=True
    )
    single = n_weights == 1
    flipped = flipped[first[single]]
    n_duplicates = int(duplicate.sum() + n_weights[~single].sum())
    counts = {
        "n_in_file": len(weights),
        "n_matched": int(single.sum()),
        "n_flipped": int(flipped.sum()),
        "n_ambiguous_dropped": int(ambiguous.sum()),
        "n_duplicates": n_duplicates,
    }
    counts["n_missing"] = (
        counts["n_in_file"] - n_duplicates - counts["n_ambiguous_dropped"] - counts["n_matched"]
    )
    return MatchPlan(w_rows[first[single]], site_ids[single], flipped, counts)


def match_weights(weights: pd.DataFrame, sites: SiteTable, keep_ambiguous: bool) -> MatchResult:
    """:func:`plan_match` applied to the file's own ``beta`` column."""
    plan = plan_match(weights, sites, keep_ambiguous)
    return plan.apply(weights["beta"].to_numpy(np.float64))


def apply_overlap_floor(report_df: pd.DataFrame, min_overlap: float, platform: str) -> pd.DataFrame:
    """Mark which traits matched enough of their weights to be scored on a platform.

    Parameters
    ----------
    report_df : match report with ``trait``, ``n_matched``, ``n_in_file`` and ``overlap``.
    min_overlap : the platform's floor: the smallest share of a trait's weights matched.
    platform : for the message.

    Returns
    -------
    The report with ``min_overlap`` and ``scored`` (False: below the floor, not scored on
    this platform).  InputError when no trait reaches the floor, which points at a wrong
    build or wrong files rather than at the data.
    """
    out_df = report_df.assign(min_overlap=min_overlap, scored=report_df["overlap"] >= min_overlap)
    if len(out_df) and not out_df["scored"].any():
        best = out_df.sort_values("overlap").iloc[-1]
        raise InputError(
            f"no trait reaches the overlap floor on platform {platform}: at best "
            f"{best['n_matched']} of {best['n_in_file']} weights ({best['overlap']:.1%}, trait "
            f"'{best['trait']}') match the QC'd genotypes, below {min_overlap}; check the build "
            "(weights.reference_genome, weights.chain_file) and the weight files, or lower "
            f"genotypes.{platform}.min_overlap"
        )
    return out_df
