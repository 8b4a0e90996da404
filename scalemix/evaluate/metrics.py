"""Scores of predictions against runs: point metrics, interval coverage and proper scoring rules, and
regret for mixtures.

Metrics on predicted vs true loss (MAE, RMSE, MRE, R^2, Spearman, Pearson), the coverage of central
intervals, the interval score and the CRPS (Gneiting and Raftery 2007, "Strictly proper scoring rules,
prediction, and estimation"), and regret@1 for mixtures (RegMix, Liu et al. 2024: the true loss of the run
a predictor ranks best, minus the best true loss).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from scalemix.errors import FitError

METRICS = ("mae", "rmse", "mre", "r2", "spearman", "pearson")


def metrics(true, predicted) -> dict[str, float]:
    """Point-prediction metrics of ``predicted`` against ``true`` (1-d, same length).

    ``mae = mean|p - y|``, ``rmse = sqrt(mean (p - y)^2)``, ``mre = mean |p - y| / |y|``,
    ``r2 = 1 - sum (p - y)^2 / sum (y - mean y)^2``, ``pearson`` the linear correlation and
    ``spearman`` the Pearson correlation of the ranks (ties get their average rank).
    Correlations and R^2 are NaN when ``true`` (or ``predicted``) is constant.
    """
    y, p = _pair(true, predicted)
    error = p - y
    spread = np.sum((y - y.mean()) ** 2)
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mre": float(np.mean(np.abs(error) / np.abs(y))),
        "r2": float(1.0 - np.sum(error**2) / spread) if spread > 0 else float("nan"),
        "spearman": pearson(_ranks(y), _ranks(p)),
        "pearson": pearson(y, p),
    }


def pearson(x, y) -> float:
    """Pearson correlation ``cov(x, y) / (sd x sd y)``; NaN when either is constant."""
    x, y = _pair(x, y)
    dx, dy = x - x.mean(), y - y.mean()
    norm = np.sqrt(np.sum(dx * dx) * np.sum(dy * dy))
    return float(np.sum(dx * dy) / norm) if norm > 0 else float("nan")


def spearman(x, y) -> float:
    """Spearman rank correlation: Pearson on average ranks."""
    x, y = _pair(x, y)
    return pearson(_ranks(x), _ranks(y))


def coverage(true, lower, upper) -> float:
    """Fraction of ``true`` values inside ``[lower, upper]``."""
    y, lo = _pair(true, lower)
    _, hi = _pair(true, upper)
    return float(np.mean((lo <= y) & (y <= hi)))


def interval_score(true, lower, upper, level: float) -> float:
    """Mean interval score of central ``level`` intervals (Gneiting and Raftery 2007, eq. 43), lower is
    better: ``(u - l) + (2 / a) (l - y) [y < l] + (2 / a) (y - u) [y > u]`` with ``a = 1 - level``: the
    width, plus a penalty for every miss that grows with its distance."""
    y, lo = _pair(true, lower)
    _, hi = _pair(true, upper)
    a = 1.0 - level
    return float(np.mean((hi - lo) + 2.0 / a * (lo - y) * (y < lo) + 2.0 / a * (y - hi) * (y > hi)))


def crps(true, quantiles, probabilities) -> float:
    """Mean continuous ranked probability score from predictive quantiles ``quantiles[k, rows]`` at
    ``probabilities[k]`` (evenly spread on (0, 1)): twice the mean pinball loss, which converges to the
    CRPS as the quantiles grow dense (Gneiting and Raftery 2007, eq. 22; Bracher et al. 2021)."""
    y = np.asarray(true, dtype=float).ravel()
    q = np.asarray(quantiles, dtype=float).reshape(len(probabilities), y.size)
    tau = np.asarray(probabilities, dtype=float)[:, None]
    error = y[None] - q
    return float(2.0 * np.mean(np.maximum(tau * error, (tau - 1.0) * error)))


def regret_at_1(true, predicted) -> float:
    """``true[argmin predicted] - min true``: what picking the predicted-best run costs in true loss."""
    y, p = _pair(true, predicted)
    return float(y[np.argmin(p)] - y.min())


def _ranks(x: np.ndarray) -> np.ndarray:
    return pl.Series(x).rank("average").to_numpy().astype(float)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape or a.size == 0:
        raise FitError(f"metrics need two non-empty arrays of the same length; got {a.size} and {b.size} values")
    return a, b


__all__ = ["METRICS", "coverage", "crps", "interval_score", "metrics", "pearson", "regret_at_1", "spearman"]
