"""Data mixing law (Ye et al., 2024): loss as an exponential of a linear function of the mixture."""

import jax.numpy as jnp
import numpy as np

from scalemix.laws.base import Inputs, Law, Param, interval, positive, ridge

T_BOUND = 10.0
"""|t_ij| <= T_BOUND: keeps predictions on sparse held-out mixtures finite (unbounded fits overflow)."""
FLOOR_FRACTIONS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98)
"""Floors ``c = q * min(loss)`` of the log-linear least-squares starts (:func:`log_linear_starts`)."""
RIDGE = 1e-3
"""Ridge of the log-linear starts, relative to the mean diagonal of ``r^T r``: a domain no run of a target
trained on gets ``t = 0`` instead of an undetermined value."""


def _log_loss(theta, x: Inputs):
    i = x.target
    exponent = jnp.sum(theta["t"][i] * x.weights, axis=-1)
    return jnp.logaddexp(jnp.log(theta["c"][i]), jnp.log(theta["k"][i]) + exponent)


def log_linear_starts(x: Inputs, log_loss, mask) -> dict[str, np.ndarray]:
    """Starts for ``mixing`` from least squares: with the floor fixed at ``c = q min(L)``, the law is
    linear in log space, ``log(L - c) = log k + sum_j t_j r_j``; since ``sum_j r_j = 1`` the intercept is
    absorbed into ``t`` (``k = 1``), and ``t`` is a ridge regression of ``log(L - c)`` on the mixtures
    (:data:`RIDGE`). One start per ``q`` in :data:`FLOOR_FRACTIONS` and target, ``t`` clipped inside
    :data:`T_BOUND`. The same start the Olmix fitting code draws at random (``log c`` on a grid, ``t``
    near 0), solved instead of guessed: on a 64-domain swarm it reaches the best basin in ~50 Levenberg-
    Marquardt steps, where prior draws need hundreds."""
    weights, loss, target = np.asarray(x.weights), np.exp(np.asarray(log_loss)), np.asarray(x.target)
    targets, domains = int(target.max()) + 1, weights.shape[1]
    c = np.empty((len(FLOOR_FRACTIONS), targets))
    t = np.zeros((len(FLOOR_FRACTIONS), targets, domains))
    for i in range(targets):
        rows = (target == i) & (np.asarray(mask) > 0)
        r, y = weights[rows], loss[rows]
        for s, q in enumerate(FLOOR_FRACTIONS):
            c[s, i] = max(q * y.min(), 1e-3 * y.min())
            t[s, i] = ridge(r, np.log(y - q * y.min() + 1e-12 * y.min()), RIDGE)
    bound = 0.95 * T_BOUND
    return {"c": c, "k": np.ones_like(c), "t": np.clip(t, -bound, bound)}


def mixing() -> Law:
    """``L_i(r) = c_i + k_i * exp(sum_j t_ij r_j)`` over training proportions ``r``.

    Ye, Yang, Xi, Zhang, Chen, Chen, Liu, Wang, Zhou. "Data Mixing Laws: Optimizing Data Mixtures by
    Predicting Language Modeling Performance", 2024 (arXiv:2403.16952). ``t_ij`` is bounded to
    ``(-T_BOUND, T_BOUND)``. Because ``sum_j r_j = 1``, a constant added to every ``t_ij`` trades off
    against ``log k_i``: the priors (and the optimiser's damping) settle that direction.

    Olmix's log-linear law (Chen et al. 2026, allenai/olmix ``mixing_law``: ``L = exp(log c) + exp(sum_j
    t_j r_j)``) is this law with ``log k`` folded into ``t`` the same way, so it is the same family of
    functions; Olmix fits it with a Huber loss on the loss itself from random starts. Starts here are the
    prior draws, the grid and :func:`log_linear_starts`.
    """
    return Law(
        name="mixing",
        params=(
            Param("c", constraint=positive, prior=(0.5, 1.0), grid=(0.5, 2.0)),
            Param("k", constraint=positive, prior=(0.0, 1.5), grid=(0.5, 2.0)),
            Param("t", dims=("target", "domain"), constraint=interval(-T_BOUND, T_BOUND), prior=(0.0, 1.0), grid=(0.0,)),
        ),
        log_loss=_log_loss,
        needs=frozenset({"weights"}),
        formula="L_i = c_i + k_i * exp(sum_j t_ij r_j)",
        reference="Ye et al. 2024, Data Mixing Laws",
        random_starts=64,
        refine=4,  # the log-linear starts are in the best basin after screening: run 4 to convergence, not 64
        initial=log_linear_starts,
    )
