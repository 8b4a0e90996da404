"""The ``mlflow:EXPERIMENT`` source, on runs logged with MLflow's own API to a real tracking server (``mlflow
server`` on a sqlite backend, started once for the module), to a sqlite store and to a file store: each reads
to the same RunTable (same fingerprint) as the same runs written as CSV by the test from the values it logged."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow  # the test extra installs it: a missing mlflow fails these tests, it does not skip them
import mlflow.tracking._tracking_service.utils as tracking_state  # mlflow.set_tracking_uri's global
import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from _support import refused
from scalemix import runs, sources
from scalemix.cli import main
from scalemix.errors import RunTableError


EXPERIMENT = "sweep"
MAPPING = {
    "params": "params.n_params",
    "tokens": "params.tokens",
    "loss_columns": r"metrics\.val/(.*)_loss",
    "weight_columns": r"params\.mix\.(.*)",
}
STEPS = (100, 200, 300)
TARGETS = ("de", "fr")


@dataclasses.dataclass(frozen=True)
class LoggedRun:
    """What the test logs for one run: params, tags, and each target's loss by step."""

    n_params: int
    share_de: float
    seed: int
    losses: dict[str, dict[int, float]]

    @property
    def params(self) -> dict[str, object]:
        return {"n_params": self.n_params, "tokens": 20 * self.n_params, "mix.de": self.share_de,
                "mix.fr": round(1 - self.share_de, 2)}

    @property
    def tags(self) -> dict[str, object]:
        return {"team": "lm", "seed": self.seed}

    def logged_at(self, step: int) -> dict[str, float]:
        return {f"val/{t}_loss": by_step[step] for t, by_step in self.losses.items() if step in by_step}


def _losses(index: int, targets=TARGETS, steps=STEPS) -> dict[str, dict[int, float]]:
    return {t: {s: round(2.0 + 3.0 / (1 + index) + 0.25 * (t == "fr") + 50.0 / s, 6) for s in steps} for t in targets}


RUNS = {
    f"r{i}": LoggedRun(n_params=n, share_de=share, seed=i, losses=_losses(i))
    for i, (n, share) in enumerate(zip((1_000_000, 3_000_000, 10_000_000, 30_000_000, 100_000_000), (0.1, 0.3, 0.5, 0.7, 0.9)))
}
RUNS["r3"].losses["fr"].pop(200)  # r3 skipped its fr eval at step 200
RUNS["crashed"] = LoggedRun(n_params=3_000_000, share_de=0.5, seed=9, losses=_losses(9, targets=("de",), steps=(100, 200)))
RELOGGED = 2.875  # r1's de loss at step 300, logged again later (kept); a value logged with an earlier timestamp is not
RUNS["r1"].losses["de"][300] = RELOGGED


def log_sweep(uri: str) -> dict[str, str]:
    """Log RUNS to experiment 'sweep' at ``uri`` with MLflow's fluent API (plus a deleted run and an empty
    experiment 'empty'); returns run name -> run id."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tracking_state, "_tracking_uri", None)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        experiment_id = mlflow.create_experiment(EXPERIMENT)
        ids = {}
        for name, run in {**RUNS, "deleted": RUNS["r0"]}.items():
            with mlflow.start_run(experiment_id=experiment_id, run_name=name) as active:
                mlflow.log_params(run.params)
                mlflow.set_tags(run.tags)
                for step in STEPS:
                    values = run.logged_at(step)
                    if (name, step) == ("r1", 300):
                        values["val/de_loss"] = RELOGGED + 1.0  # superseded by RELOGGED, logged below
                    if values:
                        mlflow.log_metrics(values, step=step)
            ids[name] = active.info.run_id
        client = MlflowClient(uri)
        now = int(time.time() * 1000)
        client.log_metric(ids["r1"], "val/de_loss", RELOGGED, timestamp=now + 60_000, step=300)
        client.log_metric(ids["r1"], "val/de_loss", 9.5, timestamp=1, step=300)
        client.delete_run(ids.pop("deleted"))
        client.create_experiment("empty")
    return ids


# -- the stores: a tracking server, a sqlite store, a file store ----------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_server(root: Path) -> tuple[subprocess.Popen, str]:
    """``mlflow server`` on a fresh sqlite backend at 127.0.0.1 (its own process group), and its URI."""
    port = _free_port()
    with (root / "server.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
             "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no job-runner processes
        )
    return process, f"http://127.0.0.1:{port}"


def _wait_for(process: subprocess.Popen, uri: str, root: Path, limit: float = 120.0) -> None:
    """Return once the server answers /health; raise with its log if it exits or stays silent for ``limit`` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"mlflow server did not answer at {uri}: {(root / 'server.log').read_text()[-2000:]}")


def _stop(process: subprocess.Popen) -> None:
    """Stop the server and its workers (its process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclasses.dataclass(frozen=True)
class Stores:
    uris: dict[str, str]  # kind -> tracking URI
    ids: dict[str, dict[str, str]]  # kind -> run name -> run id
    root: Path


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """The sweep logged to a tracking server, a sqlite store and a file store (MLflow 3 opens a file store only
    with MLFLOW_ALLOW_FILE_STORE=true). The server boots (12 s on 2 cores, up to 25 s when they are busy) while
    the others are logged."""
    root = tmp_path_factory.mktemp("mlflow")
    process, server = _start_server(root)
    try:
        (root / "sqlite").mkdir()
        uris = {"sqlite": f"sqlite:///{root / 'sqlite' / 'mlflow.db'}", "file": (root / "mlruns").as_uri(), "server": server}
        ids = {"sqlite": log_sweep(uris["sqlite"])}
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
            ids["file"] = log_sweep(uris["file"])
        _wait_for(process, server, root)
        ids["server"] = log_sweep(server)
        yield Stores(uris, ids, root)
    finally:
        _stop(process)


@pytest.fixture
def file_store_allowed(monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


KINDS = ("server", "sqlite", "file")


# -- the same runs as a CSV file, written from the values the test logged -----------------------------------


def csv_table(tmp_path: Path, ids: dict[str, str], history: bool = False) -> runs.RunTable:
    rows = []
    for name, run in RUNS.items():
        constant = {"run_id": ids[name], **{f"params.{k}": v for k, v in run.params.items()},
                    **{f"tags.{k}": v for k, v in run.tags.items()}, "tags.mlflow.runName": name}
        if history:
            steps = sorted({s for by_step in run.losses.values() for s in by_step})
            rows += [{**constant, "step": s, **{f"metrics.val/{t}_loss": run.losses.get(t, {}).get(s) for t in TARGETS}}
                     for s in steps]
        else:
            last = {f"metrics.val/{t}_loss": run.losses[t][max(run.losses[t])] if t in run.losses else None for t in TARGETS}
            rows.append({**constant, **last})
    path = tmp_path / ("history.csv" if history else "runs.csv")
    pl.DataFrame(rows).write_csv(path)
    return runs.read(path, **MAPPING)


def _same(table: runs.RunTable, expected: runs.RunTable) -> None:
    assert table.fingerprint() == expected.fingerprint()
    rejected = [t.rejected.select("run_id", "column", "value", "reason").sort("run_id", "column") for t in (table, expected)]
    assert rejected[0].equals(rejected[1]) and rejected[0].height > 0


@pytest.mark.parametrize("kind", KINDS)
def test_an_experiment_reads_to_the_same_table_as_its_runs_written_as_csv(stores, kind, tmp_path, file_store_allowed):
    table = runs.read(f"mlflow:{EXPERIMENT}", tracking_uri=stores.uris[kind], **MAPPING)
    _same(table, csv_table(tmp_path, stores.ids[kind]))
    assert table.source == f"mlflow:{EXPERIMENT}" and set(table.domains) == {"de", "fr"}


@pytest.mark.parametrize("kind", KINDS)
def test_history_reads_one_row_per_step_as_a_csv_with_a_step_column(stores, kind, tmp_path, file_store_allowed):
    table = runs.read(f"mlflow:{EXPERIMENT}", tracking_uri=stores.uris[kind], history=True, **MAPPING)
    _same(table, csv_table(tmp_path, stores.ids[kind], history=True))
    assert sorted(table.frame["step"].unique()) == list(STEPS)


def test_a_spec_file_names_the_experiment_and_its_tracking_uri(stores, tmp_path):
    spec = tmp_path / "runs.toml"
    options = "\n".join(f"{key} = '{value}'" for key, value in MAPPING.items())
    spec.write_text(f"[runs]\nmetrics = 'mlflow:{EXPERIMENT}'\ntracking_uri = '{stores.uris['server']}'\n{options}\n")
    table = runs.read(spec)
    _same(table, csv_table(tmp_path, stores.ids["server"]))
    history = runs.read(spec, history=True)
    _same(history, csv_table(tmp_path, stores.ids["server"], history=True))


def test_the_raw_table_has_mlflows_column_names_less_run_info_and_system_tags(stores, monkeypatch):
    raw = sources.read(f"mlflow:{EXPERIMENT}", tracking_uri=stores.uris["server"])
    assert raw.columns == ["run_id", "params.mix.de", "params.mix.fr", "params.n_params", "params.tokens",
                           "metrics.val/de_loss", "metrics.val/fr_loss", "tags.mlflow.runName", "tags.seed", "tags.team"]
    assert raw.schema["params.n_params"] == pl.Int64 and raw.schema["params.mix.de"] == pl.Float64
    assert raw.schema["tags.seed"] == pl.Int64 and raw.schema["metrics.val/de_loss"] == pl.Float64
    ids = stores.ids["server"]
    assert raw["run_id"].to_list() == sorted(ids.values())  # active runs only (the deleted one is left out)
    relogged = raw.filter(pl.col("run_id") == ids["r1"])["metrics.val/de_loss"].item()
    assert relogged == RELOGGED
    monkeypatch.setattr(tracking_state, "_tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stores.uris["server"])
    theirs = mlflow.search_runs(experiment_names=[EXPERIMENT])
    assert set(raw.columns) <= set(theirs.columns)
    left_out = set(theirs.columns) - set(raw.columns)
    assert {"experiment_id", "status", "artifact_uri", "start_time", "end_time", "tags.mlflow.user"} <= left_out
    assert all(c.startswith("tags.mlflow.") for c in left_out - {"experiment_id", "status", "artifact_uri", "start_time", "end_time"})


def test_a_run_with_a_missing_metric_is_set_aside_and_counted(stores):
    table = runs.read(f"mlflow:{EXPERIMENT}", tracking_uri=stores.uris["server"], **MAPPING)
    crashed = stores.ids["server"]["crashed"]
    assert table.rejected.select("run_id", "column").rows() == [(crashed, "metrics.val/fr_loss")]
    assert any("set aside 1 of 12 rows" in note for note in table.notes)
    assert table.frame.filter(pl.col("run_id") == crashed)["target"].to_list() == ["de"]
    history = runs.read(f"mlflow:{EXPERIMENT}", tracking_uri=stores.uris["server"], history=True, **MAPPING)
    assert history.rejected.height == 3  # crashed's fr at steps 100 and 200, r3's fr at step 200


def test_a_mapping_that_matches_nothing_lists_the_columns_there_are(stores):
    with pytest.raises(RunTableError, match="matches no column") as raised:
        runs.read(f"mlflow:{EXPERIMENT}", tracking_uri=stores.uris["sqlite"], **{**MAPPING, "loss_columns": r"metrics\.test/(.*)"})
    assert "'metrics.val/de_loss'" in str(raised.value) and "\n" not in str(raised.value)


def test_an_unknown_experiment_lists_the_experiments_there(stores):
    with pytest.raises(RunTableError, match="no experiment named 'swep'") as raised:
        sources.read("mlflow:swep", tracking_uri=stores.uris["server"])
    assert "experiments there: 'Default', 'empty', 'sweep'" in str(raised.value)


def test_an_experiment_without_runs_says_so(stores):
    with pytest.raises(RunTableError, match="mlflow:empty: experiment 'empty' at tracking URI .* has no active runs"):
        sources.read("mlflow:empty", tracking_uri=stores.uris["server"])


def test_a_store_that_does_not_exist_is_named_and_not_created(tmp_path):
    missing = tmp_path / "elsewhere.db"
    with pytest.raises(RunTableError, match=f"names {missing}, which does not exist"):
        sources.read(f"mlflow:{EXPERIMENT}", tracking_uri=f"sqlite:///{missing}")
    assert not missing.exists()


def test_a_file_store_is_read_only_with_mlflows_opt_in(stores, tmp_path, monkeypatch):
    copy = shutil.copytree(stores.root / "mlruns", tmp_path / "mlruns")  # a store MLflow has not opened (and cached)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(RunTableError, match=f"mlflow:{EXPERIMENT}: cannot open tracking URI .*MLFLOW_ALLOW_FILE_STORE=true"):
        sources.read(f"mlflow:{EXPERIMENT}", tracking_uri=copy.as_uri())


# -- which tracking URI: tracking_uri= > MLFLOW_TRACKING_URI > MLflow's default -----------------------------


def _read_ids(**options) -> set[str]:
    return set(sources.read(f"mlflow:{EXPERIMENT}", **options)["run_id"])


@pytest.fixture
def no_tracking_uri_set(monkeypatch):
    monkeypatch.setattr(tracking_state, "_tracking_uri", None)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_the_tracking_uri_option_wins_over_the_environment(stores, monkeypatch, no_tracking_uri_set):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stores.uris["server"])
    assert _read_ids(tracking_uri=stores.uris["sqlite"]) == set(stores.ids["sqlite"].values())
    assert _read_ids() == set(stores.ids["server"].values())


def test_the_environment_wins_over_mlflows_default(stores, monkeypatch, no_tracking_uri_set):
    monkeypatch.chdir(stores.root / "sqlite")  # where MLflow's default, sqlite:///mlflow.db, is the sqlite store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", stores.uris["server"])
    assert _read_ids() == set(stores.ids["server"].values())


def test_without_a_tracking_uri_mlflows_default_is_read(stores, monkeypatch, no_tracking_uri_set):
    monkeypatch.chdir(stores.root / "sqlite")
    assert _read_ids() == set(stores.ids["sqlite"].values())


def test_a_missing_default_store_says_no_tracking_uri_is_set(tmp_path, monkeypatch, no_tracking_uri_set):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunTableError, match=r"\(MLflow's default: no tracking URI is set\)"):
        sources.read(f"mlflow:{EXPERIMENT}")
    assert list(tmp_path.iterdir()) == []


# -- the command line -----------------------------------------------------------------------------------------


def test_cli_inspect_summarises_a_spec_read_at_the_tracking_uri_given_on_the_command_line(stores, tmp_path, capsys):
    spec = tmp_path / "runs.toml"
    options = "\n".join(f"{key} = '{value}'" for key, value in MAPPING.items())
    spec.write_text(f"[runs]\nmetrics = 'mlflow:{EXPERIMENT}'\ntracking_uri = '{stores.uris['sqlite']}'\n{options}\n")
    outputs = []
    for extra in ([], ["--json"]):
        with pytest.raises(SystemExit) as stopped:
            main(["inspect", str(spec), "--tracking-uri", stores.uris["server"], *extra])
        assert stopped.value.code == 0
        outputs.append(capsys.readouterr().out)
    text, summary = outputs[0], json.loads(outputs[1])
    assert "11 (6 runs)" in text and "1 rows set aside" in text and "loss is missing" in text
    assert summary["fingerprint"] == csv_table(tmp_path, stores.ids["server"]).fingerprint()  # the server's runs
    assert summary["runs"] == 6 and summary["rejected"]["rows"] == 1


def test_cli_refuses_an_unknown_experiment_in_one_line(stores, capsys):
    refused(capsys, ["inspect", "mlflow:swep", "--tracking-uri", stores.uris["server"]], "mlflow:swep", "'sweep'", "'empty'")


def test_cli_refuses_a_tracking_server_that_cannot_be_reached_in_one_line_and_seconds(capsys):
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    started = time.monotonic()
    refused(capsys, ["inspect", "mlflow:sweep", "--tracking-uri", uri], "mlflow:sweep", "cannot reach", uri)
    assert time.monotonic() - started < 20  # MLflow's own retries would take about four minutes
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ  # set for the read only
