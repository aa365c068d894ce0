"""Allele matching on hand-made sites and weights, one case per rule."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

# contig, chrom, position, ref, alt, rsid
SITES = [
    ("chr1", "1", 100, "A", "G", "rs1"),
    ("chr1", "1", 200, "C", "T", "rs2"),
    ("chr1", "1", 300, "A", "C", "rs3"),
    ("chr1", "1", 400, "A", "T", "rs4"),
    ("chr1", "1", 500, "G", "A", None),
    ("chr1", "1", 700, "C", "G", "rs7"),
    ("chr1", "1", 800, "G", "T", "rs8"),
    ("chr1", "1", 900, "C", "A", "rs9"),
    ("chr1", "1", 1000, "G", "A", "rs_other"),
]
# trait, chrom, pos, rsid, a1, a2, beta, file, line ; comment = expected outcome
WEIGHTS = [
    ("t", "1", 100, "rs1", "G", "A", 0.1),  # direct by rsID
    ("t", "1", 200, "rs2", "C", "T", 0.2),  # flipped (effect allele is REF)
    ("t", "1", 300, "rs3", "T", "G", 0.3),  # other strand, effect allele REF -> flipped
    ("t", "1", 400, "rs4", "T", "A", 0.4),  # A/T: ambiguous, dropped by default
    ("t", "1", 500, "rs99", "A", "G", 0.5),  # site without rsID: by position, direct
    ("t", "1", 600, "rs6", "A", "G", 0.6),  # no site: missing
    ("t", "1", 700, "rs7", "C", "A", 0.7),  # two weights at one position: duplicates
    ("t", "1", 700, "rs7b", "C", "T", 0.7),
    ("t", "1", 800, "rs8", "A", "G", 0.8),  # alleles disagree on both strands: missing
    ("t", "1", 950, "rs9", "A", "C", 0.9),  # rsID wins over a differing position: direct
    ("t", "1", 1000, "rs10", "A", "G", 1.0),  # both have rsIDs and they differ: missing
]


def frames(spark, keep_ambiguous: bool):
    from trd_spark.genomics.matching import match_weights

    sites_df = spark.createDataFrame(
        SITES, "contig string, chrom string, position int, ref string, alt string, rsid string"
    )
    rows = [(*w, "f.txt", i + 1) for i, w in enumerate(WEIGHTS)]
    weights_df = spark.createDataFrame(
        rows,
        "trait string, chrom string, pos long, rsid string, a1 string, a2 string, beta double, "
        "file string, line long",
    )
    matched, counts = match_weights(weights_df, sites_df, keep_ambiguous)
    got = {(r.position, r.flipped) for r in matched.collect()}
    return got, counts.collect()[0].asDict()


def test_each_rule(spark):
    got, counts = frames(spark, keep_ambiguous=False)
    assert got == {(100, False), (200, True), (300, True), (500, False), (900, False)}
    assert counts == {
        "trait": "t", "n_in_file": 11, "n_matched": 5, "n_flipped": 2,
        "n_ambiguous_dropped": 1, "n_missing": 3, "n_duplicates": 2,
    }  # fmt: skip


def test_keep_ambiguous(spark):
    got, counts = frames(spark, keep_ambiguous=True)
    # the A/T weight read on the forward strand: effect allele T is ALT -> direct
    assert (400, False) in got and counts["n_matched"] == 6 and counts["n_ambiguous_dropped"] == 0
