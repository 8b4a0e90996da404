"""How far can I trust this law on my runs? A rolling-origin backtest a user runs on their own data.

At each cut along ``by`` (:func:`scalemix.splits.rolling_origin`) the law is fitted to the runs below
the cut, with the method and extrapolation term a user would use (:func:`scalemix.fit.fit`, which learns
its discrepancy from the training runs alone), and predicts the runs at or above it. Every predicted row
records how far beyond its fit's range it lies (``beyond_<by>``, decades); :func:`summarize` scores the
rows by distance: coverage of central intervals, the interval score and CRPS on log loss (Gneiting and
Raftery 2007) and the MRE of the median.
"""

from __future__ import annotations

from typing import Sequence

import polars as pl

from scalemix.evaluate.scores import CRPS_LEVELS, score_rows
from scalemix.extrapolation import DISTANCE_BINS, distance_bins
from scalemix.fit import fit
from scalemix.splits import rolling_origin

LEVELS = (0.5, 0.8, 0.95)


def backtest(table, law, *, by: str = "compute", cuts: int = 5, method: str = "point", seed: int = 0,
             extrapolation: bool = True, **options) -> pl.DataFrame:
    """The predictions of every held-out row at every cut: the cut, the row's columns, its
    ``beyond_*`` distances and its predictive quantiles at :data:`LEVELS` and the CRPS levels."""
    levels = tuple(dict.fromkeys((*LEVELS, *CRPS_LEVELS)))
    frames = []
    for cut, train, test in rolling_origin(table, by=by, cuts=cuts):
        fitted = fit(train, law, method=method, seed=seed, extrapolation=extrapolation, **options)
        usable, _ = fitted.usable(test.frame)
        predicted = fitted.predict(usable, levels=levels, seed=seed)
        frames.append(predicted.with_columns(cut=pl.lit(float(cut)), by=pl.lit(by)))
    return pl.concat(frames, how="diagonal_relaxed")


def summarize(rows: pl.DataFrame, levels: Sequence[float] = LEVELS, bins: Sequence[float] = DISTANCE_BINS) -> pl.DataFrame:
    """Scores of backtest ``rows`` per distance bin along their ``by`` axis (and ``all``): rows, coverage
    at ``levels``, interval score, CRPS, MRE, and the mean distance."""
    by = rows["by"][0]
    distance = rows[f"beyond_{by}"].to_numpy()
    index, labels = distance_bins(distance, bins)
    out = []
    for k, label in enumerate(labels):
        chosen = rows.filter(pl.Series(index == k))
        if chosen.height:
            out.append({"distance": label, "mean_distance": float(distance[index == k].mean()), **score_rows(chosen, levels)})
    out.append({"distance": "all", "mean_distance": float(distance.mean()), **score_rows(rows, levels)})
    return pl.DataFrame(out)


__all__ = ["DISTANCE_BINS", "LEVELS", "backtest", "summarize"]
