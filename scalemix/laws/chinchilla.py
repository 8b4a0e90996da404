"""Parametric loss in parameters and tokens (Hoffmann et al., 2022, approach 3)."""

import jax.numpy as jnp
import numpy as np

from scalemix.laws.base import Inputs, Law, Param, logsumexp_terms, per_row, positive, real

_A_GRID = tuple(float(np.exp(a)) for a in (0.0, 5.0, 10.0, 15.0, 20.0, 25.0))
_E_GRID = tuple(float(np.exp(e)) for e in (-1.0, -0.5, 0.0, 0.5, 1.0))
_EXPONENT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0)


def _size_params(e_grid, scale_grid, exponent: dict) -> tuple[Param, ...]:
    """``(E, A, B, alpha, beta)``, with ``log E ~ N(0.5, 1)``, ``log A ~ N(6, 5)``, ``log B ~ N(7, 5)`` in
    every Chinchilla-form law; the start grids and the exponents' ``constraint``, ``prior`` and ``grid``
    (``exponent``, shared by alpha and beta) are the law's own."""
    return (
        Param("E", constraint=positive, prior=(0.5, 1.0), grid=e_grid),
        Param("A", constraint=positive, prior=(6.0, 5.0), grid=scale_grid),
        Param("B", constraint=positive, prior=(7.0, 5.0), grid=scale_grid),
        Param("alpha", **exponent),
        Param("beta", **exponent),
    )


SIZE_PARAMS = _size_params(
    e_grid=(1.0, 2.0),
    scale_grid=(1.0, 148.4, 22026.0),
    exponent={"constraint": positive, "prior": (-1.0, 1.0), "grid": (0.1, 0.4)},
)
"""Chinchilla's terms as the laws that extend it declare them: positive exponents and a coarse start grid
(their own parameters multiply the starts, so Hoffmann's 4,500-point grid would be too many)."""


def log_terms(t, x: Inputs):
    """``(log E, log A - alpha log N, log B - beta log D)`` per row (``t`` already read per row): the
    terms whose :func:`~scalemix.laws.base.logsumexp_terms` is Chinchilla's log loss, shared by the laws
    that extend it."""
    return (
        jnp.log(t["E"]) * jnp.ones_like(x.params),
        jnp.log(t["A"]) - t["alpha"] * jnp.log(x.params),
        jnp.log(t["B"]) - t["beta"] * jnp.log(x.tokens),
    )


def _log_loss(theta, x: Inputs):
    return logsumexp_terms(log_terms(per_row(theta, x.target), x))


def chinchilla() -> Law:
    """``L = E + A / N^alpha + B / D^beta`` per target.

    Hoffmann et al. "Training Compute-Optimal Large Language Models", NeurIPS 2022 (arXiv:2203.15556),
    approach 3; predicted as ``logsumexp(a - alpha log N, b - beta log D, e)`` with ``A = exp(a)``,
    ``B = exp(b)``, ``E = exp(e)``. The multi-start grid is Hoffmann's 4,500 points: alpha, beta in
    {0, .5, ..., 2}, e in {-1, -.5, ..., 1}, a, b in {0, 5, ..., 25}. The exponents are unconstrained
    reals, as in Hoffmann's and Besiroglu et al.'s (2024) fits.
    """
    return Law(
        name="chinchilla",
        params=_size_params(
            e_grid=_E_GRID,
            scale_grid=_A_GRID,
            exponent={"constraint": real, "prior": (0.4, 0.5), "grid": _EXPONENT_GRID},
        ),
        log_loss=_log_loss,
        needs=frozenset({"params", "tokens"}),
        formula="L = E + A / N^alpha + B / D^beta",
        reference="Hoffmann et al. 2022, Training Compute-Optimal Large Language Models (approach 3)",
    )


def compute_optimal(theta, flops):
    """Compute-optimal allocation of a FLOP budget ``C = 6 N D`` under the Chinchilla law.

    Minimising ``A N^-alpha + B D^-beta`` subject to ``6 N D = C`` gives (Hoffmann et al. 2022, eq. 4)
    ``N* = G (C/6)^(beta/(alpha+beta))``, ``D* = G^-1 (C/6)^(alpha/(alpha+beta))`` with
    ``G = (alpha A / (beta B))^(1/(alpha+beta))``. ``theta`` holds arrays of any matching shape (one
    target, or draws), so this vectorises over draws. Returns ``(N*, D*, D*/N*)``.
    """
    alpha, beta = theta["alpha"], theta["beta"]
    g = (alpha * theta["A"] / (beta * theta["B"])) ** (1.0 / (alpha + beta))
    budget = jnp.asarray(flops) / 6.0
    params = g * budget ** (beta / (alpha + beta))
    tokens = budget / params
    return params, tokens, tokens / params
