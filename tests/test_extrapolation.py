"""Distances beyond a fitted range and the discrepancy's scale, against hand computation; interval score
and CRPS against closed forms."""

import math

import numpy as np
import polars as pl
import pytest
from scipy import stats

from scalemix.evaluate import crps, interval_score
from scalemix.extrapolation import Discrepancy, FittedRange


def test_distances_are_decades_outside_the_range_and_total_variation_to_the_nearest_mixture():
    fitted = pl.DataFrame({"params": [1e8, 1e9], "tokens": [1e10, 1e10], "w.a": [1.0, 0.5], "w.b": [0.0, 0.5]})
    fitted_range = FittedRange.of(fitted, ["a", "b"])
    query = pl.DataFrame({"params": [5e8, 1e11, 1e7], "tokens": [1e10, 1e10, 1e12], "w.a": [1.0, 0.0, 0.75], "w.b": [0.0, 1.0, 0.25]})
    d = fitted_range.distances(query)
    np.testing.assert_allclose(d["beyond_params"], [0.0, 2.0, 1.0])
    np.testing.assert_allclose(d["beyond_tokens"], [0.0, 0.0, 2.0])
    compute_low, compute_high = math.log10(6e18), math.log10(6e19)
    expected = [0.0, math.log10(6e21) - compute_high, max(0.0, math.log10(6e19) - compute_high)]
    np.testing.assert_allclose(d["beyond_compute"], expected, atol=1e-12)
    assert compute_low < math.log10(6e19) <= compute_high
    np.testing.assert_allclose(d["mixture_distance"], [0.0, 0.5, 0.25])


def test_a_fitted_range_survives_its_json_form():
    fitted_range = FittedRange.of(pl.DataFrame({"params": [1e8, 3e8], "tokens": [2e9, 2e9], "w.x": [1.0, 1.0]}), ["x"])
    again = FittedRange.from_dict(fitted_range.to_dict())
    query = pl.DataFrame({"params": [1e10], "tokens": [1e9], "w.x": [1.0]})
    expected = fitted_range.distances(query)
    assert {k: float(v[0]) for k, v in again.distances(query).items()} == pytest.approx({k: float(v[0]) for k, v in expected.items()})
    assert expected["beyond_params"][0] == pytest.approx(math.log10(1e10 / 3e8))


def test_the_discrepancy_makes_up_what_noise_and_draws_leave_of_its_scale():
    discrepancy = Discrepancy(axis="compute", rate=0.02, noise_factor=1.5, df=4.0, evidence=1.0, cuts=5, residuals=100)
    sigma, var_draws = 0.01, 0.0001
    total = math.hypot(1.5 * sigma, 0.02 * 2.0)
    assert discrepancy.scale(2.0, sigma) == pytest.approx(total)
    assert discrepancy.extra_scale(2.0, sigma, var_draws) == pytest.approx(math.sqrt(total**2 - sigma**2 - var_draws))
    assert discrepancy.extra_scale(0.0, sigma, 1.0) == 0.0  # draws already wider than the whole scale
    assert Discrepancy.from_dict(discrepancy.to_dict()) == discrepancy


def test_interval_score_by_hand():
    # y = 0 inside [-1, 1]; y = 3 above [0, 1] by 2; level 0.8, a = 0.2: penalty 2 / 0.2 * miss
    assert interval_score([0.0, 3.0], [-1.0, 0.0], [1.0, 1.0], 0.8) == pytest.approx(((2.0) + (1.0 + 10.0 * 2.0)) / 2)


def test_crps_from_dense_quantiles_matches_the_gaussian_closed_form():
    mu, sd, y = 0.3, 0.5, np.array([0.0, 1.2])
    probabilities = np.linspace(0.0005, 0.9995, 1999)
    quantiles = stats.norm.ppf(probabilities[:, None], mu, sd) * np.ones((1, y.size))
    z = (y - mu) / sd
    closed = sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))  # Gneiting & Raftery eq. 5
    assert crps(y, quantiles, probabilities) == pytest.approx(closed.mean(), rel=2e-3)


def test_unconverged_backtest_fits_are_warned_about():
    from scalemix import diagnostics

    clean = Discrepancy(axis="compute", rate=0.01, noise_factor=1.0, df=4.0, evidence=1.0, cuts=5, residuals=50)
    assert diagnostics.backtest_warnings(clean) == [] and diagnostics.backtest_warnings(None) == []
    (warning,) = diagnostics.backtest_warnings(Discrepancy(**{**clean.to_dict(), "unconverged_cuts": 2}))
    assert warning.startswith("2 of 5 backtest fits")
