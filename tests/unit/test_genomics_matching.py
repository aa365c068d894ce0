"""Allele matching on hand-made sites and weights, one case per rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark.genomics.matching import SiteTable, match_weights, site_table

# position, ref, alt, rsid (var_idx = row number + 10)
SITES = [
    (100, "A", "G", "rs1"),
    (200, "C", "T", "rs2"),
    (300, "A", "C", "rs3"),
    (400, "A", "T", "rs4"),
    (500, "G", "A", None),
    (700, "C", "G", "rs7"),
    (800, "G", "T", "rs8"),
    (900, "C", "A", "rs9"),
    (1000, "G", "A", "rs_other"),
]
# pos, rsid, a1, a2, beta ; comment = expected outcome
WEIGHTS = [
    (100, "rs1", "G", "A", 0.1),  # direct by rsID
    (200, "rs2", "C", "T", 0.2),  # flipped (effect allele is REF)
    (300, "rs3", "T", "G", 0.3),  # other strand, effect allele REF -> flipped
    (400, "rs4", "T", "A", 0.4),  # A/T: ambiguous, dropped by default
    (500, "rs99", "A", "G", 0.5),  # site without rsID: by position, direct
    (600, "rs6", "A", "G", 0.6),  # no site: missing
    (700, "rs7", "C", "A", 0.7),  # two weights at one position: duplicates
    (700, "rs7b", "C", "T", 0.7),
    (800, "rs8", "A", "G", 0.8),  # alleles disagree on both strands: missing
    (950, "rs9", "A", "C", 0.9),  # rsID wins over a differing position: direct
    (1000, "rs10", "A", "G", 1.0),  # both have rsIDs and they differ: missing
]


def sites_of(rows: list[tuple]) -> SiteTable:
    frame = pd.DataFrame(rows, columns=["position", "ref", "alt", "rsid"])
    return site_table(
        frame["position"].to_numpy(np.int64),
        frame["ref"].to_numpy(object),
        frame["alt"].to_numpy(object),
        frame["rsid"].to_numpy(object),
        np.arange(len(frame), dtype=np.int64) + 10,
    )


def weight_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["pos", "rsid", "a1", "a2", "beta"])
    return frame.assign(chrom="1", duplicate=frame["pos"].duplicated(keep=False))


def used(keep_ambiguous: bool):
    result = match_weights(weight_frame(WEIGHTS), sites_of(SITES), keep_ambiguous)
    positions = {i + 10: row[0] for i, row in enumerate(SITES)}
    got = {positions[int(v)]: float(w) for v, w in zip(result.var_idx, result.weight, strict=True)}
    return got, result


def test_each_rule():
    got, result = used(keep_ambiguous=False)
    # flipped weights enter negated, plus 2 beta per flipped weight as a constant
    assert got == {100: 0.1, 200: -0.2, 300: -0.3, 500: 0.5, 900: 0.9}
    assert result.offset == 2 * (0.2 + 0.3)
    assert result.counts == {
        "n_in_file": 11, "n_matched": 5, "n_flipped": 2,
        "n_ambiguous_dropped": 1, "n_duplicates": 2, "n_missing": 3,
    }  # fmt: skip


def test_keep_ambiguous():
    got, result = used(keep_ambiguous=True)
    # the A/T weight read on the forward strand: effect allele T is ALT -> direct
    assert got[400] == 0.4
    assert result.counts["n_matched"] == 6 and result.counts["n_ambiguous_dropped"] == 0


def test_a_site_two_weights_match_is_dropped():
    # two weights at different positions carry the rsID of one site
    weights = [(100, "rs1", "G", "A", 0.1), (150, "rs1", "G", "A", 0.2)]
    result = match_weights(weight_frame(weights), sites_of(SITES), keep_ambiguous=False)
    assert len(result.var_idx) == 0
    assert result.counts["n_duplicates"] == 2 and result.counts["n_missing"] == 0


def test_no_sites_means_all_missing():
    empty = sites_of([])
    result = match_weights(weight_frame(WEIGHTS[:3]), empty, keep_ambiguous=False)
    assert result.counts["n_missing"] == 3 and len(result.var_idx) == 0


def test_file_groups_keep_chromosomes_together():
    from trd_spark.genomics.pgs import file_groups

    files = pd.DataFrame(
        [(t, f"/w/{t}_pst_eff_a1_b0.5_phiauto_chr{c}.txt") for t in "abc" for c in (1, 2)],
        columns=["trait", "file"],
    )
    groups = file_groups(files, 2)
    assert [task for task, _ in groups] == [0, 1]
    assert [{f.split("_chr")[1] for _, f in g} for _, g in groups] == [{"1.txt"}, {"2.txt"}]
    assert sorted(f for _, g in groups for _, f in g) == sorted(files["file"])


def test_a_trait_below_the_floor_is_reported_not_scored():
    from trd_spark.genomics.matching import apply_overlap_floor

    report = pd.DataFrame(
        {"trait": ["ok", "thin"], "n_matched": [90, 60], "n_in_file": [100, 100]}
    ).assign(overlap=lambda r: r.n_matched / r.n_in_file)
    at_60 = apply_overlap_floor(report, 0.6, "wgs")  # 60% is enough at 0.6
    assert at_60["scored"].tolist() == [True, True] and (at_60["min_overlap"] == 0.6).all()
    at_75 = apply_overlap_floor(report, 0.75, "array")
    assert at_75["scored"].tolist() == [True, False]
    assert at_75[["trait", "n_matched", "overlap"]].equals(
        report[["trait", "n_matched", "overlap"]]
    )


def test_no_trait_above_the_floor_stops_naming_the_best_one():
    import pytest

    from trd_spark.errors import InputError
    from trd_spark.genomics.matching import apply_overlap_floor

    report = pd.DataFrame(
        {"trait": ["thin", "thinner"], "n_matched": [60, 10], "n_in_file": [100, 100]}
    ).assign(overlap=lambda r: r.n_matched / r.n_in_file)
    with pytest.raises(InputError, match=r"platform array: at best 60 of 100 .*'thin'.*array.min"):
        apply_overlap_floor(report, 0.75, "array")
