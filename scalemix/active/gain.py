"""What a run not yet trained would tell us, computed over a fit's draws, and a batch chosen greedily.

The draws' predictions are read as a Gaussian ensemble (Bayes linear, Goldstein and Wooff 2007; the
ensemble Kalman update, Evensen 1994). With ``X`` the draws' anomalies ``[S, columns] / sqrt(S - 1)``,
``Sigma = X^T X`` over every column: each candidate run's log loss per target it reports (``c``) and the
goal's quantities (``g``). Observing a run ``y_c = f_c + e``, ``e ~ N(0, N_c)``, adjusts

    Sigma'_ab = Sigma_ab - Sigma_ac (Sigma_cc + N_c)^-1 Sigma_cb,

which does not depend on the outcome. After the runs ``O`` already chosen (anomalies ``X_O``, noise
``N_O``) the adjusted covariance is ``X_a^T W X_b`` with ``W = I - X_O (X_O^T X_O + N_O)^-1 X_O^T``
(Woodbury), so a batch costs ``O(S x candidates x chosen)`` per step and never forms a candidate x
candidate matrix.

Three gains of one more run ``c`` (:func:`variance_reduction`, :func:`knowledge_gradient`,
:func:`information_gain`):

- ``predict``: the expected reduction of the goal's variance, ``sum_g Sigma_gc (Sigma_cc + N_c)^-1 Sigma_cg``
  (the criterion of "maximum expected variance reduction", MacKay 1992; Cohn 1994 for active learning).
- ``optimum``: the knowledge gradient over a finite set of decisions ``d`` (Frazier, Powell and Dayanik 2009,
  "The knowledge-gradient policy for correlated normal beliefs"): the expected fall of the Bayes risk
  ``min_d mu_d``, ``KG_c = min_d mu_d - E_z[min_d (mu_d + B_dc z)]`` with ``B_c = Sigma_dc L_c^-T``,
  ``L_c L_c^T = Sigma_cc + N_c`` and ``z ~ N(0, I)`` (antithetic normal scores, so ``KG >= 0``).
- ``information``: what the run tells about the law as a whole, the mutual information between its outcome
  and the draws, ``1/2 log det(Sigma_cc + N_c) - 1/2 log det N_c``; greedy in batches it is Bayesian
  D-optimal design, maximum entropy sampling (Shewry and Wynn 1987; MacKay 1992, "Information-based
  objective functions for active data selection").

A batch is chosen greedily, one run at a time by gain per unit cost, each pick fantasised at its predictive
mean ("kriging believer", Ginsbourger, Le Riche and Carraro 2010): the means stay, the covariance shrinks,
so a run that repeats what an earlier pick tells scores low.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

SCORES = 64
"""Antithetic pairs of normal scores for the knowledge gradient's expectation (common to every candidate)."""
FENCE = 3.0
"""Tukey's "far out" fences: :func:`winsorize` clips beyond 3 interquartile ranges from the quartiles."""
CHUNK = 256
"""Candidates scored at once by :func:`knowledge_gradient`."""


class Ensemble(NamedTuple):
    """The draws as the adjustment reads them.

    Attributes:
      candidates: ``[S, M, T]`` anomalies of each candidate's log loss per reported target.
      goal: ``[S, Q]`` anomalies of the goal's quantities.
      noise: ``[M, T]`` observation variance of each candidate's log loss.
      goal_mean: ``[Q]`` mean of the goal's quantities (the decisions' risks for ``optimum``).
      cc: ``[M, T, T]`` prior covariance of each candidate's log losses, ``X_c^T X_c``.
      gc: ``[M, Q, T]`` prior covariance of the goal with each candidate, ``X_g^T X_c``.
    """

    candidates: jax.Array
    goal: jax.Array
    noise: jax.Array
    goal_mean: jax.Array
    cc: jax.Array
    gc: jax.Array


def ensemble(candidates: np.ndarray, goal: np.ndarray, noise: np.ndarray) -> Ensemble:
    """An :class:`Ensemble` from draws of the candidates' log loss ``[S, M, T]``, the goal's quantities
    ``[S, Q]`` and the observation variances ``[M, T]``."""
    count = candidates.shape[0]
    scale = 1.0 / np.sqrt(max(count - 1, 1))
    x_c = jnp.asarray((candidates - candidates.mean(axis=0)) * scale)
    x_g = jnp.asarray((goal - goal.mean(axis=0)) * scale)
    return Ensemble(candidates=x_c, goal=x_g, noise=jnp.asarray(noise), goal_mean=jnp.asarray(goal.mean(axis=0)),
                    cc=jnp.einsum("smt,smu->mtu", x_c, x_c), gc=jnp.einsum("sq,smt->mqt", x_g, x_c))


def winsorize(values: np.ndarray, fence: float = FENCE) -> np.ndarray:
    """``values`` ``[S, ...]`` with each column clipped to Tukey's fences over the draws,
    ``[q25 - fence IQR, q75 + fence IQR]``; non-finite values count as beyond the end they lie on (NaN as the
    median), so that a few draws that explode at an extreme mixture do not make the covariance. A column with
    no finite value is 0."""
    finite = np.where(np.isfinite(values), values, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        low, middle, high = np.nanquantile(finite, [0.25, 0.5, 0.75], axis=0)
    spread = fence * (high - low)
    low, high = low - spread, high + spread
    filled = np.where(np.isposinf(values), high, np.where(np.isneginf(values), low, np.where(np.isnan(values), middle, values)))
    return np.nan_to_num(np.clip(filled, low, high), nan=0.0)


def normal_scores(dimension: int, seed: int = 0) -> np.ndarray:
    """``[2 SCORES, dimension]`` quasi-random standard normal scores (scrambled Sobol), in antithetic pairs."""
    uniform = stats.qmc.Sobol(dimension, scramble=True, seed=seed).random(SCORES)
    half = stats.norm.ppf(np.clip(uniform, 1e-12, 1 - 1e-12))
    return np.concatenate([half, -half])


def adjusted(e: Ensemble, chosen: jax.Array, chosen_noise: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Each candidate's ``Sigma_cc + N_c`` ``[M, T, T]`` and ``Sigma_gc`` ``[M, Q, T]`` after observing the
    runs ``chosen`` (anomalies ``[S, R]``, variances ``[R]``; zero columns are unused slots)."""
    samples, candidates, reported = e.candidates.shape
    inner = chosen.T @ chosen + jnp.diag(chosen_noise)
    projected_c = (chosen.T @ e.candidates.reshape(samples, -1)).reshape(-1, candidates, reported)
    projected_g = chosen.T @ e.goal
    solved_c = jnp.linalg.solve(inner, projected_c.reshape(chosen.shape[1], -1)).reshape(projected_c.shape)
    cc = e.cc - jnp.einsum("rmt,rmu->mtu", projected_c, solved_c)
    gc = e.gc - jnp.einsum("rq,rmt->mqt", projected_g, solved_c)
    noise = jax.vmap(jnp.diag)(e.noise)
    return cc + noise, gc


def variance_reduction(cc: jax.Array, gc: jax.Array) -> jax.Array:
    """``[M]`` expected reduction of the goal's total variance, ``sum_g Sigma_gc (Sigma_cc + N_c)^-1 Sigma_cg``."""
    solved = jnp.linalg.solve(cc, jnp.swapaxes(gc, 1, 2))  # [M, T, Q]
    return jnp.einsum("mqt,mtq->m", gc, solved)


def information_gain(cc: jax.Array, noise: jax.Array) -> jax.Array:
    """``[M]`` mutual information (nats) between a run's outcome and the law,
    ``1/2 log det(Sigma_cc + N_c) - 1/2 log det N_c``."""
    return 0.5 * (jnp.linalg.slogdet(cc)[1] - jnp.log(noise).sum(axis=-1))


def knowledge_gradient(cc: jax.Array, gc: jax.Array, mean: jax.Array, scores: jax.Array) -> jax.Array:
    """``[M]`` expected fall of ``min_d mean_d`` (decision risks ``mean`` ``[Q]``) from one more run each
    (in chunks of :data:`CHUNK` candidates, so memory stays ``CHUNK x scores x decisions``)."""

    def one(pair):
        cc_m, gc_m = pair
        lower = jnp.linalg.cholesky(cc_m)
        spread = jax.scipy.linalg.solve_triangular(lower, gc_m.T, lower=True).T  # [Q, T]
        moved = mean[None, :] + scores @ spread.T  # [Z, Q]
        return jnp.min(mean) - jnp.min(moved, axis=-1).mean()

    return jax.lax.map(one, (cc, gc), batch_size=CHUNK)


@partial(jax.jit, static_argnames=("goal",))
def gains(goal: str, e: Ensemble, chosen: jax.Array, chosen_noise: jax.Array,
          scores: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Two ``[M]`` arrays after the ``chosen`` runs: each candidate's gain for ``goal`` (``predict``,
    ``optimum`` or ``information``), and the fallback :func:`select` ranks by once no candidate's gain is above
    zero (for ``optimum`` the decisions' variance reduction; for the others the gain itself)."""
    cc, gc = adjusted(e, chosen, chosen_noise)
    if goal == "information":
        information = information_gain(cc, e.noise)
        return information, information
    reduction = variance_reduction(cc, gc)
    if goal == "optimum":
        return knowledge_gradient(cc, gc, e.goal_mean, scores), reduction
    return reduction, reduction


def select(goal: str, e: Ensemble, cost: np.ndarray, count: int, budget: float = np.inf, *,
           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Greedy batch: up to ``count`` candidates, each the best remaining gain per unit ``cost`` that still fits
    the ``budget``, after the earlier picks (kriging believer). Where no candidate's knowledge gradient is
    above zero (no run is expected to change the decision; the expectation is over :data:`SCORES` pairs), the
    ``optimum`` goal ranks by the reduction of the decisions' variance instead. Returns the picked indices
    and each pick's gain when it was picked; fewer than ``count`` when the budget runs out or no candidate
    tells anything."""
    samples, candidates, reported = e.candidates.shape
    scores = jnp.asarray(normal_scores(reported, seed))
    chosen = np.zeros((samples, count * reported))
    chosen_noise = np.ones(count * reported)
    picked, picked_gain, spent = [], [], 0.0
    for step in range(count):
        gain, reduction = (np.asarray(v) for v in gains(goal, e, jnp.asarray(chosen), jnp.asarray(chosen_noise), scores))
        usable = cost <= budget - spent
        usable[picked] = False
        key = gain if (gain[usable] > 0).any() else reduction
        usable &= key > 0
        if not usable.any():
            break
        best = int(np.argmax(np.where(usable, key / cost, -np.inf)))
        picked.append(best)
        picked_gain.append(max(float(gain[best]), 0.0))
        spent += float(cost[best])
        slots = slice(step * reported, (step + 1) * reported)
        chosen[:, slots] = np.asarray(e.candidates[:, best, :])
        chosen_noise[slots] = np.asarray(e.noise[best])
    return np.asarray(picked, dtype=int), np.asarray(picked_gain)
