"""Central intervals over draws, and the columns that hold them.

A central interval at level ``L`` runs from the ``(1 - L) / 2`` to the ``(1 + L) / 2`` quantile. Tables
name its ends ``lo<L>``/``hi<L>`` (the parameter, or credible, interval) and ``pred_lo<L>``/``pred_hi<L>``
(the predictive interval of a single run), with ``L`` in percent: ``lo90``, ``pred_hi97.5``. Code reads
and writes those names only through :func:`columns` and :func:`bounds`, never by spelling them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl

from scalemix.errors import ScalemixError


def label(level: float) -> str:
    """A level in percent as the column names spell it: 0.9 -> ``90``, 0.975 -> ``97.5``."""
    return f"{100 * level:g}"


def columns(level: float, *, predictive: bool = False) -> tuple[str, str]:
    """Names of the lower and upper end of the central interval at ``level``."""
    prefix = "pred_" if predictive else ""
    return f"{prefix}lo{label(level)}", f"{prefix}hi{label(level)}"


def tails(level: float) -> tuple[float, float]:
    """Quantile probabilities of the two ends of the central interval at ``level``."""
    tail = (1.0 - level) / 2.0
    return tail, 1.0 - tail


def quantiles(values: np.ndarray, levels: Sequence[float], *, axis: int = 0, predictive: bool = False) -> dict[str, np.ndarray]:
    """``{column: values}`` of both ends of each level's central interval of ``values`` along ``axis``."""
    out = {}
    for level in levels:
        low, high = np.quantile(values, tails(level), axis=axis)
        out.update(zip(columns(level, predictive=predictive), (low, high)))
    return out


def summary(values: np.ndarray, levels: Sequence[float], *, axis: int = 0) -> dict[str, np.ndarray]:
    """``mean``, ``median`` and the central intervals at ``levels`` of ``values`` along the draw ``axis``."""
    return {"mean": values.mean(axis=axis), "median": np.median(values, axis=axis), **quantiles(values, levels, axis=axis)}


def bounds(frame: pl.DataFrame, level: float, *, predictive: bool = False) -> tuple[pl.Series, pl.Series]:
    """The lower and upper end at ``level`` from a prediction ``frame``."""
    low, high = columns(level, predictive=predictive)
    return frame[low], frame[high]


def check(levels: Sequence[float], option: str = "levels") -> tuple[float, ...]:
    """``levels`` as floats, each strictly between 0 and 1; raises :class:`ScalemixError` otherwise."""
    checked = tuple(float(level) for level in levels)
    bad = [level for level in checked if not 0.0 < level < 1.0]
    if bad or not checked:
        raise ScalemixError(f"{option}: interval levels must lie strictly between 0 and 1 (e.g. 0.5,0.9); got "
                            f"{', '.join(f'{b:g}' for b in bad) or 'none'}")
    return checked


def parse(text: str, option: str = "--levels") -> tuple[float, ...]:
    """``"0.5,0.9"`` -> ``(0.5, 0.9)``, checked by :func:`check`."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ScalemixError(f"{option} {text!r} is not a comma-separated list of numbers like 0.5,0.9") from None
    return check(values, option)


__all__ = ["bounds", "check", "columns", "label", "parse", "quantiles", "summary", "tails"]
