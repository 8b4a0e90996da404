"""Joint loss in parameters and tokens in the form of Kaplan et al. (2020), with an irreducible floor."""

import jax.numpy as jnp

from scalemix.laws.base import Inputs, Law, Param, per_row, positive


def _log_loss(theta, x: Inputs):
    t = per_row(theta, x.target)
    size = t["gamma"] * (jnp.log(t["A"]) - jnp.log(x.params))  # log (A / N)^gamma
    data = jnp.log(t["B"]) - jnp.log(x.tokens)  # log B / D
    return jnp.logaddexp(jnp.log(t["E"]), t["beta"] * jnp.logaddexp(size, data))


def kaplan() -> Law:
    """``L = E + ((A / N)^gamma + B / D)^beta`` per target.

    Kaplan et al. "Scaling Laws for Neural Language Models" (arXiv:2001.08361), eq. 1.5,
    ``L(N, D) = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D``, with ``A = N_c``, ``B = D_c``,
    ``beta = alpha_D`` and ``gamma = alpha_N / alpha_D`` (fitted as a parameter of its own: as the ratio of
    two fitted exponents it ran off to infinity with ``alpha_D -> 0``), plus the irreducible loss ``E`` that
    Henighan et al. (2020, arXiv:2010.14701) add to every such law. Unlike Chinchilla's additive form, size
    and data interact: the data term bends the size curve. The fits' candidate when the form of the law is
    in doubt (stacked with ``chinchilla``). Predicted as
    ``logaddexp(log E, beta * logaddexp(gamma log(A / N), log(B / D)))``. Kaplan's own values (nats,
    WebText2, no floor) are ``N_c = 8.8e13``, ``D_c = 5.4e13``, ``gamma = 0.076 / 0.095 = 0.8``,
    ``beta = 0.095``.
    """
    return Law(
        name="kaplan",
        params=(
            Param("E", constraint=positive, prior=(0.5, 1.0), grid=(1.0, 2.0)),
            Param("A", constraint=positive, prior=(25.0, 10.0), grid=(1e8, 1e12, 1e16)),
            Param("B", constraint=positive, prior=(25.0, 10.0), grid=(1e8, 1e12, 1e16)),
            Param("gamma", constraint=positive, prior=(0.0, 1.0), grid=(0.5, 1.0, 2.0)),
            Param("beta", constraint=positive, prior=(-1.5, 1.0), grid=(0.05, 0.3)),
        ),
        log_loss=_log_loss,
        needs=frozenset({"params", "tokens"}),
        formula="L = E + ((A / N)^gamma + B / D)^beta",
        reference="Kaplan et al. 2020, Scaling Laws for Neural Language Models (eq. 1.5), with Henighan et al.'s floor E",
    )
