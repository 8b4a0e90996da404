"""The numbers behind the report's per-target figures, computed over a fit's draws: fitted curves over
model size with central bands (:meth:`~scalemix.Fit.predict`) and residuals at the observed runs.

Every function returns plain arrays or polars frames; :mod:`scalemix.report.figures` only draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from scalemix import intervals
from scalemix.design import without_set_aside

BANDS = (0.5, 0.9)
"""Central intervals drawn around each median curve."""

MAX_SERIES = 9
"""A target's distinct own weights are drawn one line each up to this many; more are binned."""

_BINS = 5
_GRID = 48


@dataclass(frozen=True)
class Curve:
    """Loss over model size for one target and one weighting: the ``params`` grid, the median and the
    ``bands`` ``{level: (lo, hi)}`` over draws (empty for a single draw), the observed ``points``
    (``params``, ``loss``) of that series, and its ``label``."""

    target: str
    label: str
    params: np.ndarray
    median: np.ndarray
    bands: dict[float, tuple[np.ndarray, np.ndarray]]
    points: pl.DataFrame


def fitted_rows(fit, table) -> pl.DataFrame:
    """The rows of ``table`` (the fit's runs) that the fit was made on: all but those it set aside."""
    return without_set_aside(table.frame, fit.set_aside)


def residuals(fit, table) -> pl.DataFrame:
    """``target, params, loss, median, residual`` per fitted row: residual = log(loss) - median
    predicted log loss over the draws."""
    rows = fitted_rows(fit, table)
    _, log_loss = fit.log_loss_draws(rows.drop("loss"))
    median = np.median(log_loss, axis=0)
    return rows.select("target", "params", "loss").with_columns(
        median=np.exp(median), residual=np.log(rows["loss"].to_numpy()) - median
    )


def curves(fit, table, targets) -> list[Curve]:
    """Median curve and bands over model size for each of ``targets`` and each of its weightings.

    A weighting is a distinct own weight ``p`` of the target (multilingual laws) -- binned into
    quintiles, each drawn at its median ``p``, when there are more than :data:`MAX_SERIES`; other laws
    get one curve per target. Weights the law reads but a series does not fix are the runs' average
    mixture; tokens, where the law reads them, follow the series' median tokens-per-parameter ratio.
    """
    rows = fitted_rows(fit, table)
    domains = fit.coords.get("domain", ())
    mean_mixture = {f"w.{d}": float(rows[f"w.{d}"].mean()) for d in domains}
    low, high = float(rows["params"].min()), float(rows["params"].max())
    grid = np.geomspace(low / 2, high * 20, _GRID)
    series = [s for t in targets for s in _series(fit, rows.filter(pl.col("target") == t), t)]
    queries = [_query(fit, s, grid, mean_mixture) for s in series]
    predicted = fit.predict(pl.concat(queries, how="diagonal_relaxed"), levels=BANDS)
    return [_curve(fit, s, predicted[k * _GRID : (k + 1) * _GRID]) for k, s in enumerate(series)]


@dataclass(frozen=True)
class _Series:
    target: str
    label: str
    own_weight: float | None
    ratio: float
    points: pl.DataFrame


def _series(fit, rows: pl.DataFrame, target: str) -> list[_Series]:
    ratio = lambda frame: float(np.median(frame["tokens"] / frame["params"])) if "tokens" in frame.columns else 1.0
    if "own_weight" not in fit.law.needs:
        return [_Series(target, target, None, ratio(rows), rows)]
    p = rows[f"w.{target}"]
    if p.n_unique() <= MAX_SERIES:
        groups = [(float(v), rows.filter(p == v)) for v in sorted(p.unique().to_list())]
        return [_Series(target, f"p = {v:.3g}", v, ratio(g), g) for v, g in groups]
    edges = np.quantile(p.to_numpy(), np.linspace(0, 1, _BINS + 1))
    bins = np.clip(np.searchsorted(edges, p.to_numpy(), side="right") - 1, 0, _BINS - 1)
    found = []
    for b in np.unique(bins):
        group = rows.filter(pl.Series(bins == b))
        label = f"p in [{edges[b]:.2g}, {edges[b + 1]:.2g}]"
        found.append(_Series(target, label, float(group[f"w.{target}"].median()), ratio(group), group))
    return found


def _query(fit, s: _Series, grid: np.ndarray, mean_mixture: dict[str, float]) -> pl.DataFrame:
    columns = {"params": grid, "tokens": grid * s.ratio, "target": [s.target] * len(grid)}
    mixture = mean_mixture if s.own_weight is None else with_own_weight(mean_mixture, f"w.{s.target}", s.own_weight)
    columns.update({k: np.full(len(grid), v) for k, v in mixture.items()})
    return pl.DataFrame(columns)


def with_own_weight(mixture: dict[str, float], column: str, p: float) -> dict[str, float]:
    """``mixture`` (``{w.<domain>: weight}``) with weight ``p`` in ``column`` and the other domains rescaled to
    share ``1 - p`` as they share the rest (evenly where they hold none): a mixture summing to 1, as a
    query must be, for a law that reads only the target's own weight."""
    others = [k for k in mixture if k != column]
    rest = sum(mixture[k] for k in others)
    share = {k: (mixture[k] / rest if rest > 0 else 1.0 / len(others)) * (1.0 - p) for k in others}
    return {k: p if k == column else share[k] for k in mixture}


def _curve(fit, s: _Series, predicted: pl.DataFrame) -> Curve:
    bands = {level: tuple(end.to_numpy() for end in intervals.bounds(predicted, level)) for level in BANDS}
    points = s.points.select("params", "loss")
    return Curve(s.target, s.label, predicted["params"].to_numpy(), predicted["median"].to_numpy(),
                 bands if fit.n_draws > 1 else {}, points)
