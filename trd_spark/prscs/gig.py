"""Vectorised draws from the generalised inverse Gaussian distribution.

GIG(lam, a, b) has density proportional to ``x**(lam - 1) * exp(-(a * x + b / x) / 2)`` on
``x > 0`` (``a > 0``, ``b >= 0``; ``b = 0`` is the Gamma(lam, rate a / 2) limit and needs
``lam > 0``).  The sampler is Devroye's (2014) rejection method for log-concave densities,
applied to the logarithm of the variate, written here for whole arrays: every element gets
its own envelope, all elements are proposed at once, and only the rejected ones are proposed
again.  Its acceptance rate is bounded away from zero for every parameter value, so a few
rounds finish even millions of draws.  Checked against ``scipy.stats.geninvgauss`` in
``tests/unit/test_prscs_gig.py``; the method is described in ``docs/prscs.md``.

Reference: L. Devroye, "Random variate generation for the generalized inverse Gaussian
distribution", Statistics and Computing 24 (2014) 239-246.
"""

from __future__ import annotations

import numpy as np

_MAX_ROUNDS = 1_000  # an acceptance rate above 1/2 per proposal makes this unreachable
_RETRIES = 4  # proposals per element after the first round
_COSH1_M1 = float(np.cosh(1.0) - 1.0)
_E_M2 = float(np.e - 2.0)  # e^1 - 1 - 1
_EINV = float(np.exp(-1.0))  # e^-1 - 1 + 1


def sample_gig(
    lam: float | np.ndarray, a: np.ndarray, b: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One GIG(lam, a, b) draw per element of the broadcast parameters.

    Parameters
    ----------
    lam : shape parameter (any real; scalar or array).
    a : weight of ``x`` in the exponent (``> 0``; may be 0 where ``lam < 0`` and ``b > 0``).
    b : weight of ``1 / x`` in the exponent (``>= 0``; may be 0 where ``lam > 0``).
    rng : random generator.

    Returns
    -------
    float64 array of the broadcast shape.
    """
    lam_, a_, b_ = np.broadcast_arrays(
        np.asarray(lam, np.float64), np.asarray(a, np.float64), np.asarray(b, np.float64)
    )
    _check(lam_, a_, b_)
    swap = lam_ < 0  # X ~ GIG(lam, a, b)  <=>  1 / X ~ GIG(-lam, b, a)
    lam_pos = np.abs(lam_).ravel()
    a_pos = np.where(swap, b_, a_).ravel()
    b_pos = np.where(swap, a_, b_).ravel()
    omega = np.sqrt(a_pos * b_pos)
    log_x = _sample_log_core(lam_pos, omega, rng)
    # back from Devroye's standardised variate: scale (lam + sqrt(lam^2 + omega^2)) / a, which
    # stays finite as b -> 0 (where omega -> 0)
    x = np.exp(log_x) * (lam_pos + np.hypot(lam_pos, omega)) / a_pos
    x = np.where(swap.ravel(), 1.0 / x, x)
    return x.reshape(lam_.shape)


def _check(lam: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    bad = (
        ~np.isfinite(lam)
        | ~np.isfinite(a)
        | ~np.isfinite(b)
        | (a < 0)
        | (b < 0)
        | ((a == 0) & (lam >= 0))
        | ((b == 0) & (lam <= 0))
    )
    if bad.any():
        i = np.flatnonzero(bad.ravel())[0]
        raise ValueError(
            f"sample_gig: no GIG distribution for lam={lam.ravel()[i]!r}, a={a.ravel()[i]!r}, "
            f"b={b.ravel()[i]!r}; needs a >= 0, b >= 0, a > 0 when lam >= 0 and b > 0 when lam <= 0"
        )


def _log_density(x: np.ndarray, alpha: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Devroye's psi: log-density of the standardised log-variate, 0 at its mode 0,
    ``-alpha (cosh x - 1) - lam (e^x - 1 - x)``, from one ``expm1``:
    ``cosh x - 1 = (e^x - 1)^2 / (2 e^x)``, accurate near 0 and infinite far out."""
    em1 = np.expm1(x)
    return -alpha * (em1 * (em1 / (2.0 * (em1 + 1.0)))) - lam * em1 + lam * x


def _log_density_slope(x: np.ndarray, alpha: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """psi'(x) = -alpha sinh x - lam (e^x - 1), with ``sinh x = (e^x - 1)(e^x + 1) / (2 e^x)``."""
    em1 = np.expm1(x)
    return -alpha * (em1 * ((em1 + 2.0) / (2.0 * (em1 + 1.0)))) - lam * em1


def _sample_log_core(lam: np.ndarray, omega: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Log of GIG(lam, omega) draws standardised by Devroye's scale, ``lam >= 0``, 1-D."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        # alpha = sqrt(omega^2 + lam^2) - lam, written without cancellation for small omega
        alpha = omega**2 / (np.hypot(omega, lam) + lam)
        envelope = _envelope(alpha, lam)
    out = np.empty_like(lam)
    accepted, x = _propose(rng, envelope)  # the first round on whole arrays: no indexing
    out[accepted] = x[accepted]
    todo = np.flatnonzero(~accepted)
    for _ in range(_MAX_ROUNDS):
        if len(todo) == 0:
            return out
        # the few left get several proposals each, so the rounds (and their fixed cost) are few
        tries = np.repeat(todo, _RETRIES)
        accepted, x = _propose(rng, envelope[:, tries])
        # the first accepted proposal of each element: a draw from the target, as in a loop
        kept = np.flatnonzero(accepted)
        first = kept[np.r_[True, tries[kept][1:] != tries[kept][:-1]]] if len(kept) else kept
        out[tries[first]] = x[first]
        todo = np.setdiff1d(todo, tries[first], assume_unique=True)
    raise RuntimeError("sample_gig: the rejection sampler did not finish (a bug)")


# rows of the envelope array
_ALPHA, _LAM, _T, _S, _ETA, _ZETA, _THETA, _XI, _LEFT, _RIGHT, _T_FLAT, _S_FLAT, _MIDDLE = range(13)


def _envelope(alpha: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Devroye's three-piece envelope of ``exp(psi)``, one column per element.

    Tangent lines of the concave ``psi`` at ``t > 0`` and ``-s < 0`` bound it from above
    beyond the points where they cross 0 (``t_flat``, ``-s_flat``); between those, 1 does.
    Rows: alpha, lam, t, s, eta = -psi(t), zeta = -psi'(t), theta = -psi(-s),
    xi = psi'(-s), the areas left, right and middle of the pieces, t_flat, s_flat.
    """
    t, s = _envelope_points(alpha, lam)
    eta = -_log_density(t, alpha, lam)
    zeta = -_log_density_slope(t, alpha, lam)
    theta = -_log_density(-s, alpha, lam)
    xi = _log_density_slope(-s, alpha, lam)
    left, right = 1.0 / xi, 1.0 / zeta
    t_flat, s_flat = t - right * eta, s - left * theta
    return np.stack(
        [alpha, lam, t, s, eta, zeta, theta, xi, left, right, t_flat, s_flat, t_flat + s_flat]
    )


def _envelope_points(alpha: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Devroye's choice of the tangent points ``t > 0`` and ``-s < 0`` of the envelope.

    Any positive ``t`` and ``s`` give a valid envelope (the density is log-concave); these
    keep the acceptance rate high for every ``alpha`` and ``lam``.
    """
    at_one = alpha * _COSH1_M1 + lam * _E_M2  # -psi(1)
    t = np.where(
        (at_one >= 0.5) & (at_one <= 2.0),
        1.0,
        np.where(at_one > 2.0, np.sqrt(2.0 / (alpha + lam)), np.log(4.0 / (alpha + 2.0 * lam))),
    )
    at_minus_one = alpha * _COSH1_M1 + lam * _EINV  # -psi(-1)
    s_small = np.minimum(1.0 / lam, np.log1p(1.0 / alpha + np.sqrt(1.0 / alpha**2 + 2.0 / alpha)))
    s = np.where(
        (at_minus_one >= 0.5) & (at_minus_one <= 2.0),
        1.0,
        np.where(at_minus_one > 2.0, np.sqrt(4.0 / (alpha * np.cosh(1.0) + lam)), s_small),
    )
    return t, s


def _propose(rng: np.random.Generator, env: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One round: a draw from the envelope per column of ``env``, and whether it is kept."""
    u, v, w = rng.random((3, env.shape[1]))
    middle, right, left = env[_MIDDLE], env[_RIGHT], env[_LEFT]
    t_flat, s_flat = env[_T_FLAT], env[_S_FLAT]
    pick = u * (left + middle + right)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        log_v = np.log(v)
        x = np.where(
            pick < middle,
            -s_flat + middle * v,
            np.where(pick < middle + right, t_flat - right * log_v, -s_flat + left * log_v),
        )
        log_envelope = np.where(
            x > t_flat,
            -env[_ETA] - env[_ZETA] * (x - env[_T]),
            np.where(x < -s_flat, -env[_THETA] + env[_XI] * (x + env[_S]), 0.0),
        )
        accepted = np.log(w) + log_envelope <= _log_density(x, env[_ALPHA], env[_LAM])
    return accepted & np.isfinite(x), x
