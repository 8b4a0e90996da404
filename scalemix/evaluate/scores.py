"""How well a predictor (a fit or a regressor) predicts runs it never saw: :func:`evaluate`."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl

from scalemix import intervals
from scalemix.evaluate.metrics import coverage, crps, interval_score, metrics, regret_at_1

CRPS_LEVELS = tuple(np.round(np.linspace(0.04, 0.96, 24), 2))
"""Central levels whose 48 quantile ends (and the median) approximate each predictive distribution's CRPS."""


def evaluate(predictor, table, levels: Sequence[float] = (0.5, 0.9), *, seed: int = 0, extrapolation: bool = True) -> dict:
    """Metrics of a :class:`~scalemix.predictor.Predictor`'s median predictions on ``table`` (runs it
    should never have seen), overall and per target: point metrics, predictive-interval ``coverage<L>``
    and mean relative ``width<L>`` (``log hi - log lo``) at ``levels``, the ``interval_score`` (mean over
    ``levels``) and the ``crps`` of the predictive distribution, both on log loss (proper scoring rules,
    lower is better), and regret@1 per target when the runs differ in mixture. ``extrapolation=False``
    scores the intervals without the fit's extrapolation term (parameters and noise only). Rows the
    predictor cannot predict (a law undefined there, e.g. p = 0) are set aside and counted; rows of
    targets it does not know raise :class:`~scalemix.errors.FitError`."""
    levels = intervals.check(levels)
    usable, set_aside = predictor.usable(table.frame)
    prediction = predictor.predict(usable, levels=tuple(dict.fromkeys((*levels, *CRPS_LEVELS))), seed=seed,
                                   extrapolation=extrapolation)
    result = {
        "rows": prediction.height,
        "rows_set_aside": set_aside.height,
        "overall": score_rows(prediction, levels),
        "targets": {},
    }
    for (target,), rows in prediction.group_by("target", maintain_order=True):
        scores = score_rows(rows, levels)
        if any(c.startswith("w.") for c in rows.columns) and rows.height > 1:
            scores["regret_at_1"] = regret_at_1(rows["loss"], rows["median"])
        result["targets"][target] = scores
    return result


def score_rows(prediction: pl.DataFrame, levels) -> dict:
    """The scores of :func:`evaluate` for prediction rows holding ``loss`` and the predictive intervals at
    ``levels`` and :data:`CRPS_LEVELS`."""
    scores = metrics(prediction["loss"], prediction["median"])
    log_true = np.log(prediction["loss"].to_numpy())
    interval_scores = []
    for level in levels:
        low, high = (np.log(end.to_numpy()) for end in intervals.bounds(prediction, level, predictive=True))
        scores[f"coverage{intervals.label(level)}"] = coverage(log_true, low, high)
        scores[f"width{intervals.label(level)}"] = float(np.mean(high - low))
        interval_scores.append(interval_score(log_true, low, high, level))
    scores["interval_score"] = float(np.mean(interval_scores))
    scores["crps"] = crps(log_true, *_quantiles(prediction))
    scores["rows"] = prediction.height
    return scores


def _quantiles(prediction: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The predictive quantiles of every row at :data:`CRPS_LEVELS` (log loss) and their probabilities."""
    ends = [intervals.bounds(prediction, level, predictive=True) for level in CRPS_LEVELS]
    probabilities = [p for level in CRPS_LEVELS for p in intervals.tails(level)]
    quantiles = [np.log(end.to_numpy()) for pair in ends for end in pair]
    return np.stack(quantiles), np.asarray(probabilities)


__all__ = ["CRPS_LEVELS", "evaluate", "score_rows"]
