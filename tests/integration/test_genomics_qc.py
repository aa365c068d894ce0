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


def genotypes(tmp_path):
    import hail as hl

    n, m = 150, 400
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
