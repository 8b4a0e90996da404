"""What every predictor answers: a fitted law (:class:`~scalemix.Fit`) and a model-free regressor
(:class:`~scalemix.baseline.Regressor`) alike, so that evaluation, optimisation and reports take either.

A predictor knows its ``coords`` (``target``, ``domain``, ...), its ``law`` (``None`` for a model-free
regressor), how many draws it holds, and answers ``predict`` with the columns of
:mod:`scalemix.intervals` (``mean``, ``median``, ``lo<L>``/``hi<L>``, ``pred_lo<L>``/``pred_hi<L>``).
"""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence, runtime_checkable

import numpy as np
import polars as pl

from scalemix.errors import FitError
from scalemix.laws import Law


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


def query_frame(query, targets: Sequence[str]) -> pl.DataFrame:
    """A query as a polars frame: a frame, a mapping of column -> value(s) or a run table; without a
    ``target`` column, every one of ``targets`` is asked for at each point."""
    if hasattr(query, "frame"):
        query = query.frame
    if isinstance(query, Mapping):
        query = pl.DataFrame({k: np.atleast_1d(v) for k, v in query.items()})
    if not isinstance(query, pl.DataFrame):
        raise FitError(f"predict takes a polars frame, a mapping of columns or a run table, not {type(query).__name__}")
    if "target" not in query.columns:
        query = query.join(pl.DataFrame({"target": list(targets)}), how="cross")
    return query


__all__ = ["Predictor", "query_frame"]
