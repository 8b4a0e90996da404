"""``scalemix demo --quick``: the whole pipeline (runs -> multilingual fit -> prediction for a model 10x the
largest run -> optimal mixture against the nearest training mixture -> report) on embedded real runs,
checked against independent facts. About 30 s of CPU."""

from __future__ import annotations

import json
from html import unescape

import numpy as np
import polars as pl
import pytest

from scalemix import runs
from scalemix.demo import cohort
from scalemix.fitresult import Fit
from scalemix.report import format_number


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from scalemix.cli import main

    out = tmp_path_factory.mktemp("demo")
    with pytest.raises(SystemExit) as finished:
        main(["demo", "--quick", "--out", str(out)])
    assert finished.value.code == 0
    return out


def test_demo_predicts_at_ten_times_the_largest_model(demo, capsys):
    """For one model of 10x the largest run's parameters, trained on the runs' own tokens (the law does not
    read them), at the runs' average mixture; the report says so."""
    summary = json.loads((demo / "report.json").read_text())
    fit = Fit.load(demo / "fit")
    largest = summary["data"]["ranges"]["params"][1]
    tokens = summary["data"]["ranges"]["tokens"]
    rows = summary["predictions"]
    assert {r["params"] for r in rows} == {10 * largest} and {r["target"] for r in rows} == set(fit.targets)
    assert tokens[0] == tokens[1] and {r["tokens"] for r in rows} == {tokens[1]}  # every run's budget, not x10
    said = (f"Predicted at N = {format_number(10 * largest)} parameters (10x the largest run), D = "
            f"{format_number(tokens[1])} tokens (1x the largest run; the multilingual law does not read D), "
            "the runs' average mixture")
    assert said in unescape((demo / "report.html").read_text())
    # the saved fit, reloaded, gives the report's numbers
    mixture = {f"w.{d}": [w] for d, w in zip(summary["data"]["domains"], _mean_weights(summary, fit))}
    again = fit.predict({"params": [10 * largest], "tokens": [rows[0]["tokens"]], **mixture}, levels=(0.9,))
    assert [r["median"] for r in rows] == pytest.approx(again["median"].to_list(), rel=1e-9)
    assert all(r["lo90"] < r["median"] < r["hi90"] for r in rows)


def _mean_weights(summary, fit):
    table = runs.read(summary["data"]["source"]).select(targets=fit.targets)
    return [table.frame[f"w.{d}"].mean() for d in summary["data"]["domains"]]


def test_demo_optimum_splits_one_model_between_the_fitted_pairs(demo):
    """The multilingual law reads only each target's own weight: the optimum is one model's split
    between the fitted pairs (other domains fixed at 0), and on the trade-off front at equal target
    weights (its middle point, lambda = 1/2) at the same scale the split is the same mixture."""
    summary = json.loads((demo / "report.json").read_text())
    weights = summary["optimum"]["expected"]["weights"]
    targets = summary["fit"]["targets"]
    assert sum(weights[t] for t in targets) == pytest.approx(1.0, abs=1e-9)
    assert all(w == 0.0 for d, w in weights.items() if d not in targets)
    assert 0.0 <= summary["optimum"]["p_beats_baseline"] <= 1.0
    middle = [r for r in summary["front"]["rows"] if r["params"] == summary["predictions"][0]["params"]
              and r[f"lambda.{targets[0]}"] == pytest.approx(0.5)]
    assert middle and middle[0][f"w.{targets[0]}"] == pytest.approx(weights[targets[0]], abs=5e-3)


def test_demo_optimum_is_judged_against_the_nearest_training_mixture(demo):
    """The baseline is the run mixture nearest the optimum (brute force over the runs the law can score:
    both pairs trained), and P(beats it) is the share of draws whose mean loss is lower at the optimum."""
    summary = json.loads((demo / "report.json").read_text())
    fit = Fit.load(demo / "fit")
    optimum, baseline = summary["optimum"]["expected"]["weights"], summary["optimum"]["settings"]["baseline"]
    frame = runs.read("proxy-mnmt").select(targets=fit.targets).frame
    scored = frame.filter(pl.all_horizontal(pl.col(f"w.{t}") > 0 for t in fit.targets))
    columns = [f"w.{d}" for d in optimum]
    distance = 0.5 * np.abs(scored.select(columns).to_numpy() - np.array(list(optimum.values()))).sum(axis=1)
    assert baseline["distance"] == pytest.approx(distance.min())
    assert [baseline["weights"][d] for d in optimum] == pytest.approx(scored.select(columns).to_numpy()[distance.argmin()])
    at = {k: summary["optimum"]["settings"][k] for k in ("params", "tokens")}
    assert at == {"params": summary["predictions"][0]["params"], "tokens": summary["predictions"][0]["tokens"]}
    mean_loss = [np.exp(fit.log_loss_draws({**at, **{f"w.{d}": w for d, w in mixture.items()}})[1]).mean(axis=1)
                 for mixture in (optimum, baseline["weights"])]
    assert summary["optimum"]["p_beats_baseline"] == pytest.approx(np.mean(mean_loss[0] < mean_loss[1]))
    html = unescape((demo / "report.html").read_text())
    assert f"Optimised for one model at N = {format_number(at['params'])} parameters" in html
    assert f"run {baseline['run_id']}" in html and "the training mixture nearest to the optimum" in html


def test_proxy_cohorts_are_the_pairs_one_model_trains_on():
    table = runs.read("proxy-mnmt")
    assert cohort(table, "en-de") == ["en-de", "en-fr"] and cohort(table, "ru-en") == ["de-en", "ru-en"]


def test_demo_report_files_and_provenance(demo):
    summary = json.loads((demo / "report.json").read_text())
    html = (demo / "report.html").read_text()
    assert summary["provenance"]["command"].startswith("scalemix demo --quick")
    assert summary["fit"]["law"] == "multilingual" and summary["fit"]["draws"] == 12
    assert 'id="effective-fraction"' in html and 'id="optimum-table"' in html
    assert np.isfinite([r["median"] for r in summary["predictions"]]).all()


def test_demo_effective_fraction_axis_says_where_the_curves_leave_it(demo):
    """The axis stops at the summary's top; the first p where the median of eq. 6 over the draws (numpy)
    rises above it is the one the summary and the caption give (the quick fit's c1 runs off: some does)."""
    summary = json.loads((demo / "report.json").read_text())["effective_fraction"]
    fit = Fit.load(demo / "fit")
    p = np.array(sorted({r["p"] for r in summary["rows"]}))[:, None]
    d = fit.draws
    leaving = {}
    for i, target in enumerate(fit.targets):
        f = p + d["c1"][:, i] * p ** d["c2"][:, i] * (1 - p) ** d["c3"][:, i]
        above = p[np.median(f, axis=1) > summary["top"], 0]
        assert summary["leaves"][target]["median"] == (pytest.approx(above[0]) if above.size else None)
        leaving[target] = above
    assert any(above.size for above in leaving.values())
    html = unescape((demo / "report.html").read_text())
    for target, above in leaving.items():
        if above.size:
            assert f"{target} leaves it, its median above p = {above[0]:.2g}" in html
