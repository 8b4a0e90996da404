"""report/ (``build_report``, ``render``): the HTML report and its JSON summary: every section for point,
bootstrap and Bayesian fits, the HTML tables hold the JSON's numbers, user strings are escaped, the page
renders in headless Chromium, and ``scalemix report`` reads a saved fit. The reports are the session's
``point_report``/``bootstrap_report`` fixtures (conftest), shared with test_report_summary and
test_report_figures."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import subprocess

import pytest

from _support import SECTIONS
from _support import multilingual_runs as _multilingual_runs
from _support import read_report as _read
from _support import report_tables as _tables
from scalemix import laws, runs
from scalemix.fit import METHODS, fit_bootstrap, fit_svi
from scalemix.report import build_report, format_number

ODD_TARGET = '<script>alert("x")</script>'


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


def test_user_strings_are_escaped(tmp_path):
    table = _multilingual_runs(targets=(ODD_TARGET, "fr"))
    fit = fit_bootstrap(table, laws.get("multilingual"), n_boot=24, seed=1)
    out = build_report(fit, tmp_path / "odd.html", runs=table)
    html = out.read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert json.loads(out.with_suffix(".json").read_text())["fit"]["targets"][0] == ODD_TARGET


@pytest.mark.skipif("nuts" not in METHODS, reason="NUTS (scalemix.fit.bayes) is not in this install")
def test_bayesian_report_has_rhat_ess_and_rank_plots(synthetic, tmp_path):
    fit = METHODS["nuts"](synthetic, laws.get("multilingual"), chains=2, draws=20, warmup=20, seed=0)
    out = build_report(fit, tmp_path / "nuts.html", runs=synthetic)
    html = out.read_text()
    header = _tables(out)["parameter-table"][0]
    assert header[-3:] == ["rhat", "ess_bulk", "ess_tail"] and 'alt="rank plots"' in html
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["diagnostics"]["facts"]["divergences"] == fit.diagnostics["divergences"]
    assert fit.diagnostics["warnings"] and set(fit.diagnostics["warnings"]) <= set(_warnings_shown(out))


def _warnings_shown(path) -> list[str]:
    """The texts of the report's warning boxes."""
    return [html.unescape(w) for w in re.findall(r'<p class="warning">(.*?)</p>', path.read_text(), re.S)]


@pytest.mark.parametrize("which", ["point_report", "bootstrap_report"])
def test_the_report_shows_every_warning_the_fit_wrote(which, request, chinchilla_fit, bootstrap_fit):
    """Point and bootstrap here, NUTS above, SVI below: each method's ``diagnostics["warnings"]`` are shown."""
    fit = {"point_report": chinchilla_fit, "bootstrap_report": bootstrap_fit}[which]
    shown = _warnings_shown(request.getfixturevalue(which))
    assert set(fit.diagnostics["warnings"]) <= set(shown)
    assert shown or "No warnings" in request.getfixturevalue(which).read_text()


def test_an_svi_report_shows_its_warnings(chinchilla_table, tmp_path):
    """test_compare's SVI fit (the same settings: compiled once per session), whose Pareto k warns."""
    fit = fit_svi(chinchilla_table, laws.get("power"), steps=1500, draws=600, seed=0)
    out = build_report(fit, tmp_path / "svi.html", runs=chinchilla_table)
    assert fit.diagnostics["warnings"] and set(fit.diagnostics["warnings"]) <= set(_warnings_shown(out))


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


# -- command line ---------------------------------------------------------------------------------


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


def test_the_report_shows_how_far_its_intervals_can_be_trusted(chinchilla_fit, point_report, tmp_path):
    """With a learned term: its growth, where the evidence ends, the backtest's coverage by distance (the
    HTML table holds the JSON's numbers) and the widening figure; without one, the reason."""
    from scalemix.extrapolation import Discrepancy

    coverage = ({"distance": "(0, 0.25]", "rows": 40, "coverage50": 0.45, "coverage80": 0.8, "coverage95": 0.975},
                {"distance": "> 1", "rows": 12, "coverage50": 0.25, "coverage80": 0.5, "coverage95": 0.75})
    term = Discrepancy(axis="compute", rate=0.02, noise_factor=1.5, df=4.0, evidence=1.3, cuts=5, residuals=52,
                       coverage=coverage)
    out = tmp_path / "report.html"
    build_report(dataclasses.replace(chinchilla_fit, discrepancy=term), out, at=[{"params": 7e10, "tokens": 1.4e12}])
    page, summary = _read(out)
    assert summary["extrapolation"]["evidence"] == 1.3 and summary["extrapolation"]["coverage"] == list(coverage)
    rows = _tables(out)["extrapolation-coverage"][1:]
    assert rows == [[c["distance"], str(c["rows"]), *(format_number(c[f"coverage{k}"]) for k in (50, 80, 95))] for c in coverage]
    assert 'alt="interval width against distance"' in page and "up to 1.3 decades out" in page
    curve = summary["extrapolation"]["curve"]
    assert curve[0]["distance"] == 0 and curve[-1]["distance"] == pytest.approx(2.6)
    assert all(a["half95"] < b["half95"] for a, b in zip(curve, curve[1:]))  # widens with distance
    assert "No extrapolation term" in point_report.read_text()  # fit_point learns none
