"""True per-variant effects, noisy PRS-CS-style weight estimates, and the weight files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COMPLEMENT = {"A": "T", "T": "A", "C": "G", "G": "C"}
CAUSAL_FRACTION = 0.3
NOISE_VARIANCE = 0.15  # variance the weight noise adds to a standardised score
A1_IS_REF_FRACTION = 0.4
COMPLEMENTED_FRACTION = 0.1


@dataclass(frozen=True)
class WeightSet:
    """The weight sites (HapMap3-like) with their allele orientation and per-trait noise."""

    sites_df: (
        pd.DataFrame
    )  # rsid, chrom, position, a1, a2, a1_is_ref, complemented, kind, genotyped
    effects: np.ndarray  # (n_genotyped_weight_sites, n_traits) true ALT effects, unscaled
    noise: np.ndarray  # (n_weight_sites, n_traits) estimation noise per ALT allele


def draw_true_effects(rng: np.random.Generator, n_sites: int, n_traits: int) -> np.ndarray:
    """Sparse normal effects per ALT allele: each trait has its own ~30% causal sites.

    Returns
    -------
    (n_sites, n_traits) array, zero at non-causal sites.
    """
    causal = rng.random((n_sites, n_traits)) < CAUSAL_FRACTION
    return np.where(causal, rng.standard_normal((n_sites, n_traits)), 0.0)


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
    """Estimated per-ALT-allele weights of every weight site: true effect on the standardised
    genetic value plus noise (absent sites carry noise only)."""
    values = weights.noise.copy()
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
