"""Active design (scalemix/active): the Bayes-linear gains against their closed forms, the greedy batch, and
``suggest`` on fits with known draws and on a bootstrap fit of real runs."""

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats

from _support import make_fit, mixing_fit, refused
from scalemix import runs
from scalemix._x64 import float64
from scalemix.active import candidates, generate, suggest
from scalemix.active.gain import ensemble, gains, normal_scores, select
from scalemix.errors import SuggestError
from scalemix.fit import fit
from scalemix.stack import Stack


def _whitened(count, dimension, seed=0):
    """``[count, dimension]`` draws whose sample mean is 0 and sample covariance exactly the identity."""
    z = np.random.default_rng(seed).standard_normal((count, dimension))
    z -= z.mean(axis=0)
    return z @ np.linalg.inv(np.linalg.cholesky(np.cov(z.T)).T)


def _linear_gaussian(seed=0):
    """Draws of theta ~ N(0, P) (exactly), candidates ``f_c = x_c . theta``, one goal ``g = x_g . theta``."""
    rng = np.random.default_rng(seed)
    root = rng.normal(size=(3, 3))
    cov = root @ root.T + np.eye(3)
    theta = _whitened(400, 3, seed) @ np.linalg.cholesky(cov).T
    x = rng.normal(size=(6, 3))
    x_goal = rng.normal(size=3)
    return cov, theta, x, x_goal


def _gains(goal, e, chosen=None, chosen_noise=None, scores=None):
    count = e.candidates.shape[0]
    chosen = np.zeros((count, 1)) if chosen is None else chosen
    chosen_noise = np.ones(chosen.shape[1]) if chosen_noise is None else chosen_noise
    scores = normal_scores(e.candidates.shape[2]) if scores is None else scores
    with float64():
        return [np.asarray(v) for v in gains(goal, e, chosen, chosen_noise, scores)]


def test_variance_reduction_is_the_gaussian_posterior_variance_reduction():
    cov, theta, x, x_goal = _linear_gaussian()
    noise = 0.3
    with float64():
        e = ensemble((theta @ x.T)[:, :, None], (theta @ x_goal)[:, None], np.full((6, 1), noise))
    before, _ = _gains("predict", e)
    exact = (x @ cov @ x_goal) ** 2 / (np.einsum("ci,ij,cj->c", x, cov, x) + noise)
    np.testing.assert_allclose(before, exact, rtol=1e-10)

    # after observing candidate 0, each other candidate's gain is the closed form on the adjusted covariance
    first = 0
    adjusted = cov - np.outer(cov @ x[first], cov @ x[first]) / (x[first] @ cov @ x[first] + noise)
    chosen = np.asarray(e.candidates)[:, [first], 0]
    gain, _ = _gains("predict", e, chosen, np.array([noise]))
    exact = (x @ adjusted @ x_goal) ** 2 / (np.einsum("ci,ij,cj->c", x, adjusted, x) + noise)
    np.testing.assert_allclose(gain, exact, rtol=1e-8, atol=1e-12)
    assert gain[first] < before[first] / 2  # the same run again only averages its noise


def test_information_gain_is_the_mutual_information_of_a_gaussian_observation():
    cov, theta, x, _ = _linear_gaussian(seed=7)
    noise = 0.2
    with float64():
        e = ensemble((theta @ x.T)[:, :, None], np.zeros((theta.shape[0], 0)), np.full((6, 1), noise))
        picked, gain = select("information", e, np.ones(6), 2)
    variance = np.einsum("ci,ij,cj->c", x, cov, x)
    first = int(np.argmax(variance))
    assert picked[0] == first and gain[0] == pytest.approx(0.5 * np.log1p(variance[first] / noise), rel=1e-10)
    adjusted = cov - np.outer(cov @ x[first], cov @ x[first]) / (variance[first] + noise)
    after = np.einsum("ci,ij,cj->c", x, adjusted, x)
    after[first] = -np.inf
    assert picked[1] == int(np.argmax(after)) and gain[1] == pytest.approx(0.5 * np.log1p(after.max() / noise), rel=1e-8)


def test_knowledge_gradient_of_two_decisions_matches_its_closed_form():
    # two decisions with risks mu_d + b_d z after one observation: E[min] = mu2 + D Phi(-D/s) - s phi(D/s)
    rng = np.random.default_rng(1)
    draws = _whitened(500, 3, 1)
    observed = draws[:, [0]] * 0.2  # one candidate
    risks = np.array([1.0, 1.05]) + draws[:, 1:] * np.array([0.02, 0.03]) + observed * np.array([0.5, -0.4])
    noise = 0.01
    with float64():
        e = ensemble(observed[:, :, None], risks, np.full((1, 1), noise))
    gain, _ = _gains("optimum", e)
    cov = np.cov(np.hstack([observed, risks]).T)
    b = cov[0, 1:] / np.sqrt(cov[0, 0] + noise)
    mu = risks.mean(axis=0)
    diff, spread = mu[0] - mu[1], abs(b[0] - b[1])
    expected_min = mu[1] + diff * stats.norm.cdf(-diff / spread) - spread * stats.norm.pdf(diff / spread)
    assert gain[0] == pytest.approx(mu.min() - expected_min, rel=0.02)
    assert gain[0] > 0 and rng is not None


def test_the_greedy_batch_skips_a_run_that_repeats_an_earlier_pick():
    # candidates 0 and 1 predict the same thing (the goal's main driver); 2 sees a weaker, independent part
    draws = _whitened(300, 2, 2)
    goal = draws[:, [0]] * 1.0 + draws[:, [1]] * 0.5
    observed = np.stack([draws[:, 0], draws[:, 0], draws[:, 1]], axis=1)[:, :, None]
    with float64():
        e = ensemble(observed, goal, np.full((3, 1), 0.01))
        picked, gain = select("predict", e, np.ones(3), 2)
    assert picked.tolist() in ([0, 2], [1, 2])
    assert gain[0] == pytest.approx(1.0 / 1.01, rel=1e-8)  # Cov(g, z0)^2 / (Var z0 + noise)
    assert gain[1] == pytest.approx(0.25 / 1.01, rel=1e-8)  # z1 is independent of z0: untouched by the first pick


def test_a_budget_ranks_by_gain_per_cost_and_stops_when_spent():
    draws = _whitened(300, 3, 3)
    goal = draws @ np.array([[1.0], [0.9], [0.8]])
    with float64():
        e = ensemble(draws[:, :, None], goal, np.full((3, 1), 0.01))
        picked, _ = select("predict", e, np.array([10.0, 1.0, 1.0]), 3, budget=2.5)
    assert picked.tolist() == [1, 2]  # candidate 0 tells most but costs 10x: out of budget after the two


@pytest.fixture(scope="module")
def mixing_draws():
    """A two-target mixing law over 3 domains, 200 draws of t around a known centre."""
    rng = np.random.default_rng(4)
    t = np.array([[-1.0, 0.5, 0.2], [0.3, -0.8, 0.1]]) + 0.3 * rng.standard_normal((200, 2, 3))
    return mixing_fit(t, c=1.0, k=1.0, domains="abc")


def test_suggest_predict_picks_the_candidate_nearest_the_query(mixing_draws):
    pool = pl.DataFrame({"w.a": [0.9, 0.1, 0.34, 0.05], "w.b": [0.05, 0.85, 0.33, 0.05], "w.c": [0.05, 0.05, 0.33, 0.9]})
    result = suggest(mixing_draws, pool, goal="predict", at={"w.a": [0.92], "w.b": [0.04], "w.c": [0.04]}, batch=2)
    assert result.picks["candidate"][0] == 0
    assert result.cost_unit == "runs" and result.picks["cost"].to_list() == [1.0, 1.0]
    assert (np.diff(result.picks["gain"].to_numpy()) <= 0).all()
    assert result.uncertainty > result.picks["gain"][0] > 0
    payload = json.loads(json.dumps(result.to_dict()))
    assert {"w.a", "w.b", "w.c", "cost", "gain"} <= set(payload["suggestions"][0])


def test_suggest_optimum_is_reproducible_and_prefers_informative_runs(mixing_draws):
    pool = generate(["a", "b", "c"], {"design": "dirichlet", "n": 64, "alpha": 1.0, "seed": 0})
    first = suggest(mixing_draws, pool, goal="optimum", batch=4, seed=3)
    again = suggest(mixing_draws, pool, goal="optimum", batch=4, seed=3)
    assert first.picks.equals(again.picks)
    assert first.uncertainty > 0 and first.picks.height == 4
    assert first.picks["gain"][0] <= first.uncertainty  # one run cannot tell more than perfect knowledge
    assert first.settings["decisions"] >= 2


def test_uncertainty_is_what_suggest_reports_before_it_picks(mixing_draws):
    from scalemix.active.suggest import uncertainty

    pool = generate(["a", "b", "c"], {"design": "dirichlet", "n": 16, "alpha": 1.0, "seed": 2})
    for goal, at in (("predict", {"w.a": 0.2, "w.b": 0.3, "w.c": 0.5}), ("optimum", None), ("information", None)):
        result = suggest(mixing_draws, pool, goal=goal, at=at, batch=2)
        assert uncertainty(mixing_draws, goal=goal, at=at, candidates=pool) == pytest.approx(result.uncertainty)
    with pytest.raises(SuggestError, match="give candidates"):
        uncertainty(mixing_draws, goal="information")


def test_candidates_cost_six_n_d_or_their_own_column(tmp_path):
    frame, unit = candidates.read(pl.DataFrame({"params": [1e8, 2e8], "tokens": [1e9, 1e9]}), ["y"], [])
    assert unit == "FLOPs" and frame["cost"].to_list() == [6e17, 1.2e18]
    spec = tmp_path / "cands.toml"
    spec.write_text('params = [1e7, 4e7]\ntokens = [2e8]\n[mixtures]\ndesign = "dirichlet"\nn = 3\nseed = 1\n')
    frame, unit = candidates.read(spec, ["y"], ["a", "b"])
    assert frame.height == 6 and unit == "FLOPs"
    np.testing.assert_allclose(frame["w.a"] + frame["w.b"], 1.0)
    with pytest.raises(SuggestError, match=r"row 2: cost 'x'"):
        candidates.read(pl.DataFrame({"w.a": [1.0, 1.0], "cost": ["1", "x"]}), ["y"], ["a"])
    with pytest.raises(SuggestError, match="no rows"):
        candidates.read(pl.DataFrame({"w.a": []}), ["y"], ["a"])


def test_suggest_says_what_a_point_fit_or_a_wrong_goal_needs(mixing_draws):
    point = mixing_fit(np.zeros((2, 3)), domains="abc")
    pool = pl.DataFrame({"w.a": [1.0], "w.b": [0.0], "w.c": [0.0]})
    with pytest.raises(SuggestError, match="bootstrap or NUTS"):
        suggest(point, pool, goal="optimum")
    with pytest.raises(SuggestError, match="not known"):
        suggest(mixing_draws, pool, goal="best")
    with pytest.raises(SuggestError, match="needs the point"):
        suggest(mixing_draws, pool, goal="predict")
    with pytest.raises(SuggestError, match="stacked fit"):
        suggest(mixing_draws, pool, goal="discriminate")
    with pytest.raises(SuggestError, match="only the scale"):
        suggest(mixing_draws, pool, goal="optimum", at={"w.a": 1.0})


def test_discriminate_picks_where_the_laws_part():
    # two power laws that agree at 1e6 params and part at 1e9: a run at 1e9 tells which holds
    rng = np.random.default_rng(5)
    one = make_fit("power", {"beta": 10.0 * np.exp(0.01 * rng.standard_normal((50, 1))), "alpha": np.full((50, 1), 0.3),
                             "Linf": np.full((50, 1), 1.0)}, ["x"], [])
    beta_two = 10.0 * (1e6 ** -0.3) / (1e6 ** -0.2)
    two = make_fit("power", {"beta": beta_two * np.exp(0.01 * rng.standard_normal((50, 1))), "alpha": np.full((50, 1), 0.2),
                             "Linf": np.full((50, 1), 1.0)}, ["x"], [])
    stack = Stack(fits=(one, two), weights=[0.5, 0.5])
    result = suggest(stack, pl.DataFrame({"params": [1e6, 1e9], "cost": [1.0, 1.0]}), goal="discriminate", batch=1)
    assert result.picks["params"][0] == 1e9 and result.cost_unit == "given"


@pytest.fixture(scope="module")
def regmix_bootstrap():
    table = runs.read("regmix-1m-train").select(targets=["pile_cc"])
    chosen = table.runs[:40]
    return table, fit(table.select(where=pl.col("run_id").is_in(list(chosen))), "mixing", method="bootstrap", n_boot=16)


def test_cli_suggest_prints_json_suggestions(regmix_bootstrap, tmp_path, capsys):
    from scalemix.cli import main

    table, fitted = regmix_bootstrap
    folder = fitted.save(tmp_path / "fit")
    pool = tmp_path / "pool.csv"
    table.frame.select(f"w.{d}" for d in table.domains)[40:140].write_csv(pool)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["suggest", str(folder), "--candidates", str(pool), "--goal", "predict", "--grid", str(pool), "--batch", "3", "--json"])
    assert stop.value.code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["goal"] == "predict" and len(payload["suggestions"]) == 3
    assert payload["cost_unit"] == "runs" and payload["cost"] == 3.0
    gains = [row["gain"] for row in payload["suggestions"]]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 0
    assert all("w.pile_cc" in row for row in payload["suggestions"])


def test_cli_suggest_refuses_a_point_fit_in_one_line(regmix_bootstrap, tmp_path, capsys):
    table, _ = regmix_bootstrap
    folder = fit(table.select(where=pl.col("run_id").is_in(list(table.runs[:40]))), "mixing").save(tmp_path / "point")
    pool = tmp_path / "pool.csv"
    table.frame.select(f"w.{d}" for d in table.domains)[40:50].write_csv(pool)
    refused(capsys, ["suggest", folder, "--candidates", pool, "--goal", "optimum"], "bootstrap or NUTS")


def test_predict_far_out_prefers_the_largest_run_and_a_budget_counts_flops():
    rng = np.random.default_rng(6)
    draws = {name: value * np.exp(0.05 * rng.standard_normal((100, 1)))
             for name, value in {"E": 1.8172, "A": 477.8, "B": 2143.4, "alpha": 0.3473, "beta": 0.3672}.items()}
    chinchilla = make_fit("chinchilla", draws, ["loss"], [])
    pool = generate([], params=[1e8, 1e9, 1e10], tokens=[2e10])
    same_cost = pool.with_columns(cost=pl.lit(1.0))
    result = suggest(chinchilla, same_cost, goal="predict", at={"params": 7e10, "tokens": 1.4e12}, batch=1)
    assert result.picks["params"][0] == 1e10
    flops = suggest(chinchilla, pool, goal="predict", at={"params": 7e10, "tokens": 1.4e12}, batch=3, budget=1.3e20)
    assert flops.cost_unit == "FLOPs" and flops.picks["cost"].sum() <= 1.3e20
    np.testing.assert_allclose(flops.picks["cost"], 6 * flops.picks["params"] * flops.picks["tokens"])
    assert 1e10 not in flops.picks["params"].to_list()  # 1.2e21 FLOPs: over the budget
