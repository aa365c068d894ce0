"""PCs from the dosage cache against Hail's ``hwe_normalized_pca`` and ``pc_project``."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_reference_pca_and_projection_equal_hail(spark, tmp_path):
    import hail as hl

    from trd_spark.genomics import pcs, qc

    n_ref, n_other, m, k = 60, 40, 300, 8
    mt = hl.balding_nichols_model(3, n_ref + n_other, m, n_partitions=3, reference_genome="GRCh38")
    mt = mt.key_cols_by(s=hl.str(500 + mt.sample_idx)).select_rows(rsid=hl.missing(hl.tstr))
    mt = mt.annotate_entries(GT=hl.or_missing(hl.rand_bool(0.97, seed=2), mt.GT))
    mt = mt.annotate_rows(
        ref_ac=hl.agg.filter(mt.sample_idx < n_ref, hl.agg.sum(mt.GT.n_alt_alleles())),
        ref_an=hl.agg.filter(mt.sample_idx < n_ref, 2 * hl.agg.count_where(hl.is_defined(mt.GT))),
    )
    # every site polymorphic in the reference, so that both sides use the same sites
    mt = mt.filter_rows((mt.ref_ac > 0) & (mt.ref_ac < mt.ref_an))
    mt = mt.select_rows("rsid").select_cols().select_globals().checkpoint(str(tmp_path / "g.mt"))
    n_sites = mt.count_rows()
    cache = qc.write_dosage_cache(
        mt, np.arange(n_sites), list(range(n_ref + n_other)), str(tmp_path / "cache")
    )
    model = pcs.fit_reference_pca(cache, np.arange(n_sites), np.arange(n_ref), k)
    ours = pcs.project(cache, model, np.arange(n_ref + n_other))

    ref_mt = mt.filter_cols(hl.int(mt.s) < 500 + n_ref)
    _, scores_ht, loadings_ht = hl.hwe_normalized_pca(ref_mt.GT, k=k, compute_loadings=True)
    ref_af = ref_mt.annotate_rows(af=hl.agg.mean(ref_mt.GT.n_alt_alleles()) / 2).rows()
    loadings_ht = loadings_ht.annotate(af=ref_af[loadings_ht.key].af)
    projected_ht = hl.experimental.pc_project(mt.GT, loadings_ht.loadings, loadings_ht.af)
    hail = {int(r.s): r.scores for r in projected_ht.collect()}
    in_sample = {int(r.s): r.scores for r in scores_ht.collect()}
    theirs = np.array([hail[500 + i] for i in range(n_ref + n_other)])
    for j in range(3):  # leading axes: well separated; signs are arbitrary
        sign = np.sign(ours[:, j] @ theirs[:, j])
        np.testing.assert_allclose(ours[:, j], sign * theirs[:, j], atol=1e-6)
        # Hail's in-sample scores of the reference equal our projection of it
        pca = np.array([in_sample[500 + i][j] for i in range(n_ref)])
        np.testing.assert_allclose(ours[:n_ref, j], sign * pca, atol=1e-6)
