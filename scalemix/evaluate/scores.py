"""How well a predictor (a fit or a regressor) predicts runs it never saw: :func:`evaluate`."""

from __future__ import annotations

from typing import Sequence

import polars as pl

from scalemix import intervals
from scalemix.evaluate.metrics import coverage, metrics, regret_at_1


def evaluate(predictor, table, levels: Sequence[float] = (0.5, 0.9), *, seed: int = 0) -> dict:
    """Metrics of a :class:`~scalemix.predictor.Predictor`'s median predictions on ``table`` (runs it
    should never have seen), overall and per target, with predictive-interval coverage at ``levels`` and
    regret@1 per target when the runs differ in mixture. Rows the predictor cannot predict (a law
    undefined there, e.g. p = 0) are set aside and counted; rows of targets it does not know raise
    :class:`~scalemix.errors.FitError`."""
    levels = intervals.check(levels)
    usable, set_aside = predictor.usable(table.frame)
    prediction = predictor.predict(usable, levels=levels, seed=seed)
    result = {
        "rows": prediction.height,
        "rows_set_aside": set_aside.height,
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
        low, high = intervals.bounds(prediction, level, predictive=True)
        scores[f"coverage{intervals.label(level)}"] = coverage(prediction["loss"], low, high)
    scores["rows"] = prediction.height
    return scores


__all__ = ["evaluate"]
