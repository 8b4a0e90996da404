"""``scalemix demo --quick``: the whole pipeline (runs -> multilingual fit -> prediction at 10x ->
optimal mixture -> report) on embedded real runs, checked against independent facts. About 45 s."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

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
    runs = pl.read_parquet(summary["data"]["source"])
    return [runs[f"w.{d}"].mean() for d in summary["data"]["domains"]]


def test_demo_optimum_only_weighs_the_fitted_pairs(demo):
    """The multilingual law reads only each target's own weight, so weight on any other domain is
    wasted: the optimum must put (almost) all of it on the fitted targets."""
    summary = json.loads((demo / "report.json").read_text())
    weights = summary["optimum"]["expected"]["weights"]
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-6)
    assert sum(weights[t] for t in summary["fit"]["targets"]) == pytest.approx(1.0, abs=1e-3)
    assert 0.0 <= summary["optimum"]["p_beats_baseline"] <= 1.0


def test_demo_report_files_and_provenance(demo):
    summary = json.loads((demo / "report.json").read_text())
    html = (demo / "report.html").read_text()
    assert summary["provenance"]["command"].startswith("scalemix demo --quick")
    assert summary["fit"]["law"] == "multilingual" and summary["fit"]["draws"] == 12
    assert 'id="effective-fraction"' in html and 'id="optimum-table"' in html
    assert np.isfinite([r["median"] for r in summary["predictions"]]).all()
