"""``wandb:DIR`` (:mod:`scalemix.sources.wandb`): runs written by the real wandb package in offline mode read
to the same run table as the same runs written to CSV by the test from the values it logged; through a spec
file and the CLI; a run killed while it logs; W&B's UI export; one-line errors.

The runs are written once per module (``logged``, about 5 s); the killed run by one subprocess (``killed``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from _support import refused
from scalemix import runs, sources
from scalemix.cli import main
from scalemix.errors import RunTableError

MAPPING = {
    "params": "config.n_params",
    "tokens": "config.tokens",
    "loss_columns": r"val/(.*)_loss",
    "weight_columns": r"config\.mix\.(.*)",
}
"""How the table of a ``wandb:`` source maps to a run table (the options of the issue's example)."""

STEPS = (0, 10, 20)
SWEEP = (  # name, n_params, tokens, share of English
    ("tiny", 1.5e7, 3.1e8, 0.25),
    ("small", 4.5e7, 9.3e8, 0.5),
    ("medium", 1.35e8, 2.7e9, 0.75),
    ("large", 4.05e8, 8.1e9, 0.875),
)


def config(n_params, tokens, share):
    return {"n_params": n_params, "tokens": tokens, "mix": {"en": share, "de": 1 - share}, "optimizer": "adamw",
            "lr": 6e-4 * (1.5e7 / n_params) ** 0.5}


def logged_at(step, n_params, share):
    """What a run logs at ``step``: an English loss every step, a German one every other logged step."""
    base = 1.69 + 406.4 / n_params**0.34 + 1.0 / (step + 3)
    values = {"val/en_loss": round(base + 0.2 * (1 - share), 6), "train/tokens_per_s": 1234.5 + step}
    if step in (0, 20):
        values["val/de_loss"] = round(base + 0.3 * share, 6)
    return values


def killed_loss(step):
    return 2.0 + 1.0 / (step + 1.5)  # the same expression as in KILLED_SCRIPT


KILLED_SCRIPT = """
import itertools, sys, wandb
run = wandb.init(mode="offline", dir=sys.argv[1], name="killed", settings=wandb.Settings(console="off", x_disable_stats=True),
                 config={"n_params": 2.5e7, "tokens": 5.1e8, "mix": {"en": 0.5, "de": 0.5}})
print(run.id, flush=True)
sys.stdin.readline()
for step in itertools.count():
    run.log({"val/en_loss": 2.0 + 1.0 / (step + 1.5)}, step=step)
"""
"""An offline run that prints its id, waits for a line on stdin, then logs until it is killed."""


def offline(patch: pytest.MonkeyPatch, root: Path) -> None:
    """wandb offline and quiet, its settings, caches and runs under ``root``."""
    for name, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off",
                        "WANDB_DISABLE_GIT": "true", "WANDB_DIR": root}.items():
        patch.setenv(name, str(value))
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        patch.setenv(name, str(root / ".wandb-home" / name.lower()))


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """``(root, ids)``: the SWEEP's runs, logged with ``wandb.init(mode="offline")`` into ``root/wandb/``, and
    the W&B id of each (name -> id); and in ``root/clash/`` a run that logs a metric named ``step``."""
    root = tmp_path_factory.mktemp("wandb_sweep")
    with pytest.MonkeyPatch.context() as patch:
        offline(patch, root)
        import wandb

        quiet = wandb.Settings(console="off", x_disable_stats=True, x_disable_machine_info=True, save_code=False)
        ids = {}
        for name, n_params, tokens, share in SWEEP:
            run = wandb.init(mode="offline", dir=root, project="scalemix", name=name,
                             config=config(n_params, tokens, share), settings=quiet)
            for step in STEPS:
                run.log(logged_at(step, n_params, share), step=step)
            run.finish()
            ids[name] = run.id
        (root / "clash").mkdir()
        run = wandb.init(mode="offline", dir=root / "clash", name="clash", config=config(1.5e7, 3.1e8, 0.5), settings=quiet)
        run.log({"step": 7, "val/en_loss": 2.5}, step=0)
        run.finish()
        wandb.teardown()
    return root, ids


def expected_rows(ids, history):
    """The rows a ``wandb:`` source should read, from the values the test logged: one per run (its last
    values), or one per run and step."""
    rows = []
    for name, n_params, tokens, share in SWEEP:
        constants = {"run_id": ids[name], "name": name,
                     **{f"config.{k}": v for k, v in config(n_params, tokens, share).items() if k != "mix"},
                     "config.mix.en": share, "config.mix.de": 1 - share}
        steps = [{"step": step, **logged_at(step, n_params, share)} for step in STEPS]
        if history:
            rows += [{**constants, **values} for values in steps]
        else:
            last = {k: v for values in steps for k, v in values.items() if k != "step"}
            rows.append({**constants, **last})
    return rows


def written_csv(path: Path, rows) -> Path:
    pl.DataFrame(rows).write_csv(path)
    return path


def test_a_wandb_folder_reads_as_the_same_runs_written_to_csv(logged, tmp_path):
    root, ids = logged
    csv = written_csv(tmp_path / "runs.csv", expected_rows(ids, history=False))
    table = runs.read(f"wandb:{root}", **MAPPING)
    assert table.fingerprint() == runs.read(csv, **MAPPING).fingerprint()
    assert sorted(table.runs) == sorted(ids.values()) and table.targets == ("de", "en")
    assert runs.read(f"wandb:{root / 'wandb'}", **MAPPING).fingerprint() == table.fingerprint()  # the wandb/ folder itself


def test_history_reads_as_the_same_step_rows_written_to_csv(logged, tmp_path):
    root, ids = logged
    csv = written_csv(tmp_path / "steps.csv", expected_rows(ids, history=True))
    table = runs.read(f"wandb:{root}", history=True, **MAPPING)
    assert table.fingerprint() == runs.read(csv, **MAPPING).fingerprint()
    assert table.rejected.height == len(SWEEP)  # val/de_loss was not logged at step 10: those rows are set aside


def test_the_raw_table_has_ids_names_config_and_metrics_without_wandb_keys(logged):
    root, ids = logged
    frame = sources.read(f"wandb:{root}", history=True)
    assert frame.columns[:3] == ["run_id", "name", "step"] and frame.schema["step"] == pl.Int64
    assert set(frame.columns[3:]) == {"config.n_params", "config.tokens", "config.mix.en", "config.mix.de", "config.optimizer",
                                      "config.lr", "val/en_loss", "val/de_loss", "train/tokens_per_s"}
    assert frame.equals(frame.sort("run_id", "step")) and frame.height == len(SWEEP) * len(STEPS)
    assert frame.filter(pl.col("name") == "small")["run_id"].unique().to_list() == [ids["small"]]


def test_a_run_folder_itself_and_a_synced_runs_folder_read_as_one_run(logged, tmp_path):
    root, ids = logged
    (folder,) = (root / "wandb").glob(f"offline-run-*-{ids['tiny']}")
    assert sources.read(f"wandb:{folder}")["run_id"].to_list() == [ids["tiny"]]
    synced = shutil.copytree(folder, tmp_path / "wandb" / f"run-20260101_000000-{ids['tiny']}")  # as an online run names it
    assert sources.read(f"wandb:{tmp_path}").equals(sources.read(f"wandb:{synced}"))


def test_a_spec_file_names_the_folder_relative_to_itself(logged, tmp_path, capsys):
    root, ids = logged
    spec = root / "runs.toml"
    spec.write_text('[runs]\nmetrics = "wandb:wandb"\nparams = "config.n_params"\ntokens = "config.tokens"\n'
                    'loss_columns = "val/(.*)_loss"\nweight_columns = "config\\\\.mix\\\\.(.*)"\n')
    expected = runs.read(written_csv(tmp_path / "runs.csv", expected_rows(ids, history=False)), **MAPPING).fingerprint()
    assert runs.read(spec).fingerprint() == expected
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(["inspect", str(spec), "--json"])
    assert stopped.value.code == 0 and json.loads(capsys.readouterr().out)["fingerprint"] == expected


def test_the_csv_that_the_wandb_ui_exports_reads_with_run_id_name(logged, tmp_path):
    """W&B's runs table exports Name, State, Notes, User, Tags, Created, Runtime, Sweep, then the config keys
    (nested ones joined with '.') and summary metrics as they are named; the same runs read from the folder
    by display name give the same runs, losses and weights."""
    root, ids = logged
    exported = []
    for row in expected_rows(ids, history=False):
        ui = {"Name": row["name"], "State": "finished", "Notes": None, "User": "someone", "Tags": None,
              "Created": "2026-12-02T03:23:27.000Z", "Runtime": 2, "Sweep": None}
        exported.append({**ui, **{k.removeprefix("config."): v for k, v in row.items() if k not in ("run_id", "name")}})
    export = written_csv(tmp_path / "wandb_export.csv", exported)
    from_ui = runs.read(export, run_id="Name", params="n_params", tokens="tokens", loss_columns=r"val/(.*)_loss",
                        weight_columns=r"mix\.(.*)")
    from_folder = runs.read(f"wandb:{root}", run_id="name", ignore_columns=["run_id"], **MAPPING)
    standard = ["run_id", "params", "tokens", "target", "loss", "w.de", "w.en"]
    assert from_ui.frame.select(standard).sort("run_id", "target").equals(from_folder.frame.select(standard).sort("run_id", "target"))
    assert sorted(from_ui.runs) == sorted(name for name, *_ in SWEEP)


# -- a run killed while it logs -------------------------------------------------------------------------------


def until(condition, seconds=60.0):
    """Wait until ``condition()`` holds (at most ``seconds``)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """``(before, after, run_id)``: copies of the folder of a run that was SIGKILLed while logging, taken
    right after ``wandb.init`` (before W&B wrote anything of the run) and after the kill (when its log held
    at least two 32 KiB blocks). A copy cannot grow while the test reads it, as the live log might while
    W&B's service outlives the script by a moment."""
    root = tmp_path_factory.mktemp("wandb_killed")
    with pytest.MonkeyPatch.context() as patch:
        offline(patch, root / "live")
        child = subprocess.Popen([sys.executable, "-c", KILLED_SCRIPT, str(root / "live")], text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    with child:
        try:
            run_id = child.stdout.readline().strip()
            (folder,) = (root / "live" / "wandb").glob(f"offline-run-*-{run_id}")
            log = folder / f"run-{run_id}.wandb"
            until(log.exists)
            before = shutil.copytree(folder, root / "before" / folder.name)
            child.stdin.write("go\n")
            child.stdin.flush()
            until(lambda: log.stat().st_size >= 2 * 32768)
        finally:
            child.kill()
        child.wait()
        after = shutil.copytree(folder, root / "after" / folder.name)
    return before.parent, after.parent, run_id


def test_a_run_killed_while_logging_reads_as_far_as_its_log_goes(killed):
    _, after, run_id = killed
    steps = sources.read(f"wandb:{after}", history=True)
    count = steps.height
    assert count > 10 and steps["step"].to_list() == list(range(count))
    assert steps["val/en_loss"].to_list() == [killed_loss(step) for step in range(count)]
    summary = sources.read(f"wandb:{after}")
    assert summary.select("run_id", "name", "val/en_loss").row(0) == (run_id, "killed", killed_loss(count - 1))
    assert runs.read(f"wandb:{after}", **MAPPING).runs == (run_id,)


def test_a_run_killed_before_wandb_wrote_it_is_an_error_naming_its_log(killed):
    before, _, run_id = killed
    with pytest.raises(RunTableError, match=rf"run-{run_id}\.wandb holds no run"):
        sources.read(f"wandb:{before}")


# -- errors -----------------------------------------------------------------------------------------------


def test_a_metric_named_as_the_step_column_is_refused_with_history(logged):
    root, _ = logged
    with pytest.raises(RunTableError, match=r"logged a metric named 'step'.*read without history"):
        sources.read(f"wandb:{root / 'clash'}", history=True)
    assert sources.read(f"wandb:{root / 'clash'}")["step"].to_list() == [7]


def test_a_run_in_two_folders_is_refused(logged, tmp_path):
    root, ids = logged
    (folder,) = (root / "wandb").glob(f"offline-run-*-{ids['tiny']}")
    for copy in ("offline-run-1-x", "offline-run-2-x"):
        shutil.copytree(folder, tmp_path / copy)
    with pytest.raises(RunTableError, match=rf"run '{ids['tiny']}' is in two folders"):
        sources.read(f"wandb:{tmp_path}")


def test_bad_sources_are_one_line_on_the_command_line(logged, tmp_path, capsys):
    root, _ = logged
    refused(capsys, ["inspect", f"wandb:{tmp_path / 'nowhere'}"], f"wandb:{tmp_path / 'nowhere'}", "no such folder")
    (tmp_path / "notes.txt").write_text("no runs here")
    refused(capsys, ["inspect", f"wandb:{tmp_path}"], "no W&B run folders", "notes.txt")
    broken = tmp_path / "wandb" / "offline-run-20260101_000000-broken"
    broken.mkdir(parents=True)
    (broken / "run-broken.wandb").write_bytes(b"not a transaction log")
    refused(capsys, ["inspect", f"wandb:{tmp_path}"], "cannot read the transaction log", str(broken / "run-broken.wandb"))
