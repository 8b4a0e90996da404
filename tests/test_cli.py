"""The scalemix command: output of each command, and one-line errors with exit code 2 from main()."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from scalemix import __version__, datasets
from scalemix.cli import app, main
from scalemix.errors import RunTableError

runner = CliRunner()


@pytest.fixture
def bad_csv(tmp_path):
    """The acceptance file: a NaN loss in row 1 and weights summing to 1.2 in row 2."""
    path = tmp_path / "bad.csv"
    path.write_text(
        "run_id,params,tokens,target,loss,w.a,w.b\nr1,1e6,1e9,val,nan,0.5,0.5\nr2,1e6,1e9,val,3.0,0.7,0.5\n"
    )
    return path


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "inspect" in result.stdout and "datasets" in result.stdout and "--debug" in result.stdout


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"scalemix {__version__}"


def test_datasets_lists_one_line_each():
    result = runner.invoke(app, ["datasets"])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == datasets.names()
    assert lines[0].endswith(datasets.describe("chinchilla"))


def test_datasets_show_text_and_json():
    text = runner.invoke(app, ["datasets", "show", "regmix-1m-train"])
    assert text.exit_code == 0 and "6656" in text.stdout and "MIT" in text.stdout
    shown = runner.invoke(app, ["datasets", "show", "chinchilla", "--json"])
    assert json.loads(shown.stdout)["rows"] == 240


def test_inspect_chinchilla_json_reports_240_rows_and_only_json():
    result = runner.invoke(app, ["inspect", "chinchilla", "--json"])
    assert result.exit_code == 0
    summary = json.loads(result.stdout)  # fails if anything but JSON is on stdout
    assert summary["rows"] == 240 and summary["runs"] == 240
    assert summary["rejected"]["rows"] == 5
    assert summary["ranges"]["loss"] == [2.0773942450664395, 3.4059279641864753]


def test_inspect_text_shows_counts_rejected_rows_and_notes(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("run_id,params,tokens,target,loss\nr1,1e6,1e9,val,3.0\nr2,2e6,1e9,val,diverged\n")
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0
    assert "1 (1 runs)" in result.stdout
    assert "diverged" in result.stdout and "loss is not a number" in result.stdout
    assert "note: set aside 1 of 2 rows" in result.stdout


def test_inspect_reads_spec_files(tmp_path):
    (tmp_path / "runs.csv").write_text("id,N,loss\na,1e6,3.0\n")
    spec = '[runs]\nmetrics = "runs.csv"\nrun_id = "id"\nparams = "N"\ntokens = 1e9\ntarget = "c4"\n'
    (tmp_path / "spec.toml").write_text(spec)
    result = runner.invoke(app, ["inspect", str(tmp_path / "spec.toml"), "--json"])
    assert json.loads(result.stdout)["targets"] == ["c4"]


def test_main_turns_errors_into_one_line_and_exit_code_2(bad_csv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["inspect", str(bad_csv), "--json"])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"scalemix: error: {bad_csv} row 2 (run 'r2'), columns 'w.a', 'w.b': weights sum to 1.2, more than 0.01 "
        "away from 1; make each row's weights the shares of its training mixture, summing to 1\n"
    )


def test_main_reports_unknown_sources_and_debug_shows_the_traceback(capsys):
    with pytest.raises(SystemExit):
        main(["inspect", "no-such-dataset"])
    assert capsys.readouterr().err.startswith("scalemix: error: 'no-such-dataset' is neither a file nor a dataset")
    with pytest.raises(RunTableError):
        main(["--debug", "inspect", "no-such-dataset"])


@pytest.mark.parametrize("argv", [[], ["--help"], ["fit", "--help"]])
def test_main_shows_the_help_and_exits_0(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "Usage: scalemix" in out and ("--law" in out) == bool(argv[:1] == ["fit"])


def test_main_prints_the_version_and_exits_0(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"scalemix {__version__}\n"


def test_main_prints_a_usage_error_as_one_line_with_the_value_given(capsys):
    """Click's own errors (a value typer cannot convert) come out as the one-line shape of every refusal."""
    with pytest.raises(SystemExit) as stop:
        main(["fit", "chinchilla", "--law", "chinchilla", "--out", "x", "--n-boot=abc"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert err.startswith("scalemix: error: Invalid value for '--n-boot': ")
    assert err.endswith("; got 'abc' (see 'scalemix fit --help')\n")


def test_console_script_exit_code_and_single_error_line(bad_csv):
    script = shutil.which("scalemix", path=str(Path(sys.executable).parent))
    assert script is not None, "the scalemix console script is not installed beside this python"
    result = subprocess.run([script, "inspect", str(bad_csv)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "row 2 (run 'r2'), columns 'w.a', 'w.b'" in lines[0]


def test_importing_the_cli_does_not_import_polars_or_jax():
    code = "import sys, scalemix.cli; print(sorted({'polars', 'jax'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]"


def test_console_script_keeps_compiled_programs_in_the_cache_folder(tmp_path):
    """Each command is a new process: the compiled point-fit solver lands in ~/.cache/scalemix/xla (JAX's
    persistent cache) for the next command to load; an empty $SCALEMIX_CACHE_DIR turns the cache off."""
    script = shutil.which("scalemix", path=str(Path(sys.executable).parent))
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_") and k != "SCALEMIX_CACHE_DIR"}
    for home, extra in (("on", {}), ("off", {"SCALEMIX_CACHE_DIR": ""})):
        (tmp_path / home).mkdir()
        result = subprocess.run([script, "fit", "chinchilla", "--law", "power", "--no-extrapolation",
                                 "--out", str(tmp_path / "fit")],
                                capture_output=True, text=True, timeout=300, env={**env, "HOME": str(tmp_path / home), **extra})
        assert result.returncode == 0, result.stderr
    assert any((tmp_path / "on" / ".cache" / "scalemix" / "xla").iterdir())
    assert not (tmp_path / "off" / ".cache").exists()


def test_optimize_baselines_are_training_mixtures_or_uniform_over_trained_domains(saved_mixture_fit, capsys):
    from scalemix.fitresult import Fit

    def optimum(baseline):
        with pytest.raises(SystemExit) as stopped:
            main(["optimize", str(saved_mixture_fit), "--params", "1e9", "--baseline", baseline, "--json"])
        assert stopped.value.code == 0
        return json.loads(capsys.readouterr().out)

    mixtures = Fit.load(saved_mixture_fit).fitted_range.mixtures
    nearest = optimum("nearest")
    base = np.array([nearest["baseline"][d] for d in ("de", "fr")])
    expected = np.array([nearest["expected"]["weights"][d] for d in ("de", "fr")])
    distances = 0.5 * np.abs(mixtures - expected).sum(axis=1)
    np.testing.assert_allclose(base, mixtures[np.argmin(distances)])  # a trained mixture, the nearest one
    assert optimum("uniform")["baseline"] == {"de": 0.5, "fr": 0.5}
