"""The HTML report and its JSON summary: sections for point, bootstrap and Bayesian fits, the numbers
they share, escaping, the fingerprint check, the curves, f(p) and the trade-off front against closed
forms and scipy, and rendering in headless Chromium. About 45 s of CPU (mostly the bootstrap and NUTS
compiles; the Chinchilla fit is the suite's shared one)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import polars as pl
import pytest

from scalemix import laws, runs
from scalemix.errors import RunTableError
from scalemix.fit import METHODS, fit_bootstrap
from scalemix.report import build_report, curves, format_number, runs_for

SECTIONS = ("data", "fit", "parameters", "diagnostics", "predictions", "optimum", "front", "provenance")
TRUTH = {"beta": 40.0, "alpha": 0.3, "Linf": 1.5, "c1": 0.8, "c2": 0.5, "c3": 1.0}
ODD_TARGET = '<script>alert("x")</script>'


def _multilingual_runs(targets=("de", "fr"), noise=0.002, seed=0) -> runs.RunTable:
    """Two-pair runs simulated from the multilingual law with known parameters (TRUTH)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, n in enumerate((1e7, 3e7, 1e8, 3e8, 1e9)):
        for j, p in enumerate((0.1, 0.3, 0.5, 0.7, 0.9)):
            weights = {f"w.{targets[0]}": p, f"w.{targets[1]}": 1 - p}
            for t in targets:
                own = weights[f"w.{t}"]
                f = own + TRUTH["c1"] * own ** TRUTH["c2"] * (1 - own) ** TRUTH["c3"]
                loss = TRUTH["beta"] * (f * n) ** -TRUTH["alpha"] + TRUTH["Linf"]
                rows.append({"run_id": f"r{k}{j}", "params": n, "tokens": 20 * n, "target": t,
                             "loss": loss * np.exp(noise * rng.standard_normal()), **weights})
    return runs.read(pl.DataFrame(rows))


@pytest.fixture(scope="module")
def synthetic():
    return _multilingual_runs()


@pytest.fixture(scope="module")
def bootstrap_fit(synthetic):
    return fit_bootstrap(synthetic, laws.get("multilingual"), n_boot=24, seed=0)


@pytest.fixture(scope="module")
def point_report(chinchilla_fit, tmp_path_factory):
    out = tmp_path_factory.mktemp("point") / "report.html"
    build_report(chinchilla_fit, out, at=[{"params": 7e10, "tokens": 1.4e12}])
    return out


@pytest.fixture(scope="module")
def bootstrap_report(bootstrap_fit, synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("bootstrap") / "report.html"
    build_report(bootstrap_fit, out, runs=synthetic, at=[{"params": 1e10, "w.de": 0.5, "w.fr": 0.5}])
    return out


class _Tables(HTMLParser):
    """Rows of the tables with an id, as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._current, self._row, self._in_cell = {}, None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "id" in attrs:
            self._current = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr" and self._current is not None:
            self._row = []
            self._current.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("")
            self._in_cell = True

    def handle_endtag(self, tag):
        self._in_cell = self._in_cell and tag not in ("td", "th")
        if tag == "table":
            self._current, self._row = None, None

    def handle_data(self, data):
        if self._in_cell:
            self._row[-1] += data


def _tables(path) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(path.read_text())
    return parser.tables


def _read(report) -> tuple[str, dict]:
    """The HTML of a report and its JSON summary."""
    return report.read_text(), json.loads(report.with_suffix(".json").read_text())


def test_point_report_has_every_section_and_says_it_has_no_bands(point_report):
    html, summary = _read(point_report)
    assert all(f'id="{section}"' in html for section in SECTIONS)
    assert "there are no bands" in html and summary["fit"]["has_intervals"] is False
    assert all(row["lo90"] is None and row["pred_lo90"] < row["median"] < row["pred_hi90"] for row in summary["predictions"])
    assert "does not depend on the mixture" in html  # Chinchilla has no mixture to optimise
    # Epoch's "replicate exactly" fit of the 240 points (Besiroglu et al. 2024), as printed to 4 digits
    params = {row["parameter"]: row["median"] for row in summary["parameters"]}
    assert params["alpha[massivetext]"] == pytest.approx(0.3473, abs=5e-4)
    assert params["E[massivetext]"] == pytest.approx(1.8172, abs=5e-4)


@pytest.mark.parametrize("which", ["point_report", "bootstrap_report"])
def test_json_summary_holds_the_numbers_of_the_html_tables(which, request):
    path = request.getfixturevalue(which)
    summary = json.loads(path.with_suffix(".json").read_text())
    tables = _tables(path)
    shown = {row[0]: row[1:] for row in tables["parameter-table"][1:]}
    for row in summary["parameters"]:
        expected = [format_number(row[k]) for k in ("mean", "sd", "median", "q025", "q975")]
        assert shown[row["parameter"]][:5] == expected
    header, *cells = tables["prediction-table"]
    assert len(cells) == len(summary["predictions"]) > 0
    for row, cell in zip(summary["predictions"], cells):
        assert cell == [v if k == "target" else format_number(v) for k, v in row.items()]


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


def test_curves_are_the_law_in_closed_form(chinchilla_fit, chinchilla_table):
    (curve,) = curves.curves(chinchilla_fit, chinchilla_table, ["massivetext"])
    theta = {k: v[0, 0] for k, v in chinchilla_fit.draws.items()}
    ratio = float(np.median(chinchilla_table.frame["tokens"] / chinchilla_table.frame["params"]))
    n = curve.params
    expected = theta["E"] + theta["A"] / n ** theta["alpha"] + theta["B"] / (ratio * n) ** theta["beta"]
    np.testing.assert_allclose(curve.median, expected, rtol=1e-10)
    assert curve.bands == {}  # one draw: no bands


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


def test_user_strings_are_escaped(tmp_path):
    table = _multilingual_runs(targets=(ODD_TARGET, "fr"))
    fit = fit_bootstrap(table, laws.get("multilingual"), n_boot=24, seed=1)
    out = build_report(fit, tmp_path / "odd.html", runs=table)
    html = out.read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert json.loads(out.with_suffix(".json").read_text())["fit"]["targets"][0] == ODD_TARGET


def test_the_runs_must_be_the_ones_the_fit_was_made_on(chinchilla_fit, bootstrap_fit, synthetic):
    with pytest.raises(RunTableError, match="fingerprint"):
        runs_for(chinchilla_fit, "chinchilla-all")  # the 5 outliers Epoch drops are back in
    with pytest.raises(RunTableError, match="--runs"):
        runs_for(bootstrap_fit)  # fitted on an in-memory frame: nothing to re-read
    assert runs_for(bootstrap_fit, synthetic).fingerprint() == bootstrap_fit.provenance["data"]["fingerprint"]


def test_cli_report_from_a_saved_fit(bootstrap_fit, synthetic, tmp_path, capsys):
    from scalemix.cli import main

    runs_path = tmp_path / "runs.parquet"
    synthetic.frame.write_parquet(runs_path)
    data = {**bootstrap_fit.provenance["data"], "source": str(runs_path)}  # as if fitted on the file
    assert runs.read(runs_path).fingerprint() == data["fingerprint"]
    saved = dataclasses.replace(bootstrap_fit, provenance={**bootstrap_fit.provenance, "data": data}).save(tmp_path / "fit")
    out = tmp_path / "cli.html"
    with pytest.raises(SystemExit) as finished:
        main(["report", str(saved), "--out", str(out), "--at", "params=1e10,w.de=0.5,w.fr=0.5", "--no-optimize"])
    assert finished.value.code == 0
    summary = json.loads(out.with_suffix(".json").read_text())
    assert "wrote" in capsys.readouterr().out
    expected = bootstrap_fit.predict({"params": [1e10], "w.de": [0.5], "w.fr": [0.5]})
    assert [r["median"] for r in summary["predictions"]] == pytest.approx(expected["median"].to_list(), rel=1e-9)
    assert summary["provenance"]["command"].startswith("scalemix report")
    with pytest.raises(SystemExit) as stopped:
        main(["report", str(saved), "--out", str(out), "--runs", "chinchilla"])
    assert stopped.value.code == 2 and "fingerprint" in capsys.readouterr().err


@pytest.mark.skipif("nuts" not in METHODS, reason="NUTS (scalemix.fit.bayes) is not in this install")
def test_bayesian_report_has_rhat_ess_and_rank_plots(synthetic, tmp_path):
    fit = METHODS["nuts"](synthetic, laws.get("multilingual"), chains=2, draws=20, warmup=20, seed=0)
    out = build_report(fit, tmp_path / "nuts.html", runs=synthetic)
    html = out.read_text()
    header = _tables(out)["parameter-table"][0]
    assert header[-3:] == ["rhat", "ess_bulk", "ess_tail"] and 'alt="rank plots"' in html
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["diagnostics"]["facts"]["divergences"] == fit.diagnostics["divergences"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no headless browser: install Debian's `chromium` package (.ci/run does) to check rendering")
    return found


_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync")


def test_report_renders_in_headless_chromium(bootstrap_report, tmp_path):
    browser = _chromium()
    probe = tmp_path / "probe.html"
    check = ("<script>window.addEventListener('load', () => { document.body.dataset.broken = "
             "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).length; });</script></body>")
    probe.write_text(bootstrap_report.read_text().replace("</body>", check))
    common = [browser, *_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400"]
    dom = subprocess.run([*common, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    images = re.findall(r"<img[^>]*>", dom)
    assert len(images) >= 3 and re.search(r'data-broken="0"', dom)
    shot = tmp_path / "shot.png"
    subprocess.run([*common, f"--screenshot={shot}", bootstrap_report.as_uri()], capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2400, 1280) and pixels[..., :3].std() > 0.05  # not a blank page


def test_embedded_figures_are_valid_pngs(bootstrap_report):
    import matplotlib.image

    sources = re.findall(r'src="data:image/png;base64,([^"]+)"', bootstrap_report.read_text())
    assert len(sources) == 4  # curves, residuals, effective fraction, front
    for data in sources:
        assert matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png").shape[0] > 100
