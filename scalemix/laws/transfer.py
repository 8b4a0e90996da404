"""Cross-lingual transfer as effective data (ATLAS, Longpre et al. 2025), with repetition (Muennighoff et al. 2023)."""

import jax.numpy as jnp

from scalemix.laws.base import Inputs, Law, Param, interval, logsumexp_terms, per_row, positive
from scalemix.laws.chinchilla import SIZE_PARAMS
from scalemix.laws.repetition import RSTAR_PRIOR, saturated

SIGNED_FLOOR = 1e-6
"""With signed transfer, effective data is floored at this fraction of the run's tokens: a target whose
other languages interfere more than its own data helps has learned (almost) nothing from the mixture."""


def transfer_matrix(theta, own_domain):
    """``tau'[rows, domains]``: each row's transfer weights with its own language's entry set to 1
    (``own_domain`` per row; -1 where the target is not a training domain, whose weights stay free)."""
    tau = theta["transfer"]
    own = jnp.arange(tau.shape[-1]) == own_domain[..., None]
    return jnp.where(own, 1.0, tau)


def effective_tokens(theta, x: Inputs, signed: bool = False):
    """``D_i = sum_j tau'_ij S(D p_j; U_j)`` per row (``theta`` read per row; see :func:`transfer`)."""
    per_domain = saturated(x.tokens[..., None] * x.weights, x.unique_by_domain, theta["rstar"][..., None])
    tokens = jnp.sum(transfer_matrix(theta, x.own_domain) * per_domain, axis=-1)
    return jnp.maximum(tokens, SIGNED_FLOOR * x.tokens) if signed else tokens


def _make_log_loss(signed: bool):
    def log_loss(theta, x: Inputs):
        t = per_row(theta, x.target)
        tokens = effective_tokens(t, x, signed)
        return logsumexp_terms((
            jnp.log(t["E"]) * jnp.ones_like(x.params),
            jnp.log(t["A"]) - t["alpha"] * jnp.log(x.params),
            jnp.log(t["B"]) - t["beta"] * jnp.log(tokens),
        ))

    return log_loss


def transfer(signed: bool = False) -> Law:
    """``L_i = E_i + A_i / N^alpha_i + B_i / D_i^beta_i``, ``D_i = S(D p_i; U_i) + sum_{j != i} tau_ij S(D p_j; U_j)``.

    The effective-data law of ATLAS (Longpre et al., "ATLAS: Adaptive Transfer Scaling Laws for
    Multilingual Pretraining, Finetuning, and Decoding the Curse of Multilinguality", 2025,
    arXiv:2510.22037): target language ``i`` learns from its own tokens ``D p_i`` (``p`` the
    mixture, column ``w.<lang>``) and from every other language ``j``'s tokens at a transfer weight
    ``tau_ij`` (parameter ``transfer[target, domain]``, its own entry fixed to 1). Repeated data is discounted
    with Muennighoff et al.'s saturation ``S(x; U) = U + U R* (1 - exp(-(x/U - 1)/R*))`` for ``x > U``
    unique tokens (columns ``unique.<lang>``; :func:`~scalemix.laws.repetition.saturated`), with one
    ``R*_i`` (``rstar``) per target; languages without a ``unique.<lang>`` value are never repeated.
    A target that is not a training language (no ``w.<target>``) learns only through its ``transfer`` row.

    ``tau_ij > 0`` by default (log-normal prior, median 0.14); ``signed=True`` lets a language interfere
    (``tau_ij`` in (-1, 1), effective data floored at :data:`SIGNED_FLOOR` times ``D``). Fitted by NUTS
    with ``shrink_domains``, each target's ``transfer`` row gets a learned prior scale (a hierarchical prior).

    How it relates to Fernandes et al.'s ``multilingual`` law: there, pair ``i``'s loss depends on the
    mixture only through its own weight, as effective *parameters* ``f_i(p_i) N``, so every other pair
    counts alike whatever it is; here the mixture acts through effective *data*, and each other language
    has its own weight ``tau_ij``. With one other language, ``f``'s constant transfer (``f="linear"``:
    ``f(p) = c0 + (1 - c0) p``) is the parameter-side analogue of ``tau`` (``D_i = D (p + tau (1 - p))``).
    """
    tau = Param("transfer", dims=("target", "domain"), constraint=interval(-1.0, 1.0), prior=(0.0, 1.0), grid=(0.1,)) if signed \
        else Param("transfer", dims=("target", "domain"), constraint=positive, prior=(-2.0, 1.5), grid=(0.1,))
    return Law(
        name="transfer",
        params=(*SIZE_PARAMS, Param("rstar", constraint=positive, prior=RSTAR_PRIOR, grid=(15.0,)), tau),
        log_loss=_make_log_loss(signed),
        needs=frozenset({"params", "tokens", "weights", "unique_by_domain", "own_domain"}),
        formula="L_i = E_i + A_i / N^alpha_i + B_i / D_i^beta_i, D_i = sum_j tau_ij S(D p_j; U_j), tau_ii = 1",
        reference="Longpre et al. 2025, ATLAS: Adaptive Transfer Scaling Laws for Multilingual Pretraining",
        options={"signed": signed},
        random_starts=16,
    )
