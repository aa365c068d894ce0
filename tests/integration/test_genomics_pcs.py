"""PCs computed from genotypes (no ancestry file) against a numpy SVD of the same matrix."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_computed_pcs_equal_numpy_svd(spark, tmp_path):
    import hail as hl

    from trd_spark.genomics.pcs import compute_pcs

    n, m, k = 40, 200, 16
    mt = hl.balding_nichols_model(2, n, m, n_partitions=2)
    mt = mt.key_cols_by(s=hl.str(500 + mt.sample_idx)).select_rows(rsid=hl.missing(hl.tstr))
    # written once so that the PCA and numpy see the same random genotypes
    mt = mt.select_cols().select_globals().checkpoint(str(tmp_path / "bn.mt"))
    sites_ht = mt.rows().annotate(failed_rule=hl.missing(hl.tstr))
    pcs = compute_pcs(mt, sites_ht, k=k)

    dosages = np.array(mt.GT.n_alt_alleles().collect()).reshape(m, n).astype(float)
    p = dosages.mean(axis=1) / 2
    keep = (p > 0) & (p < 1)
    # HWE normalisation as Hail documents it: (g - 2p) / sqrt(2 p (1 - p) M)
    x = (dosages[keep] - 2 * p[keep, None]) / np.sqrt(
        2 * p[keep, None] * (1 - p[keep, None]) * keep.sum()
    )
    u, s, _ = np.linalg.svd(x.T, full_matrices=False)
    expected = u[:, :k] * s[:k]
    order = np.argsort(pcs["person_id"].to_numpy())
    got = pcs[[f"pc{i + 1}" for i in range(k)]].to_numpy()[order]
    for j in range(3):  # the leading axes are well separated; signs are arbitrary
        np.testing.assert_allclose(np.abs(got[:, j]), np.abs(expected[:, j]), rtol=1e-5, atol=1e-8)
    assert pcs["person_id"].dtype == np.int64 and len(pcs) == n
