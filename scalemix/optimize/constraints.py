"""Constraints on a training mixture: per-domain bounds, repetition caps, fixed zeros, a KL prior.

The feasible set is ``{w : sum_d w_d = 1, lower_d <= w_d <= upper_d}``. A repetition cap is an upper
bound from the data one has: training on ``D`` tokens with at most ``max_epochs`` passes over the
``available_d`` tokens of domain ``d`` needs ``w_d * D <= available_d * max_epochs`` (Muennighoff et
al. 2023, "Scaling Data-Constrained Language Models", motivate capping repetition at ~4 epochs).

:func:`project` is the Bregman (KL) projection onto that set, the projection step of entropic mirror
descent: ``w = clip(c * y, lower, upper)`` with the scalar ``c`` that makes ``w`` sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from scalemix.errors import OptimizeError
from scalemix.runs import WEIGHT_SUM_TOLERANCE

_TINY = 1e-300


@dataclass(frozen=True)
class Constraints:
    """Bounds ``lower[K] <= w <= upper[K]`` on the simplex over ``domains``, and an optional penalty
    ``kl * KL(w || prior)`` toward a prior mixture (``prior`` is ``None`` when ``kl == 0``)."""

    domains: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    prior: np.ndarray | None = None
    kl: float = 0.0


def inventory(domains: Sequence[str], available_tokens: Mapping[str, float]) -> np.ndarray:
    """Tokens on disk per domain, ``inf`` for the domains ``available_tokens`` omits: ``[K]``."""
    return _vector(domains, available_tokens, np.inf, "--cap-from")


def build(
    domains: Sequence[str],
    *,
    minimum: Mapping[str, float] | None = None,
    maximum: Mapping[str, float] | None = None,
    zero: Sequence[str] = (),
    available_tokens: Mapping[str, float] | None = None,
    max_epochs: float = 1.0,
    tokens: float | None = None,
    kl_to: Mapping[str, float] | None = None,
    kl: float = 0.0,
) -> Constraints:
    """Check and combine the user's constraints into :class:`Constraints`.

    ``minimum``/``maximum`` map domain -> bound; ``zero`` lists domains fixed to 0; ``available_tokens``
    (domain -> tokens on disk) with ``max_epochs`` (``inf``: no cap) and the training budget ``tokens`` adds
    the caps ``w_d <= available_d * max_epochs / tokens`` (domains it omits are uncapped); ``kl_to`` (domain ->
    weight, renormalised) with strength ``kl`` adds ``kl * sum_d w_d log(w_d / prior_d)`` to the
    objective. Raises :class:`OptimizeError` naming unknown domains, bounds outside [0, 1], a ``max_epochs``
    that is not > 0, a ``kl`` that is not a finite number >= 0, or the bounds that cannot all hold.
    """
    domains = tuple(domains)
    lower = _vector(domains, minimum or {}, 0.0, "--min", most=1.0)
    upper = _vector(domains, maximum or {}, 1.0, "--max", most=1.0)
    upper = np.where(np.isin(domains, list(_known(domains, zero, "zero"))), 0.0, upper)
    if available_tokens:
        if not tokens:
            raise OptimizeError("repetition caps need the training budget: give tokens (--tokens D)")
        if not max_epochs > 0:
            raise OptimizeError(f"max_epochs={max_epochs:g} is not a number > 0; allow one pass or more (--max-epochs 1)")
        caps = inventory(domains, available_tokens) * max_epochs / tokens
        upper = np.minimum(upper, caps)
    _check_feasible(domains, lower, upper)
    if not (np.isfinite(kl) and kl >= 0):
        raise OptimizeError(f"kl={kl:g} is not a finite number >= 0; give the KL strength (--kl) as 0 or more")
    prior = None
    if kl:
        if not kl_to:
            raise OptimizeError(f"a KL penalty needs a prior mixture (--kl-to); got kl={kl:g} and none")
        prior = _vector(domains, kl_to, 0.0, "--kl-to")
        missing = [d for d, p, u in zip(domains, prior, upper) if p <= 0 and u > 0]
        if missing:
            raise OptimizeError(
                f"the KL prior gives weight 0 to domain(s) {', '.join(missing[:5])}, which the mixture may use; "
                "give them a positive prior weight or fix them to zero"
            )
        prior = prior / prior.sum()
    return Constraints(domains, lower, upper, prior, float(kl))


def mixture(domains: Sequence[str], weights: Mapping[str, float], what: str = "mixture") -> np.ndarray:
    """A mixture given as domain -> weight (omitted domains 0), checked and renormalised to sum to 1.

    Sums within the run reader's :data:`~scalemix.runs.WEIGHT_SUM_TOLERANCE` of 1 are renormalised (logged
    weights are often rounded); others are refused.
    """
    w = _vector(tuple(domains), weights, 0.0, what)
    if not abs(w.sum() - 1.0) <= WEIGHT_SUM_TOLERANCE:
        raise OptimizeError(f"the {what} must be non-negative weights summing to 1; got sum {w.sum():.4g}, more than "
                            f"{WEIGHT_SUM_TOLERANCE:g} away")
    return w / w.sum()


MAX_PROJECTION_STEPS = 100
"""Iterations of :func:`project`'s safeguarded Newton search at most (it needs a handful)."""


def project(y, lower, upper):
    """KL projection of positive ``y[K]`` onto ``{sum w = 1, lower <= w <= upper}`` (feasible, checked).

    The minimiser of ``KL(w || y)`` over that set is ``w = clip(c y, lower, upper)`` with ``c`` the root of
    ``g(c) = sum_d clip(c y_d, lower_d, upper_d) - 1``, which is piecewise linear and non-decreasing. Newton's
    step on it, ``c = (1 - sum of the clipped bounds) / sum of y over the unclipped domains``, is the active-set
    update of Michelot (1986) and lands on the root (to rounding) once the clipped sets are right; a step that
    leaves the bracket ``[lo, hi]`` (``g(lo) < 0 < g(hi)``) is replaced by its midpoint, so it cannot cycle.
    ``O(K)`` per iteration, a few iterations (``MAX_PROJECTION_STEPS`` at most), jit- and vmap-friendly and
    without a sort, which on a CPU cost more than the rest of a mirror-descent step over 64 domains.
    """
    y = jnp.maximum(y, _TINY)

    def newton(state):
        c, lo, hi, _, steps = state
        w = c * y
        free = (w > lower) & (w < upper)
        clipped = jnp.sum(jnp.where(free, 0.0, jnp.clip(w, lower, upper)))
        slope = jnp.sum(jnp.where(free, y, 0.0))
        excess = clipped + c * slope - 1.0
        lo, hi = jnp.where(excess < 0, c, lo), jnp.where(excess > 0, c, hi)
        step = (1.0 - clipped) / jnp.where(slope > 0, slope, 1.0)
        settled = (excess == 0) | ((slope > 0) & (jnp.abs(step - c) <= 4 * jnp.finfo(c.dtype).eps * c))
        inside = (slope > 0) & (step > lo) & (step < hi)
        following = jnp.where(excess == 0, c, jnp.where(settled | inside, step, 0.5 * (lo + hi)))
        return following, lo, hi, settled, steps + 1

    def going(state):
        return ~state[3] & (state[4] < MAX_PROJECTION_STEPS)

    hi = jnp.max(jnp.where(upper > 0, upper / y, 0.0))  # every domain at its upper bound: sum >= 1 (feasible)
    start = jnp.clip(1.0 / jnp.sum(y), 0.0, hi)
    c, *_ = jax.lax.while_loop(going, newton, (start, jnp.zeros_like(start), hi, jnp.asarray(False), 0))
    return jnp.clip(c * y, lower, upper)


def _known(domains: tuple[str, ...], names, option: str) -> list[str]:
    unknown = [n for n in names if n not in domains]
    if unknown:
        raise OptimizeError(
            f"{option}: domain(s) {', '.join(map(repr, unknown[:5]))} are not in this fit; it knows {', '.join(domains)}"
        )
    return list(names)


def _vector(domains: tuple[str, ...], values: Mapping[str, float], default: float, option: str,
            most: float = np.inf) -> np.ndarray:
    """``values`` (domain -> number, known domains only, each in ``[0, most]``) in ``domains`` order, ``default``
    where omitted."""
    values = {k.removeprefix("w."): float(v) for k, v in values.items()}
    _known(domains, values, option)
    bad = [f"{k}={v:g}" for k, v in values.items() if not 0 <= v <= most]
    if bad:
        allowed = "weights in [0, 1]" if most == 1 else "numbers >= 0"
        raise OptimizeError(f"{option}: the values must be {allowed}; got {', '.join(bad[:5])}")
    return np.array([values.get(d, default) for d in domains], dtype=float)


def _check_feasible(domains, lower, upper) -> None:
    crossed = [f"{d} (min {lo:g} > max {hi:g})" for d, lo, hi in zip(domains, lower, upper) if lo > hi]
    if crossed:
        raise OptimizeError(f"infeasible bounds: {', '.join(crossed[:5])}; lower each minimum or raise each maximum")
    if lower.sum() > 1.0 + 1e-12:
        named = ", ".join(f"{d}>={lo:g}" for d, lo in zip(domains, lower) if lo > 0)
        raise OptimizeError(f"infeasible bounds: the minimums sum to {lower.sum():.4g} > 1 ({named}); lower some of them")
    if upper.sum() < 1.0 - 1e-12:
        named = ", ".join(f"{d}<={hi:.4g}" for d, hi in zip(domains, upper) if hi < 1)
        raise OptimizeError(
            f"infeasible bounds: the maximums (caps, zeros) sum to {upper.sum():.4g} < 1 ({named}); "
            "raise a cap (more data or --max-epochs), free a domain, or train on fewer tokens"
        )
