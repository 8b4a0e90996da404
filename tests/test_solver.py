"""optimize/solver.py: mirror descent on the bounded simplex reaches the closed-form optimum of small
convex problems: the Euclidean projection of a point onto the (boxed) simplex, the prior of a pure KL
pull, and a binding ceiling enforced by its multiplier."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import entropy

from scalemix._x64 import float64
from scalemix.optimize.solver import Region, kl_divergence, solve


def _euclidean_projection(a, lower, upper):
    """argmin_w sum (w - a)^2 on {sum w = 1, lower <= w <= upper}: w = clip(a - theta, lower, upper) with
    the scalar theta (the multiplier of sum w = 1) found by bisection (KKT conditions, in numpy)."""
    low, high = (a - upper).min() - 1.0, (a - lower).max() + 1.0
    for _ in range(200):
        theta = (low + high) / 2
        low, high = (theta, high) if np.clip(a - theta, lower, upper).sum() > 1 else (low, theta)
    return np.clip(a - theta, lower, upper)


def _region(upper=(1.0, 1.0, 1.0, 1.0), prior=(0.25, 0.25, 0.25, 0.25), kl=0.0):
    return Region(jnp.zeros(4), jnp.asarray(upper), jnp.asarray(prior), jnp.asarray(kl), jnp.full(4, 0.25))


def _squared_distance(a, ceiling=None):
    """``(sum (w - a)^2, violations)``: no ceiling, or ``w_0 - ceiling <= 0``."""
    return lambda w: (jnp.sum((w - a) ** 2), jnp.zeros(0) if ceiling is None else jnp.array([w[0] - ceiling]))


@pytest.mark.parametrize("a", [[0.5, 0.3, 0.25, 0.35], [0.6, 0.5, 0.05, 0.1]])
def test_squared_distance_reaches_the_projection_onto_the_simplex(a):
    # the first point projects inside (w = a - 0.1); the second onto a face (w_2 = 0)
    a = np.array(a)
    with float64():
        w = np.asarray(solve(_squared_distance(a), _region()))
    expected = _euclidean_projection(a, np.zeros(4), np.ones(4))
    assert w == pytest.approx(expected, abs=1e-5)
    assert w.sum() == pytest.approx(1.0, abs=1e-12) and (w >= 0).all()


def test_an_upper_bound_and_the_same_ceiling_give_the_boxed_projection():
    a = np.array([0.5, 0.3, 0.25, 0.35])
    expected = _euclidean_projection(a, np.zeros(4), np.array([0.3, 1.0, 1.0, 1.0]))
    with float64():
        bounded = np.asarray(solve(_squared_distance(a), _region(upper=(0.3, 1.0, 1.0, 1.0))))
        ceiling = np.asarray(solve(_squared_distance(a, ceiling=0.3), _region()))
    assert bounded == pytest.approx(expected, abs=1e-5)
    assert ceiling == pytest.approx(expected, abs=1e-4)  # dual ascent: the multiplier settles more slowly


def test_a_pure_kl_pull_lands_on_the_prior():
    prior = np.array([0.1, 0.2, 0.3, 0.4])
    with float64():
        w = np.asarray(solve(lambda w: (jnp.asarray(0.0), jnp.zeros(0)), _region(prior=prior, kl=1.0)))
    assert w == pytest.approx(prior, abs=1e-5)


def test_kl_divergence_is_scipys_relative_entropy_with_0_log_0_as_0():
    w, prior = np.array([0.0, 0.5, 0.5]), np.array([0.2, 0.3, 0.5])
    with float64():
        assert float(kl_divergence(jnp.asarray(w), jnp.asarray(prior))) == pytest.approx(entropy(w, prior), rel=1e-12)
        assert float(kl_divergence(jnp.asarray(prior), jnp.asarray(prior))) == 0.0
