"""Proxy sweeps logged to MLflow (``scalemix sweep --log-to mlflow:EXPERIMENT``), and resumed from it.

Each proxy run becomes one MLflow run as its job finishes, written with three calls (create, one
``log_batch``, end as FINISHED). A run's MLflow name and its tag ``scalemix.run_id`` are the content hash
of the proxy run, its tag ``scalemix.sweep`` the sweep's name. Its run-table rows (one per target) are
split as follows:

- params: every column that is the same on all the run's rows (``params``, ``tokens``, ``seed``, ``cohort``,
  ``mode``, ``d_model``, ``n_layers``, ``seq_len``, ``steps``, ``batch_size``, ``lr``, ``schedule``,
  ``embedding_params``, ``group_size``, ``device``, ``scalemix_version``, ``data_fingerprint``,
  ``corpus_fingerprint``), and the mixture as ``mix.<domain>``;
- metrics, at step ``steps``: ``loss.<target>`` and ``bits_per_source_byte.<target>`` per target, and
  ``train_loss``, ``target_bytes``, ``flops``, ``wall_s``;
- the training-loss curve the trainer records (every ``max(1, steps // 64)`` steps) as metric ``curve.train_loss``.

When a sweep starts, the proxy runs it plans that the experiment holds as FINISHED are not trained again
and their rows are rebuilt from the params and metrics (the same values and types the sweep writes), so
a run table that was lost comes back. MLflow runs a stopped sweep left unfinished (RUNNING, FAILED,
KILLED) are deleted, and their proxy runs trained again unless the run table holds them. Runs the table
holds and the experiment lacks (a sweep stopped between writing the table and logging) are logged from
the table's rows.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from scalemix.errors import ScalemixError
from scalemix.sources import library, parse
from scalemix.sources import mlflow as mlflow_source

RUN_ID_TAG = "scalemix.run_id"
SWEEP_TAG = "scalemix.sweep"
TARGET_METRICS = ("loss", "bits_per_source_byte")
"""Run-table columns that vary by target, logged as ``<column>.<target>``."""
RUN_METRICS = ("train_loss", "target_bytes", "flops", "wall_s")
"""Run-table columns measured once per run, logged as metrics of that name."""
CURVE_METRIC = "curve.train_loss"
MIX_PREFIX = "mix."
_WHOLE_PARAMS = frozenset({"seed", "d_model", "n_layers", "seq_len", "steps", "batch_size", "group_size", "vocab_size"})
_TEXT_PARAMS = frozenset({"cohort", "mode", "schedule", "device", "scalemix_version", "data_fingerprint", "corpus_fingerprint"})
"""Params read back as int and as text (MLflow stores every param as text); the others are floats."""


def experiment_name(log_to: str) -> str:
    """The experiment of ``--log-to mlflow:EXPERIMENT``; anything else is refused in one line."""
    parsed = parse(log_to)
    if parsed is None or parsed[0] != "mlflow":
        raise ScalemixError(f"--log-to {log_to!r}: sweeps log to MLflow only; give --log-to mlflow:EXPERIMENT")
    return parsed[1]


def run_record(rows: list[dict]) -> tuple[dict[str, str], dict[str, float]]:
    """The MLflow params and metrics of one proxy run, from its run-table rows (one per target). Missing
    (null) values are left out."""
    per_target = {"target", *TARGET_METRICS}
    first = rows[0]
    params = {
        (MIX_PREFIX + key[2:] if key.startswith("w.") else key): str(value)
        for key, value in first.items()
        if key not in per_target and key not in RUN_METRICS and key != "run_id" and value is not None
    }
    metrics = {key: float(first[key]) for key in RUN_METRICS if first.get(key) is not None}
    for row in rows:
        metrics |= {f"{key}.{row['target']}": float(row[key]) for key in TARGET_METRICS if row.get(key) is not None}
    return params, metrics


def rows_from(params: dict[str, str], metrics: dict[str, float], run_id: str, targets: tuple[str, ...], where: str) -> list[dict]:
    """The run-table rows of a logged proxy run (the inverse of :func:`run_record`), one per target in
    ``targets``; a run that lacks a target's loss is refused, naming it."""
    constants: dict[str, Any] = {"run_id": run_id}
    for key, text in params.items():
        if key.startswith(MIX_PREFIX):
            constants["w." + key[len(MIX_PREFIX):]] = float(text)
        else:
            constants[key] = int(text) if key in _WHOLE_PARAMS else text if key in _TEXT_PARAMS else float(text)
    constants |= {key: metrics[key] for key in RUN_METRICS if key in metrics}
    rows = []
    for target in targets:
        if f"loss.{target}" not in metrics:
            raise ScalemixError(
                f"{where}: the FINISHED run of proxy run {run_id} has no metric 'loss.{target}'; delete that MLflow "
                "run to train it again"
            )
        rows.append(constants | {"target": target} | {key: metrics[f"{key}.{target}"] for key in TARGET_METRICS if f"{key}.{target}" in metrics})
    return rows


class MlflowLog:
    """One sweep's MLflow experiment: logs proxy runs and reads back the ones it holds."""

    def __init__(self, log_to: str, tracking_uri: str | None, sweep: str):
        name = experiment_name(log_to)
        self.where = f"mlflow:{name}"
        self.sweep = sweep
        self.client, self.uri = mlflow_source.client(tracking_uri)
        self._entities = library("mlflow.entities", "mlflow")
        with mlflow_source.bounded_http(), self._failing("opening the experiment", "check --tracking-uri"):
            found = self.client.get_experiment_by_name(name)
            if found is None:
                found = self.client.get_experiment(self.client.create_experiment(name))
        if found.lifecycle_stage == "deleted":
            raise ScalemixError(
                f"{self.where}: the experiment is deleted at {self.uri}; restore it (mlflow experiments restore "
                f"--experiment-id {found.experiment_id}) or log to another name"
            )
        self.experiment_id = found.experiment_id

    @contextlib.contextmanager
    def _failing(self, doing: str, fix: str) -> Iterator[None]:
        """An ``MlflowException`` (a store or server that fails) raised as one line: what failed, and ``fix``."""
        try:
            yield
        except library("mlflow.exceptions", "mlflow").MlflowException as error:
            cause = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ScalemixError(f"{self.where}: {doing} at tracking URI {self.uri} failed ({cause}); {fix}") from None

    def log(self, rows: list[dict], curve: tuple[tuple[int, float], ...] = ()) -> None:
        """Log one proxy run (its run-table rows, and its training-loss curve as ``(step, loss)``) as a
        FINISHED MLflow run."""
        entities = self._entities
        params, metrics = run_record(rows)
        run_id, now = rows[0]["run_id"], int(time.time() * 1000)
        with self._failing(f"logging proxy run {run_id}", "the run table holds it: run the sweep again to log it"):
            run = self.client.create_run(self.experiment_id, start_time=now, run_name=run_id,
                                         tags={RUN_ID_TAG: run_id, SWEEP_TAG: self.sweep})
            self.client.log_batch(
                run.info.run_id,
                metrics=[entities.Metric(k, v, now, rows[0]["steps"]) for k, v in metrics.items()]
                + [entities.Metric(CURVE_METRIC, loss, now, step) for step, loss in curve],
                params=[entities.Param(k, v) for k, v in params.items()],
            )
            self.client.set_terminated(run.info.run_id, "FINISHED")

    def _logged(self, planned: set[str]) -> tuple[dict[str, Any], list[Any]]:
        """The experiment's active MLflow runs of ``planned`` proxy runs: the first FINISHED one of each proxy
        run (oldest first), and the runs not FINISHED."""
        finished, unfinished = {}, []
        with self._failing("reading the experiment's runs", "check --tracking-uri"):
            for run in mlflow_source.active_runs(self.client, self.experiment_id):
                proxy_id = run.data.tags.get(RUN_ID_TAG)
                if proxy_id in planned and run.info.status == "FINISHED":
                    finished.setdefault(proxy_id, run)
                elif proxy_id in planned:
                    unfinished.append(run)
        return finished, unfinished

    def resume(self, planned: list, table_rows: list[dict], table: str, say=print) -> list[dict]:
        """Reconcile the experiment with a sweep about to start: delete the MLflow runs of ``planned`` proxy
        runs (:class:`scalemix.proxy.sweep.Run`) that are not FINISHED, log the runs ``table_rows`` (the run
        table ``table``) holds and the experiment lacks, and return the rows of the FINISHED runs the table
        lacks, in plan order."""
        planned_ids = {run.run_id for run in planned}
        finished, unfinished = self._logged(planned_ids)
        in_table: dict[str, list[dict]] = {}
        for row in table_rows:
            if row["run_id"] in planned_ids:
                in_table.setdefault(row["run_id"], []).append(row)
        say(f"logging each run to {self.where} at {self.uri}")
        if unfinished:
            with self._failing("deleting unfinished runs", "check --tracking-uri"):
                for run in unfinished:
                    self.client.delete_run(run.info.run_id)
            statuses = ", ".join(f"{n} {status}" for status, n in sorted(Counter(r.info.status for r in unfinished).items()))
            again = {r.data.tags[RUN_ID_TAG] for r in unfinished} - set(finished) - set(in_table)
            say(f"{self.where}: deleted {len(unfinished)} unfinished MLflow runs ({statuses}) left by an interrupted "
                f"sweep; {len(again)} of their proxy runs train again")
        lacking = [proxy_id for proxy_id in in_table if proxy_id not in finished]
        for proxy_id in lacking:
            self.log(in_table[proxy_id])
        if lacking:
            say(f"{self.where}: logged {len(lacking)} runs from {table} that it lacked")
        return [
            row
            for run in planned
            if run.run_id in finished and run.run_id not in in_table
            for row in rows_from(finished[run.run_id].data.params, finished[run.run_id].data.metrics, run.run_id,
                                 run.task.domains, self.where)
        ]
