"""Mirror descent on the bounded simplex: exponentiated-gradient steps preconditioned by Adam.

One step, for the Lagrangian ``F(w) + kl * KL(w || prior) + lambda . g(w)`` (ceilings ``g <= 0``)::

    u      = adam(grad - mean_free(grad))     # Adam's (descent) update of the centred gradient
    w      = project(w * exp(u))              # multiplicative step, KL projection onto the bounds
    lambda = max(0, lambda + rate_t * g(w))   # dual ascent on the ceilings

Plain exponentiated gradient (Kivinen & Warmuth 1997; Beck & Teboulle 2003) needs a step size matched
to the gradient's scale; Adam's per-coordinate normalisation (optax) with a cosine-decayed rate makes the
same settings work for losses in nats or bits and for every law, and the decay settles the iterate.
Weights that the optimum sets to zero decay geometrically (``exp(-sum of steps)``), never exactly 0.
Everything is ``jax.lax`` code: callers ``jit`` it and ``vmap`` it over draws, sizes or scalarisations.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from scalemix.optimize.constraints import project

Array = Any
STEPS = 1000
LEARNING_RATE = 0.1
DUAL_RATE = 1.0
B2 = 0.9


class Region(NamedTuple):
    """Where the solver searches: bounds ``lower[K] <= w <= upper[K]`` on the simplex, the KL pull
    ``kl * KL(w || prior)`` and a feasible ``start``."""

    lower: Array
    upper: Array
    prior: Array
    kl: Array
    start: Array


def kl_divergence(w: Array, prior: Array) -> Array:
    """``sum_d w_d log(w_d / prior_d)`` with ``0 log 0 = 0``."""
    positive = w > 0
    ratio = jnp.where(positive, w, 1.0) / jnp.where(positive, prior, 1.0)
    return jnp.sum(jnp.where(positive, w * jnp.log(ratio), 0.0))


def _face_mean(w, grad, lower, upper):
    """``w``-weighted mean gradient over the weights strictly inside their bounds: the Lagrange
    multiplier of ``sum w = 1`` on the current face, so that a weight at its optimum gets a zero step."""
    free = jnp.where((w > lower) & (w < upper), w, 0.0)
    free = jnp.where(free.sum() > 0, free, w)
    return jnp.dot(free, grad) / free.sum()


def solve(
    fun: Callable[[Array], tuple[Array, Array]],
    region: Region,
    steps: int = STEPS,
    learning_rate: float = LEARNING_RATE,
) -> Array:
    """Minimise ``fun(w)[0] + kl * KL(w || prior)`` subject to ``fun(w)[1] <= 0`` over the ``region``.

    ``fun(w) -> (value, violations)``; ``region.start`` must be feasible and positive where free.
    Returns the last iterate ``w[K]``.
    """
    lower, upper, prior, kl, start = region
    schedule = optax.cosine_decay_schedule(learning_rate, steps, alpha=1e-3)
    optimiser = optax.adam(schedule, b2=B2)

    def lagrangian(w, multipliers):
        value, violations = fun(w)
        return value + kl * kl_divergence(w, prior) + jnp.dot(multipliers, violations), violations

    def step(carry, index):
        w, multipliers, state = carry
        grad, violations = jax.grad(lagrangian, has_aux=True)(w, multipliers)
        update, state = optimiser.update(grad - _face_mean(w, grad, lower, upper), state)
        w = project(w * jnp.exp(update), lower, upper)
        multipliers = jnp.maximum(multipliers + DUAL_RATE * schedule(index) / learning_rate * violations, 0.0)
        return (w, multipliers, state), None

    _, violations = fun(start)
    carry = (start, jnp.zeros_like(violations), optimiser.init(start))
    (w, _, _), _ = jax.lax.scan(step, carry, jnp.arange(steps))
    return w
