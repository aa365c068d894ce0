"""True per-variant effects, noisy PRS-CS-style weight estimates, and the weight files.

Three features of real PRS-CS weights from European GWAS are built in:

* **correlated traits**: the education / cognition traits and the neuroticism items share
  a genetic component (``GENETIC_CLUSTERS``), so their true values correlate;
* **ancestry-dependent accuracy**: outside the European group a trait's causal effects
  correlate only partly with the European ones (``TRANS_ANCESTRY_R``, as trans-ancestry
  genetic correlations below 1 do), so a score built from European weights tracks the
  true value less well in the Diverse set;
* **mean shifts by ancestry**: each weight carries a small bias along the allele-frequency
  difference between the African and European groups (residual stratification of the
  GWAS), so raw scores differ in mean between ancestry groups; ``PLANTED_SHIFT`` makes one
  trait's shift large while the trait has no effect on TRD.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}
CAUSAL_FRACTION = 0.3
NEUROTICISM_ITEMS = (
    "mood_swings", "miserableness", "irritability", "sensitivity_to_hurt", "fed_up_feelings",
    "nervous_feelings", "worrier", "tense", "worry_after_embarrassment", "suffer_from_nerves",
    "loneliness", "guilty_feelings",
)  # fmt: skip
# cluster -> trait -> share of its effect variance from the cluster's shared component; two
# traits of a cluster have genetic correlation sqrt(w1 * w2)
GENETIC_CLUSTERS: dict[str, dict[str, float]] = {
    "education_cognition": {
        "educational_attainment": 0.7, "cognitive_performance": 0.85, "intelligence": 0.85,
    },
    "neuroticism": {"neuroticism": 0.8, **{item: 0.55 for item in NEUROTICISM_ITEMS}},
}  # fmt: skip
# correlation of each group's causal effects with the European ones
TRANS_ANCESTRY_R = {
    "afr": 0.6, "amr": 0.8, "eas": 0.7, "eur": 1.0, "mid": 0.8, "sas": 0.75, "oth": 0.85,
}  # fmt: skip
# raw-score mean of the African group minus the European one, in European-score SDs:
# drawn N(0, ANCESTRY_SHIFT_SD) per trait, except the planted ones
ANCESTRY_SHIFT_SD = 0.4
PLANTED_SHIFT = {"height": 3.0}
SHIFT_AXIS = ("afr", "eur")
NOISE_VARIANCE = 0.15  # variance the weight noise adds to a standardised score
A1_IS_REF_FRACTION = 0.4
COMPLEMENTED_FRACTION = 0.1


@dataclass(frozen=True)
class WeightSet:
    """The weight sites (HapMap3-like) with their allele orientation, true effects and the
    estimation error of the weights."""

    sites_df: pd.DataFrame  # rsid, chrom, position, a1, a2, a1_is_ref, complemented, kind, ...
    effects: np.ndarray  # (n_genotyped_weight_sites, n_traits) true European ALT effects
    other_effects: np.ndarray  # same shape: the part of other groups' effects not shared
    noise: np.ndarray  # (n_weight_sites, n_traits) estimation noise per ALT allele
    bias: np.ndarray  # (n_weight_sites, n_traits) stratification bias per ALT allele

    @property
    def error(self) -> np.ndarray:
        """What the weights add to the true effects: noise and bias."""
        return self.noise + self.bias


def sparse_effects(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Sparse normal effects: ~30% of the entries causal."""
    causal = rng.random(shape) < CAUSAL_FRACTION
    return np.where(causal, rng.standard_normal(shape), 0.0)


def draw_true_effects(rng: np.random.Generator, n_sites: int, traits: list[str]) -> np.ndarray:
    """Sparse normal effects per ALT allele, with a shared component within each cluster.

    Parameters
    ----------
    rng : random generator.
    n_sites : genotyped weight sites.
    traits : trait names (``GENETIC_CLUSTERS`` members share a component).

    Returns
    -------
    (n_sites, n_traits) array: each trait's own sparse effects, mixed for cluster members
    as ``sqrt(w) shared + sqrt(1 - w) own`` (same variance per site as the others).
    """
    effects = sparse_effects(rng, (n_sites, len(traits)))
    for members in GENETIC_CLUSTERS.values():
        shared = sparse_effects(rng, (n_sites,))
        for trait, weight in members.items():
            if trait in traits:
                t = traits.index(trait)
                effects[:, t] = np.sqrt(weight) * shared + np.sqrt(1 - weight) * effects[:, t]
    return effects


def ancestry_mixing(groups: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per group: the weight of the European effects and of the group's own part
    (``r`` and ``sqrt(1 - r^2)``): an effect is ``r * effects + sqrt(1 - r^2) * other``."""
    r = np.array([TRANS_ANCESTRY_R[g] for g in groups])
    return r, np.sqrt(1 - r**2)


def draw_shifts(rng: np.random.Generator, traits: list[str]) -> np.ndarray:
    """Target raw-score mean shift of each trait (African minus European, European SDs)."""
    shifts = rng.normal(0.0, ANCESTRY_SHIFT_SD, len(traits))
    for trait, shift in PLANTED_SHIFT.items():
        if trait in traits:
            shifts[traits.index(trait)] = shift
    return shifts


def stratification_bias(
    group_freqs: np.ndarray, shifts: np.ndarray, groups: tuple[str, ...]
) -> np.ndarray:
    """Weight bias along the African-European frequency difference that shifts raw scores.

    Parameters
    ----------
    group_freqs : (n_weight_sites, n_groups) ALT frequencies.
    shifts : per trait, the target mean shift in European-score SDs.
    groups : group names of the columns.

    Returns
    -------
    (n_weight_sites, n_traits): ``lambda_t * (f_afr - f_eur)``, with ``lambda_t`` such that the
    expected score difference ``2 sum(bias * (f_afr - f_eur))`` is the shift times the score's
    SD (about ``sqrt(1 + NOISE_VARIANCE)``).
    """
    delta = (
        group_freqs[:, groups.index(SHIFT_AXIS[0])] - group_freqs[:, groups.index(SHIFT_AXIS[1])]
    )
    scale = shifts * np.sqrt(1 + NOISE_VARIANCE) / (2 * float(np.sum(delta**2)))
    return delta[:, None] * scale[None, :]


def orient_weight_sites(rng: np.random.Generator, hm3_df: pd.DataFrame) -> pd.DataFrame:
    """Choose per site the effect allele (REF or ALT) and whether the file uses the other strand.

    Parameters
    ----------
    rng : random generator.
    hm3_df : the catalog rows of the weight sites (ref, alt, ambiguous, kind).

    Returns
    -------
    rsid, chrom, position, a1, a2, a1_is_ref, complemented, kind, genotyped.
    """
    n = len(hm3_df)
    a1_is_ref = rng.random(n) < A1_IS_REF_FRACTION
    complemented = ~hm3_df["ambiguous"].to_numpy() & (rng.random(n) < COMPLEMENTED_FRACTION)
    ref, alt = hm3_df["ref"].to_numpy(), hm3_df["alt"].to_numpy()
    a1 = np.where(a1_is_ref, ref, alt)
    a2 = np.where(a1_is_ref, alt, ref)
    a1 = np.array(
        [COMPLEMENT[a] if c else a for a, c in zip(a1, complemented, strict=False)], dtype=object
    )
    a2 = np.array(
        [COMPLEMENT[a] if c else a for a, c in zip(a2, complemented, strict=False)], dtype=object
    )
    genotyped = (hm3_df["kind"] != "absent").to_numpy()
    kind = np.where(
        ~genotyped,
        "absent",
        np.where(hm3_df["ambiguous"], "ambiguous", np.where(a1_is_ref, "flipped", "matched")),
    )
    return pd.DataFrame(
        {
            "rsid": hm3_df["rsid"].to_numpy(),
            "chrom": hm3_df["chrom"].to_numpy(),
            "position": hm3_df["position"].to_numpy(),
            "a1": a1,
            "a2": a2,
            "a1_is_ref": a1_is_ref,
            "complemented": complemented,
            "kind": kind,
            "genotyped": genotyped,
        }
    )


def draw_noise(rng: np.random.Generator, alt_freq: np.ndarray, n_traits: int) -> np.ndarray:
    """Weight estimation noise scaled so it adds NOISE_VARIANCE to a standardised score."""
    total_var = float(np.sum(2 * alt_freq * (1 - alt_freq)))
    sigma = np.sqrt(NOISE_VARIANCE / total_var)
    return sigma * rng.standard_normal((len(alt_freq), n_traits))


def alt_weights(weights: WeightSet, gv_sd: np.ndarray) -> np.ndarray:
    """Estimated per-ALT-allele weights of every weight site: true European effect on the
    standardised genetic value plus noise and bias (absent sites carry those only)."""
    values = weights.error.copy()
    genotyped = weights.sites_df["genotyped"].to_numpy()
    values[genotyped] += weights.effects / gv_sd
    return values


def write_prscs_files(
    folder: Path, traits: list[str], sites_df: pd.DataFrame, alt_values: np.ndarray
) -> int:
    """Write ``<trait>_pst_eff_a1_b0.5_phiauto_chr<N>.txt`` (CHR SNP BP A1 A2 BETA, no header).

    Parameters
    ----------
    folder : output folder (created).
    traits : trait names, in the column order of ``alt_values``.
    sites_df : oriented weight sites.
    alt_values : (n_sites, n_traits) weights per ALT allele; the file's BETA is per A1.

    Returns
    -------
    Number of files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    sign = np.where(sites_df["a1_is_ref"].to_numpy(), -1.0, 1.0)
    betas = alt_values * sign[:, None]
    n_files = 0
    for chrom in sorted(sites_df["chrom"].unique()):
        rows = np.flatnonzero(sites_df["chrom"].to_numpy() == chrom)
        sub = sites_df.iloc[rows]
        prefix = [
            f"{c}\t{r}\t{p}\t{a}\t{b}\t"
            for c, r, p, a, b in zip(
                sub["chrom"], sub["rsid"], sub["position"], sub["a1"], sub["a2"], strict=False
            )
        ]
        for t, trait in enumerate(traits):
            text = "".join(
                f"{pre}{beta:.6e}\n" for pre, beta in zip(prefix, betas[rows, t], strict=False)
            )
            (folder / f"{trait}_pst_eff_a1_b0.5_phiauto_chr{chrom}.txt").write_text(text)
            n_files += 1
    return n_files
