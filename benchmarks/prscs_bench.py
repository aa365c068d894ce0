"""Benchmark: the PRS-CS sampler per SNP and iteration, against a per-SNP sampler and the floor.

On LD blocks of 200 to 1,500 SNPs (correlations among 500 reference persons drawn from the
simulator's block-LD model, like the 503 persons of a 1000 Genomes panel), one core (BLAS
limited to one thread), it times per SNP and iteration:

  * ``project``: :func:`trd_spark.prscs.sampler.run_chain` with the stage's defaults (single
    precision, each block's route chosen by ``make_blocks``: dense Cholesky, or Woodbury's
    identity on the rank-r factor when the block has more SNPs than the panel's rank), the GIG
    draws of all SNPs at once; ``dense64`` the same forced to the dense route in double
    precision (what the sampler did before the low-rank route and single precision),
    ``dense32`` and ``lowrank32`` forced to one route in single precision (for the
    projection);
  * ``per-SNP``: the same block Cholesky (scipy, as stock PRS-CS does it) with the local
    scales drawn one SNP at a time by a scalar Devroye GIG in plain Python (math module),
    the state kept as (p, 1) column vectors so each SNP's arguments are one-element arrays:
    the structure of stock PRS-CS; ``per-SNP floats`` the same loop on plain floats (a
    per-SNP sampler tuned as far as plain Python goes);
  * ``floor``: only the block Cholesky factorisation and the two triangular solves in double
    precision, the work no exact dense block sampler avoids;
  * ``reference``: the tests' plain sampler (scipy.stats.geninvgauss per SNP), for
    information, on the smallest block only.

Each chromosome-like problem holds ``--copies`` blocks of the size, so the vectorised GIG
works on arrays as long as in a real chromosome.  It then projects, from the measured cost
per block, 61 traits at HapMap3 scale (1.1M SNPs in 1,703 blocks, sizes gamma-distributed
with mean 650; an assumption, stated in the output) on a 100-core cluster, 1,000 iterations,
for a panel of N_REFERENCE persons (1000 Genomes-like: low-rank blocks), for a full-rank
panel (UK Biobank-like: dense single precision) and in double precision on the dense route.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/prscs_bench.py [--sizes 200,500,1000,1500]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import linalg
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from trd_spark.prscs.sampler import ChainSettings, low_rank_pays, make_blocks, run_chain
from trd_spark.simulate.ldref import LDModel, correlation, draw_haplotypes

N_GWAS = 200_000.0
N_REFERENCE = 500
HM3_SNPS, HM3_BLOCKS, TRAITS, CORES, ITERATIONS = 1_100_000, 1_703, 61, 100, 1_000


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,500,1000,1500", help="block sizes (SNPs)")
    parser.add_argument("--copies", type=int, default=4, help="blocks per chromosome-like problem")
    parser.add_argument("--iterations", type=int, default=20, help="iterations timed per method")
    parser.add_argument("--seed", type=int, default=1)
    return parser


def ld_block(rng: np.random.Generator, size: int) -> np.ndarray:
    """Correlations of ``size`` SNPs among N_REFERENCE persons of the block-LD model."""
    freq = rng.uniform(0.05, 0.5, size)
    model = LDModel(
        blocks=[np.arange(size)],
        rho=rng.uniform(0.75, 0.99, size),
        sign=np.where(rng.random(size) < 0.5, -1.0, 1.0),
        threshold=np.array([float(np.quantile(rng.standard_normal(4000), f)) for f in freq]),
    )
    haplotypes = draw_haplotypes(rng, model, model.blocks[0], 2 * N_REFERENCE)
    return correlation((haplotypes[0::2] + haplotypes[1::2]).astype(np.float64))


def marginal_effects(rng: np.random.Generator, ld: np.ndarray) -> np.ndarray:
    """Sparse true effects seen through the LD, plus sampling noise for N_GWAS."""
    beta = np.where(rng.random(len(ld)) < 0.05, rng.normal(0, 0.01, len(ld)), 0.0)
    values, vectors = np.linalg.eigh(ld)
    noise = vectors @ (np.sqrt(np.clip(values, 0, None)) * rng.standard_normal(len(ld)))
    return ld @ beta + noise / np.sqrt(N_GWAS)


# --- a per-SNP sampler with stock PRS-CS's structure -----------------------------------


def gig_scalar(lam: float, a: float, b: float, rng: random.Random) -> float:
    """One GIG(lam, a, b) draw by Devroye's method, in plain Python (lam >= 0)."""
    omega = math.sqrt(a * b)
    alpha = omega * omega / (math.hypot(omega, lam) + lam)

    def psi(x: float) -> float:
        return -alpha * (math.cosh(x) - 1.0) - lam * (math.expm1(x) - x)

    def dpsi(x: float) -> float:
        return -alpha * math.sinh(x) - lam * math.expm1(x)

    one = -psi(1.0)
    t = (
        1.0
        if 0.5 <= one <= 2.0
        else (math.sqrt(2.0 / (alpha + lam)) if one > 2.0 else math.log(4.0 / (alpha + 2.0 * lam)))
    )
    minus = -psi(-1.0)
    if 0.5 <= minus <= 2.0:
        s = 1.0
    elif minus > 2.0:
        s = math.sqrt(4.0 / (alpha * math.cosh(1.0) + lam))
    else:
        s = min(
            1.0 / lam if lam > 0 else math.inf,
            math.log1p(1.0 / alpha + math.sqrt(1.0 / alpha**2 + 2.0 / alpha))
            if alpha > 0
            else math.inf,
        )
    eta, zeta, theta, xi = -psi(t), -dpsi(t), -psi(-s), dpsi(-s)
    p, r = 1.0 / xi, 1.0 / zeta
    td, sd = t - r * eta, s - p * theta
    q = td + sd
    while True:
        u, v, w = rng.random(), rng.random(), rng.random()
        if u < q / (p + q + r):
            x = -sd + q * v
        elif u < (q + r) / (p + q + r):
            x = td - r * math.log(v)
        else:
            x = -sd + p * math.log(v)
        chi = (
            1.0
            if -sd <= x <= td
            else (math.exp(-eta - zeta * (x - t)) if x > td else math.exp(-theta + xi * (x + s)))
        )
        if w * chi <= math.exp(psi(x)):
            return math.exp(x) * (lam + math.hypot(lam, omega)) / a


def per_snp_chain(
    ld: list[np.ndarray], m: np.ndarray, n: float, iterations: int, seed: int, columns: bool
) -> None:
    """Stock PRS-CS's loop: scipy Cholesky per block, then one GIG call per SNP.

    ``columns``: keep the state as (p, 1) column vectors, as stock PRS-CS does, so each
    SNP's GIG arguments are computed on one-element arrays; else on plain floats.
    """
    rng, prng = np.random.default_rng(seed), random.Random(seed)
    p = len(m)
    beta, psi, sigma, phi = np.zeros(p), np.ones(p), 1.0, 1.0
    for _ in range(iterations):
        start, quad = 0, 0.0
        for d in ld:
            stop = start + len(d)
            t = d + np.diag(1.0 / psi[start:stop])
            chol = linalg.cholesky(t)
            z = linalg.solve_triangular(chol, m[start:stop], trans="T") + np.sqrt(
                sigma / n
            ) * rng.standard_normal(stop - start)
            beta[start:stop] = linalg.solve_triangular(chol, z, trans="N")
            quad += float(beta[start:stop] @ t @ beta[start:stop])
            start = stop
        err = max(n / 2 * (1 - 2 * float(beta @ m) + quad), n / 2 * float(np.sum(beta**2 / psi)))
        sigma = 1.0 / rng.gamma((n + p) / 2, 1.0 / err)
        delta = rng.gamma(1.5, 1.0 / (psi + phi))
        if columns:
            delta_c, beta_c, psi_c = delta[:, None], beta[:, None], psi[:, None].copy()
            for j in range(p):
                b = n * beta_c[j] ** 2 / sigma
                psi_c[j] = gig_scalar(0.5, (2.0 * delta_c[j]).item(), max(b.item(), 1e-300), prng)
            psi = psi_c[:, 0]
        else:
            for j in range(p):
                b = n * float(beta[j]) ** 2 / sigma
                psi[j] = gig_scalar(0.5, 2.0 * float(delta[j]), max(b, 1e-300), prng)
        psi = np.minimum(psi, 1.0)
        w = rng.gamma(1.0, 1.0 / (phi + 1.0))
        phi = rng.gamma(p * 0.5 + 0.5, 1.0 / (float(delta.sum()) + w))


def floor_iterations(ld: list[np.ndarray], m: np.ndarray, iterations: int) -> None:
    """Only what an exact block sampler cannot avoid: factor and two triangular solves."""
    psi = np.full(len(m), 0.5)
    work = [np.empty_like(d, order="F") for d in ld]
    for _ in range(iterations):
        start = 0
        for d, buffer in zip(ld, work, strict=True):
            stop = start + len(d)
            np.copyto(buffer, d)
            buffer.ravel(order="F")[:: len(d) + 1] += 1.0 / psi[start:stop]
            upper, _ = lapack.dpotrf(buffer, lower=0, clean=0, overwrite_a=1)
            z, _ = lapack.dtrtrs(upper, m[start:stop], lower=0, trans=1)
            lapack.dtrtrs(upper, z, lower=0, trans=0)
            start = stop


def per_snp_iteration(function: Callable[[], object], n_snps: int, iterations: int) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) / iterations / n_snps * 1e6


def measure(size: int, copies: int, iterations: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng([seed, size])
    ld = [ld_block(rng, size) for _ in range(copies)]
    m = np.concatenate([marginal_effects(rng, d) for d in ld])
    p = len(m)
    out: dict[str, float] = {}
    for name, method, precision in [
        ("project", "auto", "single"),
        ("dense64", "dense", "double"),
        ("dense32", "dense", "single"),
        ("lowrank32", "low_rank", "single"),
    ]:
        blocks = make_blocks(ld, m, N_GWAS, precision, method)  # type: ignore[arg-type]
        settings = ChainSettings(
            n_iter=iterations,
            n_burnin=iterations - 1,
            thin=1,
            precision=precision,  # type: ignore[arg-type]
        )
        warm = ChainSettings(n_iter=3, n_burnin=2, thin=1, precision=precision)  # type: ignore[arg-type]
        run_chain(blocks, warm, np.random.default_rng(0))
        out[name] = per_snp_iteration(
            lambda b=blocks, s=settings: run_chain(b, s, np.random.default_rng(seed)), p, iterations
        )
        if name == "project":
            out["n_low_rank"] = sum(b.rank is not None for b in blocks.blocks)
        if name == "lowrank32":
            out["rank"] = max(b.rank or 0 for b in blocks.blocks)
    out |= {
        "per_snp": per_snp_iteration(
            lambda: per_snp_chain(ld, m, N_GWAS, iterations, seed, columns=True), p, iterations
        ),
        "per_snp_floats": per_snp_iteration(
            lambda: per_snp_chain(ld, m, N_GWAS, iterations, seed, columns=False), p, iterations
        ),
        "floor": per_snp_iteration(lambda: floor_iterations(ld, m, iterations), p, iterations),
    }
    return out


def reference_cost(seed: int) -> float:
    """The tests' scipy-based per-SNP sampler on one 200-SNP block, 3 iterations."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests/
    from tests.reference.prscs_reference import reference_chain

    rng = np.random.default_rng([seed, 0])
    ld = ld_block(rng, 200)
    m = marginal_effects(rng, ld)
    started = time.perf_counter()
    reference_chain([ld], m, N_GWAS, 3, 2, 1, None, seed)
    return (time.perf_counter() - started) / 3 / 200 * 1e6


def project_hm3(
    sizes: list[int], dense: list[float], seed: int, low_rank: list[float] | None = None
) -> dict[str, float]:
    """Core-hours and wall time of 61 traits x HapMap3 on CORES cores.

    The dense route's per-block cost is fitted as c0 + c2 n^2 + c3 n^3 to the measured sizes
    (``dense``: seconds per block and iteration); with ``low_rank`` (the same, forced to the
    low-rank route), the cost at the panel's rank N_REFERENCE - 1 is fitted as c0 + c1 n
    (n r^2 flops at a fixed r) to the sizes above the rank, and each block takes the route
    ``make_blocks`` would take.
    """
    n = np.array(sizes, dtype=float)
    design = np.column_stack([np.ones_like(n), n**2, n**3])
    coef, *_ = np.linalg.lstsq(design, np.array(dense), rcond=None)
    rng = np.random.default_rng(seed)
    mean = HM3_SNPS / HM3_BLOCKS
    blocks = np.clip(rng.gamma(4.0, mean / 4.0, HM3_BLOCKS), 20, None)
    blocks *= HM3_SNPS / blocks.sum()
    cost = np.column_stack([np.ones_like(blocks), blocks**2, blocks**3]) @ coef
    n_low = 0
    rank = N_REFERENCE - 1
    if low_rank is not None:
        above = n > rank
        if above.sum() >= 2:
            line = np.polyfit(n[above], np.array(low_rank)[above], 1)
            takes = np.array([low_rank_pays(int(b), rank) for b in blocks])
            cost = np.where(takes, np.polyval(line, blocks), cost)
            n_low = int(takes.sum())
    per_iteration = float(np.sum(cost))
    core_hours = per_iteration * ITERATIONS * TRAITS / 3600
    return {
        "us_per_snp_iteration": per_iteration / HM3_SNPS * 1e6,
        "core_hours": core_hours,
        "wall_minutes": core_hours / CORES * 60,
        "largest_block": float(blocks.max()),
        "low_rank_blocks": float(n_low),
    }


def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"PRS-CS sampler, one core, {args.copies} blocks per problem, {args.iterations} iter.")
    header = ["block", "low-rank", "project", "dense64", "dense32", "lowrank32", "per-SNP",
              "per-SNP floats", "floor", "per-SNP/proj", "floats/proj", "dense64/proj",
              "proj/floor"]  # fmt: skip
    print(" ".join(f"{h:>14}" for h in header), "  (us per SNP per iteration)")
    results = []
    with threadpool_limits(limits=1):
        for size in sizes:
            r = measure(size, args.copies, args.iterations, args.seed)
            results.append(r)
            p = r["project"]
            ratios = [r["per_snp"] / p, r["per_snp_floats"] / p, r["dense64"] / p, p / r["floor"]]
            keys = ("project", "dense64", "dense32", "lowrank32", "per_snp", "per_snp_floats")
            values = [f"{r[k]:14.2f}" for k in (*keys, "floor")]
            routes = f"{r['n_low_rank']:.0f}/{args.copies} r{r['rank']:.0f}"
            print(f"{size:>14}", f"{routes:>14}", *values, *(f"{x:13.2f}x" for x in ratios))
        reference = reference_cost(args.seed)
        print(
            f"tests' scipy reference sampler, 200-SNP block: {reference:.0f} us per SNP and iter."
        )
    if len(sizes) >= 3:
        seconds = {k: [r[k] * s * 1e-6 for r, s in zip(results, sizes, strict=True)]
                   for k in ("dense64", "dense32", "lowrank32", "per_snp")}  # fmt: skip
        cases = [
            (f"panel of {N_REFERENCE} persons, defaults (single, low-rank where it pays)",
             project_hm3(sizes, seconds["dense32"], args.seed, seconds["lowrank32"])),
            ("full-rank panel (UK Biobank-like), single precision",
             project_hm3(sizes, seconds["dense32"], args.seed)),
            ("dense route in double precision (the sampler before)",
             project_hm3(sizes, seconds["dense64"], args.seed)),
            ("per-SNP sampler laid out like stock PRS-CS",
             project_hm3(sizes, seconds["per_snp"], args.seed)),
        ]  # fmt: skip
        largest = cases[0][1]["largest_block"]
        print(
            f"projection: {TRAITS} traits x {HM3_SNPS:,} SNPs in {HM3_BLOCKS:,} blocks (gamma "
            f"sizes, mean {HM3_SNPS / HM3_BLOCKS:.0f}, largest {largest:.0f}), {ITERATIONS} "
            f"iterations, {CORES} cores (target < 60 min):"
        )
        for name, hm3 in cases:
            print(
                f"  {name}: {hm3['us_per_snp_iteration']:.2f} us per SNP and iteration, "
                f"{hm3['core_hours']:.0f} core-hours, {hm3['wall_minutes']:.0f} min"
                + (
                    f" ({hm3['low_rank_blocks']:.0f} low-rank blocks)"
                    if hm3["low_rank_blocks"]
                    else ""
                )
            )


if __name__ == "__main__":
    main(get_parser().parse_args())
