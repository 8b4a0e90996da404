"""Optimal mixtures and fronts against closed forms, scipy on the same objective, and simulated runs."""

import json

import numpy as np
import polars as pl
import pytest
from scipy.optimize import minimize, minimize_scalar

import scalemix.fit as smfit
from scalemix import laws, runs
from scalemix._x64 import float64
from scalemix.errors import OptimizeError
from scalemix.fitresult import Fit
from scalemix.optimize import front, optimize, project


def make_fit(law, draws, targets, domains, **options):
    """A Fit with known parameter draws (no fitting): ``draws`` maps name -> array [S, ...]."""
    draws = {k: np.asarray(v, dtype=float) for k, v in draws.items()}
    count = next(iter(draws.values())).shape[0]
    return Fit(
        law=laws.get(law, **options),
        coords={"target": tuple(targets), "domain": tuple(domains)},
        draws=draws,
        method="point" if count == 1 else "bootstrap",
        noise=np.full((count, len(targets)), 0.01),
    )


def mixing_fit(t, c=1.0, k=1.0, domains="abcde"):
    """One-target-per-row ``t`` ([S, T, K] or [T, K]) of the mixing law L = c + k exp(t . w)."""
    t = np.asarray(t, dtype=float)
    t = t[None] if t.ndim == 2 else t
    shape = t.shape[:2]
    return make_fit("mixing", {"c": np.full(shape, c), "k": np.full(shape, k), "t": t},
                    [f"y{i}" for i in range(shape[1])], list(domains[: t.shape[2]]))


def test_projection_matches_scipy_kl_projection():
    rng = np.random.default_rng(0)
    y = rng.dirichlet(np.ones(6))
    lower = np.array([0.0, 0.05, 0.0, 0.2, 0.0, 0.0])
    upper = np.array([0.1, 1.0, 0.3, 1.0, 0.0, 1.0])
    with float64():
        ours = np.asarray(project(y, lower, upper))
    free = upper > 0
    kl = lambda w: np.sum(w * np.log(w / y[free]))  # noqa: E731
    ref = minimize(kl, np.full(free.sum(), 1 / free.sum()), method="SLSQP", bounds=list(zip(np.maximum(lower[free], 1e-12), upper[free])),
                   constraints={"type": "eq", "fun": lambda w: w.sum() - 1}, options={"ftol": 1e-14, "maxiter": 500})
    assert ours[~free] == pytest.approx(0.0, abs=0)
    assert ours[free] == pytest.approx(ref.x, abs=1e-6)
    assert ours.sum() == pytest.approx(1.0, abs=1e-12)


def test_vertex_optimum_fills_domains_greedily_within_every_bound():
    # exp(t . w) is smallest where t . w is: fill the lowest t first, within bounds (a linear program).
    fit = mixing_fit([[-2.0, -1.0, -3.0, 0.5, -0.5]])
    result = optimize(fit, zero=["a"], minimum={"w.d": 0.1}, tokens=1e9,
                      available_tokens={"c": 1.5e8}, max_epochs=2.0)  # cap: c <= 1.5e8 * 2 / 1e9 = 0.3
    assert result.expected == pytest.approx([0.0, 0.6, 0.3, 0.1, 0.0], abs=1e-4)
    assert result.expected[0] == 0.0 and result.expected[2] <= 0.3 + 1e-12 and result.expected[3] >= 0.1 - 1e-12
    assert result.expected.sum() == pytest.approx(1.0, abs=1e-12)


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


def test_worst_case_and_ceiling_objectives_reach_closed_forms():
    # L_y0 = 1 + exp(-2 w_a), L_y1 = 1 + exp(-3 w_b).
    fit = mixing_fit([[-2.0, 0.0], [0.0, -3.0]])
    worst = optimize(fit, objective="max")
    assert worst.expected[0] == pytest.approx(0.6, abs=1e-3)  # -2 w_a = -3 (1 - w_a)
    ceiling = optimize(fit, objective="y0", ceilings={"y1": 1.0 + np.exp(-0.9)})
    assert ceiling.expected[1] == pytest.approx(0.3, abs=1e-3)  # the ceiling binds: 3 w_b = 0.9
    assert ceiling.predicted.filter(pl.col("target") == "y1")["mean"][0] == pytest.approx(1 + np.exp(-0.9), abs=1e-3)


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


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"maximum": {"w.zz": 0.1}}, ["'zz'", "it knows a, b"]),
        ({"objective": "nope"}, ["'nope'", "y0"]),
        ({"minimum": {"a": 0.6}, "maximum": {"a": 0.4}}, ["a (min 0.6 > max 0.4)"]),
        ({"minimum": {"a": 0.7, "b": 0.6}}, ["sum to 1.3", "a>=0.7", "b>=0.6"]),
        ({"available_tokens": {"a": 1e8, "b": 2e8}, "tokens": 1e9}, ["sum to 0.3", "a<=0.1", "b<=0.2"]),
        ({"available_tokens": {"a": 1e8}}, ["--tokens"]),
    ],
)
def test_clear_errors_name_what_is_wrong(options, words):
    with pytest.raises(OptimizeError) as error:
        optimize(mixing_fit([[-1.0, 0.0]]), **options)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_a_law_without_the_mixture_is_refused():
    fit = make_fit("chinchilla", {k: np.ones((1, 1)) for k in ("E", "A", "B", "alpha", "beta")}, ["loss"], [])
    fit.coords = {"target": ("loss",)}
    with pytest.raises(OptimizeError, match="does not depend on the mixture"):
        optimize(fit, params=1e9, tokens=1e10)


def _multilingual_loss(theta, i, p, n):
    f = p + theta["c1"][i] * p ** theta["c2"][i] * (1 - p) ** theta["c3"][i]
    return theta["beta"][i] * (f * n) ** -theta["alpha"][i] + theta["Linf"][i]


def test_front_of_two_pairs_matches_scipy_at_each_weighting_and_size():
    # Fernandes et al. 2023, Figure 7: two pairs trained on each other, w.de = p, w.fr = 1 - p.
    theta = {"beta": [[20.0, 30.0]], "alpha": [[0.25, 0.3]], "Linf": [[1.5, 1.2]], "c1": [[0.3, 0.1]],
             "c2": [[0.8, 1.0]], "c3": [[1.0, 1.0]]}
    fit = make_fit("multilingual", theta, ["de", "fr"], ["de", "fr"], f="power")
    table = front(fit, ["de", "fr"], params=[1e7, 1e9], points=5)
    assert table.height == 2 * 5 * 2
    one = {k: np.asarray(v)[0] for k, v in fit.draws.items()}
    for row in table.filter(pl.col("target") == "de").iter_rows(named=True):
        lam = row["lambda.de"]
        scalar = lambda p: lam * _multilingual_loss(one, 0, p, row["params"]) + (1 - lam) * _multilingual_loss(one, 1, 1 - p, row["params"])  # noqa: E731
        ref = minimize_scalar(scalar, bounds=(1e-9, 1 - 1e-9), method="bounded", options={"xatol": 1e-10})
        assert row["w.de"] == pytest.approx(ref.x, abs=1e-4)
        assert row["mean"] == pytest.approx(_multilingual_loss(one, 0, row["w.de"], row["params"]), rel=1e-9)
    for size in (1e7, 1e9):  # a front: more weight on de buys lower de loss and costs fr loss
        de = table.filter((pl.col("target") == "de") & (pl.col("params") == size)).sort("lambda.de")["mean"].to_numpy()
        fr = table.filter((pl.col("target") == "fr") & (pl.col("params") == size)).sort("lambda.de")["mean"].to_numpy()
        assert np.all(np.diff(de) < 0) and np.all(np.diff(fr) > 0)


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


def test_cli_front_and_infeasible_error(tmp_path, capsys):
    from typer.testing import CliRunner

    from scalemix.cli import app, main

    theta = {"beta": [[20.0, 30.0]], "alpha": [[0.25, 0.3]], "Linf": [[1.5, 1.2]], "c1": [[0.3, 0.1]],
             "c2": [[0.8, 1.0]], "c3": [[1.0, 1.0]]}
    saved = make_fit("multilingual", theta, ["de", "fr"], ["de", "fr"], f="power").save(tmp_path / "fit")
    result = CliRunner().invoke(app, ["front", str(saved), "--targets", "de,fr", "--params", "1e7,1e8", "--points", "3", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert len(records) == 2 * 3 * 2 and all(r["lo90"] <= r["mean"] <= r["hi90"] for r in records)
    with pytest.raises(SystemExit) as exit_:
        main(["optimize", str(saved), "--params", "1e8", "--min", "w.de=0.7,w.fr=0.6"])
    assert exit_.value.code == 2
    assert "the minimums sum to 1.3 > 1 (de>=0.7, fr>=0.6)" in capsys.readouterr().err
