"""report/curves.py: the fitted curves and residuals the report draws, against the law in closed form, and
the mixtures their queries are at (every query is a mixture summing to 1)."""

import numpy as np
import pytest

from scalemix.report import curves


def test_curves_are_the_law_in_closed_form(chinchilla_fit, chinchilla_table):
    (curve,) = curves.curves(chinchilla_fit, chinchilla_table, ["massivetext"])
    theta = {k: v[0, 0] for k, v in chinchilla_fit.draws.items()}
    ratio = float(np.median(chinchilla_table.frame["tokens"] / chinchilla_table.frame["params"]))
    n = curve.params
    expected = theta["E"] + theta["A"] / n ** theta["alpha"] + theta["B"] / (ratio * n) ** theta["beta"]
    np.testing.assert_allclose(curve.median, expected, rtol=1e-10)
    assert curve.bands == {}  # one draw: no bands


def test_residuals_are_log_loss_minus_the_law_in_closed_form(chinchilla_fit, chinchilla_table):
    table = curves.residuals(chinchilla_fit, chinchilla_table)
    theta = {k: v[0, 0] for k, v in chinchilla_fit.draws.items()}
    frame = chinchilla_table.frame
    n, d = frame["params"].to_numpy(), frame["tokens"].to_numpy()
    law = theta["E"] + theta["A"] / n ** theta["alpha"] + theta["B"] / d ** theta["beta"]
    assert table.columns == ["target", "params", "loss", "median", "residual"] and table.height == 240
    np.testing.assert_allclose(table["median"], law, rtol=1e-10)
    np.testing.assert_allclose(table["residual"], np.log(frame["loss"].to_numpy() / law), rtol=1e-8, atol=1e-12)


def test_a_curve_at_an_own_weight_is_queried_at_a_whole_mixture():
    """The other domains share 1 - p as they share the rest of the average mixture (evenly if they hold none)."""
    mixture = curves.with_own_weight({"w.a": 0.2, "w.b": 0.3, "w.c": 0.5}, "w.a", 0.6)
    assert mixture == pytest.approx({"w.a": 0.6, "w.b": 0.15, "w.c": 0.25})
    assert curves.with_own_weight({"w.a": 1.0, "w.b": 0.0, "w.c": 0.0}, "w.a", 0.3) == pytest.approx(
        {"w.a": 0.3, "w.b": 0.35, "w.c": 0.35})
