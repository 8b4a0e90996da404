"""Derived quantities with intervals, over a fit's draws: compute-optimal allocation, effective parameters.

Each function evaluates a law-level formula (:func:`scalemix.laws.compute_optimal`,
:func:`scalemix.laws.effective_fraction`) on every draw at once (broadcast over the draw axis) and
summarises it like :meth:`~scalemix.Fit.predict`: ``mean``, ``median`` and central intervals
``lo<L>``/``hi<L>`` per level. For a point fit the interval collapses to the point.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl

from scalemix import intervals, laws
from scalemix._x64 import float64
from scalemix.errors import FitError
from scalemix.fitresult import Fit


def compute_optimal(fit: Fit, flops, levels: Sequence[float] = (0.5, 0.9)) -> pl.DataFrame:
    """Compute-optimal ``N*``, ``D*`` and tokens per parameter ``D*/N*`` at each FLOP budget ``C = 6 N D``.

    Hoffmann et al. 2022, eq. 4 (see :func:`scalemix.laws.compute_optimal`), on every draw of a
    ``chinchilla`` fit. Rows: ``flops, target, quantity`` (``params``, ``tokens``, ``tokens_per_param``)
    with ``mean, median, lo<L>, hi<L>``.
    """
    _require(fit, {"A", "B", "alpha", "beta"}, "compute_optimal", "chinchilla")
    flops = np.atleast_1d(np.asarray(flops, dtype=float))
    theta = {k: fit.draws[k][None] for k in ("A", "B", "alpha", "beta")}  # [1, S, targets]
    with float64():
        values = [np.asarray(v) for v in laws.compute_optimal(theta, flops[:, None, None])]  # 3 x [F, S, T]
    names = ("params", "tokens", "tokens_per_param")
    return _summarise({"flops": flops}, fit.targets, dict(zip(names, values)), levels)


def effective_fraction(fit: Fit, p, levels: Sequence[float] = (0.5, 0.9)) -> pl.DataFrame:
    """Effective-parameter fraction ``f_i(p)`` of a ``multilingual`` fit at training weights ``p``
    (Fernandes et al. 2023, eq. 6). Rows: ``p, target, quantity="fraction"`` with the summary columns."""
    f = _multilingual_form(fit)
    p = np.atleast_1d(np.asarray(p, dtype=float))
    theta = {k: v[None] for k, v in fit.draws.items()}
    with float64():
        fraction = np.asarray(laws.effective_fraction(theta, p[:, None, None], f))
    return _summarise({"p": p}, fit.targets, {"fraction": fraction}, levels)


def effective_params(fit: Fit, params, p, levels: Sequence[float] = (0.5, 0.9)) -> pl.DataFrame:
    """Effective parameters ``N_eff = f_i(p) N`` of a ``multilingual`` fit, for every pair of ``params``
    and ``p`` values. Rows: ``params, p, target, quantity="params_effective"`` with the summary columns."""
    f = _multilingual_form(fit)
    grid_n, grid_p = (a.ravel() for a in np.meshgrid(np.atleast_1d(params).astype(float), np.atleast_1d(p).astype(float), indexing="ij"))
    theta = {k: v[None] for k, v in fit.draws.items()}
    with float64():
        values = np.asarray(laws.effective_params(theta, grid_n[:, None, None], grid_p[:, None, None], f))
    return _summarise({"params": grid_n, "p": grid_p}, fit.targets, {"params_effective": values}, levels)


def _summarise(keys: dict, targets, quantities: dict[str, np.ndarray], levels) -> pl.DataFrame:
    """``{quantity: [points, S, targets]}`` -> long frame of key columns, target, quantity, summaries."""
    frames = []
    points = len(next(iter(keys.values())))
    for quantity, values in quantities.items():
        columns = {k: np.repeat(v, len(targets)) for k, v in keys.items()}
        columns["target"] = np.tile(np.asarray(targets, dtype=object), points)
        columns["quantity"] = [quantity] * (points * len(targets))
        columns.update({k: v.ravel() for k, v in intervals.summary(values, intervals.check(levels), axis=1).items()})
        frames.append(pl.DataFrame(columns))
    return pl.concat(frames)


def _require(fit: Fit, names: set[str], what: str, law: str) -> None:
    missing = sorted(names - set(fit.draws))
    if missing:
        raise FitError(f"{what} needs a {law!r} fit (parameters {', '.join(sorted(names))}); this fit of "
                       f"law {fit.law.name!r} lacks {', '.join(missing)}")


def _multilingual_form(fit: Fit) -> str:
    if fit.law.name != "multilingual":
        raise FitError(f"effective parameters need a 'multilingual' fit (f_i(p) of Fernandes et al. 2023); this is {fit.law.name!r}")
    return fit.law.options.get("f", "power")


__all__ = ["compute_optimal", "effective_fraction", "effective_params"]
