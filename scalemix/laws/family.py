"""Multilingual language-model family law (He et al., 2024)."""

import jax.numpy as jnp

from scalemix.laws.base import Inputs, Law, Param, logsumexp_terms, per_row, positive
from scalemix.laws.chinchilla import SIZE_PARAMS, log_terms


def _log_loss(theta, x: Inputs):
    t = per_row(theta, x.target)
    return logsumexp_terms(log_terms(t, x)) - t["gamma"] * jnp.log(x.own_weight)


def multilingual_family() -> Law:
    """``L_i = (E_i + A_i / N^alpha_i + B_i / D^beta_i) * p_i^-gamma_i``.

    He, Zhang, Zhang, Li, Ji, Carbonell. "Scaling Laws for Multilingual Language Models", 2024
    (arXiv:2410.12883): the loss of language family ``i`` scales with its own sampling ratio ``p_i``
    (column ``w.<target>``) as a power, independently of the other families' ratios.
    """
    return Law(
        name="multilingual-family",
        params=(*SIZE_PARAMS, Param("gamma", constraint=positive, prior=(-3.0, 1.5), grid=(0.01, 0.1))),
        log_loss=_log_loss,
        needs=frozenset({"params", "tokens", "own_weight"}),
        formula="L_i = (E_i + A_i / N^alpha_i + B_i / D^beta_i) * p_i^-gamma_i",
        reference="He et al. 2024, Scaling Laws for Multilingual Language Models",
        valid=lambda x: x.own_weight > 0,
        invalid_reason="the target's own weight p is 0: p^-gamma is infinite",
    )
