"""optimize/objective.py: the worst-case and ceiling objectives reach their closed forms; the reduction of
per-target losses by hand; an unknown objective is named."""

import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest

from _support import mixing_fit
from scalemix import laws
from scalemix.design import Scale
from scalemix._x64 import float64
from scalemix.errors import OptimizeError
from scalemix.optimize import objective, optimize


def test_worst_case_and_ceiling_objectives_reach_closed_forms():
    # L_y0 = 1 + exp(-2 w_a), L_y1 = 1 + exp(-3 w_b).
    fit = mixing_fit([[-2.0, 0.0], [0.0, -3.0]])
    worst = optimize(fit, objective="max")
    assert worst.expected[0] == pytest.approx(0.6, abs=1e-3)  # -2 w_a = -3 (1 - w_a)
    ceiling = optimize(fit, objective="y0", ceilings={"y1": 1.0 + np.exp(-0.9)})
    assert ceiling.expected[1] == pytest.approx(0.3, abs=1e-3)  # the ceiling binds: 3 w_b = 0.9
    assert ceiling.predicted.filter(pl.col("target") == "y1")["mean"][0] == pytest.approx(1 + np.exp(-0.9), abs=1e-3)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"objective": "nope"}, ["'nope'", "y0"]),
    ],
)
def test_clear_errors_name_what_is_wrong(options, words):
    with pytest.raises(OptimizeError) as error:
        optimize(mixing_fit([[-1.0, 0.0]]), **options)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_build_value_and_violation_by_hand():
    kind, chosen = objective.build(["y0", "y1", "y2"], "mean", target_weights={"y0": 1.0, "y2": 3.0}, ceilings={"y1": 2.0})
    assert kind == "mean"
    np.testing.assert_allclose(chosen.weights, [0.25, 0.0, 0.75])
    np.testing.assert_array_equal(chosen.ceilings, [np.inf, 2.0, np.inf])
    loss = np.array([1.0, 2.5, 3.0])
    with float64():
        assert float(objective.value("mean", chosen, jnp.asarray(loss))) == pytest.approx(0.25 * 1.0 + 0.75 * 3.0)
        assert float(objective.value("max", chosen, jnp.asarray([1.0, 9.0, 3.0]))) == 3.0  # y1 has weight 0
        np.testing.assert_allclose(np.asarray(objective.violation(chosen, jnp.asarray(loss))), [0.0, 0.5, 0.0])
    kind, one = objective.build(["y0", "y1"], "y1")
    assert kind == "mean" and one.weights.tolist() == [0.0, 1.0]


def test_losses_are_the_mixing_law_at_the_mixture():
    """L_t = c_t + k_t exp(t_t . w) (Ye et al. 2024) for every target at one mixture."""
    t = np.array([[-2.0, 0.5], [1.0, -1.0]])
    theta = {"c": np.array([1.0, 1.5]), "k": np.array([2.0, 0.5]), "t": t}
    w = np.array([0.3, 0.7])
    with float64():
        got = objective.losses(laws.get("mixing"), {k: jnp.asarray(v) for k, v in theta.items()}, jnp.asarray(w),
                               Scale(1.0, 1.0), jnp.array([-1, -1]))
    np.testing.assert_allclose(np.asarray(got), theta["c"] + theta["k"] * np.exp(t @ w), rtol=1e-12)
