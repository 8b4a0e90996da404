"""How much to shrink per-domain coefficients: the ridge strength chosen by K-fold cross-validation over runs.

With many domains and few runs a mixture law has more per-domain coefficients than the runs determine
(Olmix's 64-run swarm over 22 domains: 24 coefficients per task from ~51 training runs), and the point fit
chases noise. :func:`~scalemix.fit.problem.shrinkage_penalty` pulls those coefficients towards the law's
prior; :func:`choose` picks its strength as scikit-learn's ``RidgeCV`` or glmnet's ``cv.glmnet`` would:
for each strength of the grid, the law is fitted on all runs (multi-start), each fold's training runs are
refitted from that optimum (one vmapped solve over the folds, warm-started along the path as glmnet does),
and the held-out runs are scored by their mean absolute log error; the lowest score wins (ties: the
strongest). Folds deal whole runs, so a run's targets and steps are held out together.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from scalemix._x64 import float64
from scalemix.errors import FitError
from scalemix.fit.point import multistart
from scalemix.fit.problem import build, residual_function, shrinkage_penalty

GRID = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)
"""Strengths tried: 0 (no penalty) and four decades; a Gaussian likelihood of sd ``sigma`` corresponds to
``sigma^2`` (log-loss noise of 1% to 30%). On Olmix's 64-run swarm the cross-validation picks 1e-2 or
1e-1, on its 127-run DCLM swarm mostly 0 to 1e-4."""
FOLDS = 5


class Choice(NamedTuple):
    """The chosen ``strength`` and every strength's cross-validated mean absolute log error (``scores``)."""

    strength: float
    scores: dict[float, float]

    def describe(self) -> str:
        """One line for ``diagnostics["shrinkage"]``."""
        scored = ", ".join(f"{s:g}: {v:.4g}" for s, v in self.scores.items())
        return f"strength {self.strength:g} chosen by {FOLDS}-fold cross-validation over runs (mean |log error| {scored})"


def choose(table, law, *, grid: Sequence[float] = GRID, folds: int = FOLDS, seed: int = 0, delta: float = 1e-3,
           max_iter: int = 200) -> Choice:
    """The shrinkage strength of ``grid`` with the lowest ``folds``-fold cross-validated error of ``law`` on
    ``table``'s runs (see the module docstring). Raises :class:`FitError` with fewer runs than folds."""
    with float64():
        problem = build(table, law)
        run_ids = np.asarray(problem.design.frame["run_id"].to_numpy(), dtype=object)
        runs, run_of_row = np.unique(run_ids, return_inverse=True)
        if runs.size < folds:
            raise FitError(f"choosing the shrinkage by {folds}-fold cross-validation needs {folds} runs or more; got {runs.size}")
        fold_of_run = np.random.default_rng(seed).permutation(runs.size) % folds
        fold = fold_of_run[run_of_row][problem.row]  # [groups, rows]
        held = (fold[:, None, :] == np.arange(folds)[None, :, None]) & (problem.mask[:, None, :] > 0)  # [groups, K, rows]
        scores = {}
        for strength in grid:
            penalised = dataclasses.replace(problem, penalty=shrinkage_penalty(problem.layout, strength))
            scores[float(strength)] = _cv_error(penalised, held, seed, delta, max_iter)
    best = min(scores.values())
    strength = max(s for s, v in scores.items() if v <= best)
    return Choice(strength, scores)


def _cv_error(problem, held: np.ndarray, seed: int, delta: float, max_iter: int) -> float:
    """Mean absolute held-out log error of the fold refits of ``problem`` (held-out rows ``held``)."""
    groups = np.arange(len(problem.groups))
    search = multistart(problem, problem.mask, delta=delta, max_iter=max_iter, seed=seed)
    best = search.z[groups, search.best]  # [groups, P]
    starts = np.broadcast_to(best[:, None, :], (*held.shape[:2], best.shape[-1]))
    solution = problem.solve(starts, problem.mask[:, None, :] * ~held, delta, max_iter)
    residuals = residual_function(problem.law, problem.layout)
    data = (problem.inputs, jnp.asarray(problem.log_loss))
    per_fold = jax.vmap(jax.vmap(residuals, in_axes=(0, None)), in_axes=(0, 0))(solution.z, data)  # [groups, K, rows]
    errors = np.abs(np.asarray(per_fold))[held]
    return float(errors.mean()) if np.isfinite(errors).all() else float("inf")
