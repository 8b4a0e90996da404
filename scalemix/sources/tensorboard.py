"""``tensorboard:DIR``: the scalars of the TensorBoard event files under DIR, read with TensorBoard's own reader.

Each folder under DIR that directly holds event files (``events.out.tfevents.*``) is one run; its ``run_id`` is
the folder's path relative to DIR (``/``-separated; ``.`` when DIR itself holds events). A restarted job that
left several event files in one folder is one run: TensorBoard's ``EventAccumulator`` reads them in name (time)
order, and where a tag was logged twice at one step the later value counts, as TensorBoard shows it.

Scalars are read whether logged TF1-style as a ``simple_value`` (tensorboardX, ``torch.utils.tensorboard``) or
TF2-style as a tensor of the ``scalars`` plugin (``tf.summary.scalar``); images, histograms, text and other
summaries are ignored. Each tag becomes a column named as the tag (``val/en_loss``). TensorBoard stores scalars
as float32; a float32 value is read as the shortest decimal that is that float32 (``2.345``, not
``2.3450000286102295``), which is the value the training script logged whenever that had at most 6 significant digits.

Hyper-parameters come from the hparams plugin in the run's events (the ``_hparams_/session_start_info`` summary
of ``tensorboard.plugins.hparams``, as its ``hparams_pb`` builds it), else from a ``config.json`` or
``config.toml`` file in the run folder, as columns ``hparams.<name>`` (nested config tables flattened with
``.``: ``{"mix": {"web": 0.6}}`` is ``hparams.mix.web``). Numbers stay numbers (the plugin stores every number
as a float); text is typed as a CSV reader would (:func:`scalemix.sources.typed_like_csv`). A folder holding
only the hparams *experiment* summary (``_hparams_/experiment``, which the hparams API writes at the top of a
sweep) describes the sweep, not a run, and is left out.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import polars as pl

from scalemix.errors import RunTableError
from scalemix.sources import library, listing

CONFIG_FILES = ("config.json", "config.toml")
"""Files in a run folder read for its hyper-parameters when its events hold none."""

HPARAMS_PREFIX = "hparams."
"""Hyper-parameter columns are named ``hparams.<name>``."""

Scalars = dict[str, dict[int, float]]
"""A run's scalars: tag -> {step: value}."""


def read(location: str, *, history: bool = False) -> pl.DataFrame:
    """The raw run table of the event files under the folder ``location``: one row per run (each tag's value at
    its last step), or with ``history`` one row per (run, step) with an Int64 ``step`` column (null where a tag
    was not logged at that step). Columns: ``run_id``, [``step``], ``hparams.<name>``..., then the scalar tags.
    Rows are sorted by run_id, then step. Raises :class:`RunTableError` (one line) when the folder is missing,
    holds no event files, holds a run without scalars, or holds a config file that cannot be parsed."""
    source = f"tensorboard:{location}"
    folders = run_folders(Path(location), source)
    runs = {run_id: run for run_id, folder in folders.items() if (run := _run(folder, run_id, source)) is not None}
    if not runs:
        raise RunTableError(
            f"{source}: the event files under {location} hold only an hparams experiment summary, no run with "
            "scalars; point at the folder that holds the runs' event folders"
        )
    return _table(runs, source, history)


def _run(folder: Path, run_id: str, source: str) -> tuple[dict[str, Any], Scalars] | None:
    """A run folder's hyper-parameters and scalars; None for a folder that only describes a sweep (the hparams
    experiment summary)."""
    accumulator = _accumulate(folder)
    if _describes_experiment_only(accumulator):
        return None
    scalars = _scalars(accumulator)
    if not scalars:
        raise RunTableError(
            f"{source}: run {run_id!r} ({folder}) has event files but no scalar summaries ({_held(accumulator)}); "
            "log scalars with add_scalar / tf.summary.scalar, or move the folder out of the one read"
        )
    hparams = _plugin_hparams(accumulator)
    return (_config_hparams(folder, source, run_id) if hparams is None else hparams), scalars


def run_folders(root: Path, source: str) -> dict[str, Path]:
    """The folders under ``root`` that directly hold event files, by run id (their posix path relative to
    ``root``), sorted; raises one line when ``root`` is not a folder or holds no event files."""
    if not root.is_dir():
        problem = "a file, not a folder" if root.exists() else "no such folder"
        raise RunTableError(
            f"{source}: {problem}; name the folder you give tensorboard --logdir (in a spec, relative to the "
            "spec's folder)"
        )
    io_wrapper = library("tensorboard.backend.event_processing.io_wrapper", "tensorboard")
    found = io_wrapper.GetLogdirSubdirectories(str(root))
    folders = {PurePath(os.path.relpath(folder, root)).as_posix(): Path(folder) for folder in found}
    if not folders:
        raise RunTableError(
            f"{source}: no TensorBoard event files (events.out.tfevents.*) under {root}; {_contents(root)}; "
            "name the folder your SummaryWriter wrote to"
        )
    return dict(sorted(folders.items()))


def _contents(folder: Path) -> str:
    """What ``folder`` holds, for an error message: ``it holds a.csv, runs/`` or ``it is empty``."""
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    if not names:
        return "it is empty"
    return f"it holds {listing(names)}"


def _accumulate(folder: Path) -> Any:
    """TensorBoard's ``EventAccumulator`` for one run folder, with every event loaded (no sampling)."""
    accumulators = library("tensorboard.backend.event_processing.plugin_event_accumulator", "tensorboard")
    return accumulators.EventAccumulator(
        str(folder), size_guidance=accumulators.STORE_EVERYTHING_SIZE_GUIDANCE
    ).Reload()


def _describes_experiment_only(accumulator: Any) -> bool:
    """Whether a folder's events are only the hparams experiment summary (the sweep's description)."""
    hparams = library("tensorboard.plugins.hparams.metadata", "tensorboard")
    return accumulator.Tags()["tensors"] == [hparams.EXPERIMENT_TAG]


def _held(accumulator: Any) -> str:
    """The tags a run's events hold, for an error message."""
    tags = sorted(accumulator.Tags()["tensors"])
    if not tags:
        return "they hold no summaries"
    return f"tags: {listing(tags)}"


def _scalars(accumulator: Any) -> Scalars:
    """Each scalar tag's value by step; for a step logged more than once, the value read last."""
    scalar_metadata = library("tensorboard.plugins.scalar.metadata", "tensorboard")
    tensor_util = library("tensorboard.util.tensor_util", "tensorboard")
    scalars: Scalars = {}
    for tag in accumulator.Tags()["tensors"]:
        if accumulator.SummaryMetadata(tag).plugin_data.plugin_name != scalar_metadata.PLUGIN_NAME:
            continue
        values = scalars[tag] = {}
        for event in accumulator.Tensors(tag):
            values[event.step] = _as_logged(tensor_util.make_ndarray(event.tensor_proto))
    return scalars


def _as_logged(value: np.ndarray) -> float:
    """A scalar tensor's value as a float: the shortest decimal that is that value at the tensor's precision
    (float32 ``3.3`` is read as 3.3, not 3.299999952316284)."""
    scalar = value.reshape(())[()]
    if isinstance(scalar, np.floating):
        return float(np.format_float_positional(scalar, unique=True))
    return float(scalar)


def _plugin_hparams(accumulator: Any) -> dict[str, Any] | None:
    """The hyper-parameters the hparams plugin's session-start summary records, or None without one."""
    hparams = library("tensorboard.plugins.hparams.metadata", "tensorboard")
    if hparams.PLUGIN_NAME not in accumulator.ActivePlugins():
        return None
    content = accumulator.PluginTagToContent(hparams.PLUGIN_NAME).get(hparams.SESSION_START_INFO_TAG)
    if content is None:
        return None
    start = hparams.parse_session_start_info_plugin_data(content)
    return {name: _hparam_value(value) for name, value in start.hparams.items()}


def _hparam_value(value: Any) -> float | str | bool | None:
    """A ``google.protobuf.Value`` of the hparams plugin as Python: the plugin's API records a number, a text or
    a bool; any other kind is None."""
    kind = value.WhichOneof("kind")
    return getattr(value, kind) if kind in ("number_value", "string_value", "bool_value") else None


def _config_hparams(folder: Path, source: str, run_id: str) -> dict[str, Any]:
    """The flattened settings of the run folder's ``config.json`` or ``config.toml`` ({} without one)."""
    present = [folder / name for name in CONFIG_FILES if (folder / name).is_file()]
    if len(present) > 1:
        raise RunTableError(
            f"{source}: run {run_id!r} has both {present[0]} and {present[1]}; keep the one that holds its "
            "hyper-parameters"
        )
    if not present:
        return {}
    path = present[0]
    try:
        text = path.read_text(encoding="utf-8")
        settings = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise RunTableError(f"{source}: run {run_id!r}: cannot parse {path} ({error}); fix or remove it") from None
    if not isinstance(settings, dict):
        raise RunTableError(
            f"{source}: run {run_id!r}: {path} holds a {type(settings).__name__}, not an object of settings; "
            'write it as {"name": value, ...}'
        )
    return _flat(settings)


def _flat(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``settings`` with nested tables flattened to dotted names; lists as JSON text, dates etc. as text."""
    flat: dict[str, Any] = {}
    for name, value in settings.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{key}."))
        elif value is None or isinstance(value, (str, int, float, bool)):
            flat[key] = value
        elif isinstance(value, list):
            flat[key] = json.dumps(value, default=str)
        else:
            flat[key] = str(value)
    return flat


def _table(runs: Mapping[str, tuple[dict[str, Any], Scalars]], source: str, history: bool) -> pl.DataFrame:
    """The raw table of ``runs`` (run id -> (hyper-parameters, scalars)), sorted by run id then step."""
    hparam_columns = sorted({HPARAMS_PREFIX + name for hparams, _ in runs.values() for name in hparams})
    tags = sorted({tag for _, scalars in runs.values() for tag in scalars})
    taken = {"run_id", *(["step"] if history else []), *hparam_columns}
    clash = next((tag for tag in tags if tag in taken), None)
    if clash is not None:
        run = next(run_id for run_id, (_, scalars) in runs.items() if clash in scalars)
        raise RunTableError(
            f"{source}: run {run!r} logs a scalar tagged {clash!r}, the name of another column of the table; "
            "rename the tag"
        )
    rows = [row for run_id, (hparams, scalars) in runs.items() for row in _rows(run_id, hparams, scalars, history)]
    frame = pl.DataFrame([
        pl.Series("run_id", [row["run_id"] for row in rows], pl.Utf8),
        *([pl.Series("step", [row["step"] for row in rows], pl.Int64)] if history else []),
        *(_hparam_column(column, [row.get(column) for row in rows]) for column in hparam_columns),
        *(pl.Series(tag, [row.get(tag) for row in rows], pl.Float64) for tag in tags),
    ])
    return frame


def _rows(run_id: str, hparams: dict[str, Any], scalars: Scalars, history: bool) -> list[dict[str, Any]]:
    """One run's rows: one holding each tag's value at its last step, or with ``history`` one per step logged
    (holding the tags logged at that step)."""
    constant = {"run_id": run_id, **{HPARAMS_PREFIX + name: value for name, value in hparams.items()}}
    if not history:
        return [{**constant, **{tag: values[max(values)] for tag, values in scalars.items()}}]
    steps = sorted({step for values in scalars.values() for step in values})
    return [{**constant, "step": step, **{t: v[step] for t, v in scalars.items() if step in v}} for step in steps]


def _hparam_column(name: str, values: list[Any]) -> pl.Series:
    """One hyper-parameter across rows: Boolean, Int64 or Float64 when every value given is one, else text."""
    given = [v for v in values if v is not None]
    if given and all(isinstance(v, bool) for v in given):
        return pl.Series(name, values, pl.Boolean)
    if given and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given):
        return pl.Series(name, values, pl.Int64 if all(isinstance(v, int) for v in given) else pl.Float64)
    return pl.Series(name, [v if v is None or isinstance(v, str) else json.dumps(v) for v in values], pl.Utf8)
