"""Principal components of the simulated genotypes and the All of Us ``ancestry_preds.tsv``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trd_spark.simulate.persons import GROUPS

N_PCS = 16


def compute_pcs(rng: np.random.Generator, dosages: np.ndarray, k: int = N_PCS) -> np.ndarray:
    """Top-``k`` PC scores of standardised dosages by randomized SVD (Halko et al. 2011).

    Parameters
    ----------
    rng : random generator (the random test matrix).
    dosages : (n_persons, n_sites) ALT counts without missing values.
    k : number of components.

    Returns
    -------
    (n_persons, k) scores U * S, each column's sign fixed so its largest entry is positive.
    """
    x = dosages.astype(np.float32)  # half the memory of float64 at biobank scale
    mean = x.mean(0)
    sd = np.sqrt(np.clip(mean / 2 * (1 - mean / 2), 1e-6, None)).astype(np.float32)
    x = (x - mean) / sd
    omega = rng.standard_normal((x.shape[1], k + 10)).astype(np.float32)
    q, _ = np.linalg.qr(x @ omega)
    for _ in range(3):
        q, _ = np.linalg.qr(x @ (x.T @ q))
    # (x.T @ q).T rather than q.T @ x: the same product, but far faster in this BLAS
    u_small, s, _ = np.linalg.svd((x.T @ q).T, full_matrices=False)
    scores = ((q @ u_small[:, :k]) * s[:k]).astype(np.float64)
    signs = np.sign(scores[np.abs(scores).argmax(0), np.arange(k)])
    return scores * signs / np.sqrt(x.shape[1])


def format_floats(values: np.ndarray) -> list[str]:
    """Rows of floats written as ``[0.0123, -0.2, ...]``."""
    return ["[" + ", ".join(f"{v:.6g}" for v in row) + "]" for row in values]


def ancestry_table(
    person_ids: np.ndarray, ancestry: np.ndarray, pcs: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """The ancestry file's rows: research_id, ancestry_pred, probabilities, pca_features,
    ancestry_pred_other.

    Parameters
    ----------
    person_ids : persons in the file.
    ancestry : their predicted group.
    pcs : (n, 16) PC scores.
    rng : random generator (the probabilities' spread).
    """
    n = len(person_ids)
    probs = rng.dirichlet(np.ones(len(GROUPS)) * 0.3, size=n) * 0.1
    index = np.array([GROUPS.index(a) for a in ancestry])
    probs[np.arange(n), index] += 0.9
    probs /= probs.sum(1, keepdims=True)
    return pd.DataFrame(
        {
            "research_id": person_ids,
            "ancestry_pred": ancestry,
            "probabilities": format_floats(probs),
            "pca_features": format_floats(pcs),
            "ancestry_pred_other": ancestry,
        }
    )


def write_ancestry_file(path: Path, table_df: pd.DataFrame) -> None:
    """Write the table tab-separated with a header, as All of Us ships it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table_df.to_csv(path, sep="\t", index=False)
