"""``wandb:DIR``: the W&B runs whose folders are under DIR, read from disk without network.

W&B writes each run to a folder, ``wandb/offline-run-<time>-<id>`` for an offline run (``mode="offline"``) and
``wandb/run-<time>-<id>`` for one that synced as it ran; either holds the run's transaction log
``run-<id>.wandb``, the only place an offline run's history is kept. DIR may be the folder that holds
``wandb/``, the ``wandb/`` folder itself, or one run's folder.

The log is read with W&B's own reader, ``wandb leet inspect --json`` (the ``wandb-core`` program that ships
in the wandb package, 0.31 or later); its binary format is never parsed here. Columns, as the tool names
them:

- ``run_id``: W&B's run id (the folder's ``<id>``); ``name``: the display name given to ``wandb.init``;
- ``config.<key>``: the run's config, nested dicts flattened with ``.`` (``config.mix.en``);
- each metric as logged (``val/en_loss``; a nested dict logged as ``{"val": {"loss": ...}}`` is ``val.loss``),
  holding the run's summary: the last value logged, unless the script set the summary itself.

W&B's own keys (``_step``, ``_runtime``, ``_timestamp``, ``_wandb``) and logged media (images, histograms,
tables: values with a ``_type``) are left out. With ``history=True`` there is one row per run and logged
step instead, with an Int64 ``step`` column (W&B's ``_step``), the run's id, name and config repeated on each
row, and each metric's value at that step (null where it was not logged then); a run that logged no step
has no rows.

A run whose log ends early (killed, or still running: its log has no exit record) reads as far as the log
goes: its history stops at the last step written to disk, and the last value it logged of each metric stands
as its summary (W&B's running summary for a value it never logged as a step). W&B writes a log to disk in
32 KiB blocks, and every 15 seconds, so a run killed before its first write has no run record: reading it
is an error that names its log.

Values are typed as a CSV reader types them (:func:`scalemix.sources.typed_like_csv`, applied by :func:`scalemix.sources.read`), so the table, and its
fingerprint, are those of the same runs exported to CSV. W&B's reader prints a float that is a whole
number without a point (``1e7`` and ``3.0`` come back as ``10000000`` and ``3``), so such a column reads as
Int64; ``params``, ``tokens`` and losses are floats in the run table whatever they were read as.

The CSV that W&B's web UI exports from a runs table is a plain CSV file: read it with
``runs.read("export.csv", run_id=...)`` (see the README, "Reading runs from Weights & Biases").
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from scalemix.errors import RunTableError
from scalemix.sources import library, listing

RUN_FOLDERS = ("offline-run-*", "run-*")
"""How W&B names a run's folder: offline, and synced as it ran."""

LOG = "run-*.wandb"
"""How W&B names the transaction log in a run's folder."""

READER_SINCE = (0, 31)
"""The first wandb release whose ``wandb-core`` prints a log as JSON (``leet inspect --json``)."""


def read(location: str, *, history: bool = False) -> pl.DataFrame:
    """The raw table of the W&B runs under ``location`` (see the module docstring): one row per run holding
    its summary, or with ``history`` one row per run and logged step."""
    source = f"wandb:{location}"
    logs = run_logs(Path(location), source)
    core = reader(source)
    summaries = [run_summary(core, log, source) for log in logs]
    _check_unique_runs(logs, [summary["run_id"] for summary in summaries], source)
    rows = []
    for log, summary in zip(logs, summaries):
        identity = {"run_id": summary["run_id"], "name": summary["name"] or None}
        config = config_columns(summary["config"])
        if history:
            steps = history_rows(core, log, source)
            rows += [_row(source, identity, {"step": step}, config, values) for step, values in steps]
        else:
            rows.append(_row(source, identity, config, last_values(core, log, summary, source)))
    if not rows:
        raise RunTableError(f"{source}: none of its {len(logs)} runs logged a step; read it without history")
    return _frame(rows, history)


def run_logs(folder: Path, source: str) -> list[Path]:
    """The transaction logs of the runs in ``folder`` (a run's folder, or one holding run folders directly
    or in its ``wandb/``), in folder order; raises one line when there are none, saying what is there."""
    if not folder.is_dir():
        raise RunTableError(
            f"{source}: no such folder; name the folder that holds W&B's wandb/ folder (where wandb.init ran, "
            "or its dir=)"
        )
    own = _log_of(folder, source)
    if own is not None:
        return [own]
    logs = [log for parent in (folder, folder / "wandb") for run in _run_folders(parent) if (log := _log_of(run, source))]
    if not logs:
        present = sorted(p.name + "/" * p.is_dir() for p in folder.iterdir())
        raise RunTableError(
            f"{source}: no W&B run folders ({' or '.join(RUN_FOLDERS)} holding a {LOG} log) in {folder} or "
            f"{folder / 'wandb'}; {folder} holds: {listing(present) or 'nothing'}"
        )
    return logs


def _run_folders(parent: Path) -> list[Path]:
    return sorted({p for pattern in RUN_FOLDERS for p in parent.glob(pattern) if p.is_dir()})


def _log_of(folder: Path, source: str) -> Path | None:
    """The one transaction log in a run's folder, or None when it holds none."""
    logs = sorted(folder.glob(LOG))
    if len(logs) > 1:
        raise RunTableError(
            f"{source}: run folder {folder} holds {len(logs)} transaction logs ({listing([p.name for p in logs])}); "
            "a run folder holds one: move the others to folders of their own"
        )
    return logs[0] if logs else None


def reader(source: str) -> str:
    """The path of the ``wandb-core`` program that reads transaction logs; raises one line when wandb is not
    installed, too old, or lacks the program for this platform."""
    wandb_util = library("wandb.util", "wandb")
    version = library("wandb", "wandb").__version__
    if tuple(int(part) for part in version.split(".")[:2]) < READER_SINCE:
        since = ".".join(map(str, READER_SINCE))
        raise RunTableError(
            f"{source}: W&B runs are read with W&B's own log reader (wandb leet inspect --json), which wandb "
            f"{version} lacks; pip install 'wandb>={since}'"
        )
    try:
        return wandb_util.get_core_path()
    except library("wandb.errors", "wandb").WandbCoreNotAvailableError as error:
        raise RunTableError(f"{source}: W&B's log reader wandb-core is not available: {error}") from None


def _inspect(core: str, log: Path, source: str, *options: str) -> str:
    """What ``wandb leet inspect --json OPTIONS`` prints for ``log``; raises one line naming the log when
    W&B's reader cannot read it."""
    done = subprocess.run(
        [core, "leet", "inspect", "--json", "--no-observability", *options, "--run-file", str(log)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if line.strip()]
        raise RunTableError(
            f"{source}: W&B cannot read the transaction log {log}: {said[-1] if said else f'exit code {done.returncode}'}; "
            "remove the run's folder, or restore the file"
        )
    return done.stdout


def run_summary(core: str, log: Path, source: str) -> dict[str, Any]:
    """W&B's summary of a run's log: its ``run_id``, ``name``, ``config`` and ``summary`` (the latest values);
    raises one line when the log holds no run yet."""
    summary = json.loads(_inspect(core, log, source, "--summary"))
    if not summary["run_id"]:
        raise RunTableError(
            f"{source}: the transaction log {log} holds no run: its run stopped before W&B wrote the log to disk "
            "(W&B writes it in 32 KiB blocks and every 15 s); remove the run's folder, or wait if it is still running"
        )
    return summary


def last_values(core: str, log: Path, summary: dict[str, Any], source: str) -> dict[str, Any]:
    """A run's summary as metric columns. A run whose log ends early (it has no exit record) has the last
    value it logged of each metric instead, and W&B's running summary for what it never logged as a step."""
    values = metric_columns(summary["summary"])
    if summary["exit_code"] is None:
        for _, logged in history_rows(core, log, source):
            values.update(logged)
    return values


def history_rows(core: str, log: Path, source: str) -> list[tuple[int, dict[str, Any]]]:
    """``(step, metrics)`` of each step a run logged, in step order; two records of one step are merged."""
    steps: dict[int, dict[str, Any]] = {}
    for record in _records(_inspect(core, log, source)):
        if record["type"] == "history":
            item = record["history"]["item"]
            steps.setdefault(item["_step"], {}).update(metric_columns(item))
    return sorted(steps.items())


def _records(printed: str) -> Iterator[dict[str, Any]]:
    return (json.loads(line) for line in printed.splitlines() if line.strip())


def config_columns(config: dict[str, Any]) -> dict[str, Any]:
    """A run's config as ``config.<key>`` columns, nested dicts flattened with ``.``, W&B's ``_wandb`` left out."""
    return {f"config.{key}": value for key, value in flattened(config).items() if key.split(".")[0] != "_wandb"}


def metric_columns(values: dict[str, Any]) -> dict[str, Any]:
    """Logged values (a summary or a history step) as columns named as logged, nested dicts flattened with
    ``.``; W&B's own keys (``_step``, ``_runtime``, ...) and media (values with a ``_type``) left out."""
    flat = flattened(values)
    media = {key.removesuffix("._type") for key in flat if key.endswith("._type")}
    return {
        key: value for key, value in flat.items()
        if not key.startswith("_") and not any(key.startswith(f"{m}.") for m in media)
    }


def flattened(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"mix": {"en": 0.5}}`` -> ``{"mix.en": 0.5}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(flattened(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _row(source: str, *parts: dict[str, Any]) -> dict[str, Any]:
    """One row from its parts (identity, step, config, metrics); a metric named as a column the table fills
    itself (``run_id``, ``name``, ``step`` with history) is refused rather than overwritten."""
    row: dict[str, Any] = {}
    for part in parts:
        clash = sorted(row.keys() & part.keys())
        if clash:
            raise RunTableError(
                f"{source}: run {row['run_id']!r} logged a metric named {clash[0]!r}, a column the table fills "
                f"itself; rename the metric where the run logs it{' or read without history' * (clash[0] == 'step')}"
            )
        row.update(part)
    return row


def _check_unique_runs(logs: list[Path], run_ids: list[str], source: str) -> None:
    """Raise when two run folders hold the same run (a resumed run leaves one folder per session)."""
    seen: dict[str, Path] = {}
    for log, run_id in zip(logs, run_ids):
        if run_id in seen:
            raise RunTableError(
                f"{source}: run {run_id!r} is in two folders, {seen[run_id].parent} and {log.parent} (W&B leaves "
                "one per session of a resumed run); move one of them away to read the other"
            )
        seen[run_id] = log


def _frame(rows: list[dict[str, Any]], history: bool) -> pl.DataFrame:
    """The rows as a table, every value as a CSV cell holds it (:func:`scalemix.sources.read` then types them as
    a CSV reader types a column); sorted by run, then step."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = pl.DataFrame(
        {c: [_cell(row.get(c)) for row in rows] for c in columns}, schema=dict.fromkeys(columns, pl.Utf8)
    )
    if history:
        return text.with_columns(pl.col("step").cast(pl.Int64)).sort("run_id", "step")
    return text.sort("run_id")


def _cell(value: Any) -> str | None:
    """A value as a CSV file holds it: numbers as Python writes them (exactly), true/false, lists as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)
