"""fit/bayes.py: NUTS and SVI fits checked against published values, scipy on the same densities,
hand-built chains with a known answer, and calibration by simulation with known truth.

The NUTS fit of the Chinchilla law (2 chains x 300 draws) is the session's ``nuts`` fixture (conftest),
shared with test_fitresult, test_compare and test_derived.

Calibration (small study; benchmarks/bench_bayes.py runs the larger one): Chinchilla-law runs drawn from
fixed parameters with 2% log-normal noise; NUTS posteriors' 90% intervals must cover the true parameters,
and the 90% predictive intervals the held-out larger runs, about 90% of the time (binomial bounds stated
per assertion)."""

import warnings

import numpy as np
import polars as pl
import pytest
from scipy import stats

from scalemix import laws, runs
from scalemix.diagnostics import PARETO_K_LIMIT
from scalemix.fit import bayes, fit_nuts, fit_point, fit_svi
from scalemix.fitresult import Fit

EPOCH_ALPHA, EPOCH_ALPHA_95 = 0.3478, (0.317, 0.373)
EPOCH_E_95, EPOCH_BETA_95 = (1.769, 1.871), (0.331, 0.415)


def _interval(fit, name, level=0.95):
    tail = (1 - level) / 2
    return np.quantile(fit.draws[name][:, 0], [tail, 1 - tail])


def test_alpha_interval_contains_epoch_and_is_as_wide_as_their_bootstrap(nuts):
    lo, hi = _interval(nuts, "alpha")
    assert lo < EPOCH_ALPHA < hi
    epoch_width = EPOCH_ALPHA_95[1] - EPOCH_ALPHA_95[0]
    assert 0.5 * epoch_width < hi - lo < 2.0 * epoch_width
    for name, (epoch_lo, epoch_hi) in (("E", EPOCH_E_95), ("beta", EPOCH_BETA_95)):
        lo, hi = _interval(nuts, name)
        assert lo < (epoch_lo + epoch_hi) / 2 < hi, name


def test_diagnostics_in_summary_and_converged(nuts):
    summary = nuts.summary()
    assert {"rhat", "ess_bulk", "ess_tail"} <= set(summary.columns)
    assert summary["rhat"].max() < 1.05  # short chains: the benchmark checks 1.01 at 4 x 1000
    assert summary["ess_bulk"].min() > 100
    assert nuts.diagnostics["divergences"] == 0
    assert nuts.n_draws == 600 and nuts.noise.shape == (600, 1) and nuts.noise_df == bayes.STUDENT_DF
    shape = nuts.to_dict()
    assert set(shape["params"]["alpha[massivetext]"]) >= {"rhat", "ess_bulk", "ess_tail", "warning"}
    flagged = (pl.min_horizontal("ess_bulk", "ess_tail") < 200) | (pl.col("rhat") > 1.01)  # ESS: 100 per chain
    assert summary["warning"].is_not_null().to_list() == summary.select(flagged.alias("flagged"))["flagged"].to_list()
    assert "divergences" in shape["diagnostics"]


def test_disagreeing_chains_raise_an_rhat_warning(nuts):
    """Two chains shifted apart by 3 posterior sd have R-hat far above 1.01 (Gelman-Rubin)."""
    idata = nuts.inference_data.copy()
    alpha = idata.posterior["alpha"].values.copy()
    alpha[1] += 3 * alpha.std()
    idata.posterior["alpha"].values[:] = alpha
    spec = bayes._spec(nuts.law, nuts.coords, "student", False)
    diagnostics = bayes._mcmc_diagnostics(spec, idata, chains=2)
    assert diagnostics["max_rhat"] > 1.5
    assert any("R-hat" in w and "alpha" in w for w in diagnostics["warnings"])
    warning = {row["parameter"]: row["warning"] for row in diagnostics["per_parameter"]}
    assert warning["alpha[massivetext]"].startswith("R-hat ") and "> 1.01" in warning["alpha[massivetext]"]
    assert all("R-hat" not in (w or "") for name, w in warning.items() if name != "alpha[massivetext]")


def test_log_likelihood_is_the_student_t_density(nuts, chinchilla_table):
    """The pointwise log-likelihood ArviZ reads for LOO equals scipy's Student-t log density."""
    frame, log_loss = nuts.log_loss_draws(chinchilla_table.frame.select("params", "tokens", "target"))
    observed = np.log(chinchilla_table.frame["loss"].to_numpy())
    for s in (0, 457):
        chain, draw = divmod(s, 300)
        expected = stats.t.logpdf(observed, bayes.STUDENT_DF, log_loss[s], nuts.noise[s, 0])
        stored = nuts.inference_data.log_likelihood["log_loss"].values[chain, draw]
        np.testing.assert_allclose(stored, expected, rtol=1e-10)


def test_predictive_interval_covers_the_runs(nuts, chinchilla_table):
    pred = nuts.predict(chinchilla_table.frame.select("params", "tokens", "target", "loss"), levels=(0.9,))
    inside = ((pred["loss"] >= pred["pred_lo90"]) & (pred["loss"] <= pred["pred_hi90"])).mean()
    assert 0.8 <= inside <= 0.98  # 240 runs, 90% nominal, Student-t tails
    assert ((pred["pred_hi90"] - pred["pred_lo90"]) > (pred["hi90"] - pred["lo90"])).all()


def test_svi_agrees_with_nuts(nuts, chinchilla_table, chinchilla_fit):
    svi = fit_svi(chinchilla_table, laws.get("chinchilla"), steps=1500, draws=1000, seed=0, init=chinchilla_fit)
    for name in ("alpha", "beta", "E"):
        a, b = nuts.draws[name][:, 0], svi.draws[name][:, 0]
        assert abs(np.median(a) - np.median(b)) < 0.5 * a.std(), name
        assert 0.5 < b.std() / a.std() < 2.0, name
    assert svi.diagnostics["pareto_k"] < PARETO_K_LIMIT and svi.diagnostics["warnings"] == []


def test_svi_that_misses_the_posterior_says_so(chinchilla_table):
    """From the prior medians, without the point fit's whitening, 300 steps leave the guide far from
    Chinchilla's ridge-shaped posterior: its importance weights have a Pareto k far above 0.7 (measured
    4.1 after 1,500 steps), and the fit warns."""
    with pytest.warns(UserWarning, match=r"SVI approximation is unreliable \(Pareto k"):
        svi = fit_svi(chinchilla_table, laws.get("chinchilla"), steps=300, draws=100, seed=0, init="prior")
    assert svi.diagnostics["pareto_k"] > 1.0


def _shared_exponent_runs(targets=8, alpha=0.3, seed=0):
    """``targets`` targets of the power law sharing ``alpha``, 4 sizes each, 2% log-normal noise."""
    rng = np.random.default_rng(seed)
    beta, floor = 30 * np.exp(0.1 * rng.standard_normal(targets)), rng.uniform(1.0, 2.0, targets)
    rows = [{"run_id": f"t{t}-{n:.0e}", "params": n, "tokens": 20 * n, "target": f"t{t}",
             "loss": (beta[t] * n ** -alpha + floor[t]) * np.exp(0.02 * rng.standard_normal())}
            for t in range(targets) for n in np.geomspace(1e7, 1e9, 4)]
    return runs.read(pl.DataFrame(rows))


def test_partial_pooling_sharpens_a_shared_exponent():
    """8 targets with 4 runs each and one true alpha = 0.3: pooling narrows alpha's 90% intervals to under
    60% of the unpooled width and shrinks the per-target medians toward each other (their spread to under
    a third), still covering the truth. (Whether the pooled medians land nearer 0.3 than the unpooled ones
    depends on the simulated table: with 4 runs, alpha trades off against beta and Linf.)"""
    table, law, alpha = _shared_exponent_runs(), laws.get("power"), 0.3
    point = fit_point(table, law)
    spreads, widths = {}, {}
    for hierarchical in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short chains; convergence is checked elsewhere
            fit = fit_nuts(table, law, chains=2, draws=300, warmup=300, hierarchical=hierarchical, init=point, seed=0)
        lo, hi = np.quantile(fit.draws["alpha"], [0.05, 0.95], axis=0)
        spreads[hierarchical] = np.median(fit.draws["alpha"], axis=0).std()
        widths[hierarchical] = (hi - lo).mean()
        assert ((lo <= alpha) & (alpha <= hi)).sum() >= 6, hierarchical
    assert widths[True] < 0.6 * widths[False]
    assert spreads[True] < spreads[False] / 3


# -- calibration by simulation with known truth ----------------------------------------------------

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


# -- command line ---------------------------------------------------------------------------------


def test_cli_fit_nuts_then_predict_and_evaluate(nuts, tmp_path, capsys):
    """`scalemix fit --method nuts --json`: per-parameter R-hat/ESS and divergences in clean JSON on stdout;
    predict and evaluate read the Bayesian fit back and agree with the Python API."""
    import json

    from typer.testing import CliRunner

    from scalemix.cli import app

    out = tmp_path / "nuts"
    runner = CliRunner()
    result = runner.invoke(app, ["fit", "chinchilla", "--law", "chinchilla", "--method", "nuts", "--chains", "2",
                                 "--draws", "300", "--warmup", "300", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    alpha = shown["params"]["alpha[massivetext]"]
    assert alpha["q025"] < EPOCH_ALPHA < alpha["q975"] and alpha["rhat"] < 1.05 and alpha["ess_bulk"] > 100
    assert shown["diagnostics"]["divergences"] == 0 and shown["method"] == "nuts"

    result = runner.invoke(app, ["predict", str(out), "--at", "params=1e11,tokens=2e12", "--json"])
    assert result.exit_code == 0, result.output
    predicted = json.loads(result.stdout)[0]
    expected = Fit.load(out).predict(pl.DataFrame({"params": [1e11], "tokens": [2e12]}))
    assert predicted["median"] == pytest.approx(expected["median"][0], rel=1e-9)
    assert predicted["pred_lo90"] < predicted["lo90"] < predicted["median"] < predicted["hi90"] < predicted["pred_hi90"]

    result = runner.invoke(app, ["evaluate", str(out), "--on", "chinchilla", "--json"])
    assert result.exit_code == 0, result.output
    assert "coverage" in result.stdout
