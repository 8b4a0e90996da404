"""Stacking weights for several laws fitted to the same runs, from leave-future-out scores.

Each law's backtest (:func:`scalemix.fit.discrepancy.backtest`) scores the runs above each rolling-origin
cut by a point fit of the runs below; under the law's learned extrapolation term a scored run has the
predictive density ``p_k(r_i)`` (Student-t of scale ``s_k(d_i)``, :meth:`Discrepancy.log_density`). The
stacking weights maximise the leave-future-out log score of the mixture (Yao et al. 2018, eq. 4)::

    w = argmax_{w in simplex}  sum_i c_i log sum_k w_k p_k(r_i)

with ``c_i`` weighing every cut alike (:func:`~scalemix.fit.discrepancy.cut_weights`). The objective is
concave in ``w``; it is the log-likelihood of mixture weights with fixed components, maximised by the EM
iteration ``w_k <- sum_i c_i w_k p_ik / sum_j w_j p_ij / sum_i c_i`` (Dempster, Laird and Rubin 1977),
which stays on the simplex and increases the score at every step.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl

from scalemix.errors import FitError
from scalemix.extrapolation import Discrepancy
from scalemix.fit.discrepancy import cut_weights
from scalemix.fitresult import Fit
from scalemix.stack import Stack

TOLERANCE = 1e-10
"""EM stops when no weight moves by more than this."""
MAX_STEPS = 10_000


def weights(log_density: np.ndarray, row_weights: np.ndarray | None = None) -> np.ndarray:
    """The simplex weights maximising ``sum_i c_i log sum_k w_k exp(log_density[i, k])`` (see the module)."""
    log_density = np.asarray(log_density, dtype=float)
    c = np.ones(log_density.shape[0]) if row_weights is None else np.asarray(row_weights, dtype=float)
    density = np.exp(log_density - log_density.max(axis=1, keepdims=True))  # rescaling a row leaves w alone
    w = np.full(log_density.shape[1], 1.0 / log_density.shape[1])
    for _ in range(MAX_STEPS):
        share = density * w / (density @ w)[:, None]
        new = c @ share / c.sum()
        if np.max(np.abs(new - w)) < TOLERANCE:
            return new
        w = new
    return w


def log_score(log_density: np.ndarray, w: np.ndarray, row_weights: np.ndarray) -> float:
    """The mean cut-weighted log predictive density of the mixture with weights ``w``."""
    top = log_density.max(axis=1)
    mixture = top + np.log(np.exp(log_density - top[:, None]) @ w)
    return float(row_weights @ mixture / row_weights.sum())


def stack(fits: Sequence[Fit], scores: Sequence[pl.DataFrame]) -> Stack:
    """The :class:`~scalemix.stack.Stack` of ``fits`` (each with its ``discrepancy``) weighted by their
    backtest ``scores`` (each law's :func:`~scalemix.fit.discrepancy.backtest` rows, on the same runs):
    only the runs every law's backtest scored count."""
    names = [fit.law.name for fit in fits]
    if len(set(names)) != len(names):
        raise FitError(f"each law is stacked once; got {', '.join(names)}")
    axes = {name: fit.discrepancy.axis for name, fit in zip(names, fits) if fit.discrepancy is not None}
    if len(set(axes.values())) > 1:
        raise FitError(f"stacked laws must extrapolate along one scale, to be scored on the same backtest cuts; got "
                       f"{', '.join(f'{name} along {axis}' for name, axis in axes.items())}")
    keys = ["cut", "row"]
    joined = scores[0].select(*keys, pl.col("residual", "distance", "sigma").name.suffix("_0"))
    for k, scored in enumerate(scores[1:], start=1):
        joined = joined.join(scored.select(*keys, pl.col("residual", "distance", "sigma").name.suffix(f"_{k}")), on=keys)
    if not joined.height:
        raise FitError(f"the backtests of {', '.join(names)} scored no run in common: stack laws fitted to the same runs")
    log_density = np.column_stack([
        _log_density(fit.discrepancy, *(joined[f"{c}_{k}"].to_numpy() for c in ("residual", "distance", "sigma")))
        for k, fit in enumerate(fits)])
    row_weights = cut_weights(joined)
    w = weights(log_density, row_weights)
    diagnostics = {
        "stacking": f"weights from the leave-future-out log score of {joined.height} runs above {joined['cut'].n_unique()} "
                    f"backtest cut(s) (Yao et al. 2018)",
        "rows": joined.height, "cuts": joined["cut"].n_unique(),
        "log_score": {name: log_score(log_density, np.eye(len(fits))[k], row_weights) for k, name in enumerate(names)},
        "stack_log_score": log_score(log_density, w, row_weights),
        "warnings": [f"{name}: {message}" for name, fit in zip(names, fits) for message in fit.diagnostics.get("warnings", [])],
    }
    return Stack(fits=tuple(fits), weights=w, diagnostics=diagnostics)


def _log_density(discrepancy: Discrepancy | None, residual, distance, sigma) -> np.ndarray:
    if discrepancy is None:
        raise FitError("a stacked law needs an extrapolation term (fit with extrapolation=True)")
    return discrepancy.log_density(residual, distance, sigma)


__all__ = ["MAX_STEPS", "TOLERANCE", "log_score", "stack", "weights"]
