"""Joint size-and-mixture laws of Shukor et al. (2025): N, D and the mixture h together."""

import jax.numpy as jnp

from scalemix.laws.base import Inputs, Law, Param, logsumexp_terms, per_row, positive, safe_power
from scalemix.laws.chinchilla import SIZE_PARAMS, log_terms


def _additive_log_loss(theta, x: Inputs):
    t = per_row(theta, x.target)
    powered = safe_power(x.weights, t["gamma"])  # h_j^gamma_j, 0 where h_j = 0
    mixture_term = -jnp.log(jnp.sum(t["C"] * powered, axis=-1))
    return logsumexp_terms((*log_terms(t, x), mixture_term))


def mixture_additive() -> Law:
    """``L = E + 1 / (sum_j C_j h_j^gamma_j) + A / N^alpha + B / D^beta`` per target.

    Shukor, Bethune, Busbridge, Grangier, Fini, El-Nouby, Ablin. "Scaling Laws for Optimal Data
    Mixtures", 2025 (arXiv:2507.09404), the additive law: the mixture adds its own term to
    Chinchilla's.
    """
    return Law(
        name="mixture-additive",
        params=SIZE_PARAMS
        + (
            Param("C", dims=("target", "domain"), constraint=positive, prior=(0.0, 1.5), grid=(1.0,)),
            Param("gamma", dims=("target", "domain"), constraint=positive, prior=(-0.5, 1.0), grid=(0.5,)),
        ),
        log_loss=_additive_log_loss,
        needs=frozenset({"params", "tokens", "weights"}),
        formula="L = E + 1/(sum_j C_j h_j^gamma_j) + A/N^alpha + B/D^beta",
        reference="Shukor et al. 2025, Scaling Laws for Optimal Data Mixtures (additive law)",
        random_starts=128,  # RegMix pile_cc: 32 prior draws missed the best basin that 128 find (3 of them)
    )


def _joint_log_loss(theta, x: Inputs):
    t = per_row(theta, x.target)
    t["A"] = jnp.sum(t["CA"] * x.weights, axis=-1) ** t["gammaA"]
    t["B"] = jnp.sum(t["CB"] * x.weights, axis=-1) ** t["gammaB"]
    return logsumexp_terms(log_terms(t, x))


def mixture_joint() -> Law:
    """``L = E + A_h / N^alpha + B_h / D^beta`` with ``A_h = (sum_j CA_j h_j)^gammaA``, ``B_h`` likewise.

    Shukor et al. 2025, "Scaling Laws for Optimal Data Mixtures" (arXiv:2507.09404), the joint law:
    the mixture rescales the size and data terms.
    """
    return Law(
        name="mixture-joint",
        params=(
            *(p for p in SIZE_PARAMS if p.name in ("E", "alpha", "beta")),  # A and B come from the mixture
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
