"""Robust least squares: Levenberg-Marquardt on a Huber objective, vmapped over starts.

The objective is ``sum_i w_i * huber_delta(r_i(z))`` over residuals of log loss (Hoffmann et al. 2022,
approach 3; summed, not averaged — Besiroglu et al. 2024 showed that the mean-reduced objective makes
off-the-shelf optimisers stop early). Each iteration solves a damped Gauss-Newton system

    (J^T diag(w 1{|r| <= delta}) J + lam * diag(J^T diag(w min(1, delta/|r|)) J)) step = -J^T (w psi(r))

with ``psi(r) = clip(r, -delta, delta)``: the curvature is the Huber objective's own Gauss-Newton
matrix (rows inside ``delta`` only), and the Marquardt damping is scaled by the IRLS curvature of the
Huber majoriser, so that a large ``lam`` gives a safe IRLS-scaled gradient step and a small one the
Newton step of the piecewise-quadratic objective, which settles once the rows inside ``delta`` do.
An optional diagonal Gaussian ``penalty = (precision, centre)`` adds
``1/2 sum_k precision_k (z_k - centre_k)^2`` to the objective (a prior's MAP; exact in the Newton system).
A step is kept only when the objective falls. A start has converged when a kept step is below
``xtol`` relative to the parameters; one whose damping hits its ceiling (no step lowers the objective)
stops as *stalled*, not converged. The step does not change when the objective is multiplied by a
constant, so neither does this test: weighting rows by 1/n (a mean) cannot stop the fit early.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

Residuals = Callable[[jax.Array, object], jax.Array]


class Solution(NamedTuple):
    z: jax.Array  # [P] unconstrained parameters
    objective: jax.Array  # []
    grad_norm: jax.Array  # [] max |gradient| of the objective at z
    iterations: jax.Array  # []
    converged: jax.Array  # [] bool


def huber(r, delta):
    """Huber loss: ``r^2/2`` for ``|r| <= delta``, ``delta (|r| - delta/2)`` beyond."""
    a = jnp.abs(r)
    return jnp.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def objective(residuals: Residuals, z, data, weights, delta, penalty=None):
    """``sum_i weights_i * huber(r_i(z))``, plus ``1/2 sum_k precision_k (z_k - centre_k)^2`` for a
    ``penalty = (precision, centre)``."""
    value = jnp.sum(weights * huber(residuals(z, data), delta))
    if penalty is None:
        return value
    precision, centre = penalty
    return value + 0.5 * jnp.sum(precision * (z - centre) ** 2)


@partial(jax.jit, static_argnames=("residuals", "max_iter"))
def solve(residuals: Residuals, z0, data, weights, delta, *, max_iter: int = 200, xtol: float = 1e-10,
          penalty=None) -> Solution:
    """Minimise the weighted Huber objective (plus the ``penalty``) from one start ``z0[P]``; vmap this over starts."""

    def value(z):
        f = objective(residuals, z, data, weights, delta, penalty)
        return jnp.where(jnp.isfinite(f), f, jnp.inf)

    def linearise(z):
        r = residuals(z, data)
        jac = jax.jacfwd(residuals)(z, data)
        psi = weights * jnp.clip(r, -delta, delta)
        inside = jnp.abs(r) <= delta
        irls = weights * jnp.where(inside, 1.0, delta / jnp.maximum(jnp.abs(r), delta))
        hessian = (jac * (weights * inside)[:, None]).T @ jac
        grad, scale = jac.T @ psi, jnp.sum(jac * jac * irls[:, None], axis=0)
        if penalty is None:
            return grad, hessian, scale
        precision, centre = penalty
        return grad + precision * (z - centre), hessian + jnp.diag(precision), scale + precision

    def step(state):
        z, f, lam, it, _, _ = state
        grad, hessian, scale = linearise(z)
        scale = jnp.maximum(scale, 1e-12 * jnp.max(scale) + 1e-300)
        proposal = jnp.linalg.solve(hessian + lam * jnp.diag(scale), -grad)
        proposal = jnp.where(jnp.all(jnp.isfinite(proposal)), proposal, jnp.zeros_like(z))
        f_new = value(z + proposal)
        small = jnp.max(jnp.abs(proposal)) <= xtol * (1.0 + jnp.max(jnp.abs(z)))
        accept = (f_new < f) | (small & (f_new <= f))
        z = jnp.where(accept, z + proposal, z)
        f = jnp.where(accept, f_new, f)
        lam = jnp.clip(jnp.where(accept, lam / 3.0, lam * 4.0), 1e-12, 1e12)
        return z, f, lam, it + 1, small & accept, lam >= 1e12

    def keep_going(state):
        _, _, _, it, converged, stalled = state
        return ~(converged | stalled) & (it < max_iter)

    z0 = jnp.asarray(z0)
    state = (z0, value(z0), jnp.asarray(1e-3, z0.dtype), jnp.asarray(0), jnp.asarray(False), jnp.asarray(False))
    z, f, _, iterations, converged, _ = jax.lax.while_loop(keep_going, step, state)
    grad = jax.grad(lambda q: objective(residuals, q, data, weights, delta, penalty))(z)
    return Solution(z, f, jnp.max(jnp.abs(grad)), iterations, converged)


def solve_many(residuals: Residuals, starts, data, weights, delta, *, max_iter: int = 200, xtol: float = 1e-10) -> Solution:
    """:func:`solve` from every row of ``starts[S, P]`` at once (vmapped)."""
    return jax.vmap(lambda z0: solve(residuals, z0, data, weights, delta, max_iter=max_iter, xtol=xtol))(starts)
