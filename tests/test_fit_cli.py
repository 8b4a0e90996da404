"""`scalemix fit / predict / evaluate`: the same numbers as the Python API and the law's formula by hand,
the JSON shape every method shares, one-line errors (exit 2) for options a method does not take, and
warnings (non-convergence, predictions beyond the evidence) on stderr."""

import json

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

import scalemix.fit
from scalemix import laws, runs
from scalemix.cli import app, main
from scalemix.fit import fit_point
from scalemix.evaluate import metrics

runner = CliRunner()
TRUTH = {"beta": 400.0, "alpha": 0.3, "Linf": 1.5}  # power law L = beta N^-alpha + Linf


def _power(n):
    return TRUTH["beta"] * n ** -TRUTH["alpha"] + TRUTH["Linf"]


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    """16 runs of one target on the power law with 1% log-normal noise; the last 4 (largest) held out."""
    n = np.logspace(7, 10, 16)
    loss = _power(n) * np.exp(0.01 * np.random.default_rng(0).standard_normal(n.size))
    frame = pl.DataFrame({"run_id": [f"r{i}" for i in range(16)], "target": "val", "params": n, "tokens": 1e10, "loss": loss})
    folder = tmp_path_factory.mktemp("runs")
    frame.head(12).write_csv(folder / "small.csv")
    frame.tail(4).write_csv(folder / "large.csv")
    return folder


@pytest.fixture(scope="module")
def fitted(runs_csv):
    out = runs_csv / "fit"
    result = runner.invoke(app, ["fit", str(runs_csv / "small.csv"), "--law", "power", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_fit_json_matches_the_python_fit(fitted, runs_csv):
    out, summary = fitted
    assert set(summary) >= {"law", "method", "objective", "params", "diagnostics"}
    assert summary["law"] == "power" and summary["method"] == "point"
    assert set(summary["params"]) == {"beta[val]", "alpha[val]", "Linf[val]"}
    assert set(summary["params"]["alpha[val]"]) >= {"median", "mean", "sd", "q025", "q975"}
    direct = fit_point(runs.read(runs_csv / "small.csv"), laws.get("power"))
    assert summary["objective"] == pytest.approx(direct.diagnostics["objective"], rel=1e-12)
    for name in TRUTH:
        assert summary["params"][f"{name}[val]"]["median"] == pytest.approx(float(direct.draws[name][0, 0]), rel=1e-12)
    assert summary["params"]["alpha[val]"]["median"] == pytest.approx(TRUTH["alpha"], rel=0.2)
    assert (out / "fit.json").is_file() and (out / "draws.npz").is_file()


def test_fit_text_output_names_every_parameter_with_its_labels(runs_csv, tmp_path):
    """The text table shows ``alpha[val]``, brackets included (Rich would read ``[val]`` as markup)."""
    result = runner.invoke(app, ["fit", str(runs_csv / "small.csv"), "--law", "power", "--out", str(tmp_path / "fit")])
    assert result.exit_code == 0, result.output
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip().startswith(("beta", "alpha", "Linf"))]
    assert names == ["beta[val]", "alpha[val]", "Linf[val]"]


def test_predict_is_the_formula_at_the_fitted_parameters(fitted):
    out, summary = fitted
    result = runner.invoke(app, ["predict", str(out), "--at", "params=1e11", "--at", "params=3e11", "--levels", "0.9", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    p = {name: summary["params"][f"{name}[val]"]["median"] for name in TRUTH}
    for row, n in zip(rows, (1e11, 3e11)):
        assert row["median"] == pytest.approx(p["beta"] * n ** -p["alpha"] + p["Linf"], rel=1e-12)
        assert row["pred_lo90"] < row["median"] < row["pred_hi90"]


def test_evaluate_scores_held_out_runs_like_validate(fitted, runs_csv):
    out, summary = fitted
    result = runner.invoke(app, ["evaluate", str(out), "--on", str(runs_csv / "large.csv"), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["rows"] == 4 and not scores["in_sample"]
    held = pl.read_csv(runs_csv / "large.csv")
    p = {name: summary["params"][f"{name}[val]"]["median"] for name in TRUTH}
    by_hand = metrics(held["loss"], p["beta"] * held["params"].to_numpy() ** -p["alpha"] + p["Linf"])
    for key, value in by_hand.items():
        assert scores["overall"][key] == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert scores["overall"]["mre"] < 0.03  # 1% noise, extrapolated 2x beyond the largest fitted run


def test_bootstrap_through_the_cli_has_intervals(runs_csv):
    out = runs_csv / "boot"
    args = ["fit", str(runs_csv / "small.csv"), "--law", "power", "--method", "bootstrap", "--n-boot", "40", "--seed", "1", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    alpha = json.loads(result.stdout)["params"]["alpha[val]"]
    assert alpha["q025"] < alpha["median"] < alpha["q975"] and alpha["sd"] > 0
    assert alpha["q025"] < TRUTH["alpha"] < alpha["q975"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--n-boot", "10"], "fit method 'point' does not take --n-boot"),
        (["--steps", "200"], "fit method 'point' does not take --steps"),
        (["--method", "nuts", "--learning-rate", "0.1", "--steps", "5"], "fit method 'nuts' does not take --steps, --learning-rate"),
        (["--method", "svi", "--warmup", "10"], "fit method 'svi' does not take --warmup"),
        (["--method", "magic"], "unknown fit method 'magic'"),
        (["--law-option", "f"], "--law-option 'f' is not KEY=VALUE"),
        (["--law-option", "f=linear"], "law 'power' cannot be built with options {'f': 'linear'}"),
    ],
)
def test_fit_errors_are_one_line_exit_2(runs_csv, capsys, extra, message):
    with pytest.raises(SystemExit) as stop:
        main(["fit", str(runs_csv / "small.csv"), "--law", "power", "--out", str(runs_csv / "x"), *extra])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and message in err


def test_predict_names_an_unknown_domain(fitted, capsys):
    with pytest.raises(SystemExit):
        main(["predict", str(fitted[0]), "--at", "params=1e9,w.de=1"])
    assert "--at column 'w.de' names no domain of this fit (it knows none)" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize("levels", ["0", "1.5"])
def test_levels_outside_0_1_are_one_line_exit_2(fitted, runs_csv, capsys, command, levels):
    where = ["--at", "params=1e11"] if command == "predict" else ["--on", str(runs_csv / "large.csv")]
    with pytest.raises(SystemExit) as stop:
        main([command, str(fitted[0]), *where, "--levels", levels])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert "--levels: interval levels must lie strictly between 0 and 1" in err and f"got {float(levels):g}" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--at", "params"], "--at 'params' is not KEY=VALUE (e.g. --at params=1e10,tokens=2e11)"),
        (["--levels", "0.5,x", "--at", "params=1e9"], "--levels '0.5,x' is not a comma-separated list of numbers"),
        (["--grid", "points.txt"], "--grid points.txt: use a .csv, .parquet or .jsonl file"),
    ],
)
def test_predict_errors_are_one_line_exit_2(fitted, capsys, extra, message):
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(fitted[0]), *extra])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and message in err


def test_predict_reads_a_grid_and_names_an_unreadable_one(fitted, tmp_path, capsys):
    pl.DataFrame({"params": [1e11, 3e11]}).write_parquet(tmp_path / "grid.parquet")
    result = runner.invoke(app, ["predict", str(fitted[0]), "--grid", str(tmp_path / "grid.parquet"), "--at", "params=1e11", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["params"] for r in rows] == [1e11, 1e11, 3e11] and rows[0]["median"] == rows[1]["median"]
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(fitted[0]), "--grid", str(tmp_path / "bad.parquet")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "bad.parquet: cannot be read as parquet" in err


@pytest.mark.parametrize("fixture", ["bootstrap_fit", "chinchilla_fit"])
def test_fit_says_first_when_it_did_not_converge_and_warns_on_stderr(fixture, request, synthetic, tmp_path, monkeypatch, capsys):
    """The fit command on a fit whose point fit stopped before converging (the shared multilingual bootstrap,
    target fr) and on one that converged (Chinchilla): the first line of the text says which targets did not
    converge, every diagnostics warning is one stderr line, and stdout holds none of them."""
    made = request.getfixturevalue(fixture)
    monkeypatch.setattr(scalemix.fit, "fit", lambda *args, **kwargs: made)  # the command as it is, without refitting
    synthetic.frame.write_csv(tmp_path / "runs.csv")
    with pytest.raises(SystemExit) as stop:
        main(["fit", str(tmp_path / "runs.csv"), "--law", made.law.name, "--out", str(tmp_path / "fit")])
    out, err = capsys.readouterr()
    assert stop.value.code == 0
    groups = made.diagnostics.get("point", made.diagnostics)["groups"]
    stalled = [name for name, group in groups.items() if not group["converged"]]
    assert bool(stalled) == (fixture == "bootstrap_fit")
    first = out.splitlines()[0]
    assert first.startswith(f"NOT CONVERGED for {', '.join(stalled)}:") if stalled else first.startswith(made.law.name)
    assert err.splitlines() == [f"warning: {' '.join(w.split())}" for w in made.diagnostics["warnings"]]
    assert "warning:" not in out


def test_predict_warns_beyond_the_evidence_on_stderr_and_keeps_json_clean(fitted):
    result = runner.invoke(app, ["predict", str(fitted[0]), "--at", "params=1e9", "--at", "params=1e19", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    far = sum(row["beyond_evidence"] for row in rows)
    assert far == 1 and result.stderr.splitlines() == [
        f"warning: {far} row(s) lie beyond where the fit's backtest has evidence (beyond_evidence): read their "
        "intervals as a trend extended, not as measured"]
