"""The law library: each law is parameter declarations plus a pure ``jax.numpy`` formula.

``get(name, **options)`` builds a law by name; ``register(law)`` adds a user's own law so that fits,
the CLI and saved fits can find it by name.
"""

from functools import cache
from typing import Callable

from scalemix.errors import FitError
from scalemix.laws.base import Constraint, Inputs, Law, Layout, Param, interval, logsumexp_terms, positive, real, safe_power, unit
from scalemix.laws.chinchilla import chinchilla, compute_optimal
from scalemix.laws.family import multilingual_family
from scalemix.laws.kaplan import kaplan
from scalemix.laws.linear import linear_mixing
from scalemix.laws.mixing import mixing
from scalemix.laws.mixture import mixture_additive, mixture_joint
from scalemix.laws.multilingual import effective_fraction, effective_params, multilingual, multilingual_per_weight
from scalemix.laws.power import power
from scalemix.laws.repetition import data_constrained, optimal_params, saturated
from scalemix.laws.transfer import transfer, transfer_matrix

_REGISTRY: dict[str, Callable[..., Law]] = {
    "power": power,
    "chinchilla": chinchilla,
    "kaplan": kaplan,
    "multilingual": multilingual,
    "multilingual-per-weight": multilingual_per_weight,
    "mixing": mixing,
    "linear-mixing": linear_mixing,
    "multilingual-family": multilingual_family,
    "mixture-additive": mixture_additive,
    "mixture-joint": mixture_joint,
    "data-constrained": data_constrained,
    "transfer": transfer,
}


def names() -> list[str]:
    """Registered law names."""
    return list(_REGISTRY)


def get(name: str, **options) -> Law:
    """The law registered as ``name``, built with ``options`` (e.g. ``get("multilingual", f="linear")``)."""
    return _build(name, tuple(sorted(options.items())))


@cache
def _build(name: str, options: tuple) -> Law:
    if name not in _REGISTRY:
        raise FitError(f"unknown law {name!r}; known laws: {', '.join(_REGISTRY)} (or register your own with scalemix.laws.register)")
    try:
        return _REGISTRY[name](**dict(options))
    except (TypeError, ValueError) as error:
        raise FitError(f"law {name!r} cannot be built with options {dict(options)}: {error}") from None


def register(law: Law) -> Law:
    """Register a user-defined law under ``law.name`` (its ``options`` must be empty); returns it."""
    if law.options:
        raise FitError(f"a registered law is rebuilt without options; law {law.name!r} has {dict(law.options)}")
    _REGISTRY[law.name] = lambda: law
    _build.cache_clear()
    return law


__all__ = [
    "Constraint", "Inputs", "Law", "Layout", "Param", "chinchilla", "compute_optimal", "data_constrained", "effective_fraction",
    "effective_params", "get", "interval", "linear_mixing", "logsumexp_terms", "mixing", "mixture_additive", "mixture_joint",
    "multilingual", "multilingual_family", "multilingual_per_weight", "names", "optimal_params", "positive", "power",
    "real", "register", "safe_power", "saturated", "transfer", "transfer_matrix", "unit",
]
