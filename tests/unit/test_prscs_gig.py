"""The vectorised GIG sampler against scipy.stats.geninvgauss (distribution tests)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from trd_spark.prscs.gig import sample_gig

N_DRAWS = 10_000
P_FLOOR = 1e-3  # fixed seeds: a correct sampler passes every case with room to spare


def scipy_gig(lam: float, a: float, b: float) -> stats.rv_continuous:
    """GIG(lam, a, b) in scipy's parametrisation (Gamma when b = 0, inverse gamma when a = 0)."""
    if a == 0:
        return stats.invgamma(-lam, scale=b / 2.0)
    if b == 0:
        return stats.gamma(lam, scale=2.0 / a)
    return stats.geninvgauss(lam, np.sqrt(a * b), scale=np.sqrt(b / a))


@pytest.mark.parametrize(
    ("lam", "a", "b"),
    [
        (0.5, 2.0, 1.0),  # PRS-CS: lam = a - 1/2 = 0.5
        (0.5, 0.3, 40.0),  # a large effect: b = N beta^2 / sigma2 large
        (0.5, 2.0, 1e-10),  # a null SNP: b tiny, close to the Gamma(1/2, rate 1) limit
        (0.5, 2.0, 0.0),  # the limit itself
        (0.5, 1e4, 1e-6),  # large delta
        (0.0, 1.0, 1.0),
        (-0.3, 2.0, 3.0),  # negative lam (drawn through 1 / GIG(0.3, b, a))
        (-1.5, 0.0, 2.0),  # the inverse gamma limit
        (2.5, 4.0, 0.01),
        (7.0, 0.5, 50.0),
    ],
)
def test_draws_follow_the_distribution(lam: float, a: float, b: float) -> None:
    rng = np.random.default_rng([11, int(lam * 10 + 100), int(b * 7)])
    x = sample_gig(lam, np.full(N_DRAWS, a), np.full(N_DRAWS, b), rng)
    reference = scipy_gig(lam, a, b)
    assert np.all(np.isfinite(x)) and np.all(x > 0)
    assert stats.kstest(x, reference.cdf).pvalue > P_FLOOR
    # the mean too, within 5 standard errors
    assert abs(x.mean() - reference.mean()) < 5 * reference.std() / np.sqrt(N_DRAWS)


def test_every_element_with_its_own_parameters() -> None:
    # parameters as the sampler meets them: each SNP its own delta and beta; the probability
    # integral transform of each draw under its own distribution must be uniform
    rng = np.random.default_rng(5)
    a = 2.0 * rng.gamma(1.5, 1.0, N_DRAWS)
    b = rng.exponential(1.0, N_DRAWS) * 10.0 ** rng.uniform(-9, 3, N_DRAWS)
    x = sample_gig(0.5, a, b, rng)
    u = stats.geninvgauss.cdf(x / np.sqrt(b / a), 0.5, np.sqrt(a * b))
    assert stats.kstest(u, "uniform").pvalue > P_FLOOR


def test_shape_and_reproducibility() -> None:
    a, b = np.full((3, 4), 2.0), np.full((3, 4), 0.5)
    first = sample_gig(0.5, a, b, np.random.default_rng(1))
    assert first.shape == (3, 4)
    np.testing.assert_array_equal(first, sample_gig(0.5, a, b, np.random.default_rng(1)))


@pytest.mark.parametrize(("lam", "a", "b"), [(0.5, 0.0, 1.0), (-0.5, 1.0, 0.0), (0.5, 1.0, -1.0)])
def test_parameters_without_a_distribution_are_refused(lam: float, a: float, b: float) -> None:
    with pytest.raises(ValueError, match="no GIG distribution"):
        sample_gig(lam, np.array([a]), np.array([b]), np.random.default_rng(0))
