"""Joint size-and-mixture laws of Shukor et al. (2025): N, D and the mixture h together."""

import jax.numpy as jnp
from jax.scipy.special import logsumexp

from scalemix.laws.base import Inputs, Law, Param, positive, safe_log

_SIZE_PARAMS = (
    Param("E", constraint=positive, prior=(0.5, 1.0), grid=(1.0, 2.0)),
    Param("A", constraint=positive, prior=(6.0, 5.0), grid=(1.0, 148.4, 22026.0)),
    Param("B", constraint=positive, prior=(7.0, 5.0), grid=(1.0, 148.4, 22026.0)),
    Param("alpha", constraint=positive, prior=(-1.0, 1.0), grid=(0.1, 0.4)),
    Param("beta", constraint=positive, prior=(-1.0, 1.0), grid=(0.1, 0.4)),
)


def _additive_log_loss(theta, x: Inputs):
    i = x.target
    powered = jnp.exp(theta["gamma"][i] * safe_log(x.weights))  # h_j^gamma_j, 0 where h_j = 0
    mixture_term = -jnp.log(jnp.sum(theta["C"][i] * powered, axis=-1))
    terms = jnp.stack(
        [
            jnp.log(theta["E"][i]) * jnp.ones_like(x.params),
            mixture_term,
            jnp.log(theta["A"][i]) - theta["alpha"][i] * jnp.log(x.params),
            jnp.log(theta["B"][i]) - theta["beta"][i] * jnp.log(x.tokens),
        ]
    )
    return logsumexp(terms, axis=0)


def mixture_additive() -> Law:
    """``L = E + 1 / (sum_j C_j h_j^gamma_j) + A / N^alpha + B / D^beta`` per target.

    Shukor, Bethune, Busbridge, Grangier, Fini, El-Nouby, Ablin. "Scaling Laws for Optimal Data
    Mixtures", 2025 (arXiv:2507.09404), the additive law: the mixture adds its own term to
    Chinchilla's.
    """
    return Law(
        name="mixture-additive",
        params=_SIZE_PARAMS
        + (
            Param("C", dims=("target", "domain"), constraint=positive, prior=(0.0, 1.5), grid=(1.0,)),
            Param("gamma", dims=("target", "domain"), constraint=positive, prior=(-0.5, 1.0), grid=(0.5,)),
        ),
        log_loss=_additive_log_loss,
        needs=frozenset({"params", "tokens", "weights"}),
        formula="L = E + 1/(sum_j C_j h_j^gamma_j) + A/N^alpha + B/D^beta",
        reference="Shukor et al. 2025, Scaling Laws for Optimal Data Mixtures (additive law)",
        random_starts=32,
    )


def _joint_log_loss(theta, x: Inputs):
    i = x.target
    log_a = theta["gammaA"][i] * jnp.log(jnp.sum(theta["CA"][i] * x.weights, axis=-1))
    log_b = theta["gammaB"][i] * jnp.log(jnp.sum(theta["CB"][i] * x.weights, axis=-1))
    terms = jnp.stack(
        [
            jnp.log(theta["E"][i]) * jnp.ones_like(x.params),
            log_a - theta["alpha"][i] * jnp.log(x.params),
            log_b - theta["beta"][i] * jnp.log(x.tokens),
        ]
    )
    return logsumexp(terms, axis=0)


def mixture_joint() -> Law:
    """``L = E + A_h / N^alpha + B_h / D^beta`` with ``A_h = (sum_j CA_j h_j)^gammaA``, ``B_h`` likewise.

    Shukor et al. 2025, "Scaling Laws for Optimal Data Mixtures" (arXiv:2507.09404), the joint law:
    the mixture rescales the size and data terms.
    """
    return Law(
        name="mixture-joint",
        params=(
            Param("E", constraint=positive, prior=(0.5, 1.0), grid=(1.0, 2.0)),
            Param("alpha", constraint=positive, prior=(-1.0, 1.0), grid=(0.1, 0.4)),
            Param("beta", constraint=positive, prior=(-1.0, 1.0), grid=(0.1, 0.4)),
            Param("CA", dims=("target", "domain"), constraint=positive, prior=(2.0, 3.0), grid=(1.0, 148.4)),
            Param("gammaA", constraint=positive, prior=(0.0, 1.0), grid=(1.0, 2.0)),
            Param("CB", dims=("target", "domain"), constraint=positive, prior=(2.0, 3.0), grid=(1.0, 148.4)),
            Param("gammaB", constraint=positive, prior=(0.0, 1.0), grid=(1.0, 2.0)),
        ),
        log_loss=_joint_log_loss,
        needs=frozenset({"params", "tokens", "weights"}),
        formula="L = E + A_h/N^alpha + B_h/D^beta, A_h = (sum_j CA_j h_j)^gammaA, B_h = (sum_j CB_j h_j)^gammaB",
        reference="Shukor et al. 2025, Scaling Laws for Optimal Data Mixtures (joint law)",
        random_starts=32,
    )
