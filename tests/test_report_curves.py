"""report/curves.py: the fitted curves and residuals the report draws, against the law in closed form."""

import numpy as np

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
