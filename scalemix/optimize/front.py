"""Trade-off (Pareto) fronts between targets, with credible bands from the fit's draws.

Each point of the front minimises a weighted mean of the targets' posterior expected losses,
``w(lambda) = argmin_w E_s[sum_t lambda_t L_t(theta_s, w)]``, for target weightings ``lambda`` on a
lattice of the simplex (kept off its faces, where a target would be ignored). The bands are the
draws' quantiles of each target's loss at ``w(lambda)``: ``Fit.predict`` on the front's mixtures.
For two language pairs trained on each other (``w.a = p``, ``w.b = 1 - p``) this traces the curve of
Fernandes et al. 2023, Figure 7, as ``p`` moves; pass several ``params`` for one front per model size.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from scalemix import intervals
from scalemix._x64 import float64
from scalemix.errors import OptimizeError
from scalemix.design import Scale
from scalemix.optimize.objective import Objective
from scalemix.optimize.optimal import bind, check_scale, check_steps, expected_fun
from scalemix.optimize.solver import STEPS, Region, solve


def front(
    fit,
    targets: Sequence[str],
    *,
    params: float | Sequence[float] | None = None,
    tokens: float | Sequence[float] | None = None,
    points: int = 11,
    steps: int = STEPS,
    levels: Sequence[float] = (0.9,),
    **constraints,
) -> pl.DataFrame:
    """The Pareto front between ``targets`` (two or more), at each model size in ``params``.

    ``points`` weightings per edge of the target simplex (``points`` in all for two targets);
    ``params``/``tokens`` are one value or one per front (broadcast against each other);
    ``constraints`` as for :func:`scalemix.optimize.optimize`. Returns one row per (front point, target):
    ``point``, ``params``, ``tokens``, ``lambda.<target>``, ``w.<domain>``, ``target`` and
    ``Fit.predict``'s ``mean``, ``median``, ``lo<L>``/``hi<L>`` (credible band) and predictive
    ``pred_lo<L>``/``pred_hi<L>``. Every size and budget is checked (:func:`~scalemix.optimize.optimal.check_scale`).
    """
    targets = list(dict.fromkeys(targets))
    if len(targets) < 2:
        raise OptimizeError(f"a front needs two or more targets (--targets a,b); got {targets}")
    levels = intervals.check(levels)
    check_steps(steps)
    for name, given in (("params", params), ("tokens", tokens)):
        if given is not None:
            check_scale(name, given)
    problem = bind(fit, _first(params), _first(tokens), "mean", {t: 1.0 for t in targets}, **constraints)
    sizes, budgets = _scales(problem.scale, params, tokens)
    lambdas = _lattice(len(targets), points)
    weights = np.zeros((len(lambdas), len(fit.targets)))
    weights[:, [fit.targets.index(t) for t in targets]] = lambdas
    scale_rows = np.repeat(np.arange(sizes.size), len(lambdas))
    lambda_rows = np.tile(np.arange(len(lambdas)), sizes.size)
    size_values, budget_values = sizes[scale_rows], budgets[scale_rows]
    with float64():
        arrays = problem.arrays()
        scales = Scale(jnp.asarray(size_values), jnp.asarray(budget_values))
        ceilings = jnp.broadcast_to(arrays.objective.ceilings, (len(lambda_rows), len(fit.targets)))
        objectives = Objective(jnp.asarray(weights[lambda_rows]), ceilings)
        mixtures = np.asarray(_front_optima(fit.law, steps, arrays.draws, scales, arrays.own, objectives, arrays.region))
    query = pl.DataFrame(
        {
            "point": lambda_rows,
            "params": size_values,
            "tokens": budget_values,
            **{f"lambda.{t}": lambdas[lambda_rows, k] for k, t in enumerate(targets)},
            **{f"w.{d}": mixtures[:, k] for k, d in enumerate(problem.domains)},
            "target": [targets] * len(lambda_rows),
        }
    ).explode("target")
    return fit.predict(query, levels=levels)


def _lattice(count: int, points: int) -> np.ndarray:
    """Weightings ``(k + 1/2) / (m + count/2)`` over integer ``k`` summing to ``m = points - 1``: ``[n, count]``."""
    if points < 2:
        raise OptimizeError(f"a front needs points >= 2; got {points}")
    m = points - 1
    slots = m + count - 1  # stars and bars: choose where the count - 1 bars go among the slots
    combos = [np.diff((-1, *bars, slots)) - 1 for bars in itertools.combinations(range(slots), count - 1)]
    return (np.array(combos, dtype=float) + 0.5) / (m + count / 2)


def _scales(bound: Scale, params, tokens) -> tuple[np.ndarray, np.ndarray]:
    """The sizes and budgets of the fronts: ``params`` and ``tokens`` (the ``bound`` problem's where not given)
    broadcast against each other."""
    sizes = np.atleast_1d(bound.params if params is None else params).astype(float)
    budgets = np.atleast_1d(bound.tokens if tokens is None else tokens).astype(float)
    if sizes.size != budgets.size and 1 not in (sizes.size, budgets.size):
        raise OptimizeError(f"give one token budget or one per model size (--tokens); got {sizes.size} sizes and "
                            f"{budgets.size} budgets")
    return np.broadcast_arrays(sizes, budgets)


def _first(value):
    """The first of one value or several (``None`` stays ``None``): the scale checked against the law."""
    return None if value is None else float(np.atleast_1d(value)[0])


@partial(jax.jit, static_argnames=("law", "steps"))
def _front_optima(law, steps, draws, scales, own, objectives, region: Region):
    def one(scale, objective):
        return solve(expected_fun(law, "mean", draws, scale, own, objective), region, steps)

    return jax.vmap(one)(scales, objectives)
