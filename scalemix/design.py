"""The one conversion from runs, queries and optimiser mixtures to the arrays a law reads.

``design(frame, law, coords)`` turns a validated long frame (a run table's, or a query's) into
:class:`~scalemix.laws.Inputs` plus the observed log loss, checking that the frame has what the law
needs and setting aside (never dropping silently) the rows where the law's formula is undefined.
``mixture_inputs(law, w, scale, own)`` is the same conversion for one mixture scored for every target,
in ``jax.numpy`` so that the optimiser differentiates through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
import polars as pl

from scalemix.errors import FitError
from scalemix.laws import Inputs, Law
from scalemix.runs import UNIQUE_COLUMN


@dataclass(frozen=True)
class Design:
    """Arrays of one table for one law: ``inputs``, ``log_loss`` (None for queries), their ``coords``,
    the ``frame`` rows they came from, and the rows ``set_aside`` (``row``: index in the frame given to
    :func:`design`, ``run_id``, ``target``, ``reason``)."""

    inputs: Inputs
    log_loss: np.ndarray | None
    coords: dict[str, tuple[str, ...]]
    frame: pl.DataFrame
    set_aside: pl.DataFrame


def domains_of(frame: pl.DataFrame) -> tuple[str, ...]:
    """Domain names from the ``w.<domain>`` columns, in column order."""
    return tuple(c[2:] for c in frame.columns if c.startswith("w."))


def table_coords(frame: pl.DataFrame, law: Law) -> dict[str, tuple[str, ...]]:
    """Coordinates a law gets from a table: targets (first-seen order), domains, weightings, and the ones the
    law declares itself (:attr:`Law.coords`)."""
    coords = {"target": tuple(frame["target"].unique(maintain_order=True).to_list()), "domain": domains_of(frame),
              **{name: tuple(labels) for name, labels in law.coords.items()}}
    if "weighting" in law.dims:
        coords["weighting"] = tuple(_format_weight(p) for p in np.unique(own_weights(frame, coords["target"])))
    return coords


def design(frame: pl.DataFrame, law: Law, coords: dict[str, tuple[str, ...]], *, observed: bool = True) -> Design:
    """Build the law's inputs from ``frame`` on the given ``coords`` (a fit's, or the table's own).

    Raises :class:`FitError` when the frame lacks a column, target, domain or weighting the law needs.
    """
    _check_columns(frame, law, coords, observed)
    known = set(coords["target"])
    unknown = sorted(set(frame["target"].unique().to_list()) - known)
    if unknown:
        raise FitError(
            f"target(s) {', '.join(map(repr, unknown[:5]))} are not in this fit; it knows {', '.join(coords['target'])}"
        )
    index = {name: i for i, name in enumerate(coords["target"])}
    target = frame["target"].replace_strict(index, return_dtype=pl.Int32).to_numpy()
    domains = coords.get("domain", ())
    weights = frame.select([f"w.{d}" for d in domains]).to_numpy().astype(float) if domains else np.zeros((frame.height, 0))
    own = own_weights(frame, coords["target"]) if "own_weight" in law.needs else None
    weighting = _weighting_index(own, coords) if "weighting" in law.dims else None
    inputs = Inputs(
        params=_column_or_ones(frame, "params"),
        tokens=_column_or_ones(frame, "tokens"),
        weights=weights,
        target=target,
        own_weight=own,
        weighting=weighting,
        unique=_unique_tokens(frame, UNIQUE_COLUMN) if "unique" in law.needs else None,
        unique_by_domain=_unique_by_domain(frame, domains) if "unique_by_domain" in law.needs else None,
        own_domain=_own_domain(coords["target"], domains)[target] if "own_domain" in law.needs else None,
    )
    log_loss = np.log(frame["loss"].to_numpy().astype(float)) if observed else None
    return _apply_validity(Design(inputs, log_loss, dict(coords), frame, _empty_set_aside()), law)


def _check_columns(frame, law, coords, observed):
    required = ["target"] + [c for c in ("params", "tokens") if c in law.needs] + (["loss"] if observed else [])
    missing = [c for c in required if c not in frame.columns]
    missing += [f"w.{d}" for d in coords.get("domain", ()) if "weights" in law.needs and f"w.{d}" not in frame.columns]
    if missing:
        raise FitError(f"law {law.name!r} needs column(s) {', '.join(missing)}; the runs have {', '.join(frame.columns)}")
    if observed and "unique" in law.needs and UNIQUE_COLUMN not in frame.columns:
        raise FitError(f"law {law.name!r} is fitted to runs whose data was repeated: it needs column {UNIQUE_COLUMN!r} "
                       f"(the unique tokens each run's data held; tokens / unique is its epochs); the runs have "
                       f"{', '.join(frame.columns)}")
    if "weights" in law.needs and not coords.get("domain"):
        raise FitError(f"law {law.name!r} needs mixture weights (columns w.<domain>); the runs have none")
    if "own_weight" in law.needs:
        lacking = [t for t in coords["target"] if f"w.{t}" not in frame.columns]
        if lacking:
            raise FitError(
                f"law {law.name!r} reads each target's own training weight from column w.<target>; "
                f"no column for target(s) {', '.join(lacking[:5])} (name targets like their training domains)"
            )


def _unique_tokens(frame: pl.DataFrame, column: str) -> np.ndarray:
    """Unique tokens from ``column``: ``inf`` (no limit, never repeated) where the column or a cell is empty."""
    if column not in frame.columns:
        return np.full(frame.height, np.inf)
    return frame[column].cast(pl.Float64).fill_null(np.inf).to_numpy().astype(float)


def _unique_by_domain(frame: pl.DataFrame, domains) -> np.ndarray:
    """``[rows, domains]`` unique tokens from the ``unique.<domain>`` columns (:func:`_unique_tokens`)."""
    columns = [_unique_tokens(frame, f"{UNIQUE_COLUMN}.{d}") for d in domains]
    return np.stack(columns, axis=-1) if columns else np.zeros((frame.height, 0))


def _own_domain(targets, domains) -> np.ndarray:
    """Index of the domain named like each target, -1 where there is none: ``[targets]``."""
    return np.array([domains.index(t) if t in domains else -1 for t in targets], dtype=np.int32)


def _column_or_ones(frame: pl.DataFrame, column: str) -> np.ndarray:
    """A numeric column, or ones where a query omits a quantity the law does not read."""
    return frame[column].to_numpy().astype(float) if column in frame.columns else np.ones(frame.height)


def own_weights(frame: pl.DataFrame, targets) -> np.ndarray:
    """Each row's weight on the domain named like its target (``w.<target>``; NaN where there is none)."""
    expression = pl.lit(None, dtype=pl.Float64)
    for t in targets:
        if f"w.{t}" in frame.columns:
            expression = pl.when(pl.col("target") == t).then(pl.col(f"w.{t}")).otherwise(expression)
    return frame.select(expression.alias("p"))["p"].to_numpy().astype(float)


def _format_weight(p: float) -> str:
    return f"{p:.6g}"


def _weighting_index(own: np.ndarray, coords) -> np.ndarray:
    lookup = {label: i for i, label in enumerate(coords["weighting"])}
    labels = [_format_weight(p) for p in own]
    unseen = sorted(set(labels) - set(lookup))
    if unseen:
        raise FitError(
            f"this law has a parameter per weighting and was fitted on p in {{{', '.join(coords['weighting'])}}}; "
            f"it cannot predict at p = {', '.join(unseen[:5])} (fit the 'multilingual' law to interpolate)"
        )
    return np.array([lookup[label] for label in labels], dtype=np.int32)


SET_ASIDE_SCHEMA = {"row": pl.Int64, "run_id": pl.Utf8, "target": pl.Utf8, "reason": pl.Utf8}


def _empty_set_aside() -> pl.DataFrame:
    return pl.DataFrame(schema=SET_ASIDE_SCHEMA)


def _apply_validity(d: Design, law: Law) -> Design:
    if law.valid is None:
        return d
    keep = np.asarray(law.valid(d.inputs), dtype=bool)
    if keep.all():
        return d
    dropped = d.frame.with_row_index("row").filter(pl.Series(~keep))
    set_aside = dropped.select(
        pl.col("row").cast(pl.Int64),
        pl.col("run_id").cast(pl.Utf8) if "run_id" in dropped.columns else pl.lit(None, dtype=pl.Utf8).alias("run_id"),
        pl.col("target"),
        pl.lit(law.invalid_reason).alias("reason"),
    )
    inputs = Inputs(*(None if a is None else np.asarray(a)[keep] for a in d.inputs))
    log_loss = None if d.log_loss is None else d.log_loss[keep]
    return Design(inputs, log_loss, d.coords, d.frame.filter(pl.Series(keep)), set_aside)


def without_set_aside(frame: pl.DataFrame, set_aside: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``frame`` a fit was made on: all but the ``set_aside`` rows it recorded (by ``row``)."""
    if not set_aside.height:
        return frame
    return frame.with_row_index("_row").filter(~pl.col("_row").is_in(set_aside["row"].implode())).drop("_row")


class Scale(NamedTuple):
    """Model size ``params`` and token budget ``tokens`` of a run being planned (scalars), and the unique
    tokens each training domain holds (``unique[K]``; None: no limit, nothing is repeated)."""

    params: Any
    tokens: Any
    unique: Any = None


def mixture_inputs(law: Law, w, scale: Scale, own) -> Inputs:
    """The law's inputs for mixture ``w[K]`` at ``scale``, one row per target (``jax.numpy``, traceable).

    ``own[T]`` is the domain index of each target's own weight (read by laws that need ``own_weight``).
    """
    count = own.shape[0]
    unique = jnp.full(w.shape[0], jnp.inf) if scale.unique is None else jnp.asarray(scale.unique)
    return Inputs(
        params=jnp.full(count, scale.params),
        tokens=jnp.full(count, scale.tokens),
        weights=jnp.broadcast_to(w, (count, w.shape[0])),
        target=jnp.arange(count),
        own_weight=w[own] if "own_weight" in law.needs else None,
        unique_by_domain=jnp.broadcast_to(unique, (count, w.shape[0])) if "unique_by_domain" in law.needs else None,
        own_domain=jnp.asarray(own) if "own_domain" in law.needs else None,
    )
