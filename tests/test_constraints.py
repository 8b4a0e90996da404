"""optimize/constraints.py: the KL projection onto the bounded simplex against scipy and the closed form,
bounds, caps and zeros the optimum keeps, and readable errors for bounds that cannot all hold."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize

from _support import mixing_fit
from scalemix._x64 import float64
from scalemix.errors import OptimizeError
from scalemix.optimize import constraints, optimize, project


WIDE = np.random.default_rng(3)
WIDE_LOWER = np.where(np.arange(64) % 9 == 1, 0.005, 0.0)
WIDE_UPPER = np.where(np.arange(64) < 8, 0.0, np.where(np.arange(64) % 5 == 0, 0.01, 0.2))  # 8 zeros, caps, minima


@pytest.mark.parametrize(("y", "lower", "upper"), [
    (np.random.default_rng(0).dirichlet(np.ones(6)), np.array([0.0, 0.05, 0.0, 0.2, 0.0, 0.0]),
     np.array([0.1, 1.0, 0.3, 1.0, 0.0, 1.0])),
    (WIDE.dirichlet(np.full(64, 0.3)), WIDE_LOWER, WIDE_UPPER),  # 64 sparse domains
], ids=["6-domains", "64-domains"])
def test_projection_matches_scipy_kl_projection(y, lower, upper):
    with float64():
        ours = np.asarray(project(y, lower, upper))
    free = upper > 0
    kl = lambda w: np.sum(w * np.log(w / y[free]))  # noqa: E731
    ref = minimize(kl, np.full(free.sum(), 1 / free.sum()), method="SLSQP", bounds=list(zip(np.maximum(lower[free], 1e-12), upper[free])),
                   constraints={"type": "eq", "fun": lambda w: w.sum() - 1}, options={"ftol": 1e-14, "maxiter": 500})
    assert ours[~free] == pytest.approx(0.0, abs=0)
    assert ours[free] == pytest.approx(ref.x, abs=1e-6)
    assert ours.sum() == pytest.approx(1.0, abs=1e-12)


def test_vertex_optimum_fills_domains_greedily_within_every_bound():
    # exp(t . w) is smallest where t . w is: fill the lowest t first, within bounds (a linear program).
    fit = mixing_fit([[-2.0, -1.0, -3.0, 0.5, -0.5]])
    result = optimize(fit, zero=["a"], minimum={"w.d": 0.1}, tokens=1e9,
                      available_tokens={"c": 1.5e8}, max_epochs=2.0)  # cap: c <= 1.5e8 * 2 / 1e9 = 0.3
    assert result.expected == pytest.approx([0.0, 0.6, 0.3, 0.1, 0.0], abs=1e-4)
    assert result.expected[0] == 0.0 and result.expected[2] <= 0.3 + 1e-12 and result.expected[3] >= 0.1 - 1e-12
    assert result.expected.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"maximum": {"w.zz": 0.1}}, ["'zz'", "it knows a, b"]),
        ({"minimum": {"a": 0.6}, "maximum": {"a": 0.4}}, ["a (min 0.6 > max 0.4)"]),
        ({"minimum": {"a": 0.7, "b": 0.6}}, ["sum to 1.3", "a>=0.7", "b>=0.6"]),
        ({"available_tokens": {"a": 1e8, "b": 2e8}, "tokens": 1e9}, ["sum to 0.3", "a<=0.1", "b<=0.2"]),
        ({"available_tokens": {"a": 1e8}}, ["--tokens"]),
    ],
)
def test_clear_errors_name_what_is_wrong(options, words):
    with pytest.raises(OptimizeError) as error:
        optimize(mixing_fit([[-1.0, 0.0]]), **options)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_projection_without_active_bounds_renormalises():
    """On the plain simplex the KL projection of y is y / sum(y) (c = 1 / sum y, nothing clipped)."""
    y = np.array([0.3, 1.2, 0.5, 2.0])
    with float64():
        ours = np.asarray(project(jnp.asarray(y), jnp.zeros(4), jnp.ones(4)))
    np.testing.assert_allclose(ours, y / y.sum(), rtol=1e-14)


def test_projection_matches_a_brute_force_search_over_the_feasible_simplex():
    """Every feasible mixture of 3 domains on a 1/1000 grid: the one nearest y in KL is the projection."""
    y = np.array([0.6, 0.3, 0.1])
    lower, upper = np.array([0.0, 0.0, 0.25]), np.array([0.5, 1.0, 1.0])
    a, b = np.meshgrid(np.arange(1001) / 1000, np.arange(1001) / 1000, indexing="ij")
    grid = np.stack([a.ravel(), b.ravel(), 1 - a.ravel() - b.ravel()], axis=1)
    grid = grid[np.all((grid >= lower - 1e-12) & (grid <= upper + 1e-12), axis=1)]
    kl = np.sum(np.where(grid > 0, grid * np.log(np.where(grid > 0, grid, 1.0) / y), 0.0), axis=1)
    with float64():
        ours = np.asarray(project(jnp.asarray(y), jnp.asarray(lower), jnp.asarray(upper)))
    assert ours == pytest.approx(grid[np.argmin(kl)], abs=1e-3)
    assert ours == pytest.approx([0.5, 0.25, 0.25], abs=1e-12)  # w_a capped; w_c at its floor; b takes the rest


def test_build_turns_caps_zeros_and_the_kl_prior_into_bounds():
    """A cap is available tokens x epochs / budget (Muennighoff et al. 2023): 1e8 x 4 / 1e9 = 0.4."""
    built = constraints.build(["a", "b", "c"], minimum={"w.b": 0.1}, zero=["c"], available_tokens={"a": 1e8},
                              max_epochs=4, tokens=1e9, kl_to={"a": 1.0, "b": 3.0}, kl=0.5)
    np.testing.assert_allclose(built.lower, [0.0, 0.1, 0.0])
    np.testing.assert_allclose(built.upper, [0.4, 1.0, 0.0])
    np.testing.assert_allclose(built.prior, [0.25, 0.75, 0.0])
    assert built.kl == 0.5
    assert constraints.mixture(["a", "b"], {"w.a": 0.301, "b": 0.7}) == pytest.approx([0.301 / 1.001, 0.7 / 1.001])
    with pytest.raises(OptimizeError, match="summing to 1; got sum 1.2"):
        constraints.mixture(["a", "b"], {"a": 0.5, "b": 0.7})


def test_projection_where_the_start_already_fills_a_domain_to_its_bound():
    """``c = 1 / sum y`` puts the one open domain exactly at its upper bound (the search's first point is the
    root, with no unclipped domain to take a Newton step on): the projection is that vertex."""
    with float64():
        ours = np.asarray(project(jnp.array([8.66203269, 0.0]), jnp.array([0.25, 0.0]), jnp.array([1.0, 0.0])))
    assert ours.tolist() == [1.0, 0.0]
