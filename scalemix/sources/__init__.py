"""Run logs where teams keep them: an MLflow experiment, TensorBoard event folders, W&B offline runs.

A source is named ``<scheme>:<location>``:

- ``mlflow:EXPERIMENT`` -- the runs of an MLflow experiment (:mod:`scalemix.sources.mlflow`), at the tracking URI
  given as ``tracking_uri=`` (``--tracking-uri``, a spec's ``tracking_uri``), else ``MLFLOW_TRACKING_URI``;
- ``tensorboard:DIR`` -- the scalar event files under DIR, one run per run folder
  (:mod:`scalemix.sources.tensorboard`);
- ``wandb:DIR`` -- W&B run folders (``DIR/wandb/offline-run-*``, ``DIR/offline-run-*``, or ``run-*`` of synced
  runs), read without network by W&B's own log reader (:mod:`scalemix.sources.wandb`).

Each backend reads through its tool's own library (an optional extra: ``pip install 'scalemix[mlflow]'``) and
returns the *raw* table, one row per run (or per run and step with ``history=True``), its columns named as the
tool names them (``run_id``, ``params.<name>``, ``metrics.<name>``, ...). :func:`scalemix.runs.read` then maps
and validates it exactly as it does a CSV file, with the same options (``params = "params.n_params"``,
``loss_columns = "metrics\\\\.val/(.*)_loss"``, ``weight_columns = "params\\\\.mix\\\\.(.*)"``) and the same
one-line errors, naming the source, the run and the column.

Tools that store values as text (MLflow params, for one) have them typed as a CSV reader types a column
(:func:`typed_like_csv`), so a source reads to the same table, and the same fingerprint, as the same runs
exported to CSV.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

import polars as pl

from scalemix.errors import RunTableError

SCHEMES = {"mlflow": "mlflow", "tensorboard": "tensorboard", "wandb": "wandb"}
"""Source scheme -> the optional extra (``pip install 'scalemix[<extra>]'``) whose library reads it."""


def parse(source: str) -> tuple[str, str] | None:
    """``(scheme, location)`` of a ``<scheme>:<location>`` source, or None for anything else (a path, a dataset)."""
    scheme, colon, location = source.partition(":")
    if not colon or scheme not in SCHEMES:
        return None
    if not location.strip():
        raise RunTableError(f"{source!r}: name what to read after '{scheme}:', e.g. {_EXAMPLES[scheme]}")
    return scheme, location


_EXAMPLES = {"mlflow": "mlflow:proxy-sweep", "tensorboard": "tensorboard:logs/", "wandb": "wandb:./wandb"}


def read(source: str, *, tracking_uri: str | None = None, history: bool = False,
         text_columns: Sequence[str] = ("run_id",)) -> pl.DataFrame:
    """The raw table of a ``<scheme>:<location>`` source (see the module docstring); :func:`scalemix.runs.read`
    validates it. ``tracking_uri`` is MLflow's; ``history`` asks for one row per logged step. Text columns are
    typed as a CSV reader types them (:func:`typed_like_csv`), except ``text_columns``, which stay as written (run
    ids such as ``007``), as ``runs.read`` keeps them in a CSV file."""
    parsed = parse(source)
    if parsed is None:
        raise RunTableError(f"{source!r} is not a source; name one as {', '.join(_EXAMPLES.values())}")
    scheme, location = parsed
    if tracking_uri is not None and scheme != "mlflow":
        raise RunTableError(f"{source}: tracking_uri is MLflow's option; a {scheme} source has none, drop it")
    backend = importlib.import_module(f"scalemix.sources.{scheme}")
    options = {"tracking_uri": tracking_uri} if scheme == "mlflow" else {}
    frame = backend.read(location, history=history, **options)
    return typed_like_csv(frame, [c for c in frame.columns if c not in text_columns])


def library(module: str, scheme: str) -> ModuleType:
    """Import a tool's library, or raise one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise RunTableError(
            f"{scheme}: sources are read and written with the {module.split('.')[0]} package, which cannot be "
            f"imported ({error}); pip install 'scalemix[{SCHEMES[scheme]}]'"
        ) from None


LISTED = 8
"""How many names an error message lists before ``... (N in all)``."""


def listing(names, quoted: bool = False) -> str:
    """``a, b, c`` -- the first :data:`LISTED` of ``names`` and how many there are in all -- for an error message."""
    names = [repr(n) if quoted else str(n) for n in names]
    shown = ", ".join(names[:LISTED])
    return shown if len(names) <= LISTED else f"{shown}, ... ({len(names)} in all)"


def typed_like_csv(frame: pl.DataFrame, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """``frame`` with each text column (of ``columns``, default all) typed as a CSV reader would type it: Int64
    when every value is a whole number written without a point, else Float64 when every value is a number,
    else left as text. Missing values stay missing."""
    text = [c for c in (frame.columns if columns is None else columns) if frame.schema[c] == pl.Utf8]
    return frame.with_columns(_typed(frame[c]) for c in text)


def _typed(column: pl.Series) -> pl.Series:
    present = column.drop_nulls()
    if present.len() == 0:
        return column
    for dtype in (pl.Int64, pl.Float64):
        if present.cast(dtype, strict=False).null_count() == 0:
            return column.cast(dtype, strict=False)
    return column
