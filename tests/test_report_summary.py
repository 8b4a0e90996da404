"""report/summary.py: the numbers of the report's JSON summary: predictions at the simulated truth, f(p)
as the median of eq. 6 over draws, and the trade-off front as scalemix.optimize.front's, each point the
best weighted mixture (scipy)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _support import MULTILINGUAL_TRUTH as TRUTH
from _support import SECTIONS
from _support import read_report as _read


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
