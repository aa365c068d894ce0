"""The work of the weights stage's three Spark jobs, one function per task kind.

1. :func:`reference_task`, one task per chromosome: which LD-reference SNPs the target
   genotypes hold after QC (any target platform);
2. :func:`sumstats_task`, one task per trait: read and check the summary statistics,
   standardise, match to the reference, keep the SNPs on a target;
3. :func:`sampler_task`, one task per (trait, chromosome): read the chromosome's LD blocks
   (in the task: nothing of them passes through the driver), run the Gibbs sampler, write
   the PRS-CS weight file.

Tasks write their tables to a scratch folder and return small dicts; a problem with the
user's files comes back as ``{"error": message}`` so the driver raises it as it is.
numpy/pandas/h5py only: these run inside Spark's Python workers and never import Hail.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from trd_spark import storage
from trd_spark.errors import InputError
from trd_spark.genomics import taskio
from trd_spark.prscs import ldref
from trd_spark.prscs.matching import match_sumstats, reference_in_target, reference_sites
from trd_spark.prscs.sampler import ChainResult, ChainSettings, make_blocks, run_chain
from trd_spark.prscs.sumstats import parse_sumstats

REFERENCE_COLUMNS = ["chrom", "snp", "bp", "a1", "a2", "maf", "in_target"]


@dataclass(frozen=True)
class Target:
    """One target platform's QC'd sites and whether positions pair with the reference's."""

    variants_path: str  # qc/variants_<platform>.parquet
    same_build: bool


def weight_file_name(trait: str, chrom: str, settings: ChainSettings) -> str:
    """``<trait>_pst_eff_a1_b0.5_phiauto_chr<N>.txt`` (``phi1e-02`` for a fixed phi)."""
    phi = "auto" if settings.phi is None else f"{settings.phi:1.0e}"
    return f"{trait}_pst_eff_a{settings.a:g}_b{settings.b:.1f}_phi{phi}_chr{chrom}.txt"


def chain_seed(seed: int, trait: str, chrom: str) -> list[int]:
    """The chain's seed: the run's seed, the trait's name and the chromosome (independent of
    the order traits are listed in, and the same when Spark retries the task)."""
    return [seed, zlib.crc32(trait.encode()), int(chrom)]


def _catching(
    run: Callable[[Any], dict[str, Any]],
) -> Callable[[Iterable[Any]], Iterator[dict[str, Any]]]:
    def each(items: Iterable[Any]) -> Iterator[dict[str, Any]]:
        for item in items:
            try:
                yield run(item)
            except InputError as err:
                yield {"error": str(err)}

    return each


def _write_table(frame: pd.DataFrame, path: str) -> None:
    storage.write_parquet(frame, path)


def _read_table(path: str) -> pd.DataFrame:
    return storage.read_parquet(path)


def reference_path(scratch: str, chrom: str) -> str:
    """Where :func:`reference_task` leaves a chromosome's reference table."""
    return f"{scratch}/reference/chr{chrom}.parquet"


def matched_path(scratch: str, trait: str) -> str:
    """Where :func:`sumstats_task` leaves a trait's matched SNPs."""
    return f"{scratch}/matched/{trait}.parquet"


def reference_task(
    snpinfo: str, targets: list[Target], keep_ambiguous: bool, scratch: str
) -> Callable[[Iterable[str]], Iterator[dict[str, Any]]]:
    """Task of job 1: per chromosome, the reference SNPs and whether a target has them."""

    def run(chrom: str) -> dict[str, Any]:
        reference_df = ldref.read_snpinfo(snpinfo)
        reference_df = reference_df[reference_df["chrom"] == chrom].reset_index(drop=True)
        sites = [
            (taskio.read_site_tables(t.variants_path, [chrom])[chrom], t.same_build)
            for t in targets
        ]
        reference_df["in_target"] = reference_in_target(reference_df, sites, keep_ambiguous)
        _write_table(reference_df[REFERENCE_COLUMNS], reference_path(scratch, chrom))
        return {
            "chrom": chrom,
            "n_reference": len(reference_df),
            "n_in_target": int(reference_df["in_target"].sum()),
        }

    return _catching(run)


def read_reference(scratch: str, chroms: list[str]) -> pd.DataFrame:
    """The reference tables of ``chroms``, in chromosome order, one row per SNP."""
    frames = [_read_table(reference_path(scratch, c)) for c in chroms]
    return pd.concat(frames, ignore_index=True)


def sumstats_task(
    chroms: list[str], keep_ambiguous: bool, scratch: str
) -> Callable[[Iterable[tuple[str, str, float]]], Iterator[dict[str, Any]]]:
    """Task of job 2: per (trait, file, N), the trait's matched SNPs and its counts."""

    def run(item: tuple[str, str, float]) -> dict[str, Any]:
        trait, file, n_gwas = item
        sumstats = parse_sumstats(storage.read_bytes(file), file, n_gwas)
        reference_df = read_reference(scratch, chroms)
        matched = match_sumstats(
            sumstats, reference_df, reference_df["in_target"].to_numpy(bool), keep_ambiguous,
            reference_sites(reference_df),
        )  # fmt: skip
        rows = reference_df.iloc[matched.reference_row]
        matched_df = pd.DataFrame(
            {
                "chrom": rows["chrom"].to_numpy(),
                "snp": rows["snp"].to_numpy(),
                "beta_std": matched.beta_std,
            }
        )
        _write_table(matched_df, matched_path(scratch, trait))
        per_chrom = {str(k): int(v) for k, v in rows["chrom"].value_counts().items()}
        return {"trait": trait, **matched.counts, "per_chrom": per_chrom}

    return _catching(run)


def sampler_task(
    block_files: dict[str, str],
    settings: ChainSettings,
    seed: int,
    scratch: str,
    out_folder: str,
) -> Callable[[Iterable[tuple[str, str, float]]], Iterator[dict[str, Any]]]:
    """Task of job 3: per (trait, chromosome, N), the chain and the PRS-CS weight file."""

    def run(item: tuple[str, str, float]) -> dict[str, Any]:
        from threadpoolctl import threadpool_limits

        trait, chrom, n_gwas = item
        matched = _read_table(matched_path(scratch, trait))
        matched = matched[matched["chrom"] == chrom]
        reference_df = _read_table(reference_path(scratch, chrom)).set_index("snp")
        blocks = ldref.read_blocks(block_files[chrom], set(matched["snp"]))
        snps = np.concatenate([b.snps for b in blocks]) if blocks else np.zeros(0, object)
        beta_std = matched.set_index("snp").loc[snps, "beta_std"].to_numpy(np.float64)
        summary: dict[str, Any] = {
            "trait": trait, "chrom": chrom, "n_matched": len(matched),
            "not_in_ld_block": len(matched) - len(snps), "n_snps": len(snps),
            "n_blocks": len(blocks),
        }  # fmt: skip
        if len(snps) == 0:
            return summary
        with threadpool_limits(limits=1):  # one core per Spark task
            ld = [b.ld for b in blocks]
            del blocks  # the panel's matrices live only until the chain's copies are made
            prepared = make_blocks(ld, beta_std, n_gwas, settings.precision)
            del ld
            chain = run_chain(
                prepared, settings, np.random.default_rng(chain_seed(seed, trait, chrom))
            )
        info = reference_df.loc[snps]
        write_weight_file(
            f"{out_folder}/{weight_file_name(trait, chrom, settings)}", chrom, snps, info, chain
        )
        return {**summary, **chain_summary(chain, settings)}

    return _catching(run)


def write_weight_file(
    path: str, chrom: str, snps: np.ndarray, info: pd.DataFrame, chain: ChainResult
) -> None:
    """``CHR SNP BP A1 A2 BETA`` (tab-separated, no header), BETA per A1 allele (``%.6e``)."""
    maf = info["maf"].to_numpy(np.float64)
    per_allele = chain.beta / np.sqrt(2.0 * maf * (1.0 - maf))
    lines = [
        f"{chrom}\t{snp}\t{bp}\t{a1}\t{a2}\t{beta:.6e}\n"
        for snp, bp, a1, a2, beta in zip(
            snps, info["bp"], info["a1"], info["a2"], per_allele, strict=True
        )
    ]
    storage.write_text(path, "".join(lines))


def chain_summary(chain: ChainResult, settings: ChainSettings) -> dict[str, Any]:
    """What the per-trait log reports of one chain."""
    return {
        "n_kept": len(chain.sigma2),
        "largest_block": max(chain.block_sizes),
        "n_low_rank_blocks": sum(r is not None for r in chain.block_ranks),
        # the largest rank among the low-rank blocks (0 when every block is dense)
        "largest_rank": max((r for r in chain.block_ranks if r is not None), default=0),
        "sigma2_mean": float(chain.sigma2.mean()),
        "sigma2_sd": float(chain.sigma2.std()),
        "sigma2_ess": effective_size(chain.sigma2),
        "phi_mean": float(chain.phi.mean()),
        "phi_sd": float(chain.phi.std()),
        "phi_ess": effective_size(chain.phi) if settings.phi is None else float("nan"),
        "h2_mean": float(chain.h2.mean()),
        "h2_sd": float(chain.h2.std()),
        "h2_ess": effective_size(chain.h2),
        "seconds": chain.seconds,
        "us_per_snp_iteration": chain.seconds / settings.n_iter / sum(chain.block_sizes) * 1e6,
    }


def effective_size(trace: np.ndarray) -> float:
    """Effective sample size of a chain's kept draws (Geyer's initial positive sequence).

    Returns
    -------
    ``n / tau`` with ``tau = -1 + 2 * sum_k (rho_2k + rho_2k+1)`` over the leading pairs of
    autocorrelations whose sum is positive; ``n`` for a constant trace.
    """
    x = np.asarray(trace, dtype=np.float64) - np.mean(trace)
    n = len(x)
    if n < 4 or not np.any(x):
        return float(n)
    spectrum = np.fft.rfft(x, 2 * n)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), 2 * n)[:n] / n
    rho = acov / acov[0]
    tau = -1.0
    for lag in range(0, n - 1, 2):
        pair = rho[lag] + rho[lag + 1]
        if pair <= 0:
            break
        tau += 2.0 * pair
    return float(n / max(tau, 1e-12))
