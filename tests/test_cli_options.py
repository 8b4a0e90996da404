"""The options of `scalemix fit`, `optimize` and `front` against the code they feed: each fit flag reaches
the method's function under its keyword (and only methods that take it), the help states the functions'
own defaults, SVI's --steps/--learning-rate/--init land in the saved fit, and `compare` warns (on stderr)
as scalemix.diagnostics words it."""

import json
import re
from inspect import signature

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from scalemix import diagnostics
from scalemix.cli import _METHOD_OPTIONS, _SHOWS_PROGRESS, _key_values, app
from scalemix.errors import FitError
from scalemix.evaluate import compare
from scalemix.fit import METHODS
from scalemix.fitresult import Fit

runner = CliRunner()


def _options(command: str) -> dict:
    """``{parameter name: click option}`` of a scalemix command."""
    return {p.name: p for p in typer.main.get_command(app).commands[command].params}


def test_method_options_are_keywords_of_the_method_functions():
    assert list(_METHOD_OPTIONS) == list(METHODS)
    for method, names in _METHOD_OPTIONS.items():
        accepted = signature(METHODS[method]).parameters
        assert set(names) <= set(accepted), method
        assert ("progress" in accepted) == (method in _SHOWS_PROGRESS), method


def test_every_method_flag_is_taken_by_some_method():
    flags = set(_options("fit")) - {"source", "law", "out", "target", "method", "law_option", "as_json", "extrapolation",
                                    "tracking_uri"}
    assert flags == {name for names in _METHOD_OPTIONS.values() for name in names}


def test_fit_help_states_the_method_defaults():
    """Each 'default X' in a fit flag's help is the default of that keyword in every method that takes it."""
    stated = {"off": False, "on": True}
    for name, option in _options("fit").items():
        found = re.search(r"default ([^;)\s]+)", option.help or "")
        takers = [m for m, names in _METHOD_OPTIONS.items() if name in names]
        if not takers:
            continue
        assert found, f"--{name} states no default"
        text = found.group(1)
        for method in takers:
            default = signature(METHODS[method]).parameters[name].default
            expected = stated.get(text, text) if isinstance(default, (bool, str)) else float(text)
            assert default == expected, (name, method)
        assert f"Methods: {', '.join(takers)}." in option.help


def test_optimize_and_front_share_the_constraint_options():
    optimize, front = _options("optimize"), _options("front")
    shared = ("minimum", "maximum", "cap_from", "max_epochs", "kl_to", "kl")
    for name in shared:
        assert (optimize[name].opts, optimize[name].help, optimize[name].default) == (front[name].opts, front[name].help, front[name].default)
    assert "constraints" not in optimize and "constraints" not in front


def test_key_values_parses_numbers_and_booleans_and_names_the_option():
    assert _key_values("f=linear, k=3,x=1e10,on=true", "--law-option", "f=linear") == {"f": "linear", "k": 3, "x": 1e10, "on": True}
    with pytest.raises(FitError, match=r"--at 'params' is not KEY=VALUE \(e.g. --at params=1e10\)"):
        _key_values("params", "--at", "params=1e10")


@pytest.fixture(scope="module")
def svi_fit(tmp_path_factory):
    """A tiny SVI fit of the power law to 12 runs, made with the SVI flags under test."""
    folder = tmp_path_factory.mktemp("svi")
    n = np.logspace(7, 10, 12)
    loss = (400.0 * n ** -0.3 + 1.5) * np.exp(0.01 * np.random.default_rng(0).standard_normal(n.size))
    pl.DataFrame({"run_id": [f"r{i}" for i in range(12)], "target": "val", "params": n, "tokens": 1e10, "loss": loss}).write_csv(folder / "runs.csv")
    result = runner.invoke(app, ["fit", str(folder / "runs.csv"), "--law", "power", "--method", "svi", "--steps", "200", "--draws", "100",
                                 "--learning-rate", "0.02", "--init", "prior", "--seed", "3", "--out", str(folder / "fit"), "--json"])
    assert result.exit_code == 0, result.output
    return folder / "fit", json.loads(result.stdout)


def test_svi_flags_reach_the_fit(svi_fit):
    out, summary = svi_fit
    settings = summary["provenance"]["settings"]
    assert (settings["steps"], settings["learning_rate"], settings["init"], settings["seed"]) == (200, 0.02, "prior", 3)
    assert summary["draws"] == 100 and summary["diagnostics"]["steps"] == 200
    defaults = signature(METHODS["svi"]).parameters  # flags not given keep the function's defaults
    assert (settings["likelihood"], settings["hierarchical"]) == (defaults["likelihood"].default, defaults["hierarchical"].default)
    assert Fit.load(out).provenance["settings"] == settings


def test_compare_prints_the_table_and_the_diagnostics_warnings(svi_fit):
    """The fit compared with itself (under two spellings of its path): the table, then one
    scalemix.diagnostics warning per model with runs whose Pareto k is too high."""
    paths = [str(svi_fit[0]), str(svi_fit[0]) + "/"]
    result = runner.invoke(app, ["compare", *paths])
    assert result.exit_code == 0, result.output
    table = compare({path: Fit.load(path) for path in paths})
    lines = result.stdout.splitlines()
    assert lines[0].split() == table.columns
    assert [line.split()[0] for line in lines[1:3]] == table["model"].to_list()
    bad = table.filter(pl.col("pareto_k_bad") > 0).iter_rows(named=True)
    assert lines[3:] == []  # warnings go to stderr, one line each
    assert result.stderr.splitlines() == [f"warning: {diagnostics.loo_warning(row['model'], row['pareto_k_bad'])}" for row in bad]
