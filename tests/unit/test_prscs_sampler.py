"""The block Gibbs sampler against the plain per-SNP reference sampler (tests/reference).

Tolerance: both implement the same Markov chain (same conditionals, same order), so a chain's
posterior mean has the same Monte Carlo variance under either.  That variance is estimated
from ``N_FAST`` independent chains of the project's (fast) sampler; the reference runs
``N_REFERENCE`` chains.  For every SNP the difference of the two averages, divided by
``sd_chain * sqrt(1 / N_FAST + 1 / N_REFERENCE)``, is then close to standard normal when
both are right; ``|z| < 4.5`` fails a correct pair with probability below 1e-4 over all
the SNPs compared, and fails a sampler whose posterior mean is off by a few Monte Carlo
standard errors.

The two routes of step 1 (dense Cholesky, low-rank Woodbury) and the two precisions are
checked for one draw at a fixed ``psi`` too: over ``N_DRAWS`` draws, each SNP's mean and each
entry of the covariance against ``T^-1 m`` and ``scale T^-1`` computed by scipy, as z-scores
(the sample mean's standard error ``sqrt(Sigma_jj / K)``, a sample covariance entry's
``sqrt((Sigma_ii Sigma_jj + Sigma_ij^2) / K)`` for normal draws); ``|z| < 5`` over the 860
moments fails a correct route with probability about 5e-4, and the same draws fail against
the covariance a route that forgets the ``L e2`` term of its noise would have.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg

from tests.reference.prscs_reference import reference_chain
from trd_spark.prscs.sampler import (
    ChainSettings,
    EffectDraw,
    make_blocks,
    run_chain,
)

N_FAST, N_REFERENCE = 30, 4
N_ITER, N_BURNIN, THIN = 300, 100, 1
Z_LIMIT = 4.5
N_DRAWS, MOMENT_Z_LIMIT = 20_000, 5.0
# a single-precision draw differs from the double-precision one (same normal deviates) by
# at most this share of the SNP's conditional standard deviation (measured: about 3e-6)
SINGLE_TOLERANCE = 1e-3
ROUTES = [("dense", "double"), ("dense", "single"), ("low_rank", "double"), ("low_rank", "single")]


def correlated_blocks(
    rng: np.random.Generator, sizes: list[int], persons: int = 300
) -> list[np.ndarray]:
    """Sample correlation matrices of haplotype-like data with decaying LD (rank at most
    ``persons - 1``)."""
    blocks = []
    for size in sizes:
        latent = rng.standard_normal((persons, size))
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


def project_means(blocks, marginal, n_gwas, phi, method="auto", precision="double"):
    settings = ChainSettings(
        n_iter=N_ITER, n_burnin=N_BURNIN, thin=THIN, phi=phi, precision=precision
    )
    prepared = make_blocks(blocks, marginal, n_gwas, precision, method)
    chains = [run_chain(prepared, settings, np.random.default_rng(seed)) for seed in range(N_FAST)]
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


@pytest.mark.parametrize(
    ("method", "precision"),
    [("dense", "double"), ("dense", "single"), ("low_rank", "double")],
)
@pytest.mark.parametrize("phi", [None, 1e-2], ids=["phi_auto", "phi_fixed"])
def test_posterior_means_agree_with_the_reference_sampler(
    problem, reference_runs, phi, method, precision
) -> None:
    blocks, marginal, n_gwas = problem
    fast = project_means(blocks, marginal, n_gwas, phi, method, precision)
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


@pytest.fixture(scope="module")
def fixed_psi() -> dict:
    """A 40-SNP block of rank 11 (LD among 12 persons), psi from 1e-4 to 1, and scipy's
    conditional mean and covariance of its effects."""
    rng = np.random.default_rng(11)
    (ld,) = correlated_blocks(rng, [40], persons=12)
    psi = np.minimum(np.exp(rng.normal(-2.0, 2.0, 40)), 1.0)
    psi[:3] = [1e-4, 1.0, 1.0]
    marginal = ld @ np.where(rng.random(40) < 0.2, 0.05, 0.0) + rng.normal(0, 0.02, 40)
    scale = 0.9 / 2_000.0
    t = ld + np.diag(1.0 / psi)
    t_inverse = linalg.inv(t)
    return {
        "ld": ld,
        "psi": psi,
        "marginal": marginal,
        "scale": scale,
        "t": t,
        "mean": linalg.solve(t, marginal, assume_a="pos"),
        "cov": scale * t_inverse,
        # what a low-rank route without L e2 would draw: scale T^-1 Psi^-1 T^-1
        "cov_without_ld_noise": scale * t_inverse @ np.diag(1.0 / psi) @ t_inverse,
    }


def draw_effects(problem: dict, method: str, precision: str, n_draws: int) -> np.ndarray:
    blocks = make_blocks([problem["ld"]], problem["marginal"], 2_000.0, precision, method)
    draw, rng = EffectDraw(blocks), np.random.default_rng(5)
    out, beta = np.empty((n_draws, len(problem["psi"]))), np.zeros(len(problem["psi"]))
    for k in range(n_draws):
        quad = draw(problem["psi"], problem["scale"], beta, rng)
        out[k] = beta
    rtol = 1e-9 if precision == "double" else 1e-4
    np.testing.assert_allclose(quad, beta @ problem["t"] @ beta, rtol=rtol)  # beta' T beta
    return out


def moment_z(draws: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[float, float]:
    """Largest |z| of the sample means and of the sample covariance entries."""
    k = len(draws)
    z_mean = (draws.mean(axis=0) - mean) / np.sqrt(np.diag(cov) / k)
    sample = np.cov(draws, rowvar=False)
    var = np.diag(cov)
    se = np.sqrt((np.outer(var, var) + cov**2) / k)
    upper = np.triu_indices(len(mean))
    z_cov = ((sample - cov) / se)[upper]
    return float(np.abs(z_mean).max()), float(np.abs(z_cov).max())


@pytest.mark.parametrize(("method", "precision"), ROUTES)
def test_one_draw_has_the_conditional_distribution(fixed_psi, method, precision) -> None:
    draws = draw_effects(fixed_psi, method, precision, N_DRAWS)
    z_mean, z_cov = moment_z(draws, fixed_psi["mean"], fixed_psi["cov"])
    assert z_mean < MOMENT_Z_LIMIT and z_cov < MOMENT_Z_LIMIT, (z_mean, z_cov)
    # the same check tells a covariance without the LD part of the noise apart
    _, z_wrong = moment_z(draws, fixed_psi["mean"], fixed_psi["cov_without_ld_noise"])
    assert z_wrong > 3 * MOMENT_Z_LIMIT


def test_the_low_rank_block_is_factored_at_its_rank(fixed_psi) -> None:
    blocks = make_blocks([fixed_psi["ld"]], fixed_psi["marginal"], 2_000.0, "double", "low_rank")
    (block,) = blocks.blocks
    assert block.rank == 11 and block.factor is not None
    np.testing.assert_allclose(block.factor @ block.factor.T, fixed_psi["ld"], atol=1e-5)


@pytest.mark.parametrize("method", ["dense", "low_rank"])
def test_single_precision_draws_are_close_to_double(method) -> None:
    # strong LD (half a 150-person panel's, half neighbour correlation 0.95: largest
    # eigenvalue 24, smallest 0.014), psi from about 1e-8 to 1: the same normal deviates give
    # draws within SINGLE_TOLERANCE of the SNP's conditional standard deviation
    rng = np.random.default_rng(3)
    (ld,) = correlated_blocks(rng, [300], persons=150)
    lag = np.abs(np.subtract.outer(np.arange(300), np.arange(300)))
    ld = 0.5 * ld + 0.5 * 0.95**lag
    marginal = ld @ np.where(rng.random(300) < 0.1, 0.02, 0.0) + rng.normal(0, 0.005, 300)
    scale = 1.0 / 50_000.0
    worst = 0.0
    for trial in range(5):
        psi = np.minimum(np.exp(rng.normal(-6.0, 4.0, 300)), 1.0)
        sd = np.sqrt(scale * np.diag(linalg.inv(ld + np.diag(1.0 / psi))))
        draws = {}
        for precision in ("double", "single"):
            blocks = make_blocks([ld], marginal, 50_000.0, precision, method)
            beta = np.zeros(300)
            EffectDraw(blocks)(psi, scale, beta, np.random.default_rng(trial))
            draws[precision] = beta
        worst = max(worst, float(np.max(np.abs(draws["single"] - draws["double"]) / sd)))
    assert worst < SINGLE_TOLERANCE, worst


def test_auto_takes_the_route_with_less_arithmetic() -> None:
    rng = np.random.default_rng(4)
    (deficient,) = correlated_blocks(rng, [200], persons=50)
    (full,) = correlated_blocks(rng, [200], persons=400)
    (small,) = correlated_blocks(rng, [40], persons=12)
    blocks = make_blocks([deficient, full, small], np.zeros(440), 1_000.0, "double")
    assert [b.rank for b in blocks.blocks] == [49, None, None]  # small blocks stay dense


def test_settings_that_keep_nothing_are_refused() -> None:
    with pytest.raises(ValueError, match="no draw is kept"):
        ChainSettings(n_iter=100, n_burnin=100, thin=5)
    with pytest.raises(ValueError, match="phi must be positive"):
        ChainSettings(phi=0.0)
