"""Power law in model size with an irreducible floor (Ghorbani et al., 2021).

Also the power form the multilingual laws of Fernandes et al. (2023) extend: :func:`power_params` declares
``beta, alpha, Linf`` and :func:`log_power_law` evaluates ``beta * size^-alpha + Linf`` in log space.
"""

import math

import jax.numpy as jnp
import numpy as np

from scalemix.laws.base import Inputs, Law, Param, per_row, positive

_BETA_GRID = (1.0, *(float(np.float32(math.exp(b))) for b in (2.5, 5.0, 10.0)))
"""1 and ``exp(2.5), exp(5), exp(10)`` rounded to float32: the starts as JAX's default float32 first computed
them, kept to the bit so that fits reproduce."""


def power_params(beta_grid, linf_prior, linf_grid, beta_dims=("target",)) -> tuple[Param, Param, Param]:
    """``(beta, alpha, Linf)`` of a law ``beta * size^-alpha + Linf``, all positive.

    Every such law gives ``beta`` the prior ``log beta ~ N(5, 5)`` and ``alpha`` the prior
    ``log alpha ~ N(-1.2, 1)`` with starts ``0.1, 0.3, 0.6``; ``beta``'s starts and dims and the floor's
    prior and starts are the law's own.
    """
    return (
        Param("beta", dims=beta_dims, constraint=positive, prior=(5.0, 5.0), grid=beta_grid),
        Param("alpha", constraint=positive, prior=(-1.2, 1.0), grid=(0.1, 0.3, 0.6)),
        Param("Linf", constraint=positive, prior=linf_prior, grid=linf_grid),
    )


def log_power_law(beta, alpha, linf, log_size):
    """``log(beta * size^-alpha + Linf)`` as ``logaddexp(log beta - alpha log size, log Linf)``."""
    return jnp.logaddexp(jnp.log(beta) - alpha * log_size, jnp.log(linf))


def _log_loss(theta, x: Inputs):
    t = per_row(theta, x.target)
    return log_power_law(t["beta"], t["alpha"], t["Linf"], jnp.log(x.params))


def power() -> Law:
    """``L = beta * N^-alpha + Linf`` per target.

    Ghorbani, Firat, Freitag, Bapna, Krikun, Garcia, Chelba, Cherry. "Scaling Laws for Neural Machine
    Translation", ICLR 2022 (arXiv:2109.07740). Predicted in log space as
    ``logaddexp(log beta - alpha log N, log Linf)``.
    """
    return Law(
        name="power",
        params=power_params(beta_grid=_BETA_GRID, linf_prior=(0.5, 1.0), linf_grid=(0.5, 1.0, 2.0)),
        log_loss=_log_loss,
        needs=frozenset({"params"}),
        formula="L = beta * N^-alpha + Linf",
        reference="Ghorbani et al. 2021, Scaling Laws for Neural Machine Translation",
    )
