"""The runs a team could train next: read from a file or generated from a sweep-like spec, with a cost each.

A candidate is one run: ``params`` and ``tokens`` where the law reads them, a mixture ``w.<domain>`` where
it reads one, and optionally ``cost`` (any positive unit, FLOPs by default). Without a ``cost`` column a run
costs ``6 N D`` FLOPs (Kaplan et al. 2020) when it gives ``params`` and ``tokens``, else 1 (the budget then
counts runs).

A ``.toml`` spec generates the cross product of its sizes, token budgets and mixtures (each optional, as
the law reads them)::

    params = [2e7, 8e7]
    tokens = [4e8, 1.6e9]
    [mixtures]                      # the sweep's designs (scalemix.proxy.mixtures): dirichlet, grid, list
    design = "dirichlet"
    n = 256
    alpha = 1.0
    seed = 0
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl

from scalemix.errors import ScalemixError, SuggestError
from scalemix.predictor import check_points
from scalemix.proxy import mixtures
from scalemix.runs import TABLE_SUFFIXES, read_file

FLOPS_PER_PARAM_TOKEN = 6.0
"""Training FLOPs per parameter and token (forward and backward, Kaplan et al. 2020)."""


def read(source, targets: Sequence[str], domains: Sequence[str]) -> tuple[pl.DataFrame, str]:
    """The candidate runs of ``source`` (a polars frame, a .csv/.parquet/.jsonl file or a .toml spec) for a fit
    with ``targets`` and ``domains``, each checked as a query point (one line naming the row and column at
    fault), the weights a row leaves out set to 0, and a ``cost`` column; returns them and the cost's unit
    (``given``, ``FLOPs`` or ``runs``)."""
    origin = "candidates"
    if isinstance(source, (str, Path)):
        origin = f"candidates {source}"
        frame = _generate(Path(source), domains) if Path(source).suffix.lower() == ".toml" else _read_table(Path(source))
    elif isinstance(source, pl.DataFrame):
        frame = source
    else:
        raise SuggestError(f"candidates are a polars frame or a file (.csv, .parquet, .jsonl, .toml), not {type(source).__name__}")
    if frame.height == 0:
        raise SuggestError(f"{origin}: no rows; give at least one run that could be trained")
    given = [c for c in frame.columns if c.startswith("w.")]
    if given:
        frame = frame.with_columns(pl.col(given).fill_null(0.0)).with_columns(
            pl.lit(0.0).alias(f"w.{d}") for d in domains if f"w.{d}" not in given)
    inputs = [c for c in frame.columns if c in ("params", "tokens") or c.startswith("w.")]
    checked = check_points(frame.select(inputs), targets, domains, origin=origin, inputs_only=True)
    cost, unit = _cost(frame["cost"] if "cost" in frame.columns else None, checked, origin)
    return checked.with_columns(cost=cost), unit


def generate(domains: Sequence[str], mixture_spec: dict | None = None, params: Sequence[float] | None = None,
             tokens: Sequence[float] | None = None) -> pl.DataFrame:
    """Every combination of ``params``, ``tokens`` and the mixtures of ``mixture_spec`` (a sweep's design:
    ``{"design": "dirichlet", "n": 256, "alpha": 1.0, "seed": 0}``, see :mod:`scalemix.proxy.mixtures`);
    each part is optional, at least one is given."""
    if mixture_spec is None and params is None and tokens is None:
        raise SuggestError("generate candidates from params, tokens and/or a mixture design; none was given")
    frame = pl.DataFrame()
    if mixture_spec is not None:
        try:
            weights = mixtures.design(list(domains), mixture_spec)
        except ScalemixError as e:
            raise SuggestError(str(e)) from None
        frame = pl.DataFrame(weights, schema=[f"w.{d}" for d in domains], orient="row")
    for name, values in (("params", params), ("tokens", tokens)):
        if values is not None:
            column = pl.DataFrame({name: [float(v) for v in np.atleast_1d(values)]})
            frame = column if frame.width == 0 else frame.join(column, how="cross")
    return frame


def _generate(path: Path, domains: Sequence[str]) -> pl.DataFrame:
    try:
        spec = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SuggestError(f"candidates {path}: cannot read it as TOML ({e})") from None
    unknown = set(spec) - {"params", "tokens", "mixtures"}
    if unknown:
        raise SuggestError(f"candidates {path}: unknown key(s) {', '.join(sorted(unknown))}; give params, tokens "
                           "and/or a [mixtures] table (design = 'dirichlet', n = 256)")
    return generate(domains, spec.get("mixtures"), spec.get("params"), spec.get("tokens"))


def _read_table(path: Path) -> pl.DataFrame:
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise SuggestError(f"candidates {path}: use a .csv, .parquet or .jsonl table of runs, or a .toml spec")
    return read_file(path, ())


def _cost(given: pl.Series | None, frame: pl.DataFrame, origin: str) -> tuple[np.ndarray, str]:
    """Each run's cost: the ``given`` column, else 6 N D from the checked ``frame``, else 1 per run."""
    if given is not None:
        cost = given.cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy()
        bad = np.flatnonzero(~(np.isfinite(cost) & (cost > 0)))
        if bad.size:
            raise SuggestError(f"{origin} row {bad[0] + 1}: cost {given[int(bad[0])]!r} is not a positive "
                               "number; give each run's cost (e.g. its FLOPs) or leave the column out for 6 N D")
        return cost, "given"
    if {"params", "tokens"} <= set(frame.columns):
        return FLOPS_PER_PARAM_TOKEN * frame["params"].to_numpy() * frame["tokens"].to_numpy(), "FLOPs"
    return np.ones(frame.height), "runs"
