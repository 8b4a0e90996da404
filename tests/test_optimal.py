"""optimize/optimal.py: optimal mixtures over a fit's draws against closed forms, scipy on the same
objective and simulated runs; ``scalemix optimize`` reads caps, bounds and a baseline."""

import json

import numpy as np
import polars as pl
import pytest
from scipy.optimize import minimize

import scalemix.fit as smfit
from _support import make_fit, mixing_fit
from scalemix import laws, runs
from scalemix.errors import OptimizeError
from scalemix.optimize import optimize


def _additive_loss(draw, w):
    powered = np.where(w > 0, np.abs(w), 0.0) ** draw["gamma"][0]
    return draw["E"][0] + 1.0 / np.sum(draw["C"][0] * powered) + draw["A"][0] / 1e8 ** draw["alpha"][0] + draw["B"][0] / 1e10 ** draw["beta"][0]


@pytest.fixture(scope="module")
def additive_fit():
    """Shukor et al.'s additive law, common gamma = 0.5: the optimum is h_j proportional to C_j^(1/(1-gamma))."""
    C = np.array([[1.0, 2.0, 0.5, 3.0], [2.0, 1.0, 1.0, 1.0], [0.5, 0.5, 3.0, 1.0]])[:, None, :]
    shape = (3, 1)
    draws = {"E": np.full(shape, 1.8), "A": np.full(shape, 400.0), "B": np.full(shape, 2000.0), "alpha": np.full(shape, 0.34),
             "beta": np.full(shape, 0.37), "C": C, "gamma": np.full(C.shape, 0.5)}
    return make_fit("mixture-additive", draws, ["pile"], list("abcd"))


def test_interior_optima_per_draw_match_closed_form_and_expected_matches_scipy(additive_fit):
    result = optimize(additive_fit, params=1e8, tokens=1e10)
    C = additive_fit.draws["C"][:, 0, :]
    closed = C**2 / (C**2).sum(axis=1, keepdims=True)
    assert result.per_draw == pytest.approx(closed, abs=1e-5)
    draws = [{k: v[s] for k, v in additive_fit.draws.items()} for s in range(3)]
    expected_loss = lambda w: np.mean([_additive_loss(d, w) for d in draws])  # noqa: E731
    ref = minimize(expected_loss, np.full(4, 0.25), method="SLSQP", bounds=[(1e-9, 1)] * 4,
                   constraints={"type": "eq", "fun": lambda w: w.sum() - 1}, options={"ftol": 1e-15, "maxiter": 1000})
    assert result.expected == pytest.approx(ref.x, abs=1e-4)
    assert result.objective == pytest.approx([_additive_loss(d, result.expected) for d in draws], rel=1e-10)
    weights = result.weights()
    assert weights["median"].to_numpy() == pytest.approx(np.median(closed, axis=0), abs=1e-5)


def test_probability_of_beating_the_baseline_over_draws():
    # Draws t_a in {-1, -1, -1, +1}: E[exp(t_a w_a)] is smallest at w_a = ln(3) / 2; three draws of four
    # predict a lower loss there than at the baseline w_a = 0.
    t = np.array([[[x, 0.0]] for x in (-1.0, -1.0, -1.0, 1.0)])
    result = optimize(mixing_fit(t), baseline={"a": 0.0, "b": 1.0})
    assert result.expected[0] == pytest.approx(np.log(3) / 2, abs=1e-4)
    assert result.p_beats_baseline == pytest.approx(0.75, abs=0)
    payload = result.to_dict()
    assert payload["p_beats_baseline"] == 0.75 and set(payload["weights"]["a"]) == {"median", "q05", "q95"}
    assert payload["expected"]["weights"]["a"] == pytest.approx(np.log(3) / 2, abs=1e-4)


def test_a_law_without_the_mixture_is_refused():
    fit = make_fit("chinchilla", {k: np.ones((1, 1)) for k in ("E", "A", "B", "alpha", "beta")}, ["loss"], [])
    fit.coords = {"target": ("loss",)}
    with pytest.raises(OptimizeError, match="does not depend on the mixture"):
        optimize(fit, params=1e9, tokens=1e10)


# -- simulated runs: the posterior of the optimum concentrates on the truth as runs are added ----------

TRUE = {"c": np.array([1.0, 1.2]), "k": np.array([2.0, 1.5]), "t": np.array([[-3.0, 0.5, 0.0], [0.3, -2.5, -0.5]])}


def _simulate(n: int, seed: int):
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(3), n)
    loss = (TRUE["c"] + TRUE["k"] * np.exp(w @ TRUE["t"].T)) * np.exp(0.02 * rng.standard_normal((n, 2)))
    frame = pl.DataFrame({"run_id": np.repeat([f"r{i}" for i in range(n)], 2), "target": ["y0", "y1"] * n,
                          "loss": loss.ravel(), **{f"w.{d}": np.repeat(w[:, k], 2) for k, d in enumerate("abc")}})
    return runs.read(frame, params=1e6, tokens=1e9)


def test_worst_case_optimum_posterior_shrinks_around_the_truth_as_runs_are_added():
    truth = optimize(mixing_fit(TRUE["t"], c=TRUE["c"], k=TRUE["k"]), objective="max").expected
    widths = []
    for n in (16, 128):
        fit = smfit.fit_bootstrap(_simulate(n, seed=0), laws.get("mixing"), n_boot=32, seed=0)
        result = optimize(fit, objective="max")
        low, high = np.quantile(result.per_draw[:, 0], [0.05, 0.95])
        widths.append(high - low)
        assert low - 0.01 <= truth[0] <= high + 0.01
        assert np.all(result.per_draw >= 0) and result.per_draw.sum(axis=1) == pytest.approx(np.ones(32), abs=1e-12)
    assert widths[1] < widths[0] / 2  # 8x the runs: about sqrt(8) = 2.8x narrower


# -- command line ---------------------------------------------------------------------------------


def test_cli_optimize_json_reads_caps_bounds_and_baseline(tmp_path):
    from typer.testing import CliRunner

    from scalemix.cli import app

    saved = mixing_fit([[-2.0, -1.0, -3.0, 0.5, -0.5]]).save(tmp_path / "fit")
    (tmp_path / "caps.toml").write_text("max_epochs = 2\n[available_tokens]\nc = 1.5e8\n")
    result = CliRunner().invoke(app, ["optimize", str(saved), "--tokens", "1e9", "--cap-from", str(tmp_path / "caps.toml"),
                                      "--max", "w.a=0", "--min", "w.d=0.1", "--baseline", "uniform", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert [payload["weights"][d]["median"] for d in "abcde"] == pytest.approx([0.0, 0.6, 0.3, 0.1, 0.0], abs=1e-4)
    uniform_loss = 1 + np.exp(np.mean([-2.0, -1.0, -3.0, 0.5, -0.5]))
    assert payload["p_beats_baseline"] == (payload["predicted"]["y0"]["mean"] < uniform_loss)
    assert payload["predicted"]["y0"]["mean"] == pytest.approx(1 + np.exp(-0.6 - 0.9 + 0.05), rel=1e-6)
