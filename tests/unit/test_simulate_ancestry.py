"""Randomized PCA of the ancestry file against numpy's exact SVD; the file's text format."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trd_spark.simulate.ancestry import ancestry_table, compute_pcs, write_ancestry_file


def structured_dosages(rng: np.random.Generator) -> np.ndarray:
    groups = np.repeat([0, 1, 2], 400)
    freqs = rng.uniform(0.1, 0.9, (3, 300))
    return sum((rng.random((1200, 300)) < freqs[groups]).astype(np.int8) for _ in range(2))


def test_top_components_match_exact_svd():
    dosages = structured_dosages(np.random.default_rng(1))
    pcs = compute_pcs(np.random.default_rng(2), dosages)
    x = dosages - dosages.mean(0)
    x = x / np.sqrt(dosages.mean(0) / 2 * (1 - dosages.mean(0) / 2))
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    exact = u[:, :2] * s[:2] / np.sqrt(x.shape[1])
    for i in range(2):
        assert abs(np.corrcoef(pcs[:, i], exact[:, i])[0, 1]) > 0.999
        np.testing.assert_allclose(np.abs(pcs[:, i]).max(), np.abs(exact[:, i]).max(), rtol=1e-3)


def test_ancestry_file_round_trips_through_pandas(tmp_path):
    rng = np.random.default_rng(3)
    pcs = rng.standard_normal((5, 16))
    table = ancestry_table(
        np.arange(5) + 1_000_000, np.array(["eur", "afr", "amr", "eas", "oth"]), pcs, rng
    )
    write_ancestry_file(tmp_path / "ancestry_preds.tsv", table)
    back = pd.read_csv(tmp_path / "ancestry_preds.tsv", sep="\t")
    parsed = np.array([[float(v) for v in s.strip("[]").split(",")] for s in back["pca_features"]])
    np.testing.assert_allclose(parsed, pcs, rtol=1e-5)
    probabilities = np.array(
        [[float(v) for v in s.strip("[]").split(",")] for s in back["probabilities"]]
    )
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-4)
    assert back["research_id"].dtype.kind == "i"
