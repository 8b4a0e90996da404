"""fit/lm.py: Levenberg-Marquardt on the summed Huber objective against scipy's L-BFGS-B on the same
objective from the same start, the mean-reduced objective (Besiroglu et al. 2024), and numpy's
least squares where every residual lies inside delta."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import huber, logsumexp, softmax

from _support import EPOCH, EPOCH_OBJECTIVE
from scalemix import laws
from scalemix._x64 import float64
from scalemix.fit import lm
from scalemix.fit.problem import build, residual_function

DELTA = 1e-3
# Starts (e, a, b, alpha, beta) from Hoffmann's grid; scipy with default tolerances stops early from
# these on the mean-reduced objective (Besiroglu et al. 2024, section 2).
STARTS = np.array([[0.5, 5.0, 5.0, 0.5, 0.5], [0.0, 10.0, 10.0, 1.0, 1.0], [-0.5, 0.0, 5.0, 0.0, 0.5]])


@pytest.fixture(scope="module")
def chinchilla_problem(chinchilla_table):
    """One target's residual function, data and row weights, for single-start solves."""
    law = laws.get("chinchilla")
    with float64():
        problem = build(chinchilla_table, law)
        data = (jax.tree_util.tree_map(lambda a: a[0], problem.inputs), jnp.asarray(problem.log_loss[0]))
    return residual_function(law, problem.layout), data, problem.mask[0]


def _scipy_objective(x, frame, scale=1.0):
    """Summed Huber of log-loss residuals and its gradient, in numpy/scipy: x = (e, a, b, alpha, beta)."""
    e, a, b, alpha, beta = x
    log_n, log_d = np.log(frame["params"].to_numpy()), np.log(frame["tokens"].to_numpy())
    terms = np.stack([np.full_like(log_n, e), a - alpha * log_n, b - beta * log_d])
    r = logsumexp(terms, axis=0) - np.log(frame["loss"].to_numpy())
    share, psi = softmax(terms, axis=0), np.clip(r, -DELTA, DELTA)
    grad = np.array([psi @ share[0], psi @ share[1], psi @ share[2], -psi @ (share[1] * log_n), -psi @ (share[2] * log_d)])
    return scale * huber(DELTA, r).sum(), scale * grad


def _solve(chinchilla_problem, start, row_weight):
    residuals, data, mask = chinchilla_problem
    with float64():
        return lm.solve(residuals, jnp.asarray(start), data, jnp.asarray(mask * row_weight), DELTA)


@pytest.mark.parametrize("start", STARTS[:2])
def test_scipy_lbfgsb_from_the_same_start_reaches_the_same_optimum(chinchilla_problem, chinchilla_table, start):
    ours = _solve(chinchilla_problem, start, 1.0)
    theirs = minimize(_scipy_objective, start, args=(chinchilla_table.frame,), jac=True, method="L-BFGS-B",
                      options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    # our unconstrained vector is (log E, log A, log B, alpha, beta): the same coordinates
    np.testing.assert_allclose(np.asarray(ours.z), theirs.x, atol=2e-5)
    assert float(ours.objective) == pytest.approx(theirs.fun, rel=1e-9)
    assert float(ours.objective) <= theirs.fun * (1 + 1e-12)


def test_mean_reduced_objective_cannot_stop_the_solver_early(chinchilla_problem, chinchilla_table):
    n = chinchilla_table.frame.height
    for start in STARTS:
        summed = _solve(chinchilla_problem, start, 1.0)
        mean = _solve(chinchilla_problem, start, 1.0 / n)
        np.testing.assert_allclose(np.asarray(mean.z), np.asarray(summed.z), atol=1e-7)
        assert float(mean.objective) * n == pytest.approx(EPOCH_OBJECTIVE, abs=1e-8)
        # the contrast (Epoch's finding): scipy's default tolerances on the mean stop far from the optimum
        early = minimize(_scipy_objective, start, args=(chinchilla_table.frame, 1.0 / n), jac=True, method="L-BFGS-B")
        assert early.success and early.fun * n > 1.2 * EPOCH_OBJECTIVE
        assert abs(early.x[3] - EPOCH["alpha"]) > 0.01


def _linear_residuals(z, data):
    x, y = data
    return x @ z - y


def test_huber_is_scipys():
    r = np.linspace(-3e-3, 3e-3, 13)
    with float64():
        ours = np.asarray(lm.huber(jnp.asarray(r), DELTA))
    np.testing.assert_allclose(ours, huber(DELTA, r), rtol=1e-12, atol=0)


def test_inside_delta_it_is_numpys_weighted_least_squares():
    """With every residual inside delta the objective is sum_i w_i r_i^2 / 2: the solution is the weighted
    least-squares fit (numpy's lstsq on sqrt(w)-scaled rows) and the objective its half residual sum."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.1 * rng.normal(size=20)
    w = rng.uniform(0.5, 2.0, 20)
    expected, *_ = np.linalg.lstsq(x * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)
    with float64():
        ours = lm.solve(_linear_residuals, jnp.zeros(3), (jnp.asarray(x), jnp.asarray(y)), jnp.asarray(w), 1e3)
    np.testing.assert_allclose(np.asarray(ours.z), expected, rtol=1e-9)
    assert float(ours.objective) == pytest.approx(0.5 * np.sum(w * (x @ expected - y) ** 2), rel=1e-9)
    assert bool(ours.converged) and float(ours.grad_norm) < 1e-10
