"""report/summary.py: the numbers of the report's JSON summary: predictions at the simulated truth, f(p)
as the median of eq. 6 over draws, and the trade-off front as scalemix.optimize.front's, each point the
best weighted mixture (scipy); what each prediction is at, the optimum's baseline (the nearest training
mixture) and what the effective-fraction figure says of its law and axis."""

from __future__ import annotations

import dataclasses
import html
import json
import re

import numpy as np
import polars as pl
import pytest

from _support import MULTILINGUAL_TRUTH as TRUTH
from _support import SECTIONS
from _support import read_report as _read
from scalemix.report.summary import FRACTION_TOP, first_above, mixture_at, nearest_run_mixture


def test_bootstrap_report_sections_bands_and_effective_fraction(bootstrap_report):
    html, summary = _read(bootstrap_report)
    assert all(f'id="{section}"' in html for section in SECTIONS)
    assert 'id="effective-fraction"' in html and "there are no bands" not in html
    assert summary["fit"]["has_intervals"] and summary["fit"]["draws"] == 24
    rows = summary["predictions"]
    assert all(r["lo90"] <= r["lo50"] <= r["median"] <= r["hi50"] <= r["hi90"] for r in rows)
    # p = 0.5 for both pairs at N = 1e10: the law at the simulated truth, within the noise of the fit
    f = 0.5 + TRUTH["c1"] * 0.5 ** TRUTH["c2"] * 0.5 ** TRUTH["c3"]
    truth = TRUTH["beta"] * (f * 1e10) ** -TRUTH["alpha"] + TRUTH["Linf"]
    assert all(r["median"] == pytest.approx(truth, rel=0.01) for r in rows)


def _eq6(draws, i, p):
    """Fernandes et al. 2023, eq. 6 per draw: f_i(p) = p + c1 p^c2 (1 - p)^c3, ``[len(p), S]``."""
    p = np.asarray(p)[:, None]
    return p + draws["c1"][:, i] * p ** draws["c2"][:, i] * (1 - p) ** draws["c3"][:, i]


def test_effective_fraction_is_the_median_of_eq6_over_draws(bootstrap_fit, bootstrap_report):
    rows = json.loads(bootstrap_report.with_suffix(".json").read_text())["effective_fraction"]["rows"]
    for i, target in enumerate(bootstrap_fit.targets):
        mine = [r for r in rows if r["target"] == target]
        by_draw = _eq6(bootstrap_fit.draws, i, [r["p"] for r in mine])
        np.testing.assert_allclose([r["median"] for r in mine], np.median(by_draw, axis=1), rtol=1e-12)
        np.testing.assert_allclose([r["hi90"] for r in mine], np.quantile(by_draw, 0.95, axis=1), rtol=1e-12)
        np.testing.assert_allclose([r["lo50"] for r in mine], np.quantile(by_draw, 0.25, axis=1), rtol=1e-12)


def test_front_is_the_optimizers_front_and_each_point_the_best_weighted_mixture(bootstrap_fit, bootstrap_report):
    """The report's front (drawn from the JSON rows) is scalemix.optimize.front's, and every point's
    weight p on 'de' minimises E_s[lambda L_de(p) + (1 - lambda) L_fr(1 - p)] (scipy, law in numpy)."""
    from scipy.optimize import minimize_scalar

    from scalemix.optimize import front

    summary = json.loads(bootstrap_report.with_suffix(".json").read_text())
    assert summary["front"]["targets"] == ["de", "fr"] and 'alt="trade-off front"' in bootstrap_report.read_text()
    sizes = np.array(summary["front"]["sizes"])
    assert sizes.tolist() == [1e7, 1e9, 1e10]  # smallest and largest run, the requested scale
    expected = front(bootstrap_fit, ["de", "fr"], params=sizes, tokens=20 * sizes, points=11)
    rows = summary["front"]["rows"]
    assert len(rows) == expected.height == 2 * 11 * 3
    for column in ("params", "w.de", "median", "lo90", "hi90"):
        np.testing.assert_allclose([r[column] for r in rows], expected[column].to_numpy(), rtol=1e-12)
    d = bootstrap_fit.draws

    def loss(i, n, p):
        return d["beta"][:, i] * (_eq6(d, i, [p])[0] * n) ** -d["alpha"][:, i] + d["Linf"][:, i]

    for r in rows[::2]:
        lam, n = r["lambda.de"], r["params"]
        best = minimize_scalar(lambda p: np.mean(lam * loss(0, n, p) + (1 - lam) * loss(1, n, 1 - p)),
                               bounds=(0, 1), method="bounded", options={"xatol": 1e-8}).x
        assert r["w.de"] == pytest.approx(best, abs=2e-3)


def test_the_summary_says_what_each_prediction_is_at(bootstrap_report, point_report, chinchilla_table):
    """(N, D, mixture) of every prediction, against the largest run and saying what the law reads."""
    mixture = json.loads(bootstrap_report.with_suffix(".json").read_text())["at"]
    assert mixture == [{"params": 1e10, "times_largest": {"params": 10.0}, "reads": ["params"],
                        "mixture": {"de": 0.5, "fr": 0.5}, "mixture_from": "given"}]  # largest run: 1e9
    (chinchilla,) = json.loads(point_report.with_suffix(".json").read_text())["at"]
    largest = chinchilla_table.frame.select("params", "tokens").max().row(0, named=True)
    assert chinchilla["times_largest"] == pytest.approx({"params": 7e10 / largest["params"], "tokens": 1.4e12 / largest["tokens"]})
    assert chinchilla["reads"] == ["params", "tokens"] and chinchilla["mixture"] == {}
    html = bootstrap_report.read_text()
    assert "Predicted at N = 1e+10 parameters (10x the largest run), the given mixture (de 0.5, fr 0.5)." in html
    assert "no mixture (the chinchilla law does not read one)" in point_report.read_text()


def test_the_baseline_is_the_nearest_training_mixture_the_law_can_score(bootstrap_fit, synthetic):
    """Runs at p = 0.1 ... 0.9 of 'de': the nearest to (0.42, 0.58) is p = 0.5 at total-variation distance
    0.08; with the p = 0.1 runs set aside (as the law does where p = 0), the nearest to (0, 1) is p = 0.3."""
    found = nearest_run_mixture(bootstrap_fit, synthetic, {"de": 0.42, "fr": 0.58})
    assert found["weights"] == pytest.approx({"de": 0.5, "fr": 0.5}) and found["distance"] == pytest.approx(0.08)
    assert found["run_id"] in synthetic.frame.filter(pl.col("w.de") == 0.5)["run_id"].to_list()
    low = synthetic.frame.with_row_index("row").filter(pl.col("w.de") == 0.1).select(
        pl.col("row").cast(pl.Int64), "run_id", "target", reason=pl.lit("p = 0"))
    fit = dataclasses.replace(bootstrap_fit, set_aside=low)
    assert nearest_run_mixture(fit, synthetic, {"de": 0.0, "fr": 1.0})["weights"] == pytest.approx({"de": 0.3, "fr": 0.7})


def test_the_effective_fraction_says_where_each_curve_leaves_the_axis():
    rows = [{"p": 0.0, "median": 0.0, "hi90": 0.0}, {"p": 0.5, "median": 1.0, "hi90": 1.6},
            {"p": 0.9, "median": 1.7, "hi90": None}, {"p": 1.0, "median": 1.0, "hi90": 1.0}]
    assert first_above(rows, 1.5) == {"median": 0.9, "hi90": 0.5}
    assert first_above(rows[:1], 1.5) == {"median": None, "hi90": None}


def test_the_effective_fraction_caption_says_what_the_law_cannot_express(bootstrap_report):
    summary = json.loads(bootstrap_report.with_suffix(".json").read_text())["effective_fraction"]
    assert summary["form"] == "power" and summary["top"] == FRACTION_TOP
    assert set(summary["leaves"]) == {"de", "fr"}
    caption = html.unescape(re.search(r'<p class="note" id="fraction-caption">(.*?)</p>', bootstrap_report.read_text(), re.S).group(1))
    assert "c1 > 0, so f(p) >= p at every p" in caption and "never interfering (below it)" in caption
    assert "multilingual-per-weight" in caption and f"The axis runs from 0 to {FRACTION_TOP:g}" in caption


def test_a_point_that_gives_some_weights_leaves_the_other_domains_at_zero(bootstrap_fit, synthetic):
    """As ``scalemix predict`` does; a point that gives none is at the runs' average (p = 0.1 ... 0.9: 0.5)."""
    assert mixture_at(bootstrap_fit, synthetic, {"params": 1e9, "w.de": 1.0}) == {"w.de": 1.0, "w.fr": 0.0}
    assert mixture_at(bootstrap_fit, synthetic, {"params": 1e9}) == pytest.approx({"w.de": 0.5, "w.fr": 0.5})
