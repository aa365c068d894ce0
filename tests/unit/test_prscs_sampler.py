"""The block Gibbs sampler against the plain per-SNP reference sampler (tests/reference).

Tolerance: both implement the same Markov chain (same conditionals, same order), so a chain's
posterior mean has the same Monte Carlo variance under either.  That variance is estimated
from ``N_FAST`` independent chains of the project's (fast) sampler; the reference runs
``N_REFERENCE`` chains.  For every SNP the difference of the two averages, divided by
``sd_chain * sqrt(1 / N_FAST + 1 / N_REFERENCE)``, is then close to standard normal when
both are right; ``|z| < 4.5`` fails a correct pair with probability below 1e-4 over all
the SNPs compared, and fails a sampler whose posterior mean is off by a few Monte Carlo
standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.reference.prscs_reference import reference_chain
from trd_spark.prscs.sampler import ChainSettings, make_blocks, run_chain

N_FAST, N_REFERENCE = 30, 4
N_ITER, N_BURNIN, THIN = 300, 100, 1
Z_LIMIT = 4.5


def correlated_blocks(rng: np.random.Generator, sizes: list[int]) -> list[np.ndarray]:
    """Sample correlation matrices of haplotype-like data with decaying LD."""
    blocks = []
    for size in sizes:
        latent = rng.standard_normal((300, size))
        for j in range(1, size):
            latent[:, j] = 0.8 * latent[:, j - 1] + 0.6 * latent[:, j]
        blocks.append(np.corrcoef(latent, rowvar=False))
    return blocks


@pytest.fixture(scope="module")
def problem() -> tuple[list[np.ndarray], np.ndarray, float]:
    rng = np.random.default_rng(2019)
    blocks = correlated_blocks(rng, [7, 9])
    true = np.zeros(16)
    true[[1, 8, 12]] = [0.08, -0.06, 0.05]
    n_gwas = 10_000.0
    marginal = np.concatenate(
        [
            d @ true[s : s + len(d)]
            + rng.multivariate_normal(np.zeros(len(d)), d / n_gwas, method="eigh")
            for d, s in zip(blocks, [0, 7], strict=True)
        ]
    )
    return blocks, marginal, n_gwas


@pytest.fixture(scope="module")
def reference_runs(problem) -> dict:
    """The reference sampler's chains, run once per phi setting (the slow part)."""
    return {phi: reference_means(*problem, phi) for phi in (None, 1e-2)}


def project_means(blocks, marginal, n_gwas, phi):
    settings = ChainSettings(n_iter=N_ITER, n_burnin=N_BURNIN, thin=THIN, phi=phi)
    chains = [
        run_chain(make_blocks(blocks, marginal, n_gwas), settings, np.random.default_rng(seed))
        for seed in range(N_FAST)
    ]
    return {
        "beta": np.array([c.beta for c in chains]),
        "sigma2": np.array([c.sigma2.mean() for c in chains]),
        "phi": np.array([c.phi.mean() for c in chains]),
    }


def reference_means(blocks, marginal, n_gwas, phi):
    chains = [
        reference_chain(blocks, marginal, n_gwas, N_ITER, N_BURNIN, THIN, phi, seed=1000 + seed)
        for seed in range(N_REFERENCE)
    ]
    return {key: np.array([c[key] for c in chains]) for key in ("beta", "sigma2", "phi")}


def z_scores(fast: np.ndarray, reference: np.ndarray) -> np.ndarray:
    sd_chain = fast.std(axis=0, ddof=1)
    return (reference.mean(axis=0) - fast.mean(axis=0)) / (
        sd_chain * np.sqrt(1 / len(fast) + 1 / len(reference))
    )


@pytest.mark.parametrize("phi", [None, 1e-2], ids=["phi_auto", "phi_fixed"])
def test_posterior_means_agree_with_the_reference_sampler(problem, reference_runs, phi) -> None:
    blocks, marginal, n_gwas = problem
    fast = project_means(blocks, marginal, n_gwas, phi)
    reference = reference_runs[phi]
    z_beta = z_scores(fast["beta"], reference["beta"])
    assert np.abs(z_beta).max() < Z_LIMIT, np.round(z_beta, 2)
    assert abs(z_scores(fast["sigma2"], reference["sigma2"])) < Z_LIMIT
    if phi is None:
        assert abs(z_scores(fast["phi"], reference["phi"])) < Z_LIMIT
    else:
        np.testing.assert_allclose(fast["phi"], phi)
    # the comparison has power: the planted effects stand out from the Monte Carlo error
    se = fast["beta"].std(axis=0, ddof=1) / np.sqrt(N_FAST)
    assert np.all(np.abs(fast["beta"].mean(axis=0)[[1, 8]]) > 10 * se[[1, 8]])


def test_a_wrong_conditional_is_caught(problem, reference_runs) -> None:
    # the same test flags a sampler whose effect draws ignore the LD between SNPs
    blocks, marginal, n_gwas = problem
    no_ld = [np.eye(len(d)) for d in blocks]
    fast = project_means(no_ld, marginal, n_gwas, None)
    reference = reference_runs[None]
    assert np.abs(z_scores(fast["beta"], reference["beta"])).max() > Z_LIMIT


def test_same_seed_same_chain(problem) -> None:
    blocks, marginal, n_gwas = problem
    settings = ChainSettings(n_iter=50, n_burnin=10, thin=2)
    first = run_chain(make_blocks(blocks, marginal, n_gwas), settings, np.random.default_rng(3))
    again = run_chain(make_blocks(blocks, marginal, n_gwas), settings, np.random.default_rng(3))
    np.testing.assert_array_equal(first.beta, again.beta)
    assert len(first.sigma2) == settings.n_kept == 20


def test_settings_that_keep_nothing_are_refused() -> None:
    with pytest.raises(ValueError, match="no draw is kept"):
        ChainSettings(n_iter=100, n_burnin=100, thin=5)
    with pytest.raises(ValueError, match="phi must be positive"):
        ChainSettings(phi=0.0)
