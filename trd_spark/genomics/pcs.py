"""Principal components from a platform's own genotypes, for persons without ancestry-file PCs.

All of Us ships PCs (``ancestry_preds.tsv``) for its WGS samples only, so the persons of a
cohort built from another platform (the microarray set) have none.  For them the qc stage
computes PCs from the platform's dosage cache, the way ``docs/architecture.md``
("Principal components") describes:

1. **sites**: kept sites with minor allele frequency >= 5%, at most one per 100 kb (a
   thinning that stands in for LD pruning), at most 5,000 of them (a fixed-seed sample);
2. **reference PCA** on up to 5,000 reference persons: the HWE-normalised genotypes
   ``(g - 2p) / sqrt(2p(1 - p) M)`` (``p`` from the reference, missing calls at the mean),
   the top ``k`` eigenvectors; this is what Hail's ``hwe_normalized_pca`` computes;
3. **projection** of every person who needs PCs onto the reference's loadings, what Hail's
   ``hl.experimental.pc_project`` computes (the test suite checks both against Hail).

A reference person's projection equals its PCA score, but a person outside the reference
is projected with shrinkage toward 0 on the weaker axes.  So that the PCs used as
covariates within one cohort share one scale, :func:`plan_pcs` takes the reference from
the platform's persons *outside* the cohorts that need PCs (on All of Us: the array
persons who also have WGS) and projects every member of those cohorts; only when too few
such persons exist does it use the cohorts' own members (``pcs_source`` tells which).

The numpy steps read the cache on the driver: at most 5,000 sites, streamed in blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from trd_spark.errors import InputError
from trd_spark.genomics.scoring import DosageCache, bed_lookup_table, block_size, read_sites

MAX_PCA_SITES = 5_000
MAX_REFERENCE = 5_000
MIN_REFERENCE = 100  # fewer persons outside the cohorts: the cohorts' own members are used
THIN_BP = 100_000
MIN_MAF = 0.05
SOURCES = ("ancestry_file", "computed", "projected")


def choose_pca_sites(
    variants_df: DataFrame, max_sites: int = MAX_PCA_SITES, seed: int = 1
) -> np.ndarray:
    """The cached sites the PCA uses: common, thinned to one per 100 kb, at most ``max_sites``.

    Parameters
    ----------
    variants_df : ``qc/variants_<platform>.parquet`` (kept sites with ``af`` and ``var_idx``).
    max_sites : the most sites kept (a sample by a fixed-seed hash of ``var_idx``).
    seed : the hash seed.

    Returns
    -------
    Sorted ``var_idx`` of the chosen sites.
    """
    common = variants_df.where(
        F.col("var_idx").isNotNull() & F.col("af").between(MIN_MAF, 1 - MIN_MAF)
    )
    window = (F.col("position") / F.lit(THIN_BP)).cast("long")
    first = common.groupBy("contig", window.alias("window")).agg(F.min("var_idx").alias("var_idx"))
    chosen = first.orderBy(F.xxhash64("var_idx", F.lit(seed))).limit(max_sites)
    return np.sort(chosen.toPandas()["var_idx"].to_numpy(np.int64))


def read_dosages(cache: DosageCache, var_idx: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """ALT dosages (sites x persons, float32, NaN missing) of a few sites and persons."""
    packed = read_sites(cache, var_idx)
    decoded = bed_lookup_table()[packed].reshape(len(var_idx), -1)[:, : cache.n_samples]
    return decoded[:, columns].astype(np.float32)


@dataclass(frozen=True)
class PCAModel:
    """A reference PCA: the sites it uses, their reference frequency and the loadings."""

    var_idx: np.ndarray  # sites used (polymorphic in the reference)
    af: np.ndarray  # ALT frequency in the reference
    loadings: np.ndarray  # sites x k
    scores: np.ndarray  # reference persons x k

    @property
    def k(self) -> int:
        """Number of components."""
        return int(self.loadings.shape[1])


def normalized(dosages: np.ndarray, af: np.ndarray, n_sites: int) -> np.ndarray:
    """``(g - 2p) / sqrt(2p(1 - p) M)`` with missing calls at 0 (sites x persons)."""
    scale = np.sqrt(2 * af * (1 - af) * n_sites)[:, None]
    return np.nan_to_num((dosages - 2 * af[:, None]) / scale, nan=0.0)


def fit_reference_pca(
    cache: DosageCache, var_idx: np.ndarray, reference: np.ndarray, k: int
) -> PCAModel:
    """The top ``k`` PCs of the reference persons' HWE-normalised genotypes.

    Parameters
    ----------
    cache : the platform's dosage cache.
    var_idx : the PCA sites.
    reference : cache columns of the reference persons.
    k : number of components.

    Returns
    -------
    The model; each axis's sign makes its largest loading positive.
    """
    dosages = read_dosages(cache, var_idx, reference).astype(np.float64)
    af = np.nanmean(dosages, axis=1) / 2
    polymorphic = np.isfinite(af) & (af > 0) & (af < 1)
    dosages, af, var_idx = dosages[polymorphic], af[polymorphic], var_idx[polymorphic]
    if len(var_idx) <= k or len(reference) <= k:
        raise InputError(
            f"cannot compute {k} PCs from {len(reference)} persons and {len(var_idx)} common "
            "sites of the dosage cache; give an ancestry file with pca_features for them"
        )
    x = normalized(dosages, af, len(var_idx))
    if x.shape[0] <= x.shape[1]:  # fewer sites than persons: eigenvectors of X X' are loadings
        values, vectors = np.linalg.eigh(x @ x.T)
        order = np.argsort(values)[::-1][:k]
        loadings = vectors[:, order]
    else:
        values, vectors = np.linalg.eigh(x.T @ x)
        order = np.argsort(values)[::-1][:k]
        loadings = x @ vectors[:, order] / np.sqrt(values[order])[None, :]
    signs = np.sign(loadings[np.abs(loadings).argmax(axis=0), np.arange(k)])
    loadings = loadings * signs
    return PCAModel(var_idx, af, loadings, x.T @ loadings)


def project(cache: DosageCache, model: PCAModel, columns: np.ndarray) -> np.ndarray:
    """Scores of the persons ``columns`` on the model's axes (persons x k), block by block."""
    scores = np.zeros((len(columns), model.k))
    step = max(1, block_size(cache.n_samples) // 4)
    for start in range(0, len(model.var_idx), step):
        block = slice(start, start + step)
        dosages = read_dosages(cache, model.var_idx[block], columns).astype(np.float64)
        x = normalized(dosages, model.af[block], len(model.var_idx))
        scores += x.T @ model.loadings[block]
    return scores


@dataclass(frozen=True)
class PCPlan:
    """Which persons of one platform get computed PCs, and from which reference."""

    targets: np.ndarray  # person ids that need PCs
    reference: np.ndarray  # person ids of the reference PCA
    outside: bool  # the reference lies outside the cohorts that need PCs


def cohorts_needing_pcs(cohorts_df: pd.DataFrame, n_pcs: int) -> list[str]:
    """Cohorts with a member lacking ancestry-file PCs: all of their members get computed
    PCs, so that one cohort's PCs come from one source."""
    pcs = [f"pc{i + 1}" for i in range(n_pcs)]
    members = cohorts_df[cohorts_df["cohort"].notna()]
    lacking = members[pcs].isna().any(axis=1) if set(pcs) <= set(members) else members["cohort"]
    return sorted(members.loc[lacking.astype(bool), "cohort"].astype(str).unique())


def plan_pcs(
    platform_df: pd.DataFrame, cohorts: list[str], seed: int = 1, max_reference: int = MAX_REFERENCE
) -> PCPlan | None:
    """Targets and reference of one platform (None when none of its cohorts needs PCs).

    Parameters
    ----------
    platform_df : the platform's rows of the cohorts table (``person_id``, ``cohort``).
    cohorts : the cohorts that need computed PCs (:func:`cohorts_needing_pcs`).
    seed : for the sample when more than ``max_reference`` persons qualify.
    max_reference : the most reference persons.

    Returns
    -------
    The plan: the reference is the platform's persons outside those cohorts when there are
    at least ``MIN_REFERENCE``, else the cohorts' own members.
    """
    in_targets = platform_df["cohort"].isin(cohorts).to_numpy()
    if not in_targets.any():
        return None
    ids = platform_df["person_id"].to_numpy(np.int64)
    outside = int((~in_targets).sum()) >= MIN_REFERENCE
    pool = ids[~in_targets] if outside else ids[in_targets]
    rng = np.random.default_rng(seed)
    reference = np.sort(rng.choice(pool, size=min(len(pool), max_reference), replace=False))
    return PCPlan(targets=ids[in_targets], reference=reference, outside=outside)


def compute_pcs(
    cache: DosageCache, fam_ids: list[str], plan: PCPlan, var_idx: np.ndarray, k: int
) -> pd.DataFrame:
    """PCs of the plan's targets: a reference PCA on the cache, then the projection.

    Returns
    -------
    ``person_id``, ``pc1``..``pc<k>``, ``pcs_source`` (``computed`` for a target inside the
    reference, ``projected`` for the others).
    """
    column = {int(s): i for i, s in enumerate(fam_ids)}
    model = fit_reference_pca(cache, var_idx, np.array([column[p] for p in plan.reference]), k)
    scores = project(cache, model, np.array([column[p] for p in plan.targets]))
    out_df = pd.DataFrame(scores, columns=[f"pc{i + 1}" for i in range(k)])
    out_df.insert(0, "person_id", plan.targets)
    in_reference = np.isin(plan.targets, plan.reference) & (not plan.outside)
    out_df["pcs_source"] = np.where(in_reference, "computed", "projected")
    return out_df
