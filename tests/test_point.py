"""fit/point.py: the multi-start point fit against Epoch's exact Chinchilla replication (Besiroglu et al.
2024), and its warning when a parameter runs off to the edge of its range."""

import numpy as np
import polars as pl
import pytest

from _support import EPOCH, EPOCH_OBJECTIVE
from scalemix import laws, runs
from scalemix.fit import fit_point


def _value(fit, name):
    return float(fit.draws[name].ravel()[0])


def test_chinchilla_full_grid_reproduces_epoch(chinchilla_fit):
    for name in ("alpha", "beta", "E"):
        assert _value(chinchilla_fit, name) == pytest.approx(EPOCH[name], abs=1e-3)
    for name in ("A", "B"):
        assert _value(chinchilla_fit, name) == pytest.approx(EPOCH[name], rel=1e-3)
    d = chinchilla_fit.diagnostics
    assert d["objective"] <= EPOCH_OBJECTIVE
    assert d["starts"] == 4500 and d["converged"]
    # the spread: how many of Hoffmann's 4,500 starts reach the best basin (56 measured)
    assert 10 <= d["starts_in_best_basin"] <= 4500
    assert d["groups"]["massivetext"]["grad_norm"] < 1e-8


def test_a_parameter_at_the_edge_of_its_range_is_named(chinchilla_fit):
    """Losses on a pure power law (``50 N^-0.1``, no floor): the best Linf is 0, minus infinity in the log
    space the solver works in, and the fit's warnings name it. Chinchilla's fit names nothing."""
    params = np.geomspace(1e7, 1e9, 6)
    table = runs.read(pl.DataFrame({"run_id": [f"r{k}" for k in range(6)], "target": "t", "params": params,
                                    "tokens": 1e10, "loss": 50 * params ** -0.1}))
    (warning,) = fit_point(table, laws.get("power")).diagnostics["warnings"]
    assert warning.startswith("Linf[t] went to the edge of its range")
    assert chinchilla_fit.diagnostics["warnings"] == []


def _training_curves(steps=60, runs_=12, seed=0):
    """``runs_`` simulated training curves of ``steps`` rows each: Chinchilla-form loss with 1% noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for k, n in enumerate(np.geomspace(1e7, 1e9, runs_)):
        tokens = np.arange(1, steps + 1) * 2e6
        loss = (1.7 + 400 * n**-0.34 + 410 * tokens**-0.28) * np.exp(rng.normal(0, 0.01, steps))
        frames.append(pl.DataFrame({"run_id": f"r{k}", "params": n, "tokens": tokens, "step": np.arange(1, steps + 1),
                                    "target": "val", "loss": loss}))
    return runs.read(pl.concat(frames))


def test_a_thinned_problem_keeps_every_run_and_the_total_weight():
    from scalemix.fit.problem import build

    problem = build(_training_curves(), laws.get("power"))  # 720 rows
    half = problem.mask * (np.arange(problem.mask.shape[1]) % 2 == 0)  # a 0/1 choice of rows, as a backtest cut
    thin, weights = problem.thinned(half, 100)
    assert thin.mask.shape == weights.shape == (1, 100)
    assert weights.sum() == pytest.approx(half.sum(), rel=1e-12)
    kept_runs = problem.design.frame["run_id"].to_numpy()[thin.row[weights > 0]]
    assert set(kept_runs) == set(problem.design.frame["run_id"])  # every curve keeps rows along its length
    assert (half[0, thin.row[0]] > 0).all()  # only rows of positive weight stand for the rest
    fewer, fewer_weights = problem.thinned(problem.mask * (np.arange(720) < 30), 100)  # 30 rows: kept, padded
    assert fewer.mask.shape == (1, 100) and (fewer_weights > 0).sum() == 30
    assert problem.thinned(problem.mask, 720)[0] is problem


def test_a_thinned_search_finds_the_full_search_optimum():
    """On 720 rows, the search screened and refined on 128 of them and finished on all reaches the optimum
    of the search on every row (the same objective to 1e-12 and parameters to 1e-7)."""
    from scalemix._x64 import float64
    from scalemix.fit.point import multistart
    from scalemix.fit.problem import build

    with float64():
        problem = build(_training_curves(), laws.get("power"))
        full = multistart(problem, problem.mask, screen_rows=10_000)
        thinned = multistart(problem, problem.mask, screen_rows=128)
    best_full, best_thinned = full.best[0], thinned.best[0]
    assert thinned.objective[0, best_thinned] == pytest.approx(full.objective[0, best_full], rel=1e-12)
    np.testing.assert_allclose(thinned.z[0, best_thinned], full.z[0, best_full], atol=1e-7)
    assert thinned.converged[0, best_thinned]


def _sparse_swarm(runs_count, domains, t, noise=0.0, seed=0):
    """Runs of 2-5 domains each, their losses from the data mixing law (c = 2, k = 1) times log-normal noise."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((runs_count, domains))
    for row in weights:
        chosen = rng.choice(domains, rng.integers(2, 6), replace=False)
        row[chosen] = rng.dirichlet(np.ones(chosen.size))
    loss = (2.0 + np.exp(weights @ t)) * np.exp(noise * rng.standard_normal(runs_count))
    frame = pl.DataFrame({"run_id": [f"r{i}" for i in range(runs_count)], "target": "x", "params": 3e7, "tokens": 3e9, "loss": loss})
    return runs.read(frame.with_columns(pl.Series(f"w.d{j:02d}", weights[:, j]) for j in range(domains)))


def test_log_linear_starts_recover_a_wide_mixing_law_from_two_starts():
    """32 sparse domains, noiseless runs of the data mixing law: the log-linear least-squares starts alone
    (one prior draw, the two best of all starts run to convergence) recover ``c`` and ``log k + t_j``."""
    t = np.random.default_rng(1).normal(0.0, 0.7, 32)
    fit = fit_point(_sparse_swarm(120, 32, t), laws.get("mixing"), random_starts=1, refine=2)
    assert fit.diagnostics["objective"] < 1e-12 and fit.diagnostics["converged"]
    np.testing.assert_allclose(_value(fit, "c"), 2.0, rtol=1e-6)
    np.testing.assert_allclose(np.log(fit.draws["k"][0, 0]) + fit.draws["t"][0, 0], t, atol=1e-6)


def test_the_least_squares_start_is_the_linear_mixing_optimum():
    """``linear-mixing`` on noiseless linear runs: its data start is the exact fit up to its small ridge
    (log residuals < 1e-3), and the fit from it is exact."""
    from scalemix._x64 import float64
    from scalemix.fit.problem import build

    a = np.random.default_rng(2).normal(0.0, 0.5, 12)
    table = _sparse_swarm(60, 12, np.zeros(12))
    loss = 3.0 - table.frame.select(pl.col(f"w.d{j:02d}") * a[j] for j in range(12)).sum_horizontal()
    table = runs.read(table.frame.with_columns(loss=loss))
    law = laws.get("linear-mixing")
    with float64():
        problem = build(table, law)
        start = problem.starts(0, 1)[0, -1]  # the data start comes last
        residuals = problem.residuals(problem.assemble(start[None]))  # [1 group, P]
    assert np.abs(residuals).max() < 1e-3
    fit = fit_point(table, law)
    np.testing.assert_allclose(fit.draws["c"][0, 0] - fit.draws["A"][0, 0], 3.0 - a, atol=1e-8)


def test_a_long_fit_shows_its_stages_on_stderr(monkeypatch, capsys):
    """``progress=True``: the stages of the search (screen, refine) after PROGRESS_DELAY seconds (0 here)."""
    from scalemix.fit import point

    monkeypatch.setattr(point, "PROGRESS_DELAY", 0.0)
    table = _sparse_swarm(40, 6, np.zeros(6))
    fit_point(table, laws.get("mixing"), progress=True)
    shown = capsys.readouterr().err
    assert "point fit: 1 group(s) x 26 starts" in shown and "2/2" in shown  # 4 grid + 16 prior draws + 6 log-linear
    fit_point(table, laws.get("mixing"))
    assert capsys.readouterr().err == ""
