"""The joint multilingual law of Fernandes et al. (ICML 2023): mixture weight as effective parameters."""

import jax.numpy as jnp

from scalemix.laws.base import Inputs, Law, Param, per_row, positive, unit
from scalemix.laws.power import log_power_law, power_params

_F_FORMS = ("power", "linear", "proportional")


def effective_fraction(theta, p, f: str = "power"):
    """Effective-parameter fraction ``f_i(p)`` for weight ``p`` (arrays broadcast against ``p``).

    ``power``: ``f(p) = p + c1 p^c2 (1 - p)^c3`` (Fernandes et al. 2023, eq. 6);
    ``linear``: ``f(p) = c0 + (1 - c0) p`` (a constant transfer ``c0`` plus the pair's own share);
    ``proportional``: ``f(p) = p`` (mixing is only a share of capacity, the null model).
    """
    p = jnp.asarray(p)
    if f == "power":
        inside = (p > 0) & (p < 1)  # the bump is 0 at p = 0 and p = 1; keep its gradient finite there
        q = jnp.where(inside, p, 0.5)
        bump = theta["c1"] * jnp.exp(theta["c2"] * jnp.log(q) + theta["c3"] * jnp.log1p(-q))
        return p + jnp.where(inside, bump, 0.0)
    if f == "linear":
        return theta["c0"] + (1.0 - theta["c0"]) * p
    return p


def _make_log_loss(f):
    def log_loss(theta, x: Inputs):
        t = per_row(theta, x.target)
        log_effective = jnp.log(effective_fraction(t, x.own_weight, f)) + jnp.log(x.params)
        return log_power_law(t["beta"], t["alpha"], t["Linf"], log_effective)

    return log_loss


def _own_weight_positive(x: Inputs):
    return x.own_weight > 0


def _power_params(beta_dims=("target",)):
    """``beta, alpha, Linf`` of both Fernandes laws. Their floor prior, ``log Linf ~ N(0, 1)``, is centred
    lower than the power law's ``N(0.5, 1)``: both are kept as first declared, so that fits reproduce."""
    return power_params(beta_grid=(1.0, 148.4, 22026.0), linf_prior=(0.0, 1.0), linf_grid=(0.5, 1.5), beta_dims=beta_dims)


_F_PARAMS = {
    "power": (
        Param("c1", constraint=positive, prior=(-1.0, 1.5), grid=(0.1, 1.0)),
        Param("c2", constraint=positive, prior=(0.0, 1.0), grid=(0.5, 1.5)),
        Param("c3", constraint=positive, prior=(0.0, 1.0), grid=(0.5, 1.5)),
    ),
    "linear": (Param("c0", constraint=unit, prior=(-2.0, 1.5), grid=(0.05, 0.3)),),
    "proportional": (),
}


def multilingual(f: str = "power") -> Law:
    """``L_i(N, p) = beta_i * (f_i(p_i) N)^-alpha_i + Linf_i`` for each target pair ``i``.

    Fernandes, Ghorbani, Garcia, Freitag, Firat. "Scaling Laws for Multilingual Neural Machine
    Translation", ICML 2023 (arXiv:2302.09650). ``p_i`` is the training weight of the domain named like
    the target (column ``w.<target>``); the weight changes only the multiplicative factor ``f_i(p_i)``
    (the *effective fraction* of parameters), while ``alpha_i`` and ``Linf_i`` are shared across
    weightings. ``f`` picks the form of ``f_i`` (see :func:`effective_fraction`). Rows with
    ``p_i = 0`` (zero-shot) are outside the law unless ``f="linear"``, and are set aside at fit time.
    """
    if f not in _F_FORMS:
        raise ValueError(f"unknown effective-fraction form f={f!r}; choose one of {', '.join(_F_FORMS)}")
    return Law(
        name="multilingual",
        params=_power_params() + _F_PARAMS[f],
        log_loss=_make_log_loss(f),
        needs=frozenset({"params", "own_weight"}),
        formula="L_i = beta_i * (f_i(p_i) * N)^-alpha_i + Linf_i, f_i(p) = "
        + {"power": "p + c1 p^c2 (1-p)^c3", "linear": "c0 + (1 - c0) p", "proportional": "p"}[f],
        reference="Fernandes et al. 2023, Scaling Laws for Multilingual Neural Machine Translation",
        options={"f": f},
        valid=None if f == "linear" else _own_weight_positive,
        invalid_reason="the target's own weight p is 0 (zero-shot): f(0) = 0 puts the loss at infinity",
    )


def _per_weight_log_loss(theta, x: Inputs):
    i = x.target
    return log_power_law(theta["beta"][i, x.weighting], theta["alpha"][i], theta["Linf"][i], jnp.log(x.params))


def multilingual_per_weight() -> Law:
    """``L_i(N; p) = beta_{i,p} * N^-alpha_i + Linf_i``: a beta per (target, weighting).

    Fernandes et al. 2023, eq. 7: fitting each weighting with its own multiplicative constant while
    ``alpha_i`` and ``Linf_i`` stay shared is how they show that the weight moves only ``beta``.
    The weighting coordinate is the set of distinct ``p_i`` values in the runs.
    """
    return Law(
        name="multilingual-per-weight",
        params=_power_params(beta_dims=("target", "weighting")),
        log_loss=_per_weight_log_loss,
        needs=frozenset({"params", "own_weight"}),
        formula="L_i = beta_{i,p} * N^-alpha_i + Linf_i",
        reference="Fernandes et al. 2023, Scaling Laws for Multilingual Neural Machine Translation (eq. 7)",
        valid=_own_weight_positive,
        invalid_reason="the target's own weight p is 0 (zero-shot)",
    )


def effective_params(theta, params, p, f: str = "power"):
    """Effective number of parameters ``N_eff = f_i(p) N`` (Fernandes et al. 2023)."""
    return effective_fraction(theta, p, f) * jnp.asarray(params)
