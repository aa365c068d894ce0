"""The PRS-CS Gibbs sampler for one chromosome, vectorised per LD block.

Model and conditionals as in Ge et al. (Nature Communications 10:1776, 2019), written out
in ``docs/prscs.md``.  Per iteration:

1. each LD block's effects from their multivariate normal, with one Cholesky factor of
   ``T = D + diag(1 / psi)`` (LAPACK, in place on a preallocated buffer);
2. the residual variance ``sigma2`` from its inverse gamma;
3. ``delta`` and the local scales ``psi`` for every SNP of the chromosome at once (gamma and
   generalised inverse Gaussian draws over whole arrays, :mod:`trd_spark.prscs.gig`);
4. the global scale ``phi`` when it is learnt.

numpy/scipy only: it runs inside Spark's Python workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import lapack

from trd_spark.prscs.gig import sample_gig

A_SHAPE, B_SHAPE = 1.0, 0.5  # the Strawderman-Berger prior of PRS-CS


@dataclass(frozen=True)
class ChainSettings:
    """Length of a chain and the prior's parameters.

    ``phi`` None means learnt ("auto"); a number fixes the global shrinkage.
    """

    n_iter: int = 1000
    n_burnin: int = 500
    thin: int = 5
    phi: float | None = None
    a: float = A_SHAPE
    b: float = B_SHAPE

    def __post_init__(self) -> None:
        if self.n_iter < 1 or self.n_burnin < 0 or self.thin < 1:
            raise ValueError("n_iter must be >= 1, n_burnin >= 0 and thin >= 1")
        if self.n_kept == 0:
            raise ValueError(
                f"no draw is kept: n_iter {self.n_iter}, n_burnin {self.n_burnin}, thin "
                f"{self.thin}; keep at least one iteration after burn-in"
            )
        if self.phi is not None and not self.phi > 0:
            raise ValueError(f"phi must be positive, got {self.phi}")

    @property
    def n_kept(self) -> int:
        """How many iterations enter the posterior means."""
        return sum(1 for i in range(self.n_burnin + 1, self.n_iter + 1) if i % self.thin == 0)


@dataclass
class ChainResult:
    """Posterior means and the traces a log reports."""

    beta: np.ndarray  # posterior mean of the standardised effects, SNPs in block order
    psi: np.ndarray  # posterior mean of the local scales
    sigma2: np.ndarray  # kept draws of the residual variance
    phi: np.ndarray  # kept draws of phi (the fixed value repeated when fixed)
    h2: np.ndarray  # kept draws of beta' D beta (variance explained by the chromosome)
    seconds: float = 0.0
    block_sizes: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Blocks:
    """A chromosome's LD blocks restricted to the SNPs used, with their marginal effects."""

    ld: list[np.ndarray]  # one square correlation matrix per block (Fortran order)
    marginal: np.ndarray  # standardised marginal effects, SNPs in block order
    n_gwas: float

    def __post_init__(self) -> None:
        sizes = [d.shape[0] for d in self.ld]
        if any(d.ndim != 2 or d.shape[0] != d.shape[1] for d in self.ld):
            raise ValueError("every LD block must be a square matrix")
        if sum(sizes) != len(self.marginal):
            raise ValueError(
                f"the blocks hold {sum(sizes)} SNPs but {len(self.marginal)} marginal effects "
                "were given"
            )
        if not self.n_gwas > 0:
            raise ValueError(f"the GWAS sample size must be positive, got {self.n_gwas}")

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """(start, stop) of each block in the chromosome's SNP order."""
        stops = np.cumsum([d.shape[0] for d in self.ld])
        return [(int(stop - d.shape[0]), int(stop)) for d, stop in zip(self.ld, stops, strict=True)]


def make_blocks(ld: list[np.ndarray], marginal: np.ndarray, n_gwas: float) -> Blocks:
    """:class:`Blocks` with float64, Fortran-ordered matrices (what LAPACK works on in place)."""
    return Blocks(
        [np.asfortranarray(d, dtype=np.float64) for d in ld if d.shape[0] > 0],
        np.asarray(marginal, dtype=np.float64),
        float(n_gwas),
    )


def run_chain(blocks: Blocks, settings: ChainSettings, rng: np.random.Generator) -> ChainResult:
    """Run one chain over a chromosome.

    Parameters
    ----------
    blocks : the chromosome's LD blocks and standardised marginal effects.
    settings : iterations, burn-in, thinning and prior.
    rng : random generator (a seed makes the run reproducible).

    Returns
    -------
    Posterior means of the standardised effects and local scales, and the kept draws of
    ``sigma2``, ``phi`` and ``h2``.
    """
    started = time.perf_counter()
    n, m = blocks.n_gwas, blocks.marginal
    p = len(m)
    a, b = settings.a, settings.b
    beta, psi = np.zeros(p), np.ones(p)
    sigma2, phi = 1.0, 1.0 if settings.phi is None else settings.phi
    # one buffer for the largest block; each block factorises in a contiguous view of it, so a
    # task holds the chromosome's LD once (not twice)
    largest = max(d.shape[0] for d in blocks.ld)
    flat = np.empty(largest * largest)
    buffers = [flat[: d.shape[0] ** 2].reshape(d.shape, order="F") for d in blocks.ld]
    bounds = blocks.bounds
    beta_sum, psi_sum = np.zeros(p), np.zeros(p)
    kept: dict[str, list[float]] = {"sigma2": [], "phi": [], "h2": []}
    for iteration in range(1, settings.n_iter + 1):
        quad = _draw_effects(blocks.ld, buffers, bounds, m, psi, sigma2 / n, beta, rng)
        err = max(
            n / 2.0 * (1.0 - 2.0 * float(beta @ m) + quad), n / 2.0 * float(beta**2 @ (1.0 / psi))
        )
        sigma2 = 1.0 / rng.gamma((n + p) / 2.0, 1.0 / err)
        delta = rng.gamma(a + b, 1.0 / (psi + phi))
        psi = np.minimum(sample_gig(a - 0.5, 2.0 * delta, n * beta**2 / sigma2, rng), 1.0)
        if settings.phi is None:
            w = rng.gamma(1.0, 1.0 / (phi + 1.0))
            phi = rng.gamma(p * b + 0.5, 1.0 / (float(delta.sum()) + w))
        if iteration > settings.n_burnin and iteration % settings.thin == 0:
            beta_sum += beta
            psi_sum += psi
            kept["sigma2"].append(sigma2)
            kept["phi"].append(phi)
            kept["h2"].append(_explained(blocks.ld, bounds, beta))
    n_kept = len(kept["sigma2"])
    return ChainResult(
        beta=beta_sum / n_kept,
        psi=psi_sum / n_kept,
        sigma2=np.array(kept["sigma2"]),
        phi=np.array(kept["phi"]),
        h2=np.array(kept["h2"]),
        seconds=time.perf_counter() - started,
        block_sizes=[d.shape[0] for d in blocks.ld],
    )


def _draw_effects(
    ld: list[np.ndarray],
    buffers: list[np.ndarray],
    bounds: list[tuple[int, int]],
    m: np.ndarray,
    psi: np.ndarray,
    scale: float,
    beta: np.ndarray,
    rng: np.random.Generator,
) -> float:
    """Step 1 for every block: beta_blk ~ N(T^-1 m, scale T^-1); fills ``beta``.

    With ``T = U'U`` (upper Cholesky factor): ``z = U'^-1 m + sqrt(scale) e`` and
    ``beta = U^-1 z``; then ``beta' T beta = z'z``, the block's share of ``quad``.
    """
    noise = rng.standard_normal(len(m)) * np.sqrt(scale)
    quad = 0.0
    for d, work, (start, stop) in zip(ld, buffers, bounds, strict=True):
        np.copyto(work, d)
        work.ravel(order="F")[:: work.shape[0] + 1] += 1.0 / psi[start:stop]  # the diagonal
        upper, info = lapack.dpotrf(work, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(
                f"LD block of {work.shape[0]} SNPs: D + diag(1/psi) is not positive definite "
                f"(LAPACK dpotrf info {info}); the LD matrix has eigenvalues below -1"
            )
        z, _ = lapack.dtrtrs(upper, m[start:stop], lower=0, trans=1)
        z += noise[start:stop]
        beta[start:stop], _ = lapack.dtrtrs(upper, z, lower=0, trans=0)
        quad += float(z @ z)
    return quad


def _explained(ld: list[np.ndarray], bounds: list[tuple[int, int]], beta: np.ndarray) -> float:
    """beta' D beta over the blocks: the variance the chromosome's effects explain."""
    return float(sum(beta[s:e] @ d @ beta[s:e] for d, (s, e) in zip(ld, bounds, strict=True)))
