"""How wrong a law gets beyond the scales it was fitted on, learned from the runs themselves.

A leave-future-out (rolling-origin) backtest inside the fitted runs:

1. Cuts along the scale ``axis`` (compute 6 N D for laws of N and D, else the one they read) at the
   rows' 0.5 to 0.9 quantiles (:func:`scalemix.splits.cut_points`); a cut is kept when every group has at
   least ``max(12, 2 x parameters)`` rows and two distinct scales below it.
2. At each cut the point fit (:func:`scalemix.fit.point.multistart`, on the one compiled problem with the
   rows at or above the cut weighted 0) is scored on the rows above: the log residual
   ``r = log y - log yhat``, the distance ``d`` in decades beyond the fitted rows' range along ``axis``,
   and the cut's robust noise scale ``sigma_c`` of the row's target.
3. ``r ~ StudentT(df=4, 0, sqrt((c0 sigma_c)^2 + (k d)^2))``, with ``k`` (the growth per decade) and
   ``c0`` (how far the in-range noise understates the error) by maximum likelihood, each cut weighing as
   much as any other (a grid over log k and log c0, refined once).

The result is a :class:`~scalemix.extrapolation.Discrepancy`: model discrepancy in the sense of Kennedy and
O'Hagan (2001, "Bayesian calibration of computer models"), with its hyper-parameters from leave-future-out
scores rather than a prior; rolling origin after Tashman (2000). Student-t because backtest residuals have
heavy tails. Measured against a Gaussian term, a fixed noise multiplier, other distances and split
conformal prediction across scale folds (Vovk et al. 2005) on eleven real fit-small-predict-large splits
(``benchmarks/bench_extrapolation.py``; the README has the table).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
import polars as pl
from scipy import stats

from scalemix._x64 import float64
from scalemix.extrapolation import Discrepancy, FittedRange, distance_bins
from scalemix.fit.point import multistart, noise_scale
from scalemix.fit.problem import Problem, build
from scalemix.splits import cut_points, scale

DF = 4.0
"""Degrees of freedom of the discrepancy (and of its likelihood in the backtest)."""
MIN_ROWS = 12
"""A cut is kept only if every group has at least ``max(MIN_ROWS, 2 x parameters)`` rows below it."""
_RATE_GRID = np.exp(np.linspace(math.log(1e-5), math.log(2.0), 61))
_FACTOR_GRID = np.exp(np.linspace(math.log(0.5), math.log(30.0), 41))


def axis_of(law) -> str | None:
    """The scale a law extrapolates along: compute when it reads N and D, else N or D, else none."""
    reads = {"params", "tokens"} & set(law.needs)
    return "compute" if len(reads) == 2 else next(iter(reads), None)


def learn(table, law, *, by: Sequence[str] | None = None, cuts: int = 5, seed: int = 0,
          delta: float = 1e-3) -> tuple[Discrepancy | None, str]:
    """The law's discrepancy on ``table`` from rolling-origin backtests with cuts along each scale of
    ``by`` (default: the law's :func:`axis_of`; several are pooled), and a line saying how it was learned
    (or why it could not be: a law of neither N nor D, too few distinct scales, too few rows below every
    cut). Cutting along compute alone gave the lowest interval scores on the real splits of
    ``benchmarks/bench_extrapolation.py --variants`` (against params, tokens, and the three pooled)."""
    learned, note, _ = learn_with_scores(table, law, by=by, cuts=cuts, seed=seed, delta=delta)
    return learned, note


def learn_with_scores(table, law, *, by: Sequence[str] | None = None, cuts: int = 5, seed: int = 0,
                      delta: float = 1e-3) -> tuple[Discrepancy | None, str, pl.DataFrame | None]:
    """:func:`learn`, and the backtest rows it was learned from (:func:`backtest`; what stacking scores)."""
    scored, reason = backtest(table, law, by=by, cuts=cuts, seed=seed, delta=delta)
    if scored is None:
        return None, reason, None
    learned = from_scores(scored, axis_of(law))
    return learned, describe(learned, by or (axis_of(law),)), scored


def describe(learned: Discrepancy, by: Sequence[str]) -> str:
    """The line saying how a discrepancy was learned (``diagnostics["extrapolation"]``)."""
    return (f"learned from {learned.residuals} rows scored beyond {learned.cuts} backtest cut(s) along {', '.join(by)} "
            f"(up to {learned.evidence:.2g} decades out): {learned.rate:.3g} per decade, noise x{learned.noise_factor:.3g}")


def backtest(table, law, *, by: Sequence[str] | None = None, cuts: int = 5, seed: int = 0,
             delta: float = 1e-3) -> tuple[pl.DataFrame | None, str | None]:
    """The rolling-origin residuals behind :func:`learn`: one row per run row scored above a cut (``cut``,
    the fitted table's ``row``, ``residual``, ``distance``, ``sigma``, ``converged``) and ``None``; or ``None``
    and the reason no cut could be scored. ``row`` indexes the rows the law fits (its design frame)."""
    axis = axis_of(law)
    if axis is None:
        return None, f"law {law.name!r} reads neither params nor tokens: there is no scale to backtest along"
    by = tuple(by or (axis,))
    with float64():
        problem = build(table, law)
        frame = problem.design.frame
        residuals, spread = [], {}
        for along in by:
            scales = frame.select(scale(along, frame.columns))["scale"].to_numpy()
            spread[along] = np.unique(scales).size
            if spread[along] >= 3:
                residuals += [_score_cut(problem, scales, cut, axis, seed, delta) for cut in cut_points(scales, along, cuts=cuts)]
    if max(spread.values()) < 3:
        return None, (f"the runs have {', '.join(f'{n} distinct {along} value(s)' for along, n in spread.items())}: too few "
                      f"to backtest; intervals beyond the fitted range carry no extrapolation term")
    residuals = [r.with_columns(cut=pl.lit(k)) for k, r in enumerate(residuals) if r is not None and r.height]
    if not residuals:
        return None, (f"no backtest cut along {', '.join(by)} leaves enough runs (and two distinct scales) below it "
                      f"to fit law {law.name!r}")
    return pl.concat(residuals), None


def from_scores(scored: pl.DataFrame, axis: str) -> Discrepancy:
    """The :class:`~scalemix.extrapolation.Discrepancy` that the backtest residuals ``scored`` (from
    :func:`backtest`) give by maximum likelihood."""
    rate, factor = _max_likelihood(scored)
    cuts = scored.group_by("cut").agg(pl.col("converged").first())
    learned = Discrepancy(axis=axis, rate=rate, noise_factor=factor, df=DF, evidence=float(scored["distance"].max()),
                          cuts=cuts.height, residuals=scored.height, unconverged_cuts=int((~cuts["converged"]).sum()))
    return dataclasses.replace(learned, coverage=_coverage(scored, learned))


COVERAGE_LEVELS = (0.5, 0.8, 0.95)
"""The levels at which :attr:`Discrepancy.coverage` reports the backtest's coverage."""


def _coverage(scored: pl.DataFrame, learned: Discrepancy) -> tuple[dict, ...]:
    """Per distance bin: the backtest rows in it and the share inside the term's central intervals
    ``|r| <= t_df((1 + L) / 2) s(d)``."""
    distance = scored["distance"].to_numpy()
    ratio = np.abs(scored["residual"].to_numpy()) / learned.scale(distance, scored["sigma"].to_numpy())
    index, labels = distance_bins(distance)
    out = []
    for k, label in enumerate(labels):
        inside = index == k
        if inside.any():
            out.append({"distance": label, "rows": int(inside.sum()),
                        **{f"coverage{100 * level:g}": float(np.mean(ratio[inside] <= stats.t.ppf((1 + level) / 2, learned.df)))
                           for level in COVERAGE_LEVELS}})
    return tuple(out)


def cut_weights(scored: pl.DataFrame) -> np.ndarray:
    """Per-row weights under which every backtest cut weighs as much as any other (they sum to the rows)."""
    counts = scored.join(scored.group_by("cut").len(), on="cut", how="left")["len"].to_numpy().astype(float)
    return scored.height / scored["cut"].n_unique() / counts


def _score_cut(problem: Problem, scales: np.ndarray, cut: float, axis: str, seed: int, delta: float) -> pl.DataFrame | None:
    """Residuals, distances and noise of the rows at or above ``cut``, from a point fit of the rows below."""
    below = scales < cut
    kept = problem.mask * below[problem.row]
    needed = max(MIN_ROWS, 2 * problem.layout.size)
    if kept.sum(axis=1).min() < needed or np.unique(scales[below]).size < 2:
        return None
    search = multistart(problem, kept, delta=delta, seed=seed)
    theta = problem.assemble(search.z[np.arange(len(problem.groups)), search.best][None])
    residuals = -problem.residuals({k: v[0] for k, v in theta.items()})  # log y - log yhat
    sigma = noise_scale(problem, residuals, below)[np.asarray(problem.design.inputs.target)]
    fitted = FittedRange.of(problem.design.frame.filter(pl.Series(below)))
    distance = fitted.distances(problem.design.frame)[f"beyond_{axis}"]
    scored = ~below & np.isfinite(residuals) & np.isfinite(sigma)
    converged = bool(search.converged[np.arange(len(problem.groups)), search.best].all())
    return pl.DataFrame({"cut": np.full(scored.sum(), cut), "converged": np.full(scored.sum(), converged),
                         "row": np.flatnonzero(scored), "residual": residuals[scored],
                         "distance": distance[scored], "sigma": sigma[scored]})


def _max_likelihood(scored: pl.DataFrame) -> tuple[float, float]:
    """``(k, c0)`` maximising the cut-weighted Student-t likelihood of the residuals (see the module)."""
    r, d, sigma = (scored[c].to_numpy()[:, None, None] for c in ("residual", "distance", "sigma"))
    weight = cut_weights(scored)

    def best(rates, factors):
        s = np.hypot(factors[None, None, :] * sigma, rates[None, :, None] * d)  # [rows, rates, factors]
        log_density = -(DF + 1) / 2 * np.log1p((r / s) ** 2 / DF) - np.log(s)
        total = np.tensordot(weight, log_density, axes=1)
        i, j = np.unravel_index(np.argmax(total), total.shape)
        return rates[i], factors[j]

    rate, factor = best(_RATE_GRID, _FACTOR_GRID)
    step_rate, step_factor = _RATE_GRID[1] / _RATE_GRID[0], _FACTOR_GRID[1] / _FACTOR_GRID[0]
    rate, factor = best(rate * step_rate ** np.linspace(-1, 1, 21), factor * step_factor ** np.linspace(-1, 1, 21))
    return float(rate), float(factor)


__all__ = ["DF", "axis_of", "backtest", "cut_weights", "describe", "from_scores", "learn", "learn_with_scores"]
