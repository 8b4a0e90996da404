"""Splits of a run table by run: k-fold, "fit small, predict large" (hold out the largest scales), and
rolling-origin cuts over scale (fit below each cut, predict above it: a leave-future-out backtest).

A run's *scale* along ``by`` is its ``params`` N, its ``tokens`` D or its ``compute`` 6 N D.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import polars as pl

from scalemix.errors import FitError


def kfold(table, k: int = 5, *, seed: int = 0) -> Iterator[tuple[object, object]]:
    """``k`` (train, test) run tables; runs (all their targets and steps) are shuffled with ``seed`` and
    dealt into ``k`` folds, each held out once."""
    runs = np.asarray(table.runs, dtype=object)
    if not 2 <= k <= runs.size:
        raise FitError(f"k-fold needs 2 <= k <= number of runs ({runs.size}); got k={k}")
    order = np.random.default_rng(seed).permutation(runs.size)
    for fold in np.array_split(order, k):
        held = list(runs[fold])
        yield _runs_split(table, held)


SCALES = ("params", "tokens", "compute")


def scale(by: str, columns: Sequence[str] = ("params", "tokens")) -> pl.Expr:
    """The polars expression of a row's scale along ``by``; raises :class:`FitError` for an unknown axis
    or one the frame's ``columns`` cannot give."""
    needed = {"params": ["params"], "tokens": ["tokens"], "compute": ["params", "tokens"]}.get(by)
    if needed is None or any(c not in columns for c in needed):
        raise FitError(f"cannot measure scale by {by!r}: choose params, tokens or compute, from columns the runs "
                       f"have ({', '.join(columns)})")
    return (pl.col("params") * pl.col("tokens") * 6.0 if by == "compute" else pl.col(by)).alias("scale")


def scale_split(table, *, by: str = "params", hold_out: int | float = 1) -> tuple[object, object]:
    """Fit small, predict large: (train, test) where test holds the runs at the ``hold_out`` largest
    distinct values of ``by`` (``params``, ``tokens``, or ``compute`` = 6 N D); a float ``hold_out`` in
    (0, 1) holds out that fraction of the distinct values instead (for digitised, continuous scales)."""
    frame = table.frame
    value = scale(by, frame.columns)
    scales = frame.select(value)["scale"].unique().sort()
    if isinstance(hold_out, float):
        hold_out = max(1, int(round(hold_out * scales.len())))
    if scales.len() <= hold_out:
        raise FitError(f"the runs have {scales.len()} distinct {by} value(s); holding out {hold_out} leaves none to fit")
    threshold = scales[-hold_out]
    test = frame.filter(value >= threshold)["run_id"].unique().to_list()
    return _runs_split(table, test)


def rolling_origin(table, *, by: str = "compute", cuts: int = 5, first: float = 0.5,
                   last: float = 0.9) -> Iterator[tuple[float, object, object]]:
    """``(cut, train, test)`` for ``cuts`` origins along ``by``: each cut is a quantile of the runs'
    scales, evenly spaced from ``first`` to ``last``; train holds the runs below it and test the runs at
    or above it (Tashman 2000, "Out-of-sample tests of forecasting accuracy", rolling origin). Repeated
    cuts (few distinct scales) are run once."""
    frame = table.frame
    scales = frame.select(scale(by, frame.columns))["scale"].to_numpy()
    for cut in cut_points(scales, by, cuts=cuts, first=first, last=last):
        held = frame.filter(pl.Series(scales >= cut))["run_id"].unique().to_list()
        train, test = _runs_split(table, held)
        yield cut, train, test


def cut_points(scales: np.ndarray, by: str = "scale", *, cuts: int = 5, first: float = 0.5, last: float = 0.9) -> list[float]:
    """The distinct rolling-origin cuts of row ``scales``: the smallest distinct scale at or above each
    quantile evenly spaced from ``first`` to ``last``, never the smallest scale (something must lie below)."""
    if cuts < 1 or not 0.0 < first <= last < 1.0:
        raise FitError(f"a rolling origin needs cuts >= 1 and 0 < first <= last < 1; got cuts={cuts}, first={first}, last={last}")
    distinct = np.unique(scales)
    if distinct.size < 2:
        raise FitError(f"the runs have {distinct.size} distinct {by} value(s); a backtest over {by} needs two or more")
    index = np.searchsorted(distinct, np.quantile(scales, np.linspace(first, last, cuts)))
    return np.unique(distinct[np.clip(index, 1, distinct.size - 1)]).tolist()


def _runs_split(table, held_out) -> tuple[object, object]:
    held = pl.col("run_id").is_in(list(held_out))
    return table.select(where=~held), table.select(where=held)


__all__ = ["SCALES", "cut_points", "kfold", "rolling_origin", "scale", "scale_split"]
