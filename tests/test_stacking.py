"""Stacking (fit/stacking.py, stack.py): the weights against an independent optimiser, the mixture's
intervals against the closed form of a two-point mixture, and on runs simulated from one of two laws."""

import numpy as np
import polars as pl
import pytest
from scipy import optimize

from _support import make_fit
from scalemix import runs
from scalemix.errors import FitError
from scalemix.fit import fit, stacking
from scalemix.stack import Stack, load

KAPLAN_TRUTH = {"E": 1.5, "A": 3e9, "B": 2e10, "gamma": 0.8, "beta": 0.3}


def test_weights_maximise_the_mixture_log_score_as_scipy_finds():
    rng = np.random.default_rng(0)
    log_density = rng.normal(size=(200, 3)) + np.array([0.0, 0.3, -0.2])
    c = rng.uniform(0.5, 2.0, size=200)
    w = stacking.weights(log_density, c)

    def negative(z):  # the same objective over the simplex, by softmax, solved by scipy
        v = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        return -stacking.log_score(log_density, v, c)

    z = optimize.minimize(negative, np.zeros(3), method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000}).x
    expected = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    np.testing.assert_allclose(w, expected, atol=1e-4)
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)


def test_weights_of_two_laws_solve_the_score_equation():
    rng = np.random.default_rng(1)
    p = np.exp(rng.normal(size=(300, 2)))
    w = stacking.weights(np.log(p))
    # d/dw sum log(w p1 + (1 - w) p2) = 0 at the interior optimum (Brent's root of the score)
    root = optimize.brentq(lambda v: np.sum((p[:, 0] - p[:, 1]) / (v * p[:, 0] + (1 - v) * p[:, 1])), 1e-9, 1 - 1e-9)
    assert w[0] == pytest.approx(root, abs=1e-6)


def _two_point_fits():
    low = make_fit("power", {"beta": [[10.0]], "alpha": [[0.3]], "Linf": [[1.0]]}, ["x"], [])
    high = make_fit("power", {"beta": [[20.0]], "alpha": [[0.3]], "Linf": [[1.0]]}, ["x"], [])
    return low, high


def test_the_credible_interval_of_a_two_point_mixture_spans_both_laws():
    low, high = _two_point_fits()
    query = {"params": [1e6]}
    a, b = (float(f.predict(query)["mean"][0]) for f in (low, high))
    mixed = Stack(fits=(low, high), weights=[0.5, 0.5]).predict(query, levels=(0.9,))
    assert mixed["lo90"][0] == pytest.approx(a) and mixed["hi90"][0] == pytest.approx(b)
    assert mixed["mean"][0] == pytest.approx((a + b) / 2)
    leaning = Stack(fits=(low, high), weights=[0.9, 0.1]).predict(query, levels=(0.5,))
    assert leaning["median"][0] == pytest.approx(a)  # 90% of the mass on the first law


def test_a_stack_refuses_fits_of_different_targets():
    low, _ = _two_point_fits()
    other = make_fit("power", {"beta": [[20.0]], "alpha": [[0.3]], "Linf": [[1.0]]}, ["y"], [])
    with pytest.raises(FitError, match="same targets"):
        Stack(fits=(low, other), weights=[0.5, 0.5])


@pytest.fixture(scope="module")
def kaplan_runs():
    """Runs from the kaplan law (known truth, 1% noise) on a grid of sizes and token budgets."""
    rng = np.random.default_rng(3)
    rows = []
    for k, n in enumerate(np.geomspace(1e7, 3e9, 8)):
        for j, ratio in enumerate((5.0, 10.0, 20.0, 40.0, 80.0)):
            d = n * ratio
            t = KAPLAN_TRUTH
            loss = t["E"] + ((t["A"] / n) ** t["gamma"] + t["B"] / d) ** t["beta"]
            rows.append({"run_id": f"r{k}{j}", "params": n, "tokens": d, "loss": loss * np.exp(0.01 * rng.standard_normal())})
    return runs.read(pl.DataFrame(rows), target="sim")


@pytest.fixture(scope="module")
def kaplan_stack(kaplan_runs):
    return fit(kaplan_runs, ["chinchilla", "kaplan"])


def test_stacking_weighs_the_law_that_made_the_runs(kaplan_stack):
    weights = dict(zip(kaplan_stack.laws, kaplan_stack.weights))
    assert weights["kaplan"] > 0.8, kaplan_stack.summary()
    scores = kaplan_stack.diagnostics["log_score"]
    assert kaplan_stack.diagnostics["stack_log_score"] >= max(scores.values()) - 1e-9


def test_a_saved_stack_predicts_the_same_numbers(kaplan_stack, tmp_path):
    query = {"params": [1e10, 3e10], "tokens": [2e11, 1e12]}
    before = kaplan_stack.predict(query)
    again = load(kaplan_stack.save(tmp_path / "stack"))
    assert isinstance(again, Stack) and again.laws == kaplan_stack.laws
    assert again.predict(query).equals(before)
    assert before["beyond_compute"].min() > 0


def test_stacking_refuses_one_law_and_no_backtest(kaplan_runs):
    with pytest.raises(FitError, match="two or more laws"):
        fit(kaplan_runs, ["chinchilla"])
    with pytest.raises(FitError, match="extrapolation off"):
        fit(kaplan_runs, ["chinchilla", "kaplan"], extrapolation=False)


def test_cli_fits_saves_and_predicts_a_stack(kaplan_runs, tmp_path, capsys):
    import json

    from scalemix.cli import main

    source = tmp_path / "runs.csv"
    kaplan_runs.frame.write_csv(source)
    def run(argv):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 0
        return json.loads(capsys.readouterr().out)

    printed = run(["fit", str(source), "--law", "chinchilla,kaplan", "--out", str(tmp_path / "stack"), "--json"])
    assert printed["stack"] == ["chinchilla", "kaplan"] and sum(printed["weights"]) == pytest.approx(1.0)
    rows = run(["predict", str(tmp_path / "stack"), "--at", "params=1e10,tokens=2e11", "--json"])
    assert len(rows) == 1 and rows[0]["pred_lo90"] < rows[0]["median"] < rows[0]["pred_hi90"]


@pytest.mark.parametrize("argv, named", [
    (["fit", "chinchilla", "--law", "chinchilla,", "--out", "{tmp}/x"], "--law"),
    (["fit", "chinchilla", "--law", "chinchilla,chinchilla", "--out", "{tmp}/x"], "distinct"),
    (["fit", "chinchilla", "--law", "chinchilla,kaplan", "--law-option", "f=power", "--out", "{tmp}/x"], "--law-option"),
], ids=["empty-name", "repeated-law", "law-option-on-a-stack"])
def test_cli_refuses_malformed_stacks(argv, named, tmp_path, capsys):
    from _support import refused

    refused(capsys, [a.replace("{tmp}", str(tmp_path)) for a in argv], named)


def test_commands_that_need_one_law_say_a_stack_is_not_one(kaplan_stack, tmp_path, capsys):
    from _support import refused

    folder = kaplan_stack.save(tmp_path / "stack")
    refused(capsys, ["optimize", folder, "--params", "1e9", "--tokens", "1e10"], str(folder), "stack of laws")
