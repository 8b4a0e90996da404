"""What is minimised: a fit's predicted per-target losses at a mixture, reduced to one number.

``losses(law, theta, w, scale, own)`` evaluates the law for one parameter draw ``theta`` at mixture
``w[K]`` and model size/token budget ``scale = (N, D)`` for every target of the fit: ``[T]`` losses in
the fit's unit. An :class:`Objective` reduces them:

- ``mean``: ``sum_t a_t L_t`` with target weights ``a`` (uniform by default; validation shares; or
  one-hot to minimise one target),
- ``max``: ``max_{t: a_t > 0} L_t`` (worst case),

and adds ceilings ``L_t <= tau_t`` (``tau_t = inf`` where none), which the solver enforces with a
Lagrange multiplier per target.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np

from scalemix.design import Scale, mixture_inputs
from scalemix.errors import OptimizeError
from scalemix.laws import Law

Array = Any
KINDS = ("mean", "max")


class Objective(NamedTuple):
    """Target weights ``a[T]`` (non-negative, summing to 1) and ceilings ``tau[T]`` (``inf`` = none)."""

    weights: Array
    ceilings: Array


def losses(law: Law, theta: Mapping[str, Array], w: Array, scale: Scale, own: Array) -> Array:
    """Predicted loss of every target for draw ``theta`` at mixture ``w[K]``: ``[T]``.

    ``own[T]`` is the domain index of each target's own weight (for laws that read ``own_weight``);
    the inputs come from :func:`scalemix.design.mixture_inputs`.
    """
    return jnp.exp(law.log_loss(theta, mixture_inputs(law, w, scale, own)))


def value(kind: str, objective: Objective, loss: Array) -> Array:
    """The objective of per-target losses ``loss[T]`` (without the ceilings)."""
    if kind == "max":
        return jnp.max(jnp.where(objective.weights > 0, loss, -jnp.inf))
    return jnp.dot(objective.weights, loss)


def violation(objective: Objective, loss: Array) -> Array:
    """``L_t - tau_t`` where a ceiling is set, 0 elsewhere: ``[T]``, feasible where all <= 0."""
    finite = jnp.isfinite(objective.ceilings)
    return jnp.where(finite, loss - jnp.where(finite, objective.ceilings, 0.0), 0.0)


def build(
    targets: Sequence[str],
    objective: str = "mean",
    target_weights: Mapping[str, float] | None = None,
    ceilings: Mapping[str, float] | None = None,
) -> tuple[str, Objective]:
    """``(kind, Objective)`` from the user's words.

    ``objective`` is ``mean``, ``max`` or a target name (that target alone, usually with ``ceilings``
    on others); ``target_weights`` (target -> weight, renormalised) picks and weights the targets of
    ``mean`` and ``max`` (all targets, uniform, by default).
    """
    targets = tuple(targets)
    if objective in KINDS:
        kind = objective
        chosen = dict(target_weights) if target_weights else {t: 1.0 for t in targets}
    else:
        kind = "mean"
        if target_weights:
            raise OptimizeError(f"target weights apply to the mean or max objectives, not to target {objective!r}")
        chosen = {objective: 1.0}
    weights = _per_target(targets, chosen, 0.0, "objective")
    if not (np.all(np.isfinite(weights)) and np.all(weights >= 0) and weights.sum() > 0):
        raise OptimizeError(f"target weights must be finite numbers >= 0 with a positive sum; got {dict(chosen)}")
    bad = {t: tau for t, tau in (ceilings or {}).items() if not (np.isfinite(tau) and tau > 0)}
    if bad:
        raise OptimizeError(f"a ceiling is a loss, a finite number > 0; got {', '.join(f'{t}={v:g}' for t, v in bad.items())} "
                            "(--ceiling TARGET=LOSS)")
    tau = _per_target(targets, ceilings or {}, np.inf, "ceiling")
    return kind, Objective(weights / weights.sum(), tau)


def own_domains(law: Law, targets: Sequence[str], domains: Sequence[str]) -> np.ndarray:
    """Index of the domain named like each target (``-1`` where none); checked when the law reads it."""
    own = np.array([domains.index(t) if t in domains else -1 for t in targets], dtype=np.int32)
    if "own_weight" in law.needs and np.any(own < 0):
        lacking = [t for t, i in zip(targets, own) if i < 0]
        raise OptimizeError(
            f"law {law.name!r} reads each target's own weight, but target(s) {', '.join(lacking[:5])} "
            f"have no domain of that name among {', '.join(domains)}"
        )
    return own


def _per_target(targets: tuple[str, ...], values: Mapping[str, float], default: float, what: str) -> np.ndarray:
    unknown = [t for t in values if t not in targets]
    if unknown:
        raise OptimizeError(
            f"{what}: target(s) {', '.join(map(repr, unknown[:5]))} are not in this fit; it knows {', '.join(targets)}"
        )
    return np.array([float(values.get(t, default)) for t in targets], dtype=float)
