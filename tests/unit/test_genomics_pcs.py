"""PCs from the dosage cache (reference PCA and projection) against numpy's SVD, and the
choice of reference persons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers.plink_bed import write_bed
from trd_spark.genomics import pcs, scoring


def random_cache(tmp_path, n: int, m: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    freqs = rng.uniform(0.1, 0.9, m)
    # two populations so the top axis has something to find
    shift = np.where(np.arange(n) < n // 2, -0.08, 0.08)
    p = np.clip(freqs[:, None] + shift[None, :] * rng.normal(size=(m, 1)), 0.02, 0.98)
    dosages = rng.binomial(2, p).astype(float)
    dosages[rng.random((m, n)) < 0.02] = np.nan
    rows = [[None if np.isnan(d) else int(d) for d in row] for row in dosages]
    write_bed(tmp_path / "c.bed", rows)
    return scoring.DosageCache(str(tmp_path / "c"), n_samples=n, n_variants=m), dosages


def svd_reference(dosages: np.ndarray, reference: np.ndarray, k: int):
    """hwe_normalized_pca written out with numpy's SVD: (af, loadings, scores)."""
    ref = dosages[:, reference]
    af = np.nanmean(ref, axis=1) / 2
    x = (ref - 2 * af[:, None]) / np.sqrt(2 * af * (1 - af) * len(af))[:, None]
    x = np.nan_to_num(x, nan=0.0)
    u, s, vt = np.linalg.svd(x.T, full_matrices=False)
    return af, vt[:k].T, u[:, :k] * s[:k]


@pytest.mark.parametrize("n_reference", [30, 140])  # fewer and more persons than sites
def test_reference_pca_and_projection_equal_numpy_svd(tmp_path, n_reference):
    n, m, k = 160, 80, 5
    cache, dosages = random_cache(tmp_path, n, m)
    reference = np.arange(n_reference)
    model = pcs.fit_reference_pca(cache, np.arange(m), reference, k)
    af, loadings, scores = svd_reference(dosages, reference, k)
    signs = np.sign(np.sum(model.loadings * loadings, axis=0))
    np.testing.assert_allclose(model.af, af, rtol=1e-6)
    np.testing.assert_allclose(model.loadings, loadings * signs, atol=1e-5)
    np.testing.assert_allclose(model.scores, scores * signs, atol=1e-5)
    # projecting the reference gives its PCA scores; others are x' V with the reference's af
    np.testing.assert_allclose(pcs.project(cache, model, reference), model.scores, atol=1e-5)
    others = np.arange(n_reference, n)
    x = (dosages[:, others] - 2 * af[:, None]) / np.sqrt(2 * af * (1 - af) * m)[:, None]
    want = np.nan_to_num(x, nan=0.0).T @ (loadings * signs)
    np.testing.assert_allclose(pcs.project(cache, model, others), want, atol=1e-5)


def test_too_few_persons_is_an_input_error(tmp_path):
    from trd_spark.errors import InputError

    cache, _ = random_cache(tmp_path, 20, 30)
    with pytest.raises(InputError, match="cannot compute 16 PCs from 10 persons"):
        pcs.fit_reference_pca(cache, np.arange(30), np.arange(10), 16)


def test_cohorts_needing_pcs_are_those_with_a_member_lacking_them():
    cohorts = pd.DataFrame(
        {"person_id": [1, 2, 3, 4, 5], "cohort": ["a", "a", "b", "b", None],
         "pc1": [0.1, 0.2, 0.3, np.nan, np.nan], "pc2": [1.0, 2.0, 3.0, np.nan, np.nan]}
    )  # fmt: skip
    assert pcs.cohorts_needing_pcs(cohorts, 2) == ["b"]


def test_reference_lies_outside_the_cohorts_when_enough_persons_are_there():
    n_out = pcs.MIN_REFERENCE + 20
    platform = pd.DataFrame(
        {"person_id": np.arange(n_out + 50), "cohort": [None] * n_out + ["micro"] * 50}
    )
    plan = pcs.plan_pcs(platform, ["micro"], max_reference=60)
    assert plan is not None and plan.outside
    assert set(plan.targets) == set(range(n_out, n_out + 50))
    assert len(plan.reference) == 60 and set(plan.reference) <= set(range(n_out))
    few = platform.iloc[n_out - 10 :]
    plan = pcs.plan_pcs(few, ["micro"])
    assert plan is not None and not plan.outside and set(plan.reference) == set(plan.targets)
    assert pcs.plan_pcs(platform, ["other"]) is None


def test_compute_pcs_labels_reference_members_and_projected_ones(tmp_path):
    cache, _ = random_cache(tmp_path, 60, 40)
    ids = [str(1000 + i) for i in range(60)]
    plan = pcs.PCPlan(targets=np.arange(1000, 1060), reference=np.arange(1000, 1040),
                      outside=False)  # fmt: skip
    out = pcs.compute_pcs(cache, ids, plan, np.arange(40), 3)
    assert out["pcs_source"].tolist() == ["computed"] * 40 + ["projected"] * 20
    assert list(out.columns) == ["person_id", "pc1", "pc2", "pc3", "pcs_source"]
