"""Where a fit has evidence, and how far a query lies beyond it.

A fit records the range of scales it was fitted on (:class:`FittedRange`: the smallest and largest
``params`` N, ``tokens`` D and compute 6 N D of its rows, and the training mixtures). A query's
*distance* along an axis is how many decades (log10) it lies outside that range, 0 inside it::

    beyond_x = max(0, log10(x / x_max), log10(x_min / x))        x in {params, tokens, compute}

and, for laws that read the mixture, ``mixture_distance`` = the total-variation distance
``min_r 0.5 sum_d |w_d - w_{r,d}|`` to the nearest training mixture ``w_r`` (0 at a trained mixture,
1 on domains no run trained on). A :class:`Discrepancy` turns a distance into the scale of the law's own
error there (model discrepancy, Kennedy and O'Hagan 2001), learned from backtests on the runs
(:mod:`scalemix.fit.discrepancy`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from jax.scipy.stats import t as jax_t

from scalemix._x64 import float64
from scalemix.splits import SCALES, scale


DISTANCE_BINS = (0.0, 0.25, 0.5, 1.0)
"""Edges (decades beyond the fitted range) of the distance bins backtests are scored in; the first bin is
inside the range (distance 0), the last is open."""


def distance_bins(distance, bins=DISTANCE_BINS) -> tuple[np.ndarray, list[str]]:
    """The bin of each distance (``0`` inside the range, then ``(lo, hi]``, the last open) and the labels."""
    edges = np.asarray(bins, dtype=float)
    distance = np.asarray(distance, dtype=float)
    index = np.where(distance <= edges[0], 0, np.searchsorted(edges, distance, side="left"))
    labels = [f"{edges[0]:g}"] + [f"({lo:g}, {hi:g}]" for lo, hi in zip(edges[:-1], edges[1:])] + [f"> {edges[-1]:g}"]
    return index, labels


@dataclass(frozen=True)
class FittedRange:
    """The log10 range of each scale the fit saw (``{axis: (low, high)}``; axes the rows lack are absent)
    and its distinct training ``mixtures`` (``[runs, domains]`` over ``domains``)."""

    log10: dict[str, tuple[float, float]]
    domains: tuple[str, ...] = ()
    mixtures: np.ndarray | None = None

    @classmethod
    def of(cls, frame: pl.DataFrame, domains=()) -> FittedRange:
        """The range of the fitted rows ``frame``."""
        log10 = {}
        for axis in _axes(frame):
            values = np.log10(frame.select(scale(axis, frame.columns))["scale"].to_numpy())
            log10[axis] = (float(values.min()), float(values.max()))
        domains = tuple(domains)
        mixtures = np.unique(frame.select([f"w.{d}" for d in domains]).to_numpy(), axis=0) if domains else None
        return cls(log10, domains, mixtures)

    def distances(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """``beyond_<axis>`` (decades outside the range) for each axis the range and ``frame`` share, and
        ``mixture_distance`` where the range holds training mixtures and ``frame`` gives weights."""
        out = {}
        for axis, (low, high) in self.log10.items():
            if axis in _axes(frame):
                values = np.log10(frame.select(scale(axis, frame.columns))["scale"].to_numpy())
                out[f"beyond_{axis}"] = np.maximum(0.0, np.maximum(values - high, low - values))
        if self.mixtures is not None and all(f"w.{d}" in frame.columns for d in self.domains):
            w = frame.select([f"w.{d}" for d in self.domains]).to_numpy()
            out["mixture_distance"] = 0.5 * np.abs(w[:, None, :] - self.mixtures[None]).sum(axis=2).min(axis=1)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"log10": {k: list(v) for k, v in self.log10.items()}, "domains": list(self.domains),
                "mixtures": None if self.mixtures is None else self.mixtures.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FittedRange:
        mixtures = data.get("mixtures")
        return cls({k: (float(v[0]), float(v[1])) for k, v in data["log10"].items()}, tuple(data.get("domains", ())),
                   None if mixtures is None else np.asarray(mixtures, dtype=float))


@dataclass(frozen=True)
class Discrepancy:
    """The law's own error in log loss, as learned by a leave-future-out backtest on the runs
    (:func:`scalemix.fit.discrepancy.learn`): at ``d`` decades beyond the fitted range along ``axis``, a
    run's log loss lies around the law's prediction with a Student-t (``df``) scale

        s(d) = sqrt((noise_factor * sigma)^2 + (rate * d)^2)

    where ``sigma`` is the fit's noise scale of the run's target. A prediction adds to each draw the
    noise and a t-distributed discrepancy whose scale makes up the rest of ``s(d)``:
    ``sqrt(max(s(d)^2 - sigma^2 - var_draws, 0))`` (:meth:`extra_scale`). The backtest scored ``residuals``
    rows (one per run and target) over ``cuts`` origins, the farthest ``evidence`` decades beyond its cut: a query farther than that
    lies beyond where the backtest has evidence. ``unconverged_cuts`` of those cuts' point fits stopped
    before converging (their residuals still count; the fit warns). ``coverage`` holds, per bin of
    :data:`DISTANCE_BINS`, how many backtest runs fell in it and the share of them inside the term's own
    50/80/95% intervals (``distance``, ``rows``, ``coverage50``, ...): how well ``s(d)`` fits where there
    is evidence (in sample for its two hyper-parameters)."""

    axis: str
    rate: float
    noise_factor: float
    df: float
    evidence: float
    cuts: int
    residuals: int
    unconverged_cuts: int = 0
    coverage: tuple[dict, ...] = ()

    def scale(self, distance, sigma) -> np.ndarray:
        """``s(d)`` for distances ``d`` and noise scales ``sigma`` (broadcast)."""
        return np.hypot(self.noise_factor * np.asarray(sigma, dtype=float), self.rate * np.asarray(distance, dtype=float))

    def extra_scale(self, distance, sigma, var_draws) -> np.ndarray:
        """The discrepancy's own scale: what ``s(d)`` adds to the noise and to the spread of the draws."""
        return np.sqrt(np.maximum(self.scale(distance, sigma) ** 2 - np.square(sigma) - var_draws, 0.0))

    def log_density(self, residual, distance, sigma) -> np.ndarray:
        """Log density of log-loss residuals ``log y - log yhat`` at distances ``d`` under the term alone:
        Student-t (``df``) with scale ``s(d)`` (what a leave-future-out backtest scores a law by)."""
        with float64():
            return np.asarray(jax_t.logpdf(np.asarray(residual, dtype=float), self.df, 0.0, self.scale(distance, sigma)))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "coverage": list(self.coverage)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Discrepancy:
        return cls(**{**data, "coverage": tuple(data.get("coverage", ()))})


def _axes(frame: pl.DataFrame) -> list[str]:
    have = {"params", "tokens"} & set(frame.columns)
    return [axis for axis in SCALES if {"params": {"params"}, "tokens": {"tokens"}, "compute": {"params", "tokens"}}[axis] <= have]


__all__ = ["DISTANCE_BINS", "Discrepancy", "FittedRange", "distance_bins"]
