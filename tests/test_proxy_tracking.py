"""proxy/tracking.py: sweeps that log to MLflow and resume from it, on a real MLflow store (SQLite in a
temporary folder). The module's sweep (``scalemix sweep`` as a subprocess, 12 runs) is SIGKILLed once
MLflow holds one of its runs, runs a killed sweep can leave unfinished are added, and it is resumed:
the tests then check MLflow and the run table against an uninterrupted sweep, re-log a run MLflow lost,
rebuild a lost run table from MLflow, and read the logged runs back with the ``mlflow:`` source. About
30 s on a quiet 2-core machine, most of it in the three sweep processes and creating the store."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from mlflow.entities import ViewType
from polars.testing import assert_frame_equal

from _support import SWEEP_CONFIG, CountingExecutor, refused
from scalemix import runs
from scalemix.errors import ScalemixError
from scalemix.proxy import sweep, tracking
from scalemix.sources import mlflow as mlflow_source

CONFIG = SWEEP_CONFIG.replace("n = 2,", "n = 12,")
"""12 runs of one shape in 12 jobs, each trained and logged in about 0.2 s once the first has compiled:
seconds for the test to kill the sweep after the first run is logged and before the last."""
EXPERIMENT = "proxy-sweep"
SCALEMIX = shutil.which("scalemix", path=str(Path(sys.executable).parent))


def _quiet(message):
    pass


def _runs(client, experiment_id, view=None):
    """Every MLflow run of the experiment (active ones, or of ``view``)."""
    options = {} if view is None else {"run_view_type": view}
    return list(client.search_runs([experiment_id], max_results=1000, **options))


def _finished(client, experiment_id):
    return [r for r in _runs(client, experiment_id) if r.info.status == "FINISHED"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The killed and resumed sweep: a dict with the folder, config, tracking URI, client, experiment id,
    planned run ids, the runs trained after the resume, the unfinished runs before it and the deleted ones
    after, the resume's output and an uninterrupted sweep's table (run at the same time as the killed one)."""
    folder = tmp_path_factory.mktemp("tracking")
    (folder / "s.toml").write_text(CONFIG)
    config = sweep.load_config(folder / "s.toml")
    planned = [r.run_id for j in sweep.plan(config, say=_quiet) for r in j.runs]  # prepares the task arrays
    sweep_command = [SCALEMIX, "sweep", str(folder / "s.toml"), "--workers", "1", "--no-progress"]
    env = os.environ | {"SCALEMIX_CACHE_DIR": str(folder / "xla")}  # the sweeps share one compiled program
    reference = subprocess.Popen(sweep_command + ["--out", str(folder / "reference.parquet")], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client, _ = mlflow_source.client(uri)
    experiment_id = client.create_experiment(EXPERIMENT)  # creates the store's tables (5 s) before the sweep starts
    command = sweep_command + ["--out", str(folder / "runs.parquet"), "--log-to", f"mlflow:{EXPERIMENT}", "--tracking-uri", uri]
    with open(folder / "killed.log", "w") as log:
        killed = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 180
        while killed.poll() is None and not _finished(client, experiment_id) and time.monotonic() < deadline:
            time.sleep(0.02)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert killed.returncode == -signal.SIGKILL, (folder / "killed.log").read_text()
    logged = {r.data.tags[tracking.RUN_ID_TAG] for r in _finished(client, experiment_id)}
    assert 1 <= len(logged) < len(planned), f"killed with {len(logged)} of {len(planned)} runs in MLflow"
    in_table = set(pl.read_parquet(folder / "runs.parquet")["run_id"])  # the table is written before MLflow is
    # What a sweep killed while logging leaves: a run created and never ended, and one its tracking server failed.
    left = [r for r in planned if r not in logged]
    for proxy_id, status in ((left[0], None), (left[-1], "FAILED")):
        run = client.create_run(experiment_id, tags={tracking.RUN_ID_TAG: proxy_id, tracking.SWEEP_TAG: "test"})
        if status:
            client.set_terminated(run.info.run_id, status)
    unfinished = [r.info.run_id for r in _runs(client, experiment_id) if r.info.status != "FINISHED"]
    assert reference.wait(timeout=300) == 0, reference.stdout.read()
    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    deleted = [r.info.run_id for r in _runs(client, experiment_id, view=ViewType.DELETED_ONLY)]
    return {"folder": folder, "config": config, "uri": uri, "client": client, "experiment_id": experiment_id,
            "planned": planned, "trained_again": set(planned) - logged - in_table, "unfinished": unfinished,
            "deleted": deleted, "output": resumed.stdout, "reference": pl.read_parquet(folder / "reference.parquet")}


def test_a_killed_sweep_resumes_with_nothing_lost_or_duplicated(store):
    client, experiment_id = store["client"], store["experiment_id"]
    runs = _runs(client, experiment_id)
    assert sorted(r.data.tags[tracking.RUN_ID_TAG] for r in runs) == sorted(store["planned"])  # each exactly once
    assert len(store["planned"]) == 12
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert sorted(store["deleted"]) == sorted(store["unfinished"])
    assert f"deleted {len(store['unfinished'])} unfinished MLflow runs" in store["output"]
    assert f"{len(store['trained_again'])} to train" in store["output"]
    table = pl.read_parquet(store["folder"] / "runs.parquet")
    assert_frame_equal(table.drop("wall_s"), store["reference"].drop("wall_s"))  # wall_s is measured


def test_a_logged_run_holds_the_configuration_metrics_curve_and_tags(store):
    client, experiment_id = store["client"], store["experiment_id"]
    table = pl.read_parquet(store["folder"] / "runs.parquet")
    proxy_id = store["planned"][0]
    run = next(r for r in _runs(client, experiment_id) if r.data.tags[tracking.RUN_ID_TAG] == proxy_id)
    rows = table.filter(pl.col("run_id") == proxy_id)
    assert run.info.run_name == proxy_id and run.data.tags[tracking.SWEEP_TAG] == "test"
    assert set(run.data.params) == {
        "params", "tokens", "seed", "cohort", "mode", "d_model", "n_layers", "seq_len", "steps", "batch_size", "lr",
        "schedule", "embedding_params", "group_size", "device", "scalemix_version", "data_fingerprint",
        "corpus_fingerprint", "mix.de", "mix.en", "mix.fr", "vocab_size",
        "unique.de", "unique.en", "unique.fr", "epochs.de", "epochs.en", "epochs.fr",
    }
    assert float(run.data.params["mix.de"]) == rows["w.de"][0] and run.data.params["seed"] == "0"
    assert set(run.data.metrics) == {
        "loss.de", "loss.en", "loss.fr", "bits_per_source_byte.de", "bits_per_source_byte.en",
        "bits_per_source_byte.fr", "train_loss", "target_bytes", "flops", "wall_s", tracking.CURVE_METRIC,
    }
    assert run.data.metrics["loss.en"] == rows.filter(pl.col("target") == "en")["loss"][0]
    final = client.get_metric_history(run.info.run_id, "loss.en")
    assert [m.step for m in final] == [30]  # logged once, at the run's last step
    curve = client.get_metric_history(run.info.run_id, tracking.CURVE_METRIC)
    assert [m.step for m in curve] == list(range(1, 31))  # 30 steps: the trainer records every step
    assert curve[0].value > curve[-1].value  # it learns


def test_a_run_mlflow_lacks_is_logged_from_the_table(store):
    client, experiment_id = store["client"], store["experiment_id"]
    lost = next(r for r in _runs(client, experiment_id) if r.data.tags[tracking.RUN_ID_TAG] == store["planned"][-1])
    client.delete_run(lost.info.run_id)
    said, counting = [], CountingExecutor()
    log = tracking.MlflowLog(f"mlflow:{EXPERIMENT}", store["uri"], "test")
    sweep.run_sweep(store["config"], store["folder"] / "runs.parquet", counting, progress=False, say=said.append, log=log)
    assert counting.runs == 0
    assert f"mlflow:{EXPERIMENT}: logged 1 runs from {store['folder'] / 'runs.parquet'} that it lacked" in said
    runs = _runs(client, experiment_id)
    assert sorted(r.data.tags[tracking.RUN_ID_TAG] for r in runs) == sorted(store["planned"])
    again = next(r for r in runs if r.data.tags[tracking.RUN_ID_TAG] == lost.data.tags[tracking.RUN_ID_TAG])
    assert again.info.status == "FINISHED"
    assert again.data.params == lost.data.params
    assert {k: v for k, v in again.data.metrics.items() if k != tracking.CURVE_METRIC} == {
        k: v for k, v in lost.data.metrics.items() if k != tracking.CURVE_METRIC
    }


def test_a_lost_run_table_comes_back_from_mlflow(store, tmp_path):
    """The same values, types, columns and row order as the table the sweep wrote (wall_s included: it is
    logged as measured)."""
    written = pl.read_parquet(store["folder"] / "runs.parquet")
    out = tmp_path / "runs.parquet"
    said, counting = [], CountingExecutor()
    log = tracking.MlflowLog(f"mlflow:{EXPERIMENT}", store["uri"], "test")
    rebuilt = sweep.run_sweep(store["config"], out, counting, progress=False, say=said.append, log=log)
    assert counting.runs == 0
    assert f"sweep test: 12 runs, 0 already in {out}, 12 from mlflow:{EXPERIMENT}, 0 to train" in said
    assert_frame_equal(rebuilt, written)
    assert_frame_equal(pl.read_parquet(out), written)


def test_logging_refusals_are_one_line(store, capsys):
    toml = store["folder"] / "s.toml"
    refused(capsys, ["sweep", toml, "--log-to", "wandb:runs"], "--log-to 'wandb:runs'", "mlflow:EXPERIMENT")
    refused(capsys, ["sweep", toml, "--tracking-uri", store["uri"]], "--tracking-uri", "--log-to")
    gone = store["client"].create_experiment("gone")
    store["client"].delete_experiment(gone)
    with pytest.raises(ScalemixError, match=rf"mlflow:gone: the experiment is deleted .* --experiment-id {gone}\)"):
        tracking.MlflowLog("mlflow:gone", store["uri"], "test")
    with pytest.raises(ScalemixError, match="mlflow:x: the FINISHED run of proxy run abc has no metric 'loss.de'; delete"):
        tracking.rows_from({"seed": "0"}, {"loss.en": 1.0}, "abc", ("en", "de"), "mlflow:x")
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{free.getsockname()[1]}"
    started = time.monotonic()
    with pytest.raises(ScalemixError, match=rf"^mlflow:{EXPERIMENT}: opening the experiment at tracking URI {down} failed \("):
        tracking.MlflowLog(f"mlflow:{EXPERIMENT}", down, "test")
    assert time.monotonic() - started < 30  # bounded retries (MLflow's own: about four minutes)


SPEC = """\
[runs]
metrics = "mlflow:proxy-sweep"
tracking_uri = "{uri}"
run_id = "tags.scalemix.run_id"   # the sweep's content hash (the raw table's run_id is MLflow's own)
ignore_columns = ["run_id"]
params = "params.params"
tokens = "params.tokens"
loss_columns = 'metrics\\.loss\\.(.*)'
weight_columns = 'params\\.mix\\.(.*)'
"""


def test_the_logged_runs_read_back_with_the_mlflow_source(store, tmp_path):
    """The README's spec file: the same runs, counts, losses and weights as the sweep's own table."""
    (tmp_path / "proxy-sweep.toml").write_text(SPEC.format(uri=store["uri"]))
    logged = runs.read(tmp_path / "proxy-sweep.toml")
    own = runs.read(store["folder"] / "runs.parquet")
    columns = ["run_id", "target", "params", "tokens", "loss", "w.de", "w.en", "w.fr"]
    assert logged.rejected.height == 0 and len(logged) == 36
    assert_frame_equal(logged.frame.select(columns).sort("run_id", "target"), own.frame.select(columns).sort("run_id", "target"))
