"""``scalemix demo --quick``: the whole pipeline (runs -> multilingual fit -> prediction at 10x ->
optimal mixture -> report) on embedded real runs, checked against independent facts. About 15 s of CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scalemix import runs
from scalemix.demo import cohort
from scalemix.fitresult import Fit


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from scalemix.cli import main

    out = tmp_path_factory.mktemp("demo")
    with pytest.raises(SystemExit) as finished:
        main(["demo", "--quick", "--out", str(out)])
    assert finished.value.code == 0
    return out


def test_demo_predicts_at_ten_times_the_largest_model(demo, capsys):
    summary = json.loads((demo / "report.json").read_text())
    fit = Fit.load(demo / "fit")
    largest = summary["data"]["ranges"]["params"][1]
    rows = summary["predictions"]
    assert {r["params"] for r in rows} == {10 * largest} and {r["target"] for r in rows} == set(fit.targets)
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
