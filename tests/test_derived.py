"""derived.py: compute-optimal N* against scipy's minimum on 6 N D = C, and the effective-parameter
fraction f(p) of Fernandes et al. 2023 (eq. 6) in closed form over draws."""

import numpy as np
import polars as pl
import pytest
from scipy import optimize

from scalemix import derived, laws
from scalemix.fitresult import Fit


def test_compute_optimal_matches_a_numerical_minimum(chinchilla_fit):
    """N* from the closed form equals scipy's minimum of A N^-alpha + B D^-beta on 6 N D = C."""
    flops = 5.76e23
    table = derived.compute_optimal(chinchilla_fit, [flops]).filter(pl.col("quantity") == "params")
    theta = {k: float(v[0, 0]) for k, v in chinchilla_fit.draws.items()}

    def loss(log_n):
        n = np.exp(log_n)
        return theta["A"] * n ** -theta["alpha"] + theta["B"] * (flops / (6 * n)) ** -theta["beta"]

    best = optimize.minimize_scalar(loss, bounds=(np.log(1e8), np.log(1e13)), method="bounded", options={"xatol": 1e-10})
    assert table["median"][0] == pytest.approx(np.exp(best.x), rel=1e-4)


def test_compute_optimal_intervals_over_draws(nuts):
    table = derived.compute_optimal(nuts, [1e21, 1e24], levels=(0.9,))
    assert table.height == 6
    assert (table["lo90"] < table["median"]).all() and (table["median"] < table["hi90"]).all()


def test_effective_fraction_closed_form():
    """f(p) = p + c1 p^c2 (1-p)^c3 on known draws (Fernandes et al. 2023, eq. 6)."""
    rng = np.random.default_rng(0)
    draws = {name: rng.uniform(0.2, 1.5, (50, 2)) for name in ("beta", "alpha", "Linf", "c1", "c2", "c3")}
    fit = Fit(law=laws.get("multilingual"), coords={"target": ("de", "fr"), "domain": ("de", "fr")}, draws=draws,
              method="bootstrap", noise=np.full((50, 2), 0.01))
    p = 0.3
    expected = p + draws["c1"] * p ** draws["c2"] * (1 - p) ** draws["c3"]
    table = derived.effective_fraction(fit, [p], levels=(0.9,))
    np.testing.assert_allclose(table["median"], np.median(expected, axis=0), rtol=1e-12)
    np.testing.assert_allclose(table["hi90"], np.quantile(expected, 0.95, axis=0), rtol=1e-12)
    n_eff = derived.effective_params(fit, [1e8], [p])
    np.testing.assert_allclose(n_eff["mean"], 1e8 * expected.mean(axis=0), rtol=1e-12)
