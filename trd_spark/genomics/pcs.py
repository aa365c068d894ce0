"""Principal components from the genotypes, for runs without an ancestry file."""

from __future__ import annotations

import hail as hl
import pandas as pd

from trd_spark.errors import InputError

# hwe_normalized_pca took ~60 s for 2,000 x 5,000 on 2 cores: a random subset of the
# QC'd sites keeps it affordable and is enough for the top axes of ancestry.
MAX_PCA_SITES = 5_000


def compute_pcs(
    mt: hl.MatrixTable, sites_ht: hl.Table, k: int = 16, max_sites: int = MAX_PCA_SITES
) -> pd.DataFrame:
    """Top ``k`` PCs of the HWE-normalised genotypes on a subset of QC'd sites.

    Parameters
    ----------
    mt : the platform's genotypes.
    sites_ht : QC sites table with ``failed_rule`` (missing = kept).
    k : number of PCs.
    max_sites : at most this many kept sites (sampled at random, seed fixed).

    Returns
    -------
    DataFrame ``person_id`` (int64) and ``pc1``..``pc<k>``.
    """
    kept_ht = sites_ht.filter(hl.is_missing(sites_ht.failed_rule)).select()
    n_kept = kept_ht.count()
    n_samples = mt.count_cols()
    if n_kept <= k or n_samples <= k:
        raise InputError(
            f"cannot compute {k} PCs from {n_samples} persons and {n_kept} QC'd sites; "
            "give an ancestry file (ancestry:) with pca_features"
        )
    pca_mt = mt.semi_join_rows(kept_ht)
    if n_kept > max_sites:
        pca_mt = pca_mt.sample_rows(max_sites / n_kept, seed=1)
    _, scores_ht, _ = hl.hwe_normalized_pca(pca_mt.GT, k=k, compute_loadings=False)
    scores_df = scores_ht.to_pandas()
    out_df = pd.DataFrame(scores_df["scores"].tolist(), columns=[f"pc{i + 1}" for i in range(k)])
    out_df.insert(0, "person_id", scores_df["s"].astype("int64").to_numpy())
    return out_df
