"""Power law in model size with an irreducible floor (Ghorbani et al., 2021)."""

import jax.numpy as jnp

from scalemix.laws.base import Inputs, Law, Param, positive


def _log_loss(theta, x: Inputs):
    i = x.target
    return jnp.logaddexp(jnp.log(theta["beta"][i]) - theta["alpha"][i] * jnp.log(x.params), jnp.log(theta["Linf"][i]))


def power() -> Law:
    """``L = beta * N^-alpha + Linf`` per target.

    Ghorbani, Firat, Freitag, Bapna, Krikun, Garcia, Chelba, Cherry. "Scaling Laws for Neural Machine
    Translation", ICLR 2022 (arXiv:2109.07740). Predicted in log space as
    ``logaddexp(log beta - alpha log N, log Linf)``.
    """
    return Law(
        name="power",
        params=(
            Param("beta", constraint=positive, prior=(5.0, 5.0), grid=(1.0, jnp.exp(2.5).item(), jnp.exp(5.0).item(), jnp.exp(10.0).item())),
            Param("alpha", constraint=positive, prior=(-1.2, 1.0), grid=(0.1, 0.3, 0.6)),
            Param("Linf", constraint=positive, prior=(0.5, 1.0), grid=(0.5, 1.0, 2.0)),
        ),
        log_loss=_log_loss,
        needs=frozenset({"params"}),
        formula="L = beta * N^-alpha + Linf",
        reference="Ghorbani et al. 2021, Scaling Laws for Neural Machine Translation",
    )
