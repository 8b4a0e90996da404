"""Run tables: the validated, long-format table of logged training runs that every law is fitted to.

``read`` turns run logs into a :class:`RunTable` -- one row per (run, target[, step]) with the columns

    run_id, params, tokens, [step], [seed], target, loss, w.<domain>..., [unique], [unique.<domain>...], extra columns

from any of: the name of an embedded dataset (``scalemix.datasets.names()``); a ``.csv``, ``.parquet`` or
``.jsonl`` file; a ``.toml`` spec file naming a metrics file and, optionally, a separate weights file;
a polars or pandas DataFrame; the runs a tracking tool holds (``mlflow:EXPERIMENT``, ``tensorboard:DIR``,
``wandb:DIR``: :mod:`scalemix.sources`), read as a file holding the tool's table.

What is fatal and what is set aside
-----------------------------------
A problem with a run's *configuration* -- its id, ``params``, ``tokens``, step, seed or mixture weights,
or with the file's structure (missing column, duplicate rows, runs that do not join) -- raises
:class:`~scalemix.errors.RunTableError` with one line naming file, row (or run), column, value and the fix:
a wrong configuration silently changes what a fit means. That includes counts outside
[``MIN_COUNT``, ``MAX_COUNT``], a step or seed beyond ``MAX_WHOLE``, a blank or whitespace-padded run, target
or domain name, a header naming a column twice, and a run whose rows disagree on its params, seed, weights
or (at one step) tokens. A problem with a *measurement* -- a missing, non-numeric, NaN, infinite,
non-positive or implausibly large (above ``MAX_LOSS``) loss, as a crashed or diverged run leaves in a log --
sets that row aside into ``RunTable.rejected`` with its reason and counts it in ``RunTable.notes``; pass
``strict=True`` to make it fatal too. Mixture weights that sum to within 1e-2 of 1 (rounded shares) are
renormalised and counted in the notes; further from 1 they are an error.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import operator
import re
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from scalemix import datasets, sources
from scalemix.errors import RunTableError

WEIGHT_PREFIX = "w."
"""Mixture-weight columns are named ``w.<domain>``."""

UNIQUE_COLUMN = "unique"
"""Unique tokens a run's data held (data-constrained runs repeat them for ``tokens / unique`` epochs); per
domain of a mixture, ``unique.<domain>``. An empty cell means no limit (the data was never repeated)."""

WEIGHT_SUM_TOLERANCE = 1e-2
"""Weights summing to within this of 1 are renormalised (with a note); further away they are an error."""

MAX_LOSS = 1e6
"""A loss above this is not a measurement: its row is set aside (reason ``loss is above MAX_LOSS = 1e+06``).

No language-model loss comes near it in any unit a log carries (``loss_unit`` is free text): a
cross-entropy in nats or bits per token or byte is at most about log2 of the vocabulary at initialisation
(20 bits for a million tokens) and tens to hundreds after a divergence, and a perplexity starts at about
the vocabulary size (5e4 to 3e5 for today's tokenisers). What lies above is a unit mistake or a sentinel
such as 1e308 or the float maximum written for 'no value'."""

MAX_COUNT = 1e20
"""``params`` or ``tokens`` above this are an error (a unit mistake, e.g. FLOPs in the tokens column).

The largest models have about 1e13 parameters and the largest training sets about 1e14 tokens, so no run
counted in ones comes near 1e20; and below it, 6 N D (< 1e41) and N ** alpha, D ** beta for any exponent
up to 15 (< 1e300) stay finite in float64."""

MIN_COUNT = 1e-20
"""``params`` or ``tokens`` below this (but positive) are an error: the mirror of :data:`MAX_COUNT`, so that
N ** -alpha stays finite too, and far below any count written in millions or billions."""

MAX_WHOLE = 2**53
"""A ``step`` or ``seed`` beyond +-2**53 (about 9.0e15) is an error: both are read as float64 (a CSV may
write ``200.0``) and stored as Int64, and float64 holds every whole number exactly only up to 2**53."""

_ROUND_OFF = 1e-9  # sums this close to 1 are float round-off, left as they are and not counted
_STANDARD = ("run_id", "params", "tokens", "step", "seed", "target", "loss")
_ROW = "__row"  # 1-based data row in the file a row came from
_RUN = "__run"  # run id as text, carried from the first step so every message can name the run
_COLUMN = "__column"  # the file's column that held a row's loss
_REJECTED_SCHEMA = {
    "source": pl.Utf8,
    "row": pl.Int64,
    "run_id": pl.Utf8,
    "column": pl.Utf8,
    "value": pl.Utf8,
    "reason": pl.Utf8,
}
_LISTED = 8  # how many names an error message lists before "..."


def _empty_rejected() -> pl.DataFrame:
    return pl.DataFrame(schema=_REJECTED_SCHEMA)


@dataclasses.dataclass(frozen=True, eq=False)
class RunTable:
    """Validated run logs: one row per (run, target[, step]); build one with :func:`read`.

    ``frame`` columns, in order: ``run_id`` (Utf8), ``params`` N and ``tokens`` D (Float64), optional
    ``step`` and ``seed`` (Int64), ``target`` (Utf8, the eval set whose loss the row reports), ``loss``
    (Float64, in ``loss_unit``), the mixture weights ``w.<domain>`` (Float64, sorted by domain, each row
    summing to 1), then any extra columns of the source. ``rejected`` lists rows set aside (columns
    ``source, row, run_id, column, value, reason``); ``notes`` says what was done to the data.
    """

    frame: pl.DataFrame
    rejected: pl.DataFrame = dataclasses.field(default_factory=_empty_rejected)
    notes: tuple[str, ...] = ()
    source: str = "<polars frame>"
    loss_unit: str = "nats"

    @property
    def domains(self) -> tuple[str, ...]:
        """Mixture domains, from the ``w.<domain>`` column names in column order."""
        return tuple(c.removeprefix(WEIGHT_PREFIX) for c in self.frame.columns if c.startswith(WEIGHT_PREFIX))

    @property
    def targets(self) -> tuple[str, ...]:
        """Target names in first-seen order."""
        return tuple(self.frame["target"].unique(maintain_order=True))

    @property
    def runs(self) -> tuple[str, ...]:
        """Run ids in first-seen order."""
        return tuple(self.frame["run_id"].unique(maintain_order=True))

    def __len__(self) -> int:
        return self.frame.height

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the frame as CSV, rows sorted by (run_id, target, step), columns in a fixed order.

        The same data gives the same fingerprint whatever file format, row order or column order it came in.
        """
        standard = [c for c in _STANDARD if c in self.frame.columns]
        others = sorted(c for c in self.frame.columns if c not in standard)
        keys = [c for c in ("run_id", "target", "step") if c in self.frame.columns]
        canonical = self.frame.select(standard + others).sort(keys)
        return hashlib.sha256(canonical.write_csv().encode()).hexdigest()

    def select(self, targets: str | Sequence[str] | None = None, where: pl.Expr | None = None) -> RunTable:
        """The rows of the given target(s) that satisfy the polars expression ``where``."""
        frame = self.frame
        if targets is not None:
            wanted = [targets] if isinstance(targets, str) else list(targets)
            unknown = [t for t in wanted if t not in self.targets]
            if unknown:
                raise RunTableError(
                    f"{self.source}: unknown target {unknown[0]!r}; known targets: {_listing(self.targets)}"
                )
            frame = frame.filter(pl.col("target").is_in(wanted))
        if where is not None:
            frame = frame.filter(where)
        if frame.height == 0:
            raise RunTableError(f"{self.source}: select(targets={targets!r}, where={where}) leaves no rows")
        return dataclasses.replace(self, frame=frame)

    def summary(self) -> dict[str, Any]:
        """Counts, names, value ranges, rejected rows by reason and notes, as a JSON-serialisable dict."""
        frame = self.frame
        reasons = self.rejected.group_by("reason", maintain_order=True).len()
        return {
            "source": self.source,
            "rows": len(self),
            "runs": len(self.runs),
            "targets": list(self.targets),
            "domains": list(self.domains),
            "steps": frame["step"].n_unique() if "step" in frame.columns else None,
            "loss_unit": self.loss_unit,
            "ranges": {c: [float(frame[c].min()), float(frame[c].max())] for c in ("params", "tokens", "loss")},
            "rejected": {"rows": self.rejected.height, "reasons": dict(reasons.iter_rows())},
            "notes": list(self.notes),
            "fingerprint": self.fingerprint(),
        }


# ---------------------------------------------------------------------------------------------------------
# Options: the keywords of ``read`` and the keys of a spec file's [runs] table


@dataclasses.dataclass(frozen=True)
class _Options:
    """How to read one source (documented in ``read``)."""

    weights: str | Path | None = None
    join: str | None = None
    run_id: str | None = None
    weight_columns: str | None = None
    loss_columns: str | None = None
    params: float | str | None = None
    tokens: float | str | None = None
    target: str | None = None
    loss_unit: str = "nats"
    ignore_columns: tuple[str, ...] = ()
    strict: bool = False
    tracking_uri: str | None = None
    history: bool = False

    @property
    def id_column(self) -> str:
        """The column holding run ids."""
        return self.run_id or self.join or "run_id"

    @property
    def join_column(self) -> str:
        """The column that identifies a run in both the metrics and the weights file."""
        return self.join or self.run_id or "run_id"


_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "weights": (str, Path),
    "join": (str,),
    "run_id": (str,),
    "weight_columns": (str,),
    "loss_columns": (str,),
    "params": (int, float, str),
    "tokens": (int, float, str),
    "target": (str,),
    "loss_unit": (str,),
    "ignore_columns": (list, tuple),
    "strict": (bool,),
    "tracking_uri": (str,),
    "history": (bool,),
}
_SPEC_KEYS = {**_OPTION_TYPES, "metrics": (str,)}
_SPEC_PATHS = ("weights", "metrics")


def _check_option_types(options: Mapping[str, Any], origin: str, known: Mapping[str, tuple[type, ...]]) -> None:
    """Raise unless every option is known and of an allowed type."""
    for key, value in options.items():
        if key not in known:
            raise RunTableError(f"{origin}: unknown option {key!r}; known options: {', '.join(sorted(known))}")
        wrong_type = not isinstance(value, known[key]) or (isinstance(value, bool) and bool not in known[key])
        if wrong_type or (key == "ignore_columns" and not all(isinstance(v, str) for v in value)):
            wanted = " or ".join(t.__name__ for t in known[key])
            raise RunTableError(f"{origin}: option {key!r} must be {wanted}, got {value!r}")


def _parse_options(options: Mapping[str, Any], origin: str) -> _Options:
    _check_option_types(options, origin, _OPTION_TYPES)
    for key in ("target", "loss_unit"):
        problem = _name_problem(options[key]) if key in options else None
        if problem:
            fix = "give a name, with no whitespace at its ends"
            raise RunTableError(f"{origin}: option {key}={options[key]!r} {problem}; {fix}")
    if "ignore_columns" in options:
        options = {**options, "ignore_columns": tuple(options["ignore_columns"])}
    return _Options(**options)


def _read_spec(path: Path) -> dict[str, Any]:
    """The [runs] table of a TOML spec file, with its file paths resolved against the spec's folder.

    A spec only names files and columns; reading one never runs anything.
    """
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise RunTableError(f"{path}: not valid TOML ({error}); see the 'Spec files' section of README.md") from error
    runs = spec.get("runs")
    if not isinstance(runs, dict) or "metrics" not in runs:
        raise RunTableError(f"{path}: needs a [runs] table with at least metrics = \"<file>\"")
    _check_option_types(runs, f"{path} [runs]", _SPEC_KEYS)
    return {k: _beside(path, v) if k in _SPEC_PATHS else v for k, v in runs.items()}


def _beside(spec: Path, location: str) -> str | Path:
    """A spec's file path (or a folder source's folder) resolved against the spec's folder; an MLflow
    experiment is a name, not a path, and stays as written."""
    parsed = sources.parse(location)
    if parsed is None:
        return spec.parent / location
    scheme, where = parsed
    return location if scheme == "mlflow" else f"{scheme}:{spec.parent / where}"


# ---------------------------------------------------------------------------------------------------------
# Entry point


def read(source: Any, **options: Any) -> RunTable:
    """Read run logs into a validated :class:`RunTable`.

    ``source`` is an embedded dataset name (``scalemix.datasets.names()``), a path to a ``.csv``,
    ``.parquet``, ``.jsonl`` or ``.toml`` spec file, or a polars / pandas DataFrame. A long file with the
    standard columns (``run_id, params, tokens, [step], [seed], target, loss, w.<domain>...``) needs no
    options. Otherwise (these are also the keys of a spec file's ``[runs]`` table, where ``metrics`` names
    the file that is otherwise ``source``):

    - ``weights``: path of a separate weights file, one row per run, joined on ``join``;
    - ``join``: the run key column (in both files when there are two); default ``run_id``;
    - ``run_id``: the column holding run ids; default: ``join``, else ``run_id``;
    - ``weight_columns``: regex (matching the whole column name) whose one group is the domain name, e.g.
      ``"train_the_pile_(.*)"``; default: ``w.<domain>`` columns, or every column of a weights file other
      than the key and columns it shares with the metrics file;
    - ``loss_columns``: regex whose one group is the target name, e.g. ``"metric/the_pile_(.*)_val_loss"``:
      the metrics are wide (one column per target) and are turned long;
    - ``params``, ``tokens``: a number for every run, or the name of the column holding it;
    - ``target``: target name for a file with one ``loss`` column and no ``target`` column;
    - ``loss_unit``: ``"nats"`` (default) or e.g. ``"bits per byte"``;
    - ``ignore_columns``: columns to leave out (e.g. pandas index dumps), listed in the notes;
    - ``strict``: raise on a bad loss instead of setting the row aside;
    - ``tracking_uri``: for an ``mlflow:`` source, the tracking server or store (default ``MLFLOW_TRACKING_URI``);
    - ``history``: for a source (``mlflow:``, ``tensorboard:``, ``wandb:``), one row per logged step (a ``step``
      column) instead of one per run.

    ``source`` may also name run logs where a tracking tool keeps them (:mod:`scalemix.sources`):
    ``mlflow:EXPERIMENT``, ``tensorboard:DIR`` or ``wandb:DIR``, read as a file holding the tool's own table.

    Keyword options given with a spec file override its keys. Raises
    :class:`~scalemix.errors.RunTableError` (one line naming file, row, column, value and the fix).
    """
    if isinstance(source, pl.DataFrame):
        return _read_frame(source, "<polars frame>", _parse_options(options, "read()"))
    if _is_pandas_frame(source):
        return _read_frame(_from_pandas(source), "<pandas frame>", _parse_options(options, "read()"))
    if not isinstance(source, (str, Path)):
        raise RunTableError(
            f"read() cannot take a {type(source).__name__}; pass a dataset name, a file path or a DataFrame"
        )
    if isinstance(source, str) and sources.parse(source) is not None:
        return _read_location(source, _parse_options(options, "read()"))
    if isinstance(source, str) and source in datasets.names():
        if options:
            raise RunTableError(f"dataset {source!r} takes no options (got {', '.join(options)})")
        return _read_dataset(source)
    path = Path(source)
    if path.suffix.lower() == ".toml":
        spec = _read_spec(path)
        metrics = spec.pop("metrics")
        table = _read_location(metrics, _parse_options({**spec, **options}, str(path)))
        return dataclasses.replace(table, source=str(path))
    if path.suffix.lower() not in _READERS and not path.exists():
        raise RunTableError(
            f"{source!r} is neither a file nor a dataset; known datasets: {', '.join(datasets.names())}"
        )
    return _read_location(path, _parse_options(options, "read()"))


def _read_dataset(name: str) -> RunTable:
    """An embedded dataset, read as its :class:`~scalemix.datasets.Recipe` says (``source`` is its name)."""
    recipe = datasets.recipe(name)
    table = read(recipe.data, **recipe.options)
    if recipe.set_aside is not None:
        kept = table.select(where=~pl.col("run_id").is_in(recipe.set_aside["run_id"].implode()))
        table = dataclasses.replace(kept, rejected=pl.concat([table.rejected, recipe.set_aside]),
                                    notes=(*table.notes, recipe.note))
    return dataclasses.replace(table, source=name)


def _is_pandas_frame(obj: Any) -> bool:
    pandas = sys.modules.get("pandas")  # if pandas was never imported, obj cannot be a pandas frame
    return pandas is not None and isinstance(obj, pandas.DataFrame)


def _from_pandas(frame: Any) -> pl.DataFrame:
    """A pandas frame as a polars one, built column by column: ``pl.from_pandas`` needs pyarrow, which the
    base install lacks.

    A named or non-default index becomes leading column(s), named as ``reset_index`` names them. A numpy
    numeric or datetime column keeps its values (float NaN stays NaN, so a NaN loss is reported as NaN); in
    any other column (text, categories, nullable dtypes) a missing value becomes null, and a column mixing
    text with other values becomes text. Column names that repeat (as text) are an error.
    """
    pandas = sys.modules["pandas"]
    if frame.index.names != [None] or not frame.index.equals(pandas.RangeIndex(len(frame))):
        frame = frame.reset_index()
    names = [str(c) for c in frame.columns]
    repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if repeated is not None:
        raise RunTableError(f"<pandas frame>: column {repeated!r} appears more than once; rename or drop the repeat")
    return pl.DataFrame([_from_pandas_column(name, frame.iloc[:, i]) for i, name in enumerate(names)])


def _from_pandas_column(name: str, column: Any) -> pl.Series:
    """One pandas column as a polars series (see :func:`_from_pandas`)."""
    pandas = sys.modules["pandas"]
    if not pandas.api.types.is_extension_array_dtype(column.dtype) and column.dtype.kind in "biufmM":
        return pl.Series(name, column.to_numpy())
    values = [None if missing else value for value, missing in zip(column.tolist(), column.isna().tolist())]
    if all(isinstance(v, str) for v in values if v is not None) or not any(isinstance(v, str) for v in values):
        try:
            return pl.Series(name, values)
        except (TypeError, ValueError, pl.exceptions.PolarsError):
            pass  # values polars cannot hold as one type: keep them as text
    return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.Utf8)


def _read_location(location: str | Path, options: _Options) -> RunTable:
    """The run table of a file or of a ``<scheme>:<location>`` source (:mod:`scalemix.sources`)."""
    if isinstance(location, str) and sources.parse(location) is not None:
        raw = sources.read(location, tracking_uri=options.tracking_uri, history=options.history,
                           text_columns=[options.id_column, options.join_column, "target"])
        return _read_frame(raw, location, options)
    given = [name for name in ("tracking_uri", "history") if getattr(options, name)]
    if given:
        raise RunTableError(
            f"{location}: option {given[0]!r} is for a tracking source (mlflow:, tensorboard:, wandb:), not a file; drop it"
        )
    path = Path(location)
    return _read_frame(read_file(path, [options.id_column, options.join_column, "target"]), str(path), options)


def _read_csv(path: Path, text_columns: Sequence[str]) -> pl.DataFrame:
    overrides = dict.fromkeys(text_columns, pl.Utf8)  # keep run ids such as "007" as written
    return pl.read_csv(path, infer_schema_length=None, schema_overrides=overrides)


_READERS: dict[str, Callable[[Path, Sequence[str]], pl.DataFrame]] = {
    ".csv": _read_csv,
    ".parquet": lambda path, _: pl.read_parquet(path),
    ".jsonl": lambda path, _: pl.read_ndjson(path, infer_schema_length=None),
    ".ndjson": lambda path, _: pl.read_ndjson(path, infer_schema_length=None),
}


TABLE_SUFFIXES = tuple(_READERS)
"""The file types :func:`read_file` reads."""


def read_file(path: str | Path, text_columns: Sequence[str] = ("run_id",)) -> pl.DataFrame:
    """The rows of a CSV / Parquet / JSON-lines file (format from its suffix), as written: ``text_columns``
    stay text (run ids such as ``007``). Raises :class:`RunTableError` naming the file and the fix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise RunTableError(
            f"{path}: unsupported file type {suffix or '(no suffix)'!r}; use one of {', '.join(_READERS)} or .toml"
        )
    if not path.is_file():
        raise RunTableError(f"{path}: no such file; check the path (paths in a spec are relative to the spec file)")
    try:
        return _READERS[suffix](path, text_columns)
    except pl.exceptions.PolarsError as error:
        first_line = str(error).strip().splitlines()[0]
        raise RunTableError(f"{path}: cannot be read as {suffix[1:]}: {first_line}") from error


# ---------------------------------------------------------------------------------------------------------
# From raw frame(s) to a RunTable: each step is a function of a frame, in the order ``_read_frame`` runs them


def _read_frame(metrics: pl.DataFrame, label: str, options: _Options) -> RunTable:
    """The run table of ``metrics`` (read from ``label``), joined with ``options.weights`` if given."""
    weights = None if options.weights is None else read_file(Path(options.weights), [options.join_column])
    ignored = _ignored_columns_note(options.ignore_columns, [f for f in (metrics, weights) if f is not None])
    metrics = _prepare(metrics, label, options.id_column, options.ignore_columns)
    if weights is None:
        frame, renormalised = _mixture(metrics, label, options, exclude=[options.id_column], everything=False)
    else:
        weights_label = str(options.weights)
        weights = _prepare(weights, weights_label, options.join_column, options.ignore_columns)
        shared = [c for c in weights.columns if c in metrics.columns]
        weights, renormalised = _mixture(weights, weights_label, options, exclude=shared, everything=True)
        frame = _join_weights(metrics, label, weights, weights_label, options.join_column)
    frame = _long_losses(frame, label, options)
    frame = _standard_columns(frame, label, options)
    _check_unique_rows(frame, label)
    _check_run_constants(frame, label)
    kept, rejected = _split_bad_losses(frame, label, options.strict)
    notes = [n for n in (renormalised, ignored, _rejected_note(rejected, frame.height)) if n]
    return RunTable(frame=kept, rejected=rejected, notes=tuple(notes), source=label, loss_unit=options.loss_unit)


def _ignored_columns_note(ignored: Sequence[str], frames: Sequence[pl.DataFrame]) -> str:
    """The note listing ignored columns; an ignored column that no file has is an error (a typo)."""
    if not ignored:
        return ""
    present = {c for frame in frames for c in frame.columns}
    missing = [c for c in ignored if c not in present]
    if missing:
        raise RunTableError(
            f"ignore_columns names {missing[0]!r}, which no file has; columns are: {_listing(sorted(present))}"
        )
    return f"ignored columns {', '.join(map(repr, ignored))} (ignore_columns)"


def _prepare(frame: pl.DataFrame, label: str, key: str, ignored: Sequence[str]) -> pl.DataFrame:
    """``frame`` less ignored columns, with its 1-based row number and its run key as text; empty is fatal."""
    if frame.height == 0:
        raise RunTableError(f"{label}: no data rows; a run table needs at least one run")
    if key not in frame.columns:
        raise RunTableError(
            f"{label}: missing required run key column {key!r}; columns are: {_listing(frame.columns)}; "
            "rename the column holding run ids to 'run_id' or pass run_id= / join="
        )
    frame = frame.drop([c for c in ignored if c in frame.columns])
    _check_unique_headers(frame, label)
    frame = frame.with_row_index(_ROW, offset=1).with_columns(
        pl.col(_ROW).cast(pl.Int64), pl.col(key).cast(pl.Utf8).alias(_RUN)
    )
    _require(frame, label, {key: pl.col(_RUN).is_null()}, "is empty", "give every row a run id")
    _require_names(frame, label, {key: pl.col(_RUN)}, "give every row a run id")
    return frame


_REPEATED_HEADER = re.compile(r"(.+)_duplicated_\d+")
"""How polars names the second and later columns of a header that repeats a name."""


def _check_unique_headers(frame: pl.DataFrame, label: str) -> None:
    """Raise if the file's header names a column twice (polars reads the repeat as ``<name>_duplicated_0``)."""
    for column in frame.columns:
        match = _REPEATED_HEADER.fullmatch(column)
        if match and match.group(1) in frame.columns:
            raise RunTableError(
                f"{label}: column {match.group(1)!r} appears more than once in the header (read the second time "
                f"as {column!r}); rename or drop the repeat, or leave it out with ignore_columns=[{column!r}]"
            )


def _mixture(
    frame: pl.DataFrame, label: str, options: _Options, exclude: Sequence[str], everything: bool
) -> tuple[pl.DataFrame, str]:
    """``frame`` with its weight columns validated, renamed ``w.<domain>`` and renormalised; and the note.

    Weight columns are those matching ``options.weight_columns``; without it, the ``w.*`` columns, or when
    ``everything`` (a separate weights file) every column not in ``exclude``.
    """
    candidates = [c for c in frame.columns if c not in (*exclude, _ROW, _RUN, options.join_column)]
    if options.weight_columns is not None:
        domains = _regex_names(candidates, options.weight_columns, "weight_columns", "domain", label)
    elif everything:
        domains = {c: c for c in candidates}
    else:
        domains = {c: c.removeprefix(WEIGHT_PREFIX) for c in candidates if c.startswith(WEIGHT_PREFIX)}
    if not domains:
        return frame, ""
    for column, domain in domains.items():
        problem = _name_problem(domain)
        if problem:
            raise RunTableError(
                f"{label}: column {column!r} gives the domain name {domain!r}, which {problem}; name each weight "
                f"column {WEIGHT_PREFIX}<domain> (or pass weight_columns=), or drop it with ignore_columns=[{column!r}]"
            )
    frame = _as_numbers(frame, label, list(domains), "write 0 for a domain the run did not train on")
    _require(frame, label, {c: pl.col(c) < 0 for c in domains}, "is a negative weight", "weights are shares >= 0")
    # a left fold, not pl.sum_horizontal: its summation order (hence the last bit) varies between runs
    frame = frame.with_columns(functools.reduce(operator.add, map(pl.col, domains)).alias("__total"))
    total = pl.col("__total")
    off = (total - 1).abs()
    far = _first_violation(frame, {"sum": off > WEIGHT_SUM_TOLERANCE})
    if far is not None:
        index = far[1]
        raise RunTableError(
            f"{_where(frame, label, index)}, columns {_listing(list(domains))}: weights sum to "
            f"{frame.select(total)[index, 0]:g}, more than {WEIGHT_SUM_TOLERANCE:g} away from 1; "
            "make each row's weights the shares of its training mixture, summing to 1"
        )
    rescale = off > _ROUND_OFF
    count, low, high = frame.select(
        rescale.sum().alias("count"),
        total.filter(rescale).min().alias("low"),
        total.filter(rescale).max().alias("high"),
    ).row(0)
    frame = frame.with_columns(pl.when(rescale).then(pl.col(c) / total).otherwise(pl.col(c)) for c in domains)
    frame = frame.drop("__total").rename({c: WEIGHT_PREFIX + d for c, d in domains.items()})
    if not count:
        return frame, ""
    return frame, (
        f"renormalised the weights of {count} rows of {Path(label).name} whose sums were "
        f"{low:g} to {high:g} (within {WEIGHT_SUM_TOLERANCE:g} of 1)"
    )


def _join_weights(
    metrics: pl.DataFrame, label: str, weights: pl.DataFrame, weights_label: str, key: str
) -> pl.DataFrame:
    """``metrics`` with each run's weights (and other weights-file columns) from ``weights``, joined on ``key``.

    Every run must be in both files; columns the files share must agree.
    """
    if key not in metrics.columns:
        columns = _listing(_file_columns(metrics))
        raise RunTableError(f"{label}: missing join column {key!r}; columns are: {columns}")
    repeat = _first_repeat(weights, [_RUN])
    if repeat is not None:
        rows = " and ".join(str(weights[_ROW][i]) for i in repeat)
        raise RunTableError(
            f"{weights_label} rows {rows} both give weights for run {weights[_RUN][repeat[0]]!r} "
            f"(column {key!r}); keep one row per run"
        )
    metrics = metrics.with_columns(pl.col(key).cast(pl.Utf8).alias("__key"))
    metric_runs = metrics["__key"].unique(maintain_order=True)
    only_metrics = metric_runs.filter(~metric_runs.is_in(weights[_RUN].implode()))
    only_weights = weights[_RUN].filter(~weights[_RUN].is_in(metric_runs.implode()))
    if len(only_metrics) or len(only_weights):
        raise RunTableError(
            f"cannot join {label} and {weights_label} on {key!r}: {len(only_metrics)} runs of "
            f"{Path(label).name} have no weights ({_listing(only_metrics, 3)}) and {len(only_weights)} runs of "
            f"{Path(weights_label).name} have no metrics ({_listing(only_weights, 3)}); make both files list "
            "the same runs (check the key column, e.g. 0- vs 1-based numbering)"
        )
    shared = [c for c in weights.columns if c in metrics.columns and c not in (_ROW, _RUN, key)]
    suffix = "__weights"
    joined = metrics.join(
        weights.drop(_ROW, key).rename({_RUN: "__key"}), on="__key", how="left", suffix=suffix, maintain_order="left"
    )
    differ = _first_violation(joined, {c: ~pl.col(c).eq_missing(pl.col(c + suffix)) for c in shared})
    if differ is not None:
        column, index = differ
        raise RunTableError(
            f"{_where(joined, label, index)}, column {column!r}: value {joined[column][index]!r} differs from "
            f"{joined[column + suffix][index]!r} in {weights_label}; the two files must agree on columns they share"
        )
    return joined.drop("__key", *(c + suffix for c in shared))


def _long_losses(frame: pl.DataFrame, label: str, options: _Options) -> pl.DataFrame:
    """``frame`` with one row per (run row, target): columns ``target``, ``loss`` (as read) and ``__column``."""
    if options.loss_columns is None:
        return _single_loss(frame, label, options)
    reserved = {_ROW, _RUN, options.id_column, options.join_column}
    candidates = [c for c in frame.columns if c not in reserved and not c.startswith(WEIGHT_PREFIX)]
    targets = _regex_names(candidates, options.loss_columns, "loss_columns", "target", label)
    clash = [c for c in ("target", "loss") if c in frame.columns and c not in targets]
    if clash or options.target is not None:
        other = f"a {clash[0]!r} column" if clash else f"target={options.target!r}"
        raise RunTableError(f"{label}: loss_columns names the targets, so {other} cannot be used as well; drop one")
    position = {c: i for i, c in enumerate(targets)}
    long = frame.unpivot(
        on=list(targets),
        index=[c for c in frame.columns if c not in targets],
        variable_name=_COLUMN,
        value_name="loss",
    )
    long = long.sort(_ROW, pl.col(_COLUMN).replace_strict(position), maintain_order=True)
    return long.with_columns(pl.col(_COLUMN).replace_strict(targets).alias("target"))


def _single_loss(frame: pl.DataFrame, label: str, options: _Options) -> pl.DataFrame:
    """``frame`` (one loss per row in a ``loss`` column) with its ``target`` column and ``__column``."""
    if "loss" not in frame.columns:
        raise RunTableError(
            f"{label}: missing required column 'loss'; columns are: {_listing(_file_columns(frame))}; name the "
            "loss column 'loss', or pass loss_columns='<regex>' when each target has its own column"
        )
    if "target" in frame.columns and options.target is not None:
        raise RunTableError(f"{label}: has a 'target' column and target={options.target!r} was given; drop one")
    if "target" in frame.columns:
        target = pl.col("target").cast(pl.Utf8)
    elif options.target is not None:
        target = pl.lit(options.target)
    else:
        raise RunTableError(
            f"{label}: missing required column 'target'; add one naming each row's eval set, or pass "
            "target='<name>' when every row reports the same eval set"
        )
    frame = frame.with_columns(target.alias("target"), pl.lit("loss").alias(_COLUMN))
    _require(frame, label, {"target": pl.col("target").is_null()}, "is empty", "name the eval set of every row")
    _require_names(frame, label, {"target": pl.col("target")}, "name the eval set of every row")
    return frame


def _standard_columns(frame: pl.DataFrame, label: str, options: _Options) -> pl.DataFrame:
    """The table's columns in their standard order and types (loss still as read), plus row bookkeeping."""
    if options.id_column != "run_id" and "run_id" in frame.columns:
        raise RunTableError(
            f"{label}: run ids come from column {options.id_column!r}, but the file also has a 'run_id' column; "
            "drop or rename one"
        )
    sources = []
    for name in ("params", "tokens"):
        given = getattr(options, name)
        if isinstance(given, (int, float)):
            if name in frame.columns:
                raise RunTableError(f"{label}: {name}={given!r} was given but the file has a {name!r} column; drop one")
            frame = frame.with_columns(pl.lit(float(given)).alias(name))
            continue
        column = given or name
        if column not in frame.columns:
            raise RunTableError(
                f"{label}: missing required column {column!r} ({name}); columns are: "
                f"{_listing(_file_columns(frame))}; add it, or pass {name}=<number> (the same for every run) or "
                f"{name}='<column>'"
            )
        sources.append(column)
        frame = frame.with_columns(pl.col(column).alias(name))
    frame = _as_numbers(frame, label, ["params", "tokens"], "write the count as a number, e.g. 1.5e9")
    counts = ("params", "tokens")
    _require(frame, label, {c: pl.col(c) <= 0 for c in counts}, "is not positive", "counts must be > 0")
    units = "check the column's units (a count of parameters or tokens, not e.g. FLOPs or a log10)"
    _require(frame, label, {c: pl.col(c) > MAX_COUNT for c in counts}, f"is above MAX_COUNT = {MAX_COUNT:g}", units)
    _require(frame, label, {c: pl.col(c) < MIN_COUNT for c in counts}, f"is below MIN_COUNT = {MIN_COUNT:g}", units)
    integers = [c for c in ("step", "seed") if c in frame.columns]
    frame = _as_numbers(frame, label, integers, "write a whole number")
    whole = {c: pl.col(c) != pl.col(c).round() for c in integers}
    _require(frame, label, whole, "is not whole", "write a whole number")
    huge = {c: pl.col(c).abs() > MAX_WHOLE for c in integers}
    _require(frame, label, huge, "is beyond MAX_WHOLE = 2**53", "a step or seed is a whole number up to 9.0e15")
    if "step" in integers:
        _require(frame, label, {"step": pl.col("step") < 0}, "is negative", "steps count updates from 0")
    frame = _unique_tokens(frame, label)
    weights = sorted(c for c in frame.columns if c.startswith(WEIGHT_PREFIX))
    consumed = {_ROW, _RUN, _COLUMN, options.id_column, *sources, *_STANDARD, *weights}
    extras = [c for c in frame.columns if c not in consumed]
    return frame.select(
        _ROW,
        _COLUMN,
        pl.col(_RUN).alias("run_id"),
        "params",
        "tokens",
        *(pl.col(c).cast(pl.Int64) for c in integers),
        "target",
        "loss",
        *weights,
        *extras,
    )


def unique_columns(columns: Sequence[str]) -> list[str]:
    """The unique-token columns among ``columns``: ``unique`` and ``unique.<domain>``."""
    return [c for c in columns if c == UNIQUE_COLUMN or c.startswith(UNIQUE_COLUMN + ".")]


def _unique_tokens(frame: pl.DataFrame, label: str) -> pl.DataFrame:
    """``frame`` with its unique-token columns as Float64: an empty cell is no limit; a value that is not a
    positive finite count within [MIN_COUNT, MAX_COUNT] is fatal."""
    columns = unique_columns(frame.columns)
    fix = "write the unique tokens the run's data held as a number, e.g. 2.5e8, or leave the cell empty for no limit"
    number = {c: pl.col(c).cast(pl.Float64, strict=False) for c in columns}
    _require(frame, label, {c: pl.col(c).is_not_null() & number[c].is_null() for c in columns}, "is not a number", fix)
    _require(frame, label, {c: ~number[c].is_finite() for c in columns}, "is not a finite number", fix)
    _require(frame, label, {c: number[c] <= 0 for c in columns}, "is not positive", fix)
    _require(frame, label, {c: (number[c] > MAX_COUNT) | (number[c] < MIN_COUNT) for c in columns},
             f"is outside [MIN_COUNT, MAX_COUNT] = [{MIN_COUNT:g}, {MAX_COUNT:g}]", fix)
    return frame.with_columns(number.values())


def _check_unique_rows(frame: pl.DataFrame, label: str) -> None:
    """Raise if two rows report the same (run, target, step)."""
    keys = [c for c in ("run_id", "target", "step") if c in frame.columns]
    repeat = _first_repeat(frame, keys)
    if repeat is None:
        return
    first = frame.row(repeat[0], named=True)
    at_step = f" at step {first['step']}" if "step" in keys else ""
    raise RunTableError(
        f"{label} rows {frame[_ROW][repeat[0]]} and {frame[_ROW][repeat[1]]} both report run {first['run_id']!r}, "
        f"target {first['target']!r}{at_step} (columns {', '.join(keys)}); keep one row per run, target and step, "
        "or give repeated runs their own run_id"
    )


_LOSS_PROBLEMS: tuple[tuple[Callable[[pl.Expr, pl.Expr], pl.Expr], str], ...] = (
    (lambda raw, value: raw.is_null(), "loss is missing"),
    (lambda raw, value: value.is_null(), "loss is not a number"),
    (lambda raw, value: value.is_nan(), "loss is NaN"),
    (lambda raw, value: value.is_infinite(), "loss is infinite"),
    (lambda raw, value: value > MAX_LOSS, f"loss is above MAX_LOSS = {MAX_LOSS:g}"),
    (lambda raw, value: value <= 0, "loss is not positive"),
)


def _check_run_constants(frame: pl.DataFrame, label: str) -> None:
    """Raise if a run's rows disagree on what is fixed for the run: its params, seed, mixture weights and unique
    tokens, and its tokens at each step (every row, when there is no step column)."""
    run = ["run_id"]
    at_step = ["run_id", "step"] if "step" in frame.columns else run
    fixed = {"params": run, "tokens": at_step, "seed": run}
    fixed |= {c: run for c in frame.columns if c.startswith(WEIGHT_PREFIX)}
    fixed |= {c: run for c in unique_columns(frame.columns)}
    fixed = {c: keys for c, keys in fixed.items() if c in frame.columns}
    differs = {c: pl.col(c).ne_missing(pl.col(c).first().over(keys)) for c, keys in fixed.items()}
    found = _first_violation(frame, differs)
    if found is None:
        return
    column, index = found
    first = frame.with_row_index("__index").select(pl.col("__index").first().over(fixed[column]))[index, 0]
    per_step = column == "tokens" and "step" in frame.columns
    at = f" at step {frame['step'][index]}" if per_step else ""
    raise RunTableError(
        f"{label} rows {frame[_ROW][first]} and {frame[_ROW][index]} (run {frame['run_id'][index]!r}{at}), column "
        f"{column!r}: values {frame[column][first]!r} and {frame[column][index]!r} differ; a run's {column} "
        f"{'at a step ' if per_step else ''}is the same on every row: fix the value, or give the runs their own run_id"
    )


def _split_bad_losses(frame: pl.DataFrame, label: str, strict: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows with a usable loss, now Float64; the others as ``rejected`` rows with their reason)."""
    raw = pl.col("loss")
    value = raw.cast(pl.Float64, strict=False)
    reason = pl.when(_LOSS_PROBLEMS[0][0](raw, value)).then(pl.lit(_LOSS_PROBLEMS[0][1]))
    for problem, text in _LOSS_PROBLEMS[1:]:
        reason = reason.when(problem(raw, value)).then(pl.lit(text))
    frame = frame.with_columns(reason.alias("__reason"))
    bad = frame.filter(pl.col("__reason").is_not_null())
    rejected = bad.select(
        source=pl.lit(label),
        row=pl.col(_ROW),
        run_id=pl.col("run_id"),
        column=pl.col(_COLUMN),
        value=raw.cast(pl.Utf8),
        reason=pl.col("__reason"),
    )
    if bad.height and strict:
        first = rejected.row(0, named=True)
        raise RunTableError(
            f"{label} row {first['row']} (run {first['run_id']!r}), column {first['column']!r}: value "
            f"{first['value']!r}: {first['reason']} ({bad.height} such rows); fix or remove these rows, "
            "or read without strict=True to set them aside"
        )
    kept = frame.filter(pl.col("__reason").is_null()).with_columns(value.alias("loss")).drop(_ROW, _COLUMN, "__reason")
    if kept.height == 0:
        raise RunTableError(
            f"{label}: every row has an unusable loss (first, row {rejected['row'][0]}: {rejected['reason'][0]}); "
            "check that the loss columns are the right ones"
        )
    return kept, rejected


def _rejected_note(rejected: pl.DataFrame, total: int) -> str:
    if rejected.height == 0:
        return ""
    reasons = ", ".join(f"{n} {r}" for r, n in rejected.group_by("reason", maintain_order=True).len().iter_rows())
    return (
        f"set aside {rejected.height} of {total} rows with an unusable loss ({reasons}); they are listed in "
        ".rejected (read with strict=True to make this an error)"
    )


# ---------------------------------------------------------------------------------------------------------
# Small helpers


def _regex_names(columns: Sequence[str], pattern: str, option: str, what: str, label: str) -> dict[str, str]:
    """Column name -> the ``what`` name captured by the regex's one group, for columns the regex fully matches."""
    try:
        regex = re.compile(pattern)
    except re.error as error:
        raise RunTableError(f"{option}={pattern!r} is not a valid regular expression ({error})") from error
    if regex.groups != 1:
        raise RunTableError(
            f"{option}={pattern!r} needs exactly one (group) capturing the {what} name; it has {regex.groups}"
        )
    names = {c: m.group(1) for c in columns if (m := regex.fullmatch(c))}
    if not names:
        raise RunTableError(
            f"{label}: {option}={pattern!r} matches no column (it must match whole names); "
            f"columns are: {_listing(columns)}"
        )
    seen: dict[str, str] = {}
    for column, name in names.items():
        problem = _name_problem(name)
        if problem or name in seen:
            raise RunTableError(
                f"{label}: {option}={pattern!r} gives column {column!r} the {what} name {name!r}"
                f"{f', which {problem}' if problem else f', as it does {seen[name]!r}'}; make the group capture "
                "distinct names without whitespace around them"
            )
        seen[name] = column
    return names


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a run, target or domain ('is blank', 'has whitespace around it'), or None."""
    if not name.strip():
        return "is blank"
    return "has whitespace around it" if name != name.strip() else None


def _require_names(frame: pl.DataFrame, label: str, names: Mapping[str, pl.Expr], fix: str) -> None:
    """Raise at the earliest row where a name (text expression, keyed by the column it comes from) is blank or
    has whitespace around it (``" val"`` would be another target than ``"val"``)."""
    _require(frame, label, {c: name.str.strip_chars() == "" for c, name in names.items()}, "is blank", fix)
    padded = {c: name != name.str.strip_chars() for c, name in names.items()}
    _require(frame, label, padded, "has whitespace around it", "write the name without it")


def _as_numbers(frame: pl.DataFrame, label: str, columns: Sequence[str], fix: str) -> pl.DataFrame:
    """``frame`` with ``columns`` as Float64; an empty, non-numeric or non-finite value is fatal."""
    number = {c: pl.col(c).cast(pl.Float64, strict=False) for c in columns}
    _require(frame, label, {c: pl.col(c).is_null() for c in columns}, "is empty", fix)
    _require(frame, label, {c: number[c].is_null() for c in columns}, "is not a number", fix)
    _require(frame, label, {c: ~number[c].is_finite() for c in columns}, "is not a finite number", fix)
    return frame.with_columns(number.values())


def _first_violation(frame: pl.DataFrame, checks: Mapping[str, pl.Expr]) -> tuple[str, int] | None:
    """(name, row index) of the earliest row where one of the boolean ``checks`` holds, or None."""
    if not checks:
        return None
    firsts = frame.select(check.arg_true().first().alias(name) for name, check in checks.items()).row(0, named=True)
    hits = [(index, name) for name, index in firsts.items() if index is not None]
    if not hits:
        return None
    index, name = min(hits)
    return name, index


def _require(frame: pl.DataFrame, label: str, checks: Mapping[str, pl.Expr], problem: str, fix: str) -> None:
    """Raise at the earliest row where a check (keyed by the column it reads) holds, naming row, column, value."""
    found = _first_violation(frame, checks)
    if found is None:
        return
    column, index = found
    value = frame[column][index]
    shown = "the cell" if value is None else f"value {value!r}"
    raise RunTableError(f"{_where(frame, label, index)}, column {column!r}: {shown} {problem}; {fix}")


def _first_repeat(frame: pl.DataFrame, keys: Sequence[str]) -> tuple[int, int] | None:
    """Row indices of the first two rows sharing the same ``keys`` values, or None if all are distinct."""
    groups = (
        frame.with_row_index("__index")
        .group_by(keys, maintain_order=True)
        .agg(pl.col("__index").head(2))
        .filter(pl.col("__index").list.len() > 1)
    )
    return None if groups.height == 0 else tuple(groups["__index"][0])


def _where(frame: pl.DataFrame, label: str, index: int) -> str:
    """'<file> row <n> (run <id>)' for the row at ``index``."""
    run = frame[_RUN][index]
    return f"{label} row {frame[_ROW][index]} ({'no run id' if run is None else f'run {run!r}'})"


def _file_columns(frame: pl.DataFrame) -> list[str]:
    """The columns of ``frame`` less the reader's own bookkeeping (row number, run id as text, loss column)."""
    return [c for c in frame.columns if c not in (_ROW, _RUN, _COLUMN)]


def _listing(names: Sequence[str] | pl.Series, limit: int = _LISTED) -> str:
    """Quoted names, the first ``limit`` of them, and how many there are in all."""
    names = list(names)
    shown = ", ".join(map(repr, names[:limit]))
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"
