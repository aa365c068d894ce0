"""QC statistics computed from the dosage cache against Hail's own aggregators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.integration

# thresholds where every rule removes some of the simulated sites and keeps others
THRESHOLDS = dict(
    min_call_rate=0.92, min_pop_af=0.15, min_pop_ac=10_000, min_af=0.2, excess_het_p=0.2
)


def genotypes(tmp_path, n=150, m=400):
    import hail as hl

    mt = hl.balding_nichols_model(3, n, m, n_partitions=3, reference_genome="GRCh38")
    mt = mt.key_cols_by(s=hl.str(700 + mt.sample_idx))
    mt = mt.annotate_rows(miss=hl.rand_unif(0, 0.1, seed=4))
    mt = mt.annotate_entries(GT=hl.or_missing(~hl.rand_bool(mt.miss, seed=5), mt.GT))
    mt = mt.annotate_cols(group=hl.or_missing(mt.sample_idx % 10 != 0, hl.str(mt.pop)))
    return mt.select_rows(rsid=hl.missing(hl.tstr)).checkpoint(str(tmp_path / "g.mt"))


def hail_rules(mt) -> pd.DataFrame:
    """Metrics and first failed rule per site with Hail aggregators (the pre-cache QC)."""
    import hail as hl

    t = THRESHOLDS
    n_alt = mt.GT.n_alt_alleles()
    groups = hl.agg.filter(
        hl.is_defined(mt.group),
        hl.agg.group_by(
            mt.group,
            hl.struct(ac=hl.agg.sum(n_alt), an=2 * hl.agg.count_where(hl.is_defined(mt.GT))),
        ),
    )
    mt = mt.annotate_rows(
        call_rate=hl.agg.fraction(hl.is_defined(mt.GT)),
        ac=hl.agg.sum(n_alt),
        af=hl.agg.sum(n_alt) / (2 * hl.agg.count_where(hl.is_defined(mt.GT))),
        het_p=hl.agg.hardy_weinberg_test(mt.GT, one_sided=True).p_value,
        pop_ok=hl.any(groups.values().map(lambda g: (g.ac / g.an > t["min_pop_af"]) | (g.ac > t["min_pop_ac"]))),
    )  # fmt: skip
    rule = (
        hl.case()
        .when(mt.call_rate < t["min_call_rate"], "call_rate")
        .when(~mt.pop_ok, "population_af")
        .when(mt.af <= t["min_af"], "overall_af")
        .when(mt.het_p < t["excess_het_p"], "excess_het")
        .or_missing()
    )
    rows = mt.annotate_rows(rule=rule).rows().key_by()
    rows = rows.select("call_rate", "ac", "af", "het_p", "rule", position=rows.locus.position)
    return rows.to_pandas()


def test_site_statistics_and_rules_equal_hail_aggregators(spark, tmp_path):
    from trd_spark.genomics import qc

    mt = genotypes(tmp_path)
    groups = mt.group.collect()
    thresholds = qc.QCThresholds(**THRESHOLDS)
    result = qc.qc_genotypes(
        mt.select_cols(), list(range(len(groups))), groups, None, thresholds,
        str(tmp_path / "cache"), str(tmp_path / "variants.parquet"), str(tmp_path / "scratch"),
    )  # fmt: skip
    want = hail_rules(mt).set_index("position")
    counts = want["rule"].fillna("kept").value_counts()
    for rule in ("call_rate", "population_af", "overall_af", "excess_het"):
        assert 0 < counts.get(rule, 0) == result.counts[rule], rule
    assert result.counts["n_kept"] == counts["kept"] and result.counts["n_in_cache"] == len(want)
    kept = pd.read_parquet(tmp_path / "variants.parquet").set_index("position")
    assert set(kept.index) == set(want.index[want["rule"].isna()])
    expected = want.loc[kept.index]
    np.testing.assert_allclose(kept["call_rate"], expected["call_rate"], rtol=1e-12)
    assert kept["ac"].tolist() == expected["ac"].astype(int).tolist()
    np.testing.assert_allclose(kept["af"], expected["af"], rtol=1e-12)
    np.testing.assert_allclose(kept["het_p"], expected["het_p"], rtol=1e-9)
    assert kept["var_idx"].tolist() == sorted(kept["var_idx"])


def run_qc(mt, columns, groups, sites_df, out, plink):
    from trd_spark.genomics import qc

    return qc.qc_genotypes(
        mt, columns, groups, sites_df, qc.QCThresholds(**THRESHOLDS), str(out / "cache"),
        str(out / "variants.parquet"), str(out / "scratch"), plink,
    )  # fmt: skip


@pytest.mark.parametrize("n", [151, 152])
def test_cache_cut_from_a_plink_bed_equals_hails_writer(spark, tmp_path, monkeypatch, n):
    """PLINK input: the cache cut from the .bed in Spark tasks has the same bytes as Hail's
    export_plink of the same sites and columns (missing calls, padding bits, reordered and
    dropped columns, a subset of the sites), and the same statistics."""
    import hail as hl

    from trd_spark.genomics import qc
    from trd_spark.genomics.readers import read_genotypes

    source = genotypes(tmp_path, n=n)
    groups_of = dict(zip(source.s.collect(), source.group.collect(), strict=True))
    prefix = str(tmp_path / "input")
    hl.export_plink(source, prefix, ind_id=source.s, varid=hl.str(source.locus.position))
    mt = read_genotypes(prefix, "plink")
    samples = mt.s.collect()
    columns = [int(i) for i in np.random.default_rng(3).permutation(n)[: n - 3]]
    groups = [groups_of[samples[i]] for i in columns]
    positions = [int(p) for p in source.locus.position.collect()[::3]]
    sites_df = spark.createDataFrame(
        pd.DataFrame({"chrom": "1", "position": positions, "rsid": None}),
        schema="chrom string, position long, rsid string",
    )
    plink = qc.PlinkSource(prefix, "GRCh38")
    assert qc.plink_site_rows(plink, n) is not None  # the .bim is in Hail's row order
    hail_out, cut_out = tmp_path / "hail", tmp_path / "cut"
    by_hail = run_qc(mt, columns, groups, sites_df, hail_out, None)

    def no_hail_writer(*args, **kwargs):
        raise AssertionError("the PLINK path must not call Hail's writer")

    monkeypatch.setattr(qc, "write_dosage_cache", no_hail_writer)
    # a first run on other genotypes into the same folder: nothing of it may leak into the next
    head = source.head(40)
    hl.export_plink(head, str(tmp_path / "head"), ind_id=head.s)
    head_mt = read_genotypes(str(tmp_path / "head"), "plink")
    head_plink = qc.PlinkSource(str(tmp_path / "head"), "GRCh38")
    assert run_qc(head_mt, columns, groups, None, cut_out, head_plink).cache.n_variants == 40
    by_cut = run_qc(mt, columns, groups, sites_df, cut_out, plink)
    assert by_cut.counts == by_hail.counts and by_cut.fam_ids == by_hail.fam_ids
    assert by_cut.cache.n_variants == len(positions) < mt.count_rows()
    for ext in (".bed", ".bim", ".fam"):
        want = (hail_out / f"cache{ext}").read_bytes()
        assert (cut_out / f"cache{ext}").read_bytes() == want, ext
    pd.testing.assert_frame_equal(
        pd.read_parquet(cut_out / "variants.parquet"),
        pd.read_parquet(hail_out / "variants.parquet"),
    )
    assert 0 < by_cut.counts["n_kept"] < len(positions)


def test_plink_rows_out_of_hails_order_use_hails_writer(spark, tmp_path):
    """A .bim not sorted as Hail keys its rows falls back to Hail's rows and writer."""
    from trd_spark.genomics import qc

    prefix = tmp_path / "unsorted"
    bim = "1\trs1\t0\t200\tA\tG\n1\trs2\t0\t100\tC\tT\n"
    prefix.with_suffix(".bim").write_text(bim)
    prefix.with_suffix(".bed").write_bytes(b"\x6c\x1b\x01" + bytes(2))
    assert qc.plink_site_rows(qc.PlinkSource(str(prefix), "GRCh38"), 3) is None
    prefix.with_suffix(".bim").write_text("".join(reversed(bim.splitlines(True))))
    rows = qc.plink_site_rows(qc.PlinkSource(str(prefix), "GRCh38"), 3)
    assert rows is not None
    assert rows[["contig", "chrom", "position", "ref", "alt", "rsid"]].values.tolist() == [
        ["chr1", "1", 100, "T", "C", "rs2"], ["chr1", "1", 200, "G", "A", "rs1"]
    ]  # fmt: skip
    assert qc.plink_site_rows(qc.PlinkSource(str(prefix), "GRCh38"), 5) is None  # wrong size


@pytest.mark.parametrize(
    "multiallelic, snv_only, with_weights",
    [("drop", True, True), ("split", True, True), ("drop", False, True), ("drop", True, False)],
)
def test_site_outcomes_on_the_driver_equal_sparks(spark, multiallelic, snv_only, with_weights):
    """The PLINK path's site rules in pandas give every row the outcome the Spark rules give:
    repeated loci, more than two alleles, indels, a missing ALT, rsID-only and position-only
    weight sites, weight sites without an rsID or a position."""
    from trd_spark.genomics import qc

    rows = pd.DataFrame(
        {
            "row_idx": np.arange(10, dtype=np.int64),
            "contig": ["chr1"] * 6 + ["chr2"] * 4,
            "chrom": ["1"] * 6 + ["2"] * 4,
            "position": np.array([10, 20, 20, 30, 40, 50, 10, 20, 30, 40], dtype=np.int32),
            "ref": ["A", "C", "C", "AT", "G", "T", "A", "G", "C", "T"],
            "alt": ["G", "T", "A", "A", None, "C", "T", "A", "GA", "C"],
            "n_alleles": np.array([2, 2, 2, 2, 1, 3, 2, 2, 2, 2], dtype=np.int32),
            "rsid": ["rs1", None, "rs3", "rs4", None, "rs6", "rs7", None, "rs9", "rs10"],
        }
    )
    weights = pd.DataFrame(
        {
            "chrom": ["1", "1", "1", "2", "2", "2", None],
            "position": pd.Series([10, 20, 50, 20, 999, None, 5], dtype=object),
            "rsid": [None, "rs77", None, None, "rs10", "rs9", "rs4"],
        }
    )
    thresholds = qc.QCThresholds(multiallelic=multiallelic, snv_only=snv_only)
    rows_df = spark.createDataFrame(rows, schema=qc._ROWS_SCHEMA)
    weights_df = (
        spark.createDataFrame(weights, schema="chrom string, position long, rsid string")
        if with_weights
        else None
    )
    by_spark = qc.examined_sites(rows_df, weights_df, thresholds)
    local = qc.site_outcomes_local(rows, weights if with_weights else None, thresholds)
    by_driver = qc.examined_sites_local(rows, weights_df, thresholds)
    assert by_driver.counts == by_spark.counts
    assert by_driver.row_idx.tolist() == by_spark.row_idx.tolist()
    outside = {qc.OUTSIDE_WEIGHTS} if with_weights else set()
    assert set(local.unique()) >= {"examined", "non_snv"} | outside
    numbered = ["row_idx", "var_idx", "chrom", "position", "ref", "alt", "rsid"]
    pd.testing.assert_frame_equal(
        by_driver.rows[numbered].sort_values("var_idx", ignore_index=True),
        by_spark.rows_df.toPandas()[numbered].sort_values("var_idx", ignore_index=True),
    )
