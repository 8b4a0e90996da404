"""Data-constrained scaling (Muennighoff et al., 2023): repeated tokens are worth less than fresh ones."""

import jax.numpy as jnp

from scalemix.laws.base import Inputs, Law, Param, logsumexp_terms, per_row, positive
from scalemix.laws.chinchilla import SIZE_PARAMS

RSTAR_PRIOR = (2.7, 1.0)
"""``log R* ~ N(2.7, 1)``: centred on Muennighoff et al.'s fitted ``R*_D = 15.4`` (e^2.7 = 14.9), wide
enough for their ``R*_N = 5.3``."""


def saturated(amount, unique, rstar):
    """Effective amount of ``amount`` drawn from ``unique`` distinct units, each reuse worth less:

    ``S = U + U R* (1 - exp(-R / R*))`` with ``R = amount / U - 1`` repetitions beyond the first pass, and
    ``S = amount`` while ``amount <= U`` (Muennighoff et al. 2023, eq. 5 for tokens, ``D' = U_D + U_D R*_D
    (1 - exp(-R_D / R*_D))``). A repeat is worth ``exp(-R / R*)`` of a fresh unit, so ``S`` tends to
    ``U (1 + R*)`` however often the data is repeated: ``R*`` is the number of repetitions after which a
    repeat's worth has fallen to ``1/e``. ``unique = inf`` (no limit) gives ``amount``. Arrays broadcast;
    the gradient is finite on both branches.
    """
    repeated = amount > unique
    base = jnp.where(repeated, unique, 1.0)
    repetitions = jnp.where(repeated, amount / base - 1.0, 0.0)
    return jnp.where(repeated, base * (1.0 - rstar * jnp.expm1(-repetitions / rstar)), amount)


def optimal_params(theta, tokens):
    """Compute-optimal parameters for a model trained on ``tokens`` under the Chinchilla terms of ``theta``:
    from Hoffmann et al.'s allocation (:func:`scalemix.laws.compute_optimal`), ``N* = G (G D)^(beta/alpha)``
    with ``G = (alpha A / (beta B))^(1/(alpha+beta))``; Muennighoff et al.'s ``N_opt(U_D)``."""
    alpha, beta = theta["alpha"], theta["beta"]
    log_g = (jnp.log(alpha * theta["A"]) - jnp.log(beta * theta["B"])) / (alpha + beta)
    return jnp.exp(log_g + beta / alpha * (log_g + jnp.log(tokens)))


def _make_log_loss(excess_params: bool):
    def log_loss(theta, x: Inputs):
        t = per_row(theta, x.target)
        tokens = saturated(x.tokens, x.unique, t["rstar_tokens"])
        params = x.params
        if excess_params:
            base = jnp.minimum(optimal_params(t, x.unique), x.params)
            params = saturated(x.params, base, t["rstar_params"])
        return logsumexp_terms((
            jnp.log(t["E"]) * jnp.ones_like(params),
            jnp.log(t["A"]) - t["alpha"] * jnp.log(params),
            jnp.log(t["B"]) - t["beta"] * jnp.log(tokens),
        ))

    return log_loss


def data_constrained(excess_params: bool = True) -> Law:
    """``L = E + A / N'^alpha + B / D'^beta`` with repeated data and excess parameters discounted.

    Muennighoff, Rush, Barak, Le Scao, Piktus, Tazi, Pyysalo, Wolf, Raffel. "Scaling Data-Constrained
    Language Models", NeurIPS 2023 (arXiv:2305.16264), eqs. 5-6:
    ``D' = U_D + U_D R*_D (1 - exp(-R_D / R*_D))``, ``R_D = D / U_D - 1``, for ``D`` tokens trained on
    ``U_D`` unique ones (column ``unique``; see :func:`saturated`), and the parameter analogue
    ``N' = U_N + U_N R*_N (1 - exp(-R_N / R*_N))``, ``R_N = N / U_N - 1``, with ``U_N = min(N_opt(U_D), N)``
    the compute-optimal size for the unique data (:func:`optimal_params`): parameters beyond what the
    unique data can use decay in worth too. ``excess_params=False`` keeps ``N`` as is (the tokens term
    only). Without a limit on the unique data (an empty ``unique``) it is Chinchilla's law; so it is with
    ``D <= U_D`` when ``N <= N_opt(U_D)`` or ``excess_params=False``. The paper's
    fit, on about 400 runs: ``R*_D = 15.4``, ``R*_N = 5.3``.
    """
    rstar = {"constraint": positive, "prior": RSTAR_PRIOR, "grid": (5.0, 15.0)}
    params = (*SIZE_PARAMS, Param("rstar_tokens", **rstar))
    if excess_params:
        params += (Param("rstar_params", **rstar),)
    return Law(
        name="data-constrained",
        params=params,
        log_loss=_make_log_loss(excess_params),
        needs=frozenset({"params", "tokens", "unique"}),
        formula="L = E + A / N'^alpha + B / D'^beta, D' = U + U R*_D (1 - exp(-(D/U - 1) / R*_D))"
        + (", N' likewise with U_N = min(N_opt(U), N), R*_N" if excess_params else ""),
        reference="Muennighoff et al. 2023, Scaling Data-Constrained Language Models",
        options={"excess_params": excess_params},
    )
