"""Validation: how well a fit predicts runs it never saw.

Metrics on predicted vs true loss (MAE, RMSE, MRE, R^2, Spearman, Pearson), interval coverage of a
fit's draws at given levels, and regret@1 for mixtures (RegMix, Liu et al. 2024: the true loss of the
run a fit ranks best, minus the best true loss). Splits of a run table by run: k-fold, and "fit small,
predict large" (hold out the largest scales). :func:`evaluate` puts them together for a fit and a table.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import polars as pl

from scalemix.errors import FitError
from scalemix.fit.design import design
from scalemix.fitresult import level_suffix

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


def regret_at_1(true, predicted) -> float:
    """``true[argmin predicted] - min true``: what picking the predicted-best run costs in true loss."""
    y, p = _pair(true, predicted)
    return float(y[np.argmin(p)] - y.min())


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


def evaluate(fit, table, levels: Sequence[float] = (0.5, 0.9), *, seed: int = 0) -> dict:
    """Metrics of ``fit``'s median predictions on ``table`` (runs it should never have seen), overall
    and per target, with predictive-interval coverage at ``levels`` and regret@1 per target when the
    runs differ in mixture. Rows where the law is undefined are set aside and counted; rows of targets
    the fit does not know raise :class:`FitError`."""
    usable = design(table.frame, fit.law, fit.coords)  # sets aside rows outside the law (e.g. p = 0)
    prediction = fit.predict(usable.frame, levels=levels, seed=seed)
    result = {
        "rows": prediction.height,
        "rows_set_aside": usable.set_aside.height,
        "overall": _scores(prediction, levels),
        "targets": {},
    }
    for (target,), rows in prediction.group_by("target", maintain_order=True):
        scores = _scores(rows, levels)
        if any(c.startswith("w.") for c in rows.columns) and rows.height > 1:
            scores["regret_at_1"] = regret_at_1(rows["loss"], rows["median"])
        result["targets"][target] = scores
    return result


def _scores(prediction: pl.DataFrame, levels) -> dict:
    scores = metrics(prediction["loss"], prediction["median"])
    for level in levels:
        s = level_suffix(level)
        scores[f"coverage{s}"] = coverage(prediction["loss"], prediction[f"pred_lo{s}"], prediction[f"pred_hi{s}"])
    scores["rows"] = prediction.height
    return scores


def _runs_split(table, held_out) -> tuple[object, object]:
    held = pl.col("run_id").is_in(list(held_out))
    return table.select(where=~held), table.select(where=held)


def _ranks(x: np.ndarray) -> np.ndarray:
    return pl.Series(x).rank("average").to_numpy().astype(float)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape or a.size == 0:
        raise FitError(f"metrics need two non-empty arrays of the same length; got {a.size} and {b.size} values")
    return a, b


__all__ = ["METRICS", "coverage", "evaluate", "kfold", "metrics", "pearson", "regret_at_1", "scale_split", "spearman"]
