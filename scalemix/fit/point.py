"""Point fits (multi-start robust least squares) and bootstraps over runs, as :class:`~scalemix.Fit`.

A point fit runs the vmapped Levenberg-Marquardt/IRLS solver (:mod:`scalemix.fit.lm`) from every
start of the law's grid (Hoffmann et al.'s 4,500 for Chinchilla) in float64 and keeps the best; it
reports how many starts reached that basin. A bootstrap resamples runs with replacement B times and
refits every resample from the point optimum, all in one vmapped program: B draws.
"""

from __future__ import annotations

import math
import numbers
import sys
from typing import NamedTuple

import jax
import numpy as np
from tqdm.auto import tqdm

from scalemix import diagnostics as checks
from scalemix._x64 import float64
from scalemix.errors import FitError
from scalemix.extrapolation import FittedRange
from scalemix.fit.problem import Problem, build
from scalemix.fit.provenance import provenance
from scalemix.fitresult import Fit


def fit_point(
    table,
    law,
    *,
    delta: float = 1e-3,
    max_iter: int = 200,
    seed: int = 0,
    random_starts: int | None = None,
    screen_iter: int = 5,
    refine: int | None = None,
    shrinkage: float = 0.0,
    progress: bool = False,
) -> Fit:
    """Best of a multi-start Huber fit of ``law`` to ``table`` (a validated run table). One draw.

    Every start runs ``screen_iter`` iterations; the ``refine`` best per group (by default the law's
    :attr:`~scalemix.laws.Law.refine`) then run to convergence (``max_iter``). ``diagnostics["starts_in_best_basin"]`` counts starts that ended within
    :data:`~scalemix.diagnostics.BASIN_RTOL` of the best objective (a lower bound: screened-out starts
    count at their screening objective); ``diagnostics["warnings"]`` says when the best start did not
    converge, found the optimum alone, or ran off to the edge of a parameter's range. ``shrinkage`` > 0
    adds the ridge penalty of :func:`~scalemix.fit.problem.shrinkage_penalty` on the per-domain
    coefficients (for many domains and few runs). ``progress=True`` shows the search's stages on stderr
    once it has run :data:`PROGRESS_DELAY` seconds. Raises
    :class:`~scalemix.errors.FitError` for settings no fit can run with (:func:`check_settings`).
    """
    check_settings(delta=delta, seed=seed, max_iter=max_iter, screen_iter=screen_iter, refine=refine,
                   random_starts=random_starts, shrinkage=shrinkage)
    with float64():
        problem = build(table, law, shrinkage=shrinkage)
        search = multistart(problem, problem.mask, delta=delta, max_iter=max_iter, seed=seed,
                            random_starts=random_starts, screen_iter=screen_iter, refine=refine, progress=progress)
        objective, z, converged, grad_norm, best = search
        groups = len(problem.groups)
        draws = problem.assemble(z[np.arange(groups), best][None])
        noise = _noise_scale(problem, draws)[None]  # in float64: a coefficient that ran off overflows float32
        ran_off = _ran_off_warnings(problem.law.layout(problem.coords), draws)
    diagnostics = _diagnostics(problem, objective, converged, grad_norm, best)
    diagnostics["warnings"] = checks.point_warnings(diagnostics["groups"]) + ran_off
    settings = {"delta": delta, "max_iter": max_iter, "seed": seed, "starts": int(objective.shape[1]),
                "screen_iter": screen_iter, "refine": problem.law.refine if refine is None else refine,
                "shrinkage": shrinkage}
    return Fit(
        law=problem.law,
        coords=problem.coords,
        draws=draws,
        method="point",
        noise=noise,
        diagnostics=diagnostics,
        provenance=provenance(table, problem.law, "point", settings),
        set_aside=problem.design.set_aside,
        fitted_range=fitted_range(problem.design.frame, problem.law),
    )


_RATES = ("delta", "learning_rate")
"""Fit settings that are real numbers (a Huber delta, a step size); every other one is a count."""
_MAY_BE_ZERO = ("seed", "warmup")
"""Counts that may be 0 (a seed; NUTS without adaptation, e.g. started from an adapted posterior)."""
_STRENGTHS = ("shrinkage",)
"""Fit settings that are real numbers >= 0 (0 turns the term off)."""


def check_settings(**settings: float | None) -> None:
    """Refuse fit settings no fit can run with, before any fitting: :data:`_RATES` must be finite numbers
    > 0, :data:`_STRENGTHS` finite numbers >= 0, :data:`_MAY_BE_ZERO` whole numbers >= 0 and every other setting (iterations, starts, resamples, chains, draws,
    steps) a whole number >= 1; ``None`` leaves a default. Raises :class:`~scalemix.errors.FitError` naming
    the setting and its value. The one check of every fit method's settings (point, bootstrap, NUTS, SVI)."""
    for name, value in settings.items():
        if value is None:
            continue
        if name in _RATES:
            rule, ok = "a finite number > 0", isinstance(value, numbers.Real) and math.isfinite(value) and value > 0
        elif name in _STRENGTHS:
            rule, ok = "a finite number >= 0", isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0
        else:
            least = 0 if name in _MAY_BE_ZERO else 1
            rule, ok = f"a whole number >= {least}", isinstance(value, numbers.Integral) and value >= least
        if isinstance(value, bool) or not ok:
            raise FitError(f"{name}={value!r} must be {rule}")


def fitted_range(frame, law) -> FittedRange:
    """The range of the fitted rows ``frame``, with their mixtures for a law that reads the mixture."""
    domains = [c[2:] for c in frame.columns if c.startswith("w.")] if law.reads_mixture else []
    return FittedRange.of(frame, domains)


class Search(NamedTuple):
    """Every start's final ``objective``, ``z``, ``converged`` and ``grad_norm`` (``[groups, starts]``; NaN
    gradient norms for screened-out starts) and the ``best`` start of each group."""

    objective: np.ndarray
    z: np.ndarray
    converged: np.ndarray
    grad_norm: np.ndarray
    best: np.ndarray


SCREEN_ROWS = 512
"""Rows per group that screen and refine the starts of a longer table (:meth:`Problem.thinned`); the
:data:`POLISH` best then run to convergence on every row. Cost grows with rows x starts, so a training-curve
log of 10^5 rows is searched at the cost of 512 and solved exactly from its best few starts."""
POLISH = 4
"""Starts per group that a thinned search finishes on every row."""
PROGRESS_DELAY = 2.0
"""Seconds a search runs before its progress line appears (a fit of a second or two shows none)."""


def multistart(problem: Problem, row_weights, *, delta: float = 1e-3, max_iter: int = 200, seed: int = 0,
               random_starts: int | None = None, screen_iter: int = 5, refine: int | None = None,
               screen_rows: int = SCREEN_ROWS, progress: bool = False) -> Search:
    """The point fit's search on ``problem`` with row weights ``[groups, rows]`` (its mask, or the mask
    times a 0/1 choice of rows, so that fits on subsets of one table reuse one compiled solver): every
    start runs ``screen_iter`` iterations, the ``refine`` best per group then run to convergence. On a
    group of more than ``screen_rows`` rows both stages run on ``screen_rows`` of them (:meth:`Problem.thinned`)
    and the :data:`POLISH` best then run to convergence on all; the best is the best of those, and the other
    starts' objectives are their thinned ones scaled by the best's full-to-thinned ratio. ``progress=True``
    shows the stages on stderr (after :data:`PROGRESS_DELAY` seconds)."""
    refine = problem.law.refine if refine is None else refine
    starts = problem.starts(seed, random_starts)
    groups = len(problem.groups)
    rows = np.arange(groups)[:, None]
    thin, thin_weights = problem.thinned(row_weights, screen_rows)
    stages = 1 + (len(starts[0]) > refine) + (thin is not problem)
    with tqdm(total=stages, desc=f"point fit: {groups} group(s) x {len(starts[0])} starts", unit="stage", file=sys.stderr,
              disable=not progress, delay=PROGRESS_DELAY) as bar:
        return _search(problem, row_weights, thin, thin_weights, starts, rows, delta, max_iter, screen_iter, refine, bar)


def _search(problem, row_weights, thin, thin_weights, starts, rows, delta, max_iter, screen_iter, refine, bar) -> Search:
    """:func:`multistart`'s stages (screen, refine, polish), each ticking the progress ``bar``."""
    bar.set_postfix_str(f"screening on {thin.mask.shape[1]} rows per group")
    screened = _solve(thin, thin_weights, starts, delta, screen_iter if len(starts[0]) > refine else max_iter)
    bar.update()
    objective = np.array(screened.objective)
    z = np.array(screened.z)
    converged = np.array(screened.converged)
    grad_norm = np.array(screened.grad_norm)
    if len(starts[0]) > refine:
        keep = _best(objective, refine)
        bar.set_postfix_str(f"refining the best {refine}")
        refined = _solve(thin, thin_weights, z[rows, keep], delta, max_iter)
        bar.update()
        _put(objective, z, converged, grad_norm, rows, keep, refined)
        grad_norm[~_chosen(objective.shape, rows, keep)] = np.nan
    if thin is problem:
        objective = np.where(np.isfinite(objective), objective, np.inf)
        return Search(objective, z, converged, grad_norm, np.argmin(objective, axis=1))
    finalists = _best(objective, min(POLISH, objective.shape[1]))
    thinned = objective[rows, finalists]
    bar.set_postfix_str(f"finishing the best {finalists.shape[1]} on all {problem.mask.shape[1]} rows per group")
    _put(objective, z, converged, grad_norm, rows, finalists, _solve(problem, row_weights, z[rows, finalists], delta, max_iter))
    bar.update()
    objective = np.where(np.isfinite(objective), objective, np.inf)
    winner = np.argmin(objective[rows, finalists], axis=1)
    # the other starts' thinned objectives, on the scale of the full one (for counting the best basin)
    ratio = objective[rows[:, 0], finalists[rows[:, 0], winner]] / thinned[rows[:, 0], winner]
    others = ~_chosen(objective.shape, rows, finalists)
    objective = np.where(others, objective * np.where(np.isfinite(ratio), ratio, 1.0)[:, None], objective)
    return Search(objective, z, converged, grad_norm, finalists[rows[:, 0], winner])


def _best(objective: np.ndarray, count: int) -> np.ndarray:
    """Indices ``[groups, count]`` of each group's ``count`` lowest finite objectives."""
    return np.argsort(np.where(np.isfinite(objective), objective, np.inf), axis=1)[:, :count]


def _chosen(shape: tuple[int, int], rows: np.ndarray, picked: np.ndarray) -> np.ndarray:
    """Boolean ``[groups, starts]``: the starts ``picked`` per group."""
    chosen = np.zeros(shape, bool)
    chosen[rows, picked] = True
    return chosen


def _put(objective, z, converged, grad_norm, rows, picked, solution) -> None:
    """Write a re-solve of the starts ``picked`` per group into the search's arrays."""
    objective[rows, picked] = np.asarray(solution.objective)
    z[rows, picked] = np.asarray(solution.z)
    converged[rows, picked] = np.asarray(solution.converged)
    grad_norm[rows, picked] = np.asarray(solution.grad_norm)


def _solve(problem: Problem, row_weights, starts, delta, max_iter):
    weights = np.broadcast_to(np.asarray(row_weights)[:, None, :], (*starts.shape[:2], row_weights.shape[1]))
    return problem.solve(starts, weights, delta, max_iter)


def fit_bootstrap(table, law, *, n_boot: int = 200, delta: float = 1e-3, max_iter: int = 200, seed: int = 0,
                  shrinkage: float = 0.0, progress: bool = False) -> Fit:
    """Bootstrap over runs: ``n_boot`` resamples of the run ids (with replacement), each refitted from
    the point optimum (with the point fit's ``shrinkage`` penalty). Returns ``n_boot`` draws; the point
    fit's diagnostics are kept under ``point``. ``progress`` shows the point fit's stages and the resamples'."""
    check_settings(delta=delta, seed=seed, max_iter=max_iter, n_boot=n_boot, shrinkage=shrinkage)
    point = fit_point(table, law, delta=delta, max_iter=max_iter, seed=seed, shrinkage=shrinkage, progress=progress)
    with float64():
        problem = build(table, law, shrinkage=shrinkage)
        z_point = np.stack([np.asarray(problem.layout.pack(theta)) for theta in _group_theta(point, problem)])
        weights = _resample_weights(problem, n_boot, seed)  # [groups, B, rows]
        starts = np.broadcast_to(z_point[:, None, :], (len(problem.groups), n_boot, z_point.shape[-1]))
        with tqdm(total=1, desc=f"bootstrap: {n_boot} resamples", unit="stage", file=sys.stderr, disable=not progress,
                  delay=PROGRESS_DELAY) as bar:
            solution = problem.solve(starts, weights, delta, max_iter)
            jax.block_until_ready(solution)
            bar.update()
        draws = problem.assemble(np.swapaxes(np.asarray(solution.z), 0, 1))  # [B, ...]
    converged = int(np.asarray(solution.converged).all(axis=0).sum())
    diagnostics = {
        "objective": point.diagnostics["objective"],
        "resamples": n_boot,
        "resamples_converged": converged,
        "point": point.diagnostics,
        "warnings": point.diagnostics["warnings"] + checks.bootstrap_warnings(converged, n_boot),
    }
    settings = {"delta": delta, "max_iter": max_iter, "seed": seed, "n_boot": n_boot, "shrinkage": shrinkage}
    return Fit(
        law=problem.law,
        coords=problem.coords,
        draws=draws,
        method="bootstrap",
        noise=np.broadcast_to(point.noise, (n_boot, point.noise.shape[1])).copy(),
        diagnostics=diagnostics,
        provenance=provenance(table, problem.law, "bootstrap", settings),
        set_aside=problem.design.set_aside,
        fitted_range=fitted_range(problem.design.frame, problem.law),
    )


def _group_theta(fit: Fit, problem: Problem) -> list[dict[str, np.ndarray]]:
    """The fit's single draw split into one constrained parameter dict per problem group."""
    theta = {k: v[0] for k, v in fit.draws.items()}
    if len(problem.groups) == 1:
        return [theta]
    return [{k: v[i : i + 1] for k, v in theta.items()} for i in range(len(problem.groups))]


def _resample_weights(problem: Problem, n_boot: int, seed: int) -> np.ndarray:
    """Row weights ``[groups, B, rows]``: how often each row's run is drawn in each resample."""
    run_ids = problem.design.frame["run_id"].to_numpy() if "run_id" in problem.design.frame.columns else np.arange(problem.design.frame.height)
    runs, run_of_row = np.unique(run_ids, return_inverse=True)
    picks = jax.random.randint(jax.random.PRNGKey(seed), (n_boot, runs.size), 0, runs.size)
    counts = np.zeros((n_boot, runs.size))
    np.add.at(counts, (np.arange(n_boot)[:, None], np.asarray(picks)), 1.0)  # [B, runs]: draws of each run
    row_counts = counts[:, run_of_row]  # [B, design rows]
    return np.stack([row_counts[:, problem.row[g]] * problem.mask[g] for g in range(len(problem.groups))])


def _noise_scale(problem: Problem, draws) -> np.ndarray:
    return noise_scale(problem, problem.residuals({k: v[0] for k, v in draws.items()}))


def noise_scale(problem: Problem, residuals: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Robust scale (1.4826 * MAD) of each target's log-loss ``residuals`` (one per design row; only the
    ``rows`` chosen, all by default): ``[targets]``."""
    target = np.asarray(problem.design.inputs.target)
    chosen = np.ones(target.size, bool) if rows is None else rows
    scale = []
    for i in range(len(problem.coords["target"])):
        r = residuals[(target == i) & chosen]
        scale.append(1.4826 * np.median(np.abs(r - np.median(r))) if r.size else np.nan)
    return np.maximum(np.asarray(scale), 1e-6)


def _ran_off_warnings(layout, draws) -> list[str]:
    """The warning naming the parameters that ran off (:func:`scalemix.diagnostics.ran_off_warning`), or none."""
    z = np.asarray(layout.pack({k: v[0] for k, v in draws.items()}))
    loc, scale = layout.prior_loc_scale()
    far = ~np.isfinite(z) | (np.abs(z - loc) > checks.RAN_OFF_PRIOR_SDS * scale)
    return checks.ran_off_warning([name for name, flag in zip(layout.element_names(), far) if flag])


def _diagnostics(problem: Problem, objective, converged, grad_norm, best) -> dict:
    groups = np.arange(len(problem.groups))
    best_value = objective[groups, best]
    in_basin = objective <= best_value[:, None] * (1 + checks.BASIN_RTOL) + 1e-15
    per_group = {
        ", ".join(g): {
            "objective": float(best_value[i]),
            "starts_in_best_basin": int(in_basin[i].sum()),
            "grad_norm": float(grad_norm[i, best[i]]),
            "converged": bool(converged[i, best[i]]),
        }
        for i, g in enumerate(problem.groups)
    }
    return {
        "objective": float(best_value.sum()),
        "starts": int(objective.shape[1]),
        "starts_in_best_basin": min(v["starts_in_best_basin"] for v in per_group.values()),
        "converged": all(v["converged"] for v in per_group.values()),
        "rows": int(problem.design.frame.height),
        "rows_set_aside": int(problem.design.set_aside.height),
        "set_aside_reasons": sorted(set(problem.design.set_aside["reason"].to_list())),
        "groups": per_group,
    }
