"""What every predictor answers: a fitted law (:class:`~scalemix.Fit`) and a model-free regressor
(:class:`~scalemix.baseline.Regressor`) alike, so that evaluation, optimisation and reports take either.

A predictor knows its ``coords`` (``target``, ``domain``, ...), its ``law`` (``None`` for a model-free
regressor), how many draws it holds, and answers ``predict`` with the columns of
:mod:`scalemix.intervals` (``mean``, ``median``, ``lo<L>``/``hi<L>``, ``pred_lo<L>``/``pred_hi<L>``).
"""

from __future__ import annotations

import functools
import operator
from typing import Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import polars as pl

from scalemix.errors import FitError
from scalemix.laws import Law
from scalemix.runs import MAX_COUNT, MIN_COUNT, UNIQUE_COLUMN, WEIGHT_PREFIX, WEIGHT_SUM_TOLERANCE, unique_columns


@runtime_checkable
class Predictor(Protocol):
    """The interface of anything that predicts loss at query points."""

    law: Law | None
    coords: dict[str, tuple[str, ...]]
    method: str

    @property
    def targets(self) -> tuple[str, ...]: ...

    @property
    def n_draws(self) -> int: ...

    def log_loss_draws(self, query) -> tuple[pl.DataFrame, np.ndarray]:
        """Query rows (one per point and target) and their predicted log loss, ``[draws, rows]``."""

    def predict(self, query, levels: Sequence[float] = (0.5, 0.9), *, seed: int = 0,
                extrapolation: bool = True) -> pl.DataFrame:
        """The query rows with ``mean``, ``median`` and interval columns at ``levels`` (predictive intervals
        with the extrapolation term where the predictor has one and ``extrapolation`` is true)."""

    def usable(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The rows of ``frame`` it can predict, and the rows it sets aside (with a ``reason``)."""


QUERY_INPUTS = ("params", "tokens", "target", UNIQUE_COLUMN)
"""The columns a query point may give besides its mixture weights ``w.<domain>`` and unique tokens per domain
``unique.<domain>``."""

COUNTS = {"params": ("model size", "1e9"), "tokens": ("token budget", "2e10")}
"""The counts a query point (or a mixture to plan) may give: what each is, and an example value."""


def query_frame(query, targets: Sequence[str], domains: Sequence[str] | None = None) -> pl.DataFrame:
    """A query as a polars frame, its points checked by :func:`check_points`, with ``params``, ``tokens`` and
    ``w.<domain>`` as floats; without a ``target`` column, every one of ``targets`` is asked for at each point.

    ``query`` is a polars frame, a run table or a mapping of column -> value(s) (a scalar is one point). A
    mapping is points written by hand: each of its keys must be an input. A frame may carry other columns
    (a run table's ``run_id`` and ``loss``, say), which pass through unread. ``domains`` are the fit's, to
    refuse a ``w.<domain>`` it does not know (``None``: not checked)."""
    typed = isinstance(query, Mapping)
    if hasattr(query, "frame"):
        query = query.frame
    if typed:
        query = _mapping_frame(query)
    if not isinstance(query, pl.DataFrame):
        raise FitError(f"predict takes a polars frame, a mapping of columns or a run table, not {type(query).__name__}")
    query = check_points(query, targets, domains, inputs_only=typed)
    if "target" not in query.columns:
        query = query.join(pl.DataFrame({"target": list(targets)}), how="cross")
    return query


def check_points(frame: pl.DataFrame, targets: Sequence[str], domains: Sequence[str] | None = None, *,
                 origin: str = "query", row: str = "row", inputs_only: bool = False) -> pl.DataFrame:
    """``frame`` with its ``params``, ``tokens`` and ``w.<domain>`` columns as floats, once every point holds
    what a run table's row would: counts from the reader's :data:`~scalemix.runs.MIN_COUNT` to its
    :data:`~scalemix.runs.MAX_COUNT`, weights >= 0 summing to within its
    :data:`~scalemix.runs.WEIGHT_SUM_TOLERANCE` of 1, a ``target`` among ``targets`` and no ``w.<domain>``
    outside ``domains`` (``None``: any); with ``inputs_only``, no column but those. Raises :class:`FitError`
    with one line naming the point (``origin``, ``row`` and its 1-based number: ``query row 2``), column,
    value and the fix."""
    _check_columns(frame.columns, domains, origin, inputs_only)
    where = f"{origin} {row}"
    weights = [c for c in frame.columns if c.startswith(WEIGHT_PREFIX)]
    for column in (c for c in frame.columns if c in COUNTS):
        what, example = COUNTS[column]
        frame = frame.with_columns(_numbers(frame, column, where, f"give every point its {what}"))
        _require(frame[column] <= 0, frame, column, where, "is not positive", f"a {what} is a count > 0, e.g. {column}={example}")
        units = f"give the {what} as a count (e.g. {column}={example}), not e.g. FLOPs or a log10"
        _require(frame[column] > MAX_COUNT, frame, column, where, f"is above MAX_COUNT = {MAX_COUNT:g}", units)
        _require(frame[column] < MIN_COUNT, frame, column, where, f"is below MIN_COUNT = {MIN_COUNT:g}", units)
    for column in weights:
        frame = frame.with_columns(_numbers(frame, column, where, "give every point a weight (0 for a domain it does not train on)"))
        _require(frame[column] < 0, frame, column, where, "is a negative weight", "weights are shares >= 0")
    if weights:
        _check_sums(frame, weights, where)
    for column in unique_columns(frame.columns):
        values = frame[column].cast(pl.Float64, strict=False)
        _require((values.is_null() & frame[column].is_not_null()) | ~values.fill_null(1.0).is_finite() | (values <= 0),
                 frame, column, where, "is not a positive number of unique tokens",
                 "give the unique tokens the data holds, e.g. 2e9, or leave the cell empty for no limit")
        frame = frame.with_columns(values)
    if "target" in frame.columns:
        named = frame["target"].cast(pl.Utf8, strict=False)
        _require(~named.is_in(list(targets)) | named.is_null(), frame, "target", where, "is not a target of this fit",
                 f"it knows {', '.join(targets)}")
    return frame


def _mapping_frame(query: Mapping) -> pl.DataFrame:
    """The points of a mapping of column -> value(s) (scalars are broadcast) as a frame."""
    columns = {str(k): np.asarray(v).tolist() if hasattr(v, "__array__") else v for k, v in query.items()}
    try:
        return pl.DataFrame(columns, strict=False)
    except pl.exceptions.ShapeError:
        lengths = ", ".join(f"{k} {len(v)}" for k, v in columns.items() if isinstance(v, (list, tuple, pl.Series)))
        raise FitError(f"the query's columns hold different numbers of points ({lengths}); give each column one "
                       "value or the same number of values") from None


def _check_columns(columns: Sequence[str], domains: Sequence[str] | None, origin: str, inputs_only: bool) -> None:
    """Refuse a ``w.<domain>`` the fit does not know and, with ``inputs_only``, any column that is not an input."""
    known = "none" if domains is not None and not domains else ", ".join(domains or ())
    for column in columns:
        prefix = next((p for p in (WEIGHT_PREFIX, UNIQUE_COLUMN + ".") if column.startswith(p)), None)
        if prefix and domains is not None and column[len(prefix):] not in domains:
            raise FitError(f"{origin} column {column!r} names no domain of this fit (it knows {known}); drop it, "
                           "or fit runs that train on that domain")
        if inputs_only and not prefix and column not in QUERY_INPUTS:
            mixture = f", w.<domain> and unique.<domain> ({known})" if domains else ""
            raise FitError(f"{origin} column {column!r} is not an input; a query point gives "
                           f"{', '.join(QUERY_INPUTS)}{mixture}")


def _check_sums(frame: pl.DataFrame, weights: Sequence[str], where: str) -> None:
    """Refuse the first point whose weights sum further than the reader's tolerance from 1."""
    totals = frame.select(functools.reduce(operator.add, map(pl.col, weights)))[:, 0]
    far = (totals - 1).abs() > WEIGHT_SUM_TOLERANCE
    if far.any():
        index = int(far.arg_true()[0])
        raise FitError(
            f"{where} {index + 1}, column(s) {', '.join(map(repr, weights))}: weights sum to {totals[index]:g}, "
            f"more than {WEIGHT_SUM_TOLERANCE:g} away from 1; give the shares of a training mixture, summing to 1"
        )


def _numbers(frame: pl.DataFrame, column: str, where: str, fill: str) -> pl.Series:
    """``column`` as floats (numbers and numeric text), refusing an empty cell (saying ``fill``), text, true/false
    and NaN or infinite values."""
    given = frame[column]
    values = given.cast(pl.Float64, strict=False) if given.dtype != pl.Boolean else pl.Series(column, [None] * len(given), pl.Float64)
    _require(given.is_null(), frame, column, where, "is empty", fill)
    _require(values.is_null(), frame, column, where, "is not a number", "write it as a number, e.g. 1.5e9 or 0.25")
    _require(~values.is_finite(), frame, column, where, "is not a finite number", "give a finite number")
    return values


def _require(bad: pl.Series, frame: pl.DataFrame, column: str, where: str, problem: str, fix: str) -> None:
    """Raise at the first point where ``bad`` holds, naming it, ``column`` and the value as given."""
    if not bad.fill_null(False).any():
        return
    index = int(bad.fill_null(False).arg_true()[0])
    value = frame[column][index]
    shown = "the cell" if value is None else f"value {value:g}" if isinstance(value, float) else f"value {value!r}"
    raise FitError(f"{where} {index + 1}, column {column!r}: {shown} {problem}; {fix}")


__all__ = ["COUNTS", "QUERY_INPUTS", "Predictor", "check_points", "query_frame"]
