"""The PRS-CS Gibbs sampler for one chromosome, vectorised per LD block.

Model and conditionals as in Ge et al. (Nature Communications 10:1776, 2019), written out
in ``docs/prscs.md``.  Per iteration:

1. each LD block's effects from their multivariate normal ``N(T^-1 m, sigma2 / N T^-1)``,
   ``T = D + diag(1 / psi)``, by one of two exact routes chosen per block when the chain's
   blocks are prepared (:func:`make_blocks`):

   * **dense**: a Cholesky factor of ``T`` (LAPACK, in place on a preallocated buffer);
   * **low rank**: when the panel has fewer persons than the block has SNPs, ``D = L L'``
     with ``L`` of ``r < n`` columns, and ``T^-1`` is applied through Woodbury's identity
     with the Cholesky factor of the ``r x r`` matrix ``I + L' diag(psi) L``;

   both in single or double precision (``ChainSettings.precision``);
2. the residual variance ``sigma2`` from its inverse gamma;
3. ``delta`` and the local scales ``psi`` for every SNP of the chromosome at once (gamma and
   generalised inverse Gaussian draws over whole arrays, :mod:`trd_spark.prscs.gig`);
4. the global scale ``phi`` when it is learnt.

numpy/scipy only: it runs inside Spark's Python workers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.linalg import blas, lapack

from trd_spark.prscs.gig import sample_gig

Precision = Literal["single", "double"]
Method = Literal["auto", "dense", "low_rank"]
PRECISIONS: dict[str, type[np.floating]] = {"single": np.float32, "double": np.float64}
DEFAULT_PRECISION: Precision = "single"
# eigenvalues of D within this of 0 are dropped from the low-rank factor: every eigenvalue of
# T = D + diag(1/psi) is at least 1 (psi <= 1), so T moves by at most 1e-5 of its size
RANK_TOLERANCE = 1e-5
# the low-rank route's arithmetic (n r^2 + r^3 / 3 flops) must be below this share of the
# dense Cholesky's (n^3 / 3); measured (benchmarks/README.md, prscs_bench.py): at 1,000 SNPs
# and rank 499 the low-rank route took 0.66 of the dense one's time for 0.87 of its flops
# (its rank-r update runs faster per flop than the factorisation), so flops decide as they are
LOW_RANK_SHARE = 1.0
MIN_LOW_RANK_SIZE = 64  # smaller blocks stay dense without looking at their rank
_MAX_INVERSE_PSI = 1e30  # 1 / psi capped below single precision's overflow (beta_j is 0 then)

A_SHAPE, B_SHAPE = 1.0, 0.5  # the Strawderman-Berger prior of PRS-CS


@dataclass(frozen=True)
class ChainSettings:
    """Length of a chain, the prior's parameters and the arithmetic's precision.

    ``phi`` None means learnt ("auto"); a number fixes the global shrinkage.  ``precision``:
    the LD matrices, their factorisations and the matrix products in ``single`` (float32) or
    ``double`` (float64) precision; the chain's state and sums are float64 either way.
    """

    n_iter: int = 1000
    n_burnin: int = 500
    thin: int = 5
    phi: float | None = None
    a: float = A_SHAPE
    b: float = B_SHAPE
    precision: Precision = DEFAULT_PRECISION

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
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be single or double, got {self.precision!r}")

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
    block_ranks: list[int | None] = field(default_factory=list)  # r on the low-rank route


@dataclass(frozen=True)
class Block:
    """One LD block as the sampler holds it: ``D`` itself, or a factor ``L`` with D = L L'.

    Exactly one of ``dense`` (``n x n``) and ``factor`` (``n x r``) is set, Fortran-ordered
    (what LAPACK and BLAS work on in place), in the chain's precision.
    """

    dense: np.ndarray | None = None
    factor: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.dense is None) == (self.factor is None):
            raise ValueError("a block holds either its LD matrix or a factor of it")

    @property
    def size(self) -> int:
        """SNPs in the block."""
        matrix = self.dense if self.dense is not None else self.factor
        assert matrix is not None
        return int(matrix.shape[0])

    @property
    def rank(self) -> int | None:
        """Columns of the low-rank factor; None on the dense route."""
        return None if self.factor is None else int(self.factor.shape[1])


@dataclass(frozen=True)
class Blocks:
    """A chromosome's LD blocks restricted to the SNPs used, with their marginal effects."""

    blocks: list[Block]
    marginal: np.ndarray  # standardised marginal effects, SNPs in block order
    n_gwas: float
    precision: Precision = DEFAULT_PRECISION

    def __post_init__(self) -> None:
        sizes = [block.size for block in self.blocks]
        if sum(sizes) != len(self.marginal):
            raise ValueError(
                f"the blocks hold {sum(sizes)} SNPs but {len(self.marginal)} marginal effects "
                "were given"
            )
        if not self.n_gwas > 0:
            raise ValueError(f"the GWAS sample size must be positive, got {self.n_gwas}")
        dtype = PRECISIONS[self.precision]
        for block in self.blocks:
            matrix = block.dense if block.dense is not None else block.factor
            assert matrix is not None
            if matrix.dtype != dtype or not matrix.flags.f_contiguous:
                raise ValueError(f"every block matrix must be Fortran-ordered {dtype.__name__}")

    @property
    def bounds(self) -> list[tuple[int, int]]:
        """(start, stop) of each block in the chromosome's SNP order."""
        stops = np.cumsum([block.size for block in self.blocks])
        return [
            (int(stop - block.size), int(stop))
            for block, stop in zip(self.blocks, stops, strict=True)
        ]


def make_blocks(
    ld: list[np.ndarray],
    marginal: np.ndarray,
    n_gwas: float,
    precision: Precision = DEFAULT_PRECISION,
    method: Method = "auto",
) -> Blocks:
    """Prepare a chromosome's LD blocks for :func:`run_chain`, choosing each block's route.

    Parameters
    ----------
    ld : one square correlation matrix per block (empty blocks are skipped).
    marginal : standardised marginal effects, SNPs in block order.
    n_gwas : the GWAS sample size.
    precision : ``single`` or ``double``: the block matrices' precision in the chain.
    method : ``auto`` picks per block the route with less arithmetic (:func:`low_rank_pays`)
        from the block's numerical rank (its eigenvalues above ``RANK_TOLERANCE``);
        ``dense`` or ``low_rank`` force one route (tests and benchmarks).

    Returns
    -------
    The blocks, each as its matrix (dense route) or as ``L`` with ``D = L L'`` (low rank).
    ValueError when a block is not square, or ``low_rank`` is forced on a matrix with an
    eigenvalue below ``-RANK_TOLERANCE``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be single or double, got {precision!r}")
    dtype = PRECISIONS[precision]
    prepared = []
    for matrix in ld:
        d = np.asarray(matrix, dtype=np.float64)
        if d.ndim != 2 or d.shape[0] != d.shape[1]:
            raise ValueError("every LD block must be a square matrix")
        n = d.shape[0]
        if n == 0:
            continue
        factor = None
        if method == "low_rank" or (method == "auto" and n >= MIN_LOW_RANK_SIZE):
            factor = low_rank_factor(d)
            if factor is None and method == "low_rank":
                raise ValueError(
                    f"LD block of {n} SNPs has an eigenvalue below -{RANK_TOLERANCE:g}: it has "
                    "no low-rank factor"
                )
            if method == "auto" and factor is not None and not low_rank_pays(n, factor.shape[1]):
                factor = None
        if factor is not None:
            prepared.append(Block(factor=np.asfortranarray(factor, dtype=dtype)))
        else:
            prepared.append(Block(dense=np.asfortranarray(d, dtype=dtype)))
    return Blocks(prepared, np.asarray(marginal, dtype=np.float64), float(n_gwas), precision)


def low_rank_factor(d: np.ndarray) -> np.ndarray | None:
    """``L`` (``n x r``) with ``D = L L'`` up to eigenvalues of size ``RANK_TOLERANCE``.

    Parameters
    ----------
    d : a symmetric matrix (float64).

    Returns
    -------
    ``U sqrt(S)`` over the eigenpairs with eigenvalue above ``RANK_TOLERANCE`` (at least one
    column); None when an eigenvalue is below ``-RANK_TOLERANCE`` (the matrix is not
    positive semi-definite beyond rounding, so it has no such factor).
    """
    values, vectors = np.linalg.eigh(d)
    if values[0] < -RANK_TOLERANCE:
        return None
    keep = values > RANK_TOLERANCE
    if not keep.any():
        keep[-1] = True
    return vectors[:, keep] * np.sqrt(values[keep])


def low_rank_pays(n: int, r: int) -> bool:
    """Whether Woodbury's route (``n r^2 + r^3 / 3`` flops) beats the dense Cholesky's.

    Compared as ``LOW_RANK_SHARE`` of ``n^3 / 3``: at rank 499 (a 500-person panel) the
    low-rank route is taken from 938 SNPs per block.
    """
    return n * r * r + r**3 / 3.0 < LOW_RANK_SHARE * n**3 / 3.0


def run_chain(blocks: Blocks, settings: ChainSettings, rng: np.random.Generator) -> ChainResult:
    """Run one chain over a chromosome.

    Parameters
    ----------
    blocks : the chromosome's LD blocks and standardised marginal effects
        (:func:`make_blocks`; its precision is the one the arithmetic runs in).
    settings : iterations, burn-in, thinning and prior.
    rng : random generator (a seed makes the run reproducible).

    Returns
    -------
    Posterior means of the standardised effects and local scales, and the kept draws of
    ``sigma2``, ``phi`` and ``h2``.
    """
    if blocks.precision != settings.precision:
        raise ValueError(
            f"the blocks were prepared in {blocks.precision} precision but the chain's settings "
            f"ask for {settings.precision}: pass settings.precision to make_blocks"
        )
    started = time.perf_counter()
    n, m = blocks.n_gwas, blocks.marginal
    p = len(m)
    a, b = settings.a, settings.b
    beta, psi = np.zeros(p), np.ones(p)
    sigma2, phi = 1.0, 1.0 if settings.phi is None else settings.phi
    draw = EffectDraw(blocks)
    beta_sum, psi_sum = np.zeros(p), np.zeros(p)
    kept: dict[str, list[float]] = {"sigma2": [], "phi": [], "h2": []}
    for iteration in range(1, settings.n_iter + 1):
        quad = draw(psi, sigma2 / n, beta, rng)
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
            kept["h2"].append(explained(blocks, beta))
    n_kept = len(kept["sigma2"])
    return ChainResult(
        beta=beta_sum / n_kept,
        psi=psi_sum / n_kept,
        sigma2=np.array(kept["sigma2"]),
        phi=np.array(kept["phi"]),
        h2=np.array(kept["h2"]),
        seconds=time.perf_counter() - started,
        block_sizes=[block.size for block in blocks.blocks],
        block_ranks=[block.rank for block in blocks.blocks],
    )


class EffectDraw:
    """Step 1 for every block: ``beta_blk ~ N(T^-1 m, scale T^-1)`` with ``T = D + diag(1/psi)``.

    Holds the work buffers, allocated once for the largest block of each route: a task
    holds its chromosome's LD once, plus these.
    """

    def __init__(self, blocks: Blocks) -> None:
        self.blocks = blocks
        self.bounds = blocks.bounds
        self.dtype = PRECISIONS[blocks.precision]
        self.potrf, self.potrs, self.trtrs = lapack.get_lapack_funcs(
            ("potrf", "potrs", "trtrs"), dtype=self.dtype
        )
        (self.syrk,) = blas.get_blas_funcs(("syrk",), dtype=self.dtype)
        self.m = blocks.marginal.astype(self.dtype)
        dense = [b.size for b in blocks.blocks if b.dense is not None]
        low = [(b.size, b.rank or 0) for b in blocks.blocks if b.factor is not None]
        self.n_normals = len(blocks.marginal) + sum(r for _, r in low)
        # one flat buffer per kind; each block works in a contiguous Fortran view of it
        self.dense_flat = np.empty(max(dense, default=0) ** 2, dtype=self.dtype)
        self.scaled_flat = np.empty(max((n * r for n, r in low), default=0), dtype=self.dtype)
        self.small_flat = np.empty(max((r * r for _, r in low), default=0), dtype=self.dtype)

    def _view(self, flat: np.ndarray, rows: int, cols: int) -> np.ndarray:
        return flat[: rows * cols].reshape((rows, cols), order="F")

    def __call__(
        self, psi: np.ndarray, scale: float, beta: np.ndarray, rng: np.random.Generator
    ) -> float:
        """Draw every block's effects into ``beta``; returns ``quad = sum beta' T beta``."""
        normals = rng.standard_normal(self.n_normals)
        extra = len(beta)  # the low-rank blocks' second normal vectors follow the first p
        quad = 0.0
        for block, (start, stop) in zip(self.blocks.blocks, self.bounds, strict=True):
            e = normals[start:stop]
            if block.dense is not None:
                quad += self._dense(block.dense, start, stop, psi[start:stop], scale, e, beta)
            else:
                assert block.factor is not None
                r = block.factor.shape[1]
                e2 = normals[extra : extra + r]
                extra += r
                quad += self._low_rank(block.factor, start, stop, psi[start:stop], scale, e, e2,
                                       beta)  # fmt: skip
        return quad

    def _dense(
        self,
        d: np.ndarray,
        start: int,
        stop: int,
        psi: np.ndarray,
        scale: float,
        e: np.ndarray,
        beta: np.ndarray,
    ) -> float:
        """With ``T = U'U`` (upper Cholesky factor): ``z = U'^-1 m + sqrt(scale) e`` and
        ``beta = U^-1 z``; then ``beta' T beta = z'z``."""
        size = stop - start
        work = self._view(self.dense_flat, size, size)
        np.copyto(work, d)
        work.ravel(order="F")[:: size + 1] += np.minimum(1.0 / psi, _MAX_INVERSE_PSI)
        upper, info = self.potrf(work, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(
                f"LD block of {size} SNPs: D + diag(1/psi) is not positive definite "
                f"(LAPACK potrf info {info}); the LD matrix has eigenvalues below -1"
            )
        z, _ = self.trtrs(upper, self.m[start:stop], lower=0, trans=1)
        z += (np.sqrt(scale) * e).astype(self.dtype)
        solved, _ = self.trtrs(upper, z, lower=0, trans=0)
        beta[start:stop] = solved
        z64 = z.astype(np.float64)
        return float(z64 @ z64)

    def _low_rank(
        self,
        factor: np.ndarray,
        start: int,
        stop: int,
        psi: np.ndarray,
        scale: float,
        e1: np.ndarray,
        e2: np.ndarray,
        beta: np.ndarray,
    ) -> float:
        """Woodbury's route for ``T = Psi^-1 + L L'`` (``Psi = diag(psi)``, ``L`` n x r).

        ``x = Psi^-1/2 e1 + L e2`` is ``N(0, T)``, so ``beta = T^-1 (m + sqrt(scale) x)`` is
        ``N(T^-1 m, scale T^-1)``; ``T^-1 y = Psi y - Psi L M^-1 L' Psi y`` with
        ``M = I + L' Psi L`` (``r x r``, Cholesky).  With ``G = Psi^1/2 L``,
        ``h = Psi^1/2 y``, ``v = M^-1 G' h``: ``beta = Psi^1/2 (h - G v)``, ``L' beta = v``,
        and ``beta' T beta = |h - G v|^2 + |v|^2``.
        """
        size, rank = factor.shape
        root = np.sqrt(psi)
        scaled = self._view(self.scaled_flat, size, rank)
        np.multiply(factor, root.astype(self.dtype)[:, None], out=scaled)  # G
        small = self._view(self.small_flat, rank, rank)
        small.fill(0.0)
        small.ravel(order="F")[:: rank + 1] = 1.0
        small = self.syrk(1.0, scaled, beta=1.0, c=small, trans=1, lower=0, overwrite_c=1)
        upper, info = self.potrf(small, lower=0, clean=0, overwrite_a=1)
        if info != 0:  # I + G'G has every eigenvalue >= 1: only NaN input gets here
            raise np.linalg.LinAlgError(
                f"LD block of {size} SNPs (rank {rank}): I + L' Psi L is not positive definite "
                f"(LAPACK potrf info {info})"
            )
        lifted = factor @ e2.astype(self.dtype)  # L e2
        h = root * self.blocks.marginal[start:stop] + np.sqrt(scale) * (e1 + root * lifted)
        v, _ = self.potrs(upper, scaled.T @ h.astype(self.dtype), lower=0)
        u = h - scaled @ v
        beta[start:stop] = root * u
        v64 = v.astype(np.float64)
        return float(u @ u + v64 @ v64)


def explained(blocks: Blocks, beta: np.ndarray) -> float:
    """``beta' D beta`` over the blocks: the variance the chromosome's effects explain."""
    dtype = PRECISIONS[blocks.precision]
    total = 0.0
    for block, (start, stop) in zip(blocks.blocks, blocks.bounds, strict=True):
        part = beta[start:stop].astype(dtype)
        if block.dense is not None:
            total += float(part.astype(np.float64) @ (block.dense @ part).astype(np.float64))
        else:
            assert block.factor is not None
            projected = (block.factor.T @ part).astype(np.float64)
            total += float(projected @ projected)
    return total
