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
    ``penalty`` is ``None`` or the ``(precision, centre)`` over one group's unconstrained parameters that
    :func:`shrinkage_penalty` gives, added to every solve's objective.
    """

    law: Law
    design: Design
    layout: Layout
    groups: tuple[tuple[str, ...], ...]
    inputs: Inputs
    log_loss: np.ndarray
    mask: np.ndarray
    row: np.ndarray
    penalty: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def coords(self) -> dict[str, tuple[str, ...]]:
        return self.design.coords

    def starts(self, seed: int, n_random: int | None = None) -> np.ndarray:
        """Multi-start points ``[groups, starts, P]``: the law's grid plus ``n_random`` draws from its priors
        (the same in every group), then the law's data-driven starts of each group (:attr:`Law.initial`)."""
        points = self.layout.grid()
        n_random = self.law.random_starts if n_random is None else n_random
        if n_random:
            loc, scale = self.layout.prior_loc_scale()
            noise = np.asarray(jax.random.normal(jax.random.PRNGKey(seed), (n_random, self.layout.size), dtype=jnp.float64))
            points = np.concatenate([points, loc + scale * noise])
        points = np.broadcast_to(points, (len(self.groups), *points.shape))
        if self.law.initial is None:
            return points
        return np.concatenate([points, np.stack([self._data_starts(g) for g in range(len(self.groups))])], axis=1)

    def _data_starts(self, group: int) -> np.ndarray:
        """The law's data-driven starts for one group, packed: ``[starts, P]``."""
        inputs = Inputs(*(None if a is None else np.asarray(a[group]) for a in self.inputs))
        theta = self.law.initial(inputs, self.log_loss[group], self.mask[group])
        return np.asarray(jax.vmap(self.layout.pack)({k: jnp.asarray(v) for k, v in theta.items()}))

    def solve(self, starts, weights, delta: float, max_iter: int) -> Solution:
        """Solve every group from every start. ``starts``: ``[groups, S, P]``; ``weights``: ``[groups, S, rows]``."""
        residuals = residual_function(self.law, self.layout)
        data = (self.inputs, jnp.asarray(self.log_loss))
        penalty = None if self.penalty is None else tuple(jnp.asarray(a) for a in self.penalty)
        return _solve_groups(residuals, jnp.asarray(starts), data, jnp.asarray(weights), delta, max_iter, penalty)

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


def build(table, law: Law, *, min_rows_per_param: int = 1, shrinkage: float = 0.0) -> Problem:
    """Group ``table``'s rows for ``law``, with the :func:`shrinkage_penalty` of strength ``shrinkage``;
    raises :class:`FitError` when the runs cannot determine it."""
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
    return Problem(law, d, layout, groups, _jax_inputs(inputs), d.log_loss[row], mask, row,
                   shrinkage_penalty(layout, shrinkage))


def shrinkage_penalty(layout: Layout, strength: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The ridge penalty that pulls the per-domain coefficients towards their prior: ``strength/2 *
    sum_k ((z_k - loc_k) / scale_k)^2`` over every unconstrained element of a parameter that varies over
    ``domain`` (``t`` of ``mixing``, ``A`` of ``linear-mixing``, ``C`` and ``gamma`` of ``mixture-additive``),
    with ``(loc, scale)`` the law's Normal prior. It is the MAP of that prior on the Huber objective's scale:
    a Gaussian likelihood of sd ``sigma`` gives ``strength = sigma^2`` for residuals inside delta. ``None``
    for ``strength`` 0 or a law with no per-domain parameter."""
    penalised = np.concatenate([np.full(s.size, "domain" in s.param.dims) for s in layout.slots])
    if not strength or not penalised.any():
        return None
    loc, scale = layout.prior_loc_scale()
    return np.where(penalised, strength / scale**2, 0.0), loc


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
def _solve_groups(residuals, starts, data, weights, delta, max_iter, penalty) -> Solution:
    def one_start(z0, w, group_data):
        return solve(residuals, z0, group_data, w, delta, max_iter=max_iter, penalty=penalty)

    per_group = jax.vmap(one_start, in_axes=(0, 0, None))
    return jax.vmap(per_group, in_axes=(0, 0, 0))(starts, weights, data)
