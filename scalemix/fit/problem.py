"""A fitting problem: a run table's rows stacked into groups that are solved side by side.

When every parameter of a law is per target (``law.separable``), each target is its own small problem;
the targets are padded to the same number of rows (padding carries weight 0) and solved together under
``jax.vmap``. Otherwise all rows form one group. Point fits, bootstraps and the Bayesian model all read
the same :class:`Problem`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from scalemix.errors import FitError
from scalemix.design import Design, design, table_coords
from scalemix.fit.lm import Solution, solve
from scalemix.laws import Inputs, Law, Layout

GROUP_LABEL = "_"


@dataclass(frozen=True)
class Problem:
    """Rows of one run table for one law, grouped for vmapped solving.

    ``inputs`` fields and ``log_loss``/``mask``/``row`` are ``[groups, rows]``; ``row`` indexes
    ``design.frame`` (padding repeats a real row with ``mask`` 0). ``layout`` is one group's layout.
    """

    law: Law
    design: Design
    layout: Layout
    groups: tuple[tuple[str, ...], ...]
    inputs: Inputs
    log_loss: np.ndarray
    mask: np.ndarray
    row: np.ndarray

    @property
    def coords(self) -> dict[str, tuple[str, ...]]:
        return self.design.coords

    def starts(self, seed: int, n_random: int | None = None) -> np.ndarray:
        """Multi-start points ``[starts, P]``: the law's grid plus ``n_random`` draws from its priors."""
        grid = self.layout.grid()
        n_random = self.law.random_starts if n_random is None else n_random
        if not n_random:
            return grid
        loc, scale = self.layout.prior_loc_scale()
        noise = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (n_random, self.layout.size), dtype=jnp.float64))
        return np.concatenate([grid, loc + scale * noise])

    def solve(self, starts, weights, delta: float, max_iter: int) -> Solution:
        """Solve every group from every start. ``starts``: ``[groups, S, P]``; ``weights``: ``[groups, S, rows]``."""
        residuals = residual_function(self.law, self.layout)
        data = (self.inputs, jnp.asarray(self.log_loss))
        return _solve_groups(residuals, jnp.asarray(starts), data, jnp.asarray(weights), delta, max_iter)

    def thinned(self, weights: np.ndarray, rows: int) -> tuple[Problem, np.ndarray]:
        """This problem on at most ``rows`` rows per group, with row ``weights [groups, rows]`` to match.

        Of each group's rows of positive weight, ``rows`` evenly spaced ones in table order (so every run
        keeps rows along its whole curve) stand for all of them: their weights are scaled up to the group's
        total, so the thinned objective estimates the full one and has the same minimiser where the law fits.
        A group with fewer such rows keeps them all (padded with weight 0). Every thinned problem of one
        shape has the same width, so fits on different row subsets reuse one compiled solver. With no more
        than ``rows`` columns, returns the problem and weights unchanged.
        """
        weights = np.asarray(weights, dtype=float)
        if self.mask.shape[1] <= rows:
            return self, weights
        picks = np.stack([_evenly_spaced(np.flatnonzero(w > 0), rows) for w in weights])
        groups = np.arange(len(self.groups))[:, None]
        kept = weights[groups, picks] * (np.arange(rows) < (weights > 0).sum(axis=1, keepdims=True))
        total = kept.sum(axis=1, keepdims=True)
        scaled = kept * np.where(total > 0, weights.sum(axis=1, keepdims=True) / np.where(total > 0, total, 1), 0)
        inputs = Inputs(*(None if a is None else jnp.asarray(np.asarray(a)[groups, picks]) for a in self.inputs))
        thin = dataclasses.replace(self, inputs=inputs, log_loss=self.log_loss[groups, picks],
                                   mask=self.mask[groups, picks] * (kept > 0), row=self.row[groups, picks])
        return thin, scaled

    def assemble(self, z: np.ndarray) -> dict[str, np.ndarray]:
        """Per-group unconstrained solutions ``[..., groups, P]`` -> joint constrained draws ``{name: [..., *shape]}``."""
        z = np.asarray(z)
        per_group = jax.vmap(jax.vmap(self.layout.unpack))(jnp.asarray(z.reshape(-1, *z.shape[-2:])))
        lead = z.shape[:-2]
        out = {}
        for slot in self.layout.slots:
            value = np.asarray(per_group[slot.param.name])  # [L, groups, *slot.shape]
            if len(self.groups) > 1:  # separable: glue the per-target axis back together
                value = np.concatenate(np.split(value, len(self.groups), axis=1), axis=2)[:, 0]
            else:
                value = value[:, 0]
            out[slot.param.name] = value.reshape(*lead, *value.shape[1:])
        return out

    def residuals(self, theta: dict[str, np.ndarray]) -> np.ndarray:
        """Log-loss residuals of the joint parameters ``theta`` on every (unpadded) row."""
        d = self.design
        return np.asarray(self.law.log_loss({k: jnp.asarray(v) for k, v in theta.items()}, _jax_inputs(d.inputs))) - d.log_loss


def build(table, law: Law, *, min_rows_per_param: int = 1) -> Problem:
    """Group ``table``'s rows for ``law``; raises :class:`FitError` when the runs cannot determine it."""
    frame = table.frame
    coords = table_coords(frame, law)
    d = design(frame, law, coords)
    if law.separable:
        groups = tuple((t,) for t in coords["target"])
        layout = law.layout({**coords, "target": (GROUP_LABEL,)})
    else:
        groups = (coords["target"],)
        layout = law.layout(coords)
    target_of_row = np.asarray(d.inputs.target)
    rows = [np.flatnonzero(np.isin(target_of_row, [coords["target"].index(t) for t in g])) for g in groups]
    _check_enough_rows(law, groups, rows, layout.size * min_rows_per_param, d)
    width = max(len(r) for r in rows)
    row = np.stack([np.concatenate([r, np.full(width - len(r), r[0])]) for r in rows])
    mask = np.stack([np.arange(width) < len(r) for r in rows]).astype(float)
    inputs = Inputs(*(None if a is None else np.asarray(a)[row] for a in d.inputs))
    if law.separable:
        inputs = inputs._replace(target=np.zeros_like(row, dtype=np.int32))
    return Problem(law, d, layout, groups, _jax_inputs(inputs), d.log_loss[row], mask, row)


def _evenly_spaced(indices: np.ndarray, count: int) -> np.ndarray:
    """``count`` entries of ``indices`` evenly spaced from first to last; all of them, then repeats of the
    first (weight 0 in :meth:`Problem.thinned`), when there are fewer."""
    if indices.size == 0:
        return np.zeros(count, dtype=int)
    if indices.size <= count:
        return np.concatenate([indices, np.full(count - indices.size, indices[0])])
    return indices[np.round(np.linspace(0, indices.size - 1, count)).astype(int)]


def _check_enough_rows(law, groups, rows, needed, d: Design):
    short = [(", ".join(g), len(r)) for g, r in zip(groups, rows) if len(r) < needed]
    if short:
        names = "; ".join(f"{name}: {count} row(s)" for name, count in short[:5])
        aside = f" ({d.set_aside.height} row(s) set aside: {d.set_aside['reason'][0]})" if d.set_aside.height else ""
        raise FitError(
            f"too few runs to fit law {law.name!r}: it has {needed} free parameter(s) per "
            f"{'target' if law.separable else 'fit'} and got {names}{aside}; add runs or choose a smaller law"
        )


@cache
def residual_function(law: Law, layout: Layout):
    """``r(z, (inputs, log_loss)) = law.log_loss(unpack(z), inputs) - log_loss``; one function object per
    law and layout shape, so jitted solvers compile once and are reused."""

    def residuals(z, data):
        inputs, log_loss = data
        return law.log_loss(layout.unpack(z), inputs) - log_loss

    return residuals


def _jax_inputs(inputs: Inputs) -> Inputs:
    return Inputs(*(None if a is None else jnp.asarray(a) for a in inputs))


@partial(jax.jit, static_argnames=("residuals", "max_iter"))
def _solve_groups(residuals, starts, data, weights, delta, max_iter) -> Solution:
    def one_start(z0, w, group_data):
        return solve(residuals, z0, group_data, w, delta, max_iter=max_iter)

    per_group = jax.vmap(one_start, in_axes=(0, 0, None))
    return jax.vmap(per_group, in_axes=(0, 0, 0))(starts, weights, data)
