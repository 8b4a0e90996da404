"""Data mixing law (Ye et al., 2024): loss as an exponential of a linear function of the mixture."""

import jax.numpy as jnp

from scalemix.laws.base import Inputs, Law, Param, interval, positive

T_BOUND = 10.0
"""|t_ij| <= T_BOUND: keeps predictions on sparse held-out mixtures finite (unbounded fits overflow)."""


def _log_loss(theta, x: Inputs):
    i = x.target
    exponent = jnp.sum(theta["t"][i] * x.weights, axis=-1)
    return jnp.logaddexp(jnp.log(theta["c"][i]), jnp.log(theta["k"][i]) + exponent)


def mixing() -> Law:
    """``L_i(r) = c_i + k_i * exp(sum_j t_ij r_j)`` over training proportions ``r``.

    Ye, Yang, Xi, Zhang, Chen, Chen, Liu, Wang, Zhou. "Data Mixing Laws: Optimizing Data Mixtures by
    Predicting Language Modeling Performance", 2024 (arXiv:2403.16952). ``t_ij`` is bounded to
    ``(-T_BOUND, T_BOUND)``. Because ``sum_j r_j = 1``, a constant added to every ``t_ij`` trades off
    against ``log k_i``: the priors (and the optimiser's damping) settle that direction.
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
    )
