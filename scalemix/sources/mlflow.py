"""``mlflow:EXPERIMENT``: the runs of an MLflow experiment, read through MLflow's own client.

The raw table has the columns ``mlflow.search_runs`` gives them -- ``run_id``, ``params.<name>``,
``metrics.<name>``, ``tags.<name>`` -- less its run-info columns (experiment_id, status, artifact_uri, start
and end time) and MLflow's own ``tags.mlflow.*`` tags, of which only ``tags.mlflow.runName`` is kept. The
tracking URI is ``tracking_uri=`` if given, else ``MLFLOW_TRACKING_URI``, else MLflow's default
(``mlflow.get_tracking_uri()``: ``sqlite:///mlflow.db`` in the working folder, or ``./mlruns`` where that holds
runs). Reading creates nothing: a local store (sqlite file, store folder) that does not exist is an error, where
MLflow would create an empty one.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl

from scalemix.errors import RunTableError
from scalemix.sources import library, listing

PAGE_SIZE = 10_000
"""Runs asked for per ``search_runs`` request: the page ``mlflow.search_runs`` asks for (a tracking server
accepts up to 50,000)."""

KEPT_SYSTEM_TAGS = ("mlflow.runName",)
"""MLflow's own ``mlflow.*`` tags that the table keeps (the others say how MLflow ran, not what was run)."""

HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
"""MLflow's HTTP settings while a source is read, each where the environment does not set it: with MLflow's
defaults (7 retries, backoff factor 2, 120 s timeout) a tracking server that is down is retried for about four
minutes before the read fails; with these, in a few seconds (a server that never answers: 90 s)."""

def client(tracking_uri: str | None) -> tuple[Any, str]:
    """An ``MlflowClient`` for ``tracking_uri`` (else ``MLFLOW_TRACKING_URI``, else MLflow's default), and the
    URI it talks to. Raises one line when MLflow refuses the URI (an unknown scheme; a file store, which MLflow
    3 opens only with ``MLFLOW_ALLOW_FILE_STORE=true``)."""
    uri = _tracking_uri(tracking_uri)
    return _open(uri, "mlflow"), uri


def experiment(mlflow_client: Any, name: str, uri: str) -> Any:
    """The experiment named ``name``; raises one line listing the experiments the store holds."""
    found = mlflow_client.get_experiment_by_name(name)
    if found is None:
        names = sorted(e.name for e in mlflow_client.search_experiments())
        raise RunTableError(
            f"mlflow:{name}: no experiment named {name!r} at tracking URI {uri}; "
            f"experiments there: {listing(names, quoted=True) or 'none'}"
        )
    return found


def read(location: str, *, tracking_uri: str | None = None, history: bool = False) -> pl.DataFrame:
    """The raw table of the active runs of the experiment named ``location``, one row per run, sorted by run id.

    Columns: ``run_id``, then ``params.<name>`` (MLflow keeps params as text: :func:`scalemix.sources.read` types
    them as a CSV reader would), ``metrics.<name>`` (Float64, the last value logged, as ``run.data.metrics`` holds it; null where a
    run never logged the metric) and ``tags.<name>`` (text, typed like params by :func:`scalemix.sources.read`), each group sorted by name. Left out:
    MLflow's run info (experiment_id, status, artifact_uri, start and end time) and its system tags
    ``tags.mlflow.*``, except ``tags.mlflow.runName``.

    ``history=True``: one row per run and logged step, sorted by run id and step, with an Int64 ``step`` after
    ``run_id`` and each metric's value at that step (null where it was not logged there; logged twice at one
    step, the later by timestamp), params and tags repeated on every row. A run that logged no metric has no
    step, so no row: read without ``history`` to see it set aside.

    Raises :class:`RunTableError` (one line) for a store that does not exist or cannot be reached, an unknown
    experiment (listing those there), or one with no active runs.
    """
    uri = _tracking_uri(tracking_uri)
    _require_local_store(location, uri, given=tracking_uri is not None)
    mlflow_client = _open(uri, f"mlflow:{location}")
    with _reading(location, uri):
        runs = _active_runs(mlflow_client, experiment(mlflow_client, location, uri), uri)
        table = _run_table(runs)
        return _history_table(mlflow_client, runs, table) if history else table


# ---------------------------------------------------------------------------------------------------------
# Where the runs are


def _tracking_uri(given: str | None) -> str:
    """``given``, else ``MLFLOW_TRACKING_URI``, else MLflow's default."""
    return given or os.environ.get("MLFLOW_TRACKING_URI") or library("mlflow", "mlflow").get_tracking_uri()


def _open(uri: str, label: str) -> Any:
    """``MlflowClient(uri)``, or one line (starting with ``label``) saying why MLflow refuses the URI."""
    tracking = library("mlflow.tracking", "mlflow")
    try:
        return tracking.MlflowClient(tracking_uri=uri)
    except library("mlflow.exceptions", "mlflow").MlflowException as error:
        raise RunTableError(f"{label}: cannot open tracking URI {uri}: {_first_line(error)}") from None


def _local_store(uri: str) -> Path | None:
    """The file or folder of a local store (``sqlite:///PATH``, ``file:PATH`` or a plain path), else None."""
    if uri.startswith("sqlite:///"):
        return Path(unquote(uri.removeprefix("sqlite:///").partition("?")[0]))
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(uri) if parsed.scheme == "" else None


def _require_local_store(location: str, uri: str, given: bool) -> None:
    """Raise unless a local store exists (MLflow would create an empty one, and list only its 'Default')."""
    path = _local_store(uri)
    if path is None or path.exists():
        return
    origin = "" if given or os.environ.get("MLFLOW_TRACKING_URI") else " (MLflow's default: no tracking URI is set)"
    raise RunTableError(
        f"mlflow:{location}: tracking URI {uri}{origin} names {path}, which does not exist; pass the URI of the store "
        "that holds the runs (--tracking-uri, tracking_uri in a spec, or MLFLOW_TRACKING_URI)"
    )


@contextlib.contextmanager
def bounded_http() -> Iterator[None]:
    """MLflow's HTTP retries bounded to :data:`HTTP_LIMITS` (each where the environment does not set it) for the
    duration of the block, so a tracking server that cannot be reached fails in seconds."""
    unset = {name: value for name, value in HTTP_LIMITS.items() if name not in os.environ}
    os.environ.update(unset)
    try:
        yield
    finally:
        for name in unset:
            os.environ.pop(name, None)


@contextlib.contextmanager
def _reading(location: str, uri: str) -> Iterator[None]:
    """While MLflow is asked for runs: :func:`bounded_http`, and an ``MlflowException`` (a server that cannot
    be reached, a refused request) turned into one line naming the URI."""
    with bounded_http():
        try:
            yield
        except library("mlflow.exceptions", "mlflow").MlflowException as error:
            raise RunTableError(f"mlflow:{location}: {_failure(error, uri)}") from None


def _failure(error: Exception, uri: str) -> str:
    """What went wrong asking ``uri`` for runs, and the fix."""
    requests = library("requests", "mlflow")
    cause = error.__cause__ or error.__context__
    check = "check the URI (--tracking-uri, tracking_uri in a spec, MLFLOW_TRACKING_URI)"
    if isinstance(cause, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        reason = re.search(r"\[Errno -?\d+\] ([^'\"()]+)", str(cause))
        why = reason.group(1).strip() if reason else type(cause).__name__
        return f"cannot reach the tracking server at {uri} ({why}); start it, or {check}"
    return f"reading the runs at tracking URI {uri} failed: {_first_line(error)}; {check}"


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def active_runs(mlflow_client: Any, experiment_id: str) -> Iterator[Any]:
    """Every active run of an experiment, page by page, oldest first (so that runs started while the pages are
    read come after them rather than shift the pages)."""
    active = library("mlflow.entities", "mlflow").ViewType.ACTIVE_ONLY
    token = None
    while True:
        page = mlflow_client.search_runs(
            [experiment_id], run_view_type=active, max_results=PAGE_SIZE,
            order_by=["attributes.start_time ASC", "attributes.run_id ASC"], page_token=token,
        )
        yield from page
        token = page.token
        if not token:
            return


def _active_runs(mlflow_client: Any, found: Any, uri: str) -> list[Any]:
    """Every active run of experiment ``found`` (:func:`active_runs`); raises one line if the experiment is
    deleted or has none."""
    if found.lifecycle_stage == "deleted":
        raise RunTableError(
            f"mlflow:{found.name}: experiment {found.name!r} at tracking URI {uri} is deleted; restore it "
            f"(mlflow experiments restore --experiment-id {found.experiment_id}) or name another experiment"
        )
    runs = list(active_runs(mlflow_client, found.experiment_id))
    if not runs:
        raise RunTableError(
            f"mlflow:{found.name}: experiment {found.name!r} at tracking URI {uri} has no active runs; log runs to "
            "it, or name another experiment"
        )
    return runs


# ---------------------------------------------------------------------------------------------------------
# The table


def _run_table(runs: Sequence[Any]) -> pl.DataFrame:
    """One row per run: ``run_id``, ``params.*``, ``metrics.*``, ``tags.*`` (see :func:`read`), sorted by run id."""
    data = [run.data for run in runs]
    params = [d.params for d in data]
    metrics = [d.metrics for d in data]
    tags = [{k: v for k, v in d.tags.items() if not k.startswith("mlflow.") or k in KEPT_SYSTEM_TAGS} for d in data]
    columns = [pl.Series("run_id", [run.info.run_id for run in runs], dtype=pl.Utf8)]
    for prefix, values, dtype in (("params", params, pl.Utf8), ("metrics", metrics, pl.Float64), ("tags", tags, pl.Utf8)):
        names = sorted({name for run_values in values for name in run_values})
        columns += [pl.Series(f"{prefix}.{name}", [v.get(name) for v in values], dtype=dtype) for name in names]
    frame = pl.DataFrame(columns).sort("run_id")
    return frame


def _history_table(mlflow_client: Any, runs: Sequence[Any], table: pl.DataFrame) -> pl.DataFrame:
    """One row per run and logged step: ``table``'s params and tags, and each metric's value at the step.

    ``MlflowClient`` reads the history of one metric of one run per call (the tracking server's bulk history
    endpoints, which its web UI uses, are not in the client, and cap or down-sample the values), so this makes
    a call per run and metric."""
    logged = [
        (run.info.run_id, f"metrics.{name}", metric.step, metric.timestamp, metric.value)
        for run in runs
        for name in run.data.metrics
        for metric in mlflow_client.get_metric_history(run.info.run_id, name)
    ]
    schema = {"run_id": pl.Utf8, "name": pl.Utf8, "step": pl.Int64, "timestamp": pl.Int64, "value": pl.Float64}
    logged = pl.DataFrame(logged, schema=schema, orient="row")
    metric_names = [c for c in table.columns if c.startswith("metrics.")]
    # the value kept at a step is MLflow's latest: the later timestamp, then the larger value
    steps = (
        logged.sort("timestamp", "value")
        .group_by("run_id", "step", "name")
        .agg(pl.col("value").last())
        .pivot(on="name", on_columns=metric_names, index=["run_id", "step"], values="value")
    )
    constants = table.drop(metric_names)
    return (
        constants.join(steps, on="run_id", how="inner")
        .select("run_id", "step", *[c for c in table.columns if c != "run_id"])
        .sort("run_id", "step")
    )
