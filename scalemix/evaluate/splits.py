"""Splits of a run table by run: k-fold, and "fit small, predict large" (hold out the largest scales)."""

from __future__ import annotations

from typing import Iterator

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


def scale_split(table, *, by: str = "params", hold_out: int | float = 1) -> tuple[object, object]:
    """Fit small, predict large: (train, test) where test holds the runs at the ``hold_out`` largest
    distinct values of ``by`` (``params``, ``tokens``, or ``compute`` = 6 N D); a float ``hold_out`` in
    (0, 1) holds out that fraction of the distinct values instead (for digitised, continuous scales)."""
    frame = table.frame
    needed = {"params": ["params"], "tokens": ["tokens"], "compute": ["params", "tokens"]}.get(by)
    if needed is None or any(c not in frame.columns for c in needed):
        raise FitError(f"cannot split by {by!r}: choose params, tokens or compute, from columns the runs have ({', '.join(frame.columns)})")
    value = pl.col("params") * pl.col("tokens") * 6.0 if by == "compute" else pl.col(by)
    scales = frame.select(value.alias("scale"))["scale"].unique().sort()
    if isinstance(hold_out, float):
        hold_out = max(1, int(round(hold_out * scales.len())))
    if scales.len() <= hold_out:
        raise FitError(f"the runs have {scales.len()} distinct {by} value(s); holding out {hold_out} leaves none to fit")
    threshold = scales[-hold_out]
    test = frame.filter(value >= threshold)["run_id"].unique().to_list()
    return _runs_split(table, test)


def _runs_split(table, held_out) -> tuple[object, object]:
    held = pl.col("run_id").is_in(list(held_out))
    return table.select(where=~held), table.select(where=held)


__all__ = ["kfold", "scale_split"]
