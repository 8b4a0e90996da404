"""The extrapolation term learned by a backtest inside the fitted runs: small where the law is right
(simulation with known truth), and on real Chinchilla runs (fit N < 2e9, predict the larger ones) it
lifts the coverage of predictive intervals from today's to near nominal."""

import dataclasses

import numpy as np
import polars as pl
import pytest

from scalemix import intervals, laws, runs
from scalemix.fit import discrepancy, fit
from scalemix.extrapolation import Discrepancy
from scalemix.fitresult import Fit

TRUTH = {"E": 1.8172, "A": 477.8, "B": 2143.4, "alpha": 0.3473, "beta": 0.3672}  # Epoch's Chinchilla fit


@pytest.fixture(scope="module")
def chinchilla_split():
    table = runs.read("chinchilla")
    return table.select(where=pl.col("params") < 2e9), table.select(where=pl.col("params") >= 2e9)


@pytest.fixture(scope="module")
def small_fit(chinchilla_split):
    return fit(chinchilla_split[0], "chinchilla")


def _coverage(fitted, test, level, **options):
    predicted = fitted.predict(test.frame, levels=(level,), **options)
    low, high = intervals.bounds(predicted, level, predictive=True)
    return float(((low <= predicted["loss"]) & (predicted["loss"] <= high)).mean())


def test_on_real_runs_the_term_lifts_coverage_of_the_larger_runs(small_fit, chinchilla_split):
    test = chinchilla_split[1]
    learned = small_fit.discrepancy
    assert learned.axis == "compute" and learned.cuts == 5 and learned.rate > 0
    assert "backtest cut(s) along compute" in small_fit.diagnostics["extrapolation"]
    # measured: 0.29/0.37/0.56 without the term and 0.37/0.69/0.88 with it (a point fit: noise only)
    assert _coverage(small_fit, test, 0.95, extrapolation=False) < 0.6
    assert _coverage(small_fit, test, 0.95) > 0.8
    assert _coverage(small_fit, test, 0.8) > 0.6


def test_predictions_say_how_far_beyond_the_fitted_range_they_lie(small_fit):
    predicted = small_fit.predict({"params": [1e9, 1.79e10], "tokens": [2e10, 3.6e11]})
    assert predicted["beyond_params"].to_list() == pytest.approx([0.0, np.log10(1.79e10 / 1.79e9)], abs=0.01)
    assert predicted["beyond_compute"][0] == 0.0 and predicted["beyond_compute"][1] > 1.0
    without = small_fit.predict({"params": [1.79e10], "tokens": [3.6e11]}, extrapolation=False)
    bare = dataclasses.replace(small_fit, discrepancy=None).predict({"params": [1.79e10], "tokens": [3.6e11]})
    assert without["pred_hi90"][0] == bare["pred_hi90"][0]  # today's interval, exactly
    assert predicted["pred_hi90"][1] > without["pred_hi90"][0]


def test_the_term_survives_save_and_load(small_fit, tmp_path):
    again = Fit.load(small_fit.save(tmp_path / "fit"))
    assert again.discrepancy == small_fit.discrepancy
    query = {"params": [3e10], "tokens": [6e11]}
    assert again.predict(query)["pred_lo90"][0] == small_fit.predict(query)["pred_lo90"][0]


def test_where_the_law_is_right_the_term_stays_small():
    grid = runs.read("chinchilla").frame.filter(pl.col("params") < 2e9)
    n, d = grid["params"].to_numpy(), grid["tokens"].to_numpy()
    loss = (TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"])
    loss = loss * np.exp(0.015 * np.random.default_rng(0).standard_normal(n.size))
    table = runs.read(pl.DataFrame({"run_id": [f"s{i}" for i in range(n.size)], "params": n, "tokens": d, "loss": loss}), target="sim")
    learned, _ = discrepancy.learn(table, laws.get("chinchilla"))
    assert learned.rate * 1.0 < 0.015  # one decade out the term adds less than the noise
    assert 0.7 < learned.noise_factor < 1.4


def test_laws_without_a_scale_and_tables_without_spread_learn_nothing():
    table = runs.read("regmix-1m-train").select(targets="pile_cc")
    learned, reason = discrepancy.learn(table, laws.get("mixing"))
    assert learned is None and "neither params nor tokens" in reason
    learned, reason = discrepancy.learn(table, laws.get("mixture-additive"))
    assert learned is None and "1 distinct compute value" in reason


def test_the_term_records_its_backtest_coverage_by_distance(chinchilla_split):
    """Each bin's coverage is the share of backtest residuals inside the term's central Student-t
    intervals, recomputed here with scipy from the backtest rows."""
    from scipy import stats

    from scalemix.extrapolation import distance_bins

    law = laws.get("chinchilla")
    scored, _ = discrepancy.backtest(chinchilla_split[0], law)
    learned = discrepancy.from_scores(scored, "compute")
    assert sum(row["rows"] for row in learned.coverage) == scored.height
    distance = scored["distance"].to_numpy()
    index, labels = distance_bins(distance)
    for row in learned.coverage:
        inside = index == labels.index(row["distance"])
        scale = learned.scale(distance[inside], scored["sigma"].to_numpy()[inside])
        low, high = stats.t.interval(0.8, learned.df, loc=0.0, scale=scale)
        r = scored["residual"].to_numpy()[inside]
        assert row["coverage80"] == pytest.approx(np.mean((low <= r) & (r <= high)))
    assert Discrepancy.from_dict(learned.to_dict()) == learned
