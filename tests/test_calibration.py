"""Calibration by simulation with known truth (small study; benchmarks/bench_bayes.py runs the larger
one): Chinchilla-law runs drawn from fixed parameters with 2% log-normal noise; NUTS posteriors' 90%
intervals must cover the true parameters, and the 90% predictive intervals the held-out larger runs,
about 90% of the time (binomial bounds stated per assertion)."""

import numpy as np
import polars as pl
import pytest
from scipy import stats

from scalemix import laws, runs
from scalemix.fit import fit_nuts

TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}
NOISE = 0.02
DATASETS = 8


def _simulated(seed: int):
    """5 sizes x 6 token counts below 1e9 params (fitted) and 4 runs at 2-4e9 (held out)."""
    rng = np.random.default_rng(seed)
    small = [(n, d) for n in np.geomspace(5e7, 8e8, 5) for d in np.geomspace(1e9, 1e11, 6)]
    large = [(n, 20 * n) for n in (2e9, 3e9, 4e9, 4e9)]
    rows = []
    for k, (n, d) in enumerate(small + large):
        loss = TRUTH["E"] + TRUTH["A"] / n ** TRUTH["alpha"] + TRUTH["B"] / d ** TRUTH["beta"]
        rows.append({"run_id": f"r{k}", "params": n, "tokens": d, "target": "sim", "loss": loss * np.exp(NOISE * rng.standard_normal())})
    table = runs.read(pl.DataFrame(rows))
    return table.select(where=pl.col("params") < 1e9), table.select(where=pl.col("params") >= 1e9)


@pytest.fixture(scope="module")
def study():
    law = laws.get("chinchilla")
    covered, predicted = [], []
    for seed in range(DATASETS):
        fitted, held_out = _simulated(seed)
        fit = fit_nuts(fitted, law, chains=2, draws=150, warmup=150, likelihood="normal", seed=seed)
        for name in ("E", "alpha", "beta"):
            lo, hi = np.quantile(fit.draws[name][:, 0], [0.05, 0.95])
            covered.append(lo <= TRUTH[name] <= hi)
        pred = fit.predict(held_out.frame.select("params", "tokens", "target", "loss"), levels=(0.9,))
        predicted.extend(((pred["loss"] >= pred["pred_lo90"]) & (pred["loss"] <= pred["pred_hi90"])).to_list())
    return np.array(covered), np.array(predicted)


def _two_sided_bounds(n: int, p: float, alpha: float = 0.01):
    return stats.binom.ppf(alpha / 2, n, p), stats.binom.ppf(1 - alpha / 2, n, p)


def test_parameter_intervals_cover_the_truth(study):
    covered, _ = study
    lo, hi = _two_sided_bounds(covered.size, 0.9)  # 24 trials (not independent across params: loose)
    assert lo <= covered.sum() <= hi


def test_predictive_intervals_cover_held_out_larger_runs(study):
    _, predicted = study
    lo, hi = _two_sided_bounds(predicted.size, 0.9)
    assert lo <= predicted.sum() <= hi
