"""Optimal mixture weights under a fit's uncertainty: a distribution of optima and one mixture to train.

For each parameter draw ``theta_s`` the solver finds ``w*_s = argmin_w F(L(theta_s, w))`` (vmapped over
draws): the spread of ``w*_s`` says how well the runs pin the optimum down. The mixture to train is
``w_E = argmin_w E_s[F(L(theta_s, w))]`` (ceilings on ``E_s[L_t]``), the Bayes decision under the
posterior; we report the distribution of the objective it reaches and ``P_s(F_s(w_E) < F_s(w_base))``,
the probability that it beats a baseline mixture.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from scalemix._x64 import float64
from scalemix.design import Scale
from scalemix.errors import OptimizeError
from scalemix.optimize import constraints as _constraints
from scalemix.optimize import objective as _objective
from scalemix.optimize import sampling
from scalemix.optimize.objective import Objective, losses, value, violation
from scalemix.optimize.solver import STEPS, Region, solve
from scalemix.predictor import COUNTS
from scalemix.runs import MAX_COUNT, MIN_COUNT

QUANTILES = (0.05, 0.95)


@dataclass
class Optimum:
    """Result of :func:`optimize`.

    Attributes:
      domains, targets: the fit's coordinates.
      per_draw: ``[S, K]`` optimal mixture of each draw.
      expected: ``[K]`` mixture minimising the posterior expected objective (the one to train).
      objective: ``[S]`` objective each draw predicts at ``expected``.
      baseline_objective: ``[S]`` the same at the baseline mixture, or ``None``.
      predicted: ``Fit.predict`` at ``expected`` (per target mean, median, 90% intervals).
      settings: what was asked (objective, scale, bounds).
      heuristics: with a token inventory, the mixtures of temperature sampling and UniMax
        (:mod:`scalemix.optimize.sampling`) by name, each ``{"weights": [K], "objective": [S]}``.
    """

    domains: tuple[str, ...]
    targets: tuple[str, ...]
    per_draw: np.ndarray
    expected: np.ndarray
    objective: np.ndarray
    baseline_objective: np.ndarray | None
    predicted: pl.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)
    heuristics: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def p_beats_baseline(self) -> float | None:
        """``P_s(F_s(expected) < F_s(baseline))`` over draws (0 or 1 for a one-draw point fit)."""
        if self.baseline_objective is None:
            return None
        return float(np.mean(self.objective < self.baseline_objective))

    def weights(self) -> pl.DataFrame:
        """One row per domain: the expected-objective weight and the median and 5%/95% quantiles of the
        per-draw optima."""
        low, high = np.quantile(self.per_draw, QUANTILES, axis=0)
        return pl.DataFrame(
            {
                "domain": list(self.domains),
                "expected": self.expected,
                "median": np.median(self.per_draw, axis=0),
                "q05": low,
                "q95": high,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of ``scalemix optimize --json``."""
        low, high = np.quantile(self.objective, QUANTILES)
        predicted = {
            row["target"]: {
                "mean": row["mean"], "median": row["median"], "q05": row["lo90"], "q95": row["hi90"],
                "pred_q05": row["pred_lo90"], "pred_q95": row["pred_hi90"],
            }
            for row in self.predicted.iter_rows(named=True)
        }
        return {
            "weights": {r.pop("domain"): {k: r[k] for k in ("median", "q05", "q95")} for r in self.weights().to_dicts()},
            "expected": {
                "weights": dict(zip(self.domains, self.expected.tolist())),
                "objective": {"mean": float(self.objective.mean()), "median": float(np.median(self.objective)),
                              "q05": float(low), "q95": float(high)},
            },
            "predicted": predicted,
            "p_beats_baseline": self.p_beats_baseline,
            "heuristics": {name: {"weights": dict(zip(self.domains, h["weights"].tolist())),
                                  "objective": {"mean": float(h["objective"].mean()), "q05": float(np.quantile(h["objective"], QUANTILES[0])),
                                                "q95": float(np.quantile(h["objective"], QUANTILES[1]))},
                                  "p_optimum_beats": float(np.mean(self.objective < h["objective"]))}
                           for name, h in self.heuristics.items()},
            "draws": int(self.per_draw.shape[0]),
            "settings": self.settings,
        }


def optimize(
    fit,
    *,
    params: float | None = None,
    tokens: float | None = None,
    objective: str = "mean",
    target_weights: Mapping[str, float] | None = None,
    ceilings: Mapping[str, float] | None = None,
    baseline: Mapping[str, float] | None = None,
    steps: int = STEPS,
    **constraints,
) -> Optimum:
    """Optimal training mixture for a fit at model size ``params`` and token budget ``tokens``.

    ``objective``: ``mean`` (``target_weights``, uniform by default), ``max`` (worst target) or a target
    name; ``ceilings`` (target -> tau) adds ``L_t <= tau_t``. ``constraints`` go to
    :func:`scalemix.optimize.constraints.build` (``minimum``, ``maximum``, ``zero``,
    ``available_tokens``, ``max_epochs``, ``kl_to``, ``kl``). ``baseline`` (domain -> weight) is the
    mixture to compare with. Raises :class:`OptimizeError` for unknown targets/domains, a scale or ``steps``
    out of range (:func:`check_scale`, :func:`check_steps`), infeasible bounds or a law that does not
    depend on the mixture.
    """
    check_steps(steps)
    problem = bind(fit, params, tokens, objective, target_weights, ceilings, **constraints)
    base = None if baseline is None else _constraints.mixture(problem.domains, baseline, "baseline mixture")
    with float64():
        arrays = problem.arrays()
        per_draw = _per_draw_optima(fit.law, problem.kind, steps, arrays)
        expected = _expected_optimum(fit.law, problem.kind, steps, arrays)
        objective_draws = _objective_draws(fit.law, problem.kind, arrays, expected)
        base_draws = None if base is None else _objective_draws(fit.law, problem.kind, arrays, jnp.asarray(base))
        heuristics = {name: {"weights": w, "objective": np.asarray(_objective_draws(fit.law, problem.kind, arrays, jnp.asarray(w)))}
                      for name, w in _heuristics(problem, constraints).items()}
    expected = np.asarray(expected)
    query = {"params": problem.scale.params, "tokens": problem.scale.tokens,
             **{f"w.{d}": [w] for d, w in zip(problem.domains, expected)}}
    if problem.scale.unique is not None:  # predicted with the inventory the optimum was priced with
        query.update({f"unique.{d}": [u] for d, u in zip(problem.domains, np.asarray(problem.scale.unique)) if np.isfinite(u)})
    return Optimum(
        domains=problem.domains,
        targets=fit.targets,
        per_draw=np.asarray(per_draw),
        expected=expected,
        objective=np.asarray(objective_draws),
        baseline_objective=None if base_draws is None else np.asarray(base_draws),
        predicted=fit.predict(query, levels=(0.9,)),
        settings=problem.settings(),
        heuristics=heuristics,
    )


def _heuristics(problem, constraints) -> dict[str, np.ndarray]:
    """Temperature sampling and UniMax over the inventory, where one is given for every domain."""
    available = constraints.get("available_tokens")
    if not available or set(problem.domains) - set(available):
        return {}
    tokens = problem.scale.tokens if "tokens" in problem.fit.law.needs else None
    return sampling.heuristics(problem.domains, available, tokens, constraints.get("max_epochs", 1.0))


class SolverArrays(NamedTuple):
    """What the jitted solvers read of a :class:`MixtureProblem`, as ``jax`` arrays: the fit's ``draws``,
    the ``scale``, each target's ``own`` domain index, the ``objective`` and the search ``region``."""

    draws: dict
    scale: Scale
    own: Any
    objective: Objective
    region: Region


@dataclass(frozen=True)
class MixtureProblem:
    """A fit bound to one optimisation: what to minimise, at which scale, under which constraints."""

    fit: Any
    kind: str
    objective: Objective
    scale: Scale
    own: np.ndarray
    constraints: _constraints.Constraints

    @property
    def domains(self) -> tuple[str, ...]:
        return self.constraints.domains

    def arrays(self) -> SolverArrays:
        """The problem as the jitted solvers read it."""
        c = self.constraints
        prior = c.prior if c.prior is not None else np.full(len(c.domains), 1.0 / len(c.domains))
        lower, upper = jnp.asarray(c.lower), jnp.asarray(c.upper)
        start = _constraints.project(jnp.ones(len(c.domains)), lower, upper)
        return SolverArrays(
            draws={k: jnp.asarray(v) for k, v in self.fit.draws.items()},
            scale=Scale(jnp.asarray(float(self.scale.params)), jnp.asarray(float(self.scale.tokens)),
                        None if self.scale.unique is None else jnp.asarray(self.scale.unique, dtype=float)),
            own=jnp.asarray(self.own),
            objective=Objective(*(jnp.asarray(v) for v in self.objective)),
            region=Region(lower, upper, jnp.asarray(prior), jnp.asarray(c.kl), start),
        )

    def objective_draws(self, mixtures) -> np.ndarray:
        """``[S, K]`` objective each draw predicts at each of the ``mixtures`` ``[K, domains]``."""
        with float64():
            arrays = self.arrays()
            values = jax.vmap(lambda w: _objective_draws(self.fit.law, self.kind, arrays, w))(jnp.asarray(mixtures))
        return np.asarray(values).T

    def settings(self) -> dict[str, Any]:
        c = self.constraints
        bounded = {d: [lo, hi] for d, lo, hi in zip(c.domains, c.lower.tolist(), c.upper.tolist()) if lo > 0 or hi < 1}
        targets = self.fit.targets
        return {
            "objective": self.kind,
            "target_weights": {t: a for t, a in zip(targets, self.objective.weights.tolist()) if a > 0},
            "ceilings": {t: tau for t, tau in zip(targets, self.objective.ceilings.tolist()) if np.isfinite(tau)},
            "params": float(self.scale.params),
            "tokens": float(self.scale.tokens),
            **({"unique": {d: u for d, u in zip(c.domains, np.asarray(self.scale.unique).tolist()) if np.isfinite(u)}}
               if self.scale.unique is not None else {}),
            "bounds": bounded,
            "kl": c.kl,
        }


def bind(fit, params, tokens, objective="mean", target_weights=None, ceilings=None, **constraints) -> MixtureProblem:
    """Check a fit and the user's request against each other and bind them into a :class:`MixtureProblem`."""
    for name, given in (("params", params), ("tokens", tokens)):
        if given is not None:
            check_scale(name, given)
    law = fit.law
    if "weighting" in law.dims:
        raise OptimizeError(
            f"law {law.name!r} has one parameter per fitted weighting and cannot score new mixtures; "
            "fit the 'multilingual' law to optimise weights"
        )
    if not {"weights", "own_weight"} & law.needs:
        raise OptimizeError(f"law {law.name!r} does not depend on the mixture; fit a mixture law (e.g. mixing)")
    for name, given in (("params", params), ("tokens", tokens)):
        if name in law.needs and given is None:
            raise OptimizeError(f"law {law.name!r} predicts at a model size and token budget: give {name} (--{name})")
    domains = tuple(fit.coords.get("domain", ()))
    kind, spec = _objective.build(fit.targets, objective, target_weights, ceilings)
    unique = None
    if "unique_by_domain" in law.needs and constraints.get("available_tokens"):
        # the law prices repetition itself: the token inventory is its unique.<domain>, and epochs are capped
        # only where the user says so (--max-epochs)
        unique = _constraints.inventory(domains, constraints["available_tokens"])
        constraints.setdefault("max_epochs", np.inf)
    return MixtureProblem(
        fit=fit,
        kind=kind,
        objective=spec,
        scale=Scale(float(params or 1.0), float(tokens or 1.0), unique),
        own=_objective.own_domains(law, fit.targets, domains),
        constraints=_constraints.build(domains, tokens=tokens, **constraints),
    )


def check_scale(name: str, values) -> None:
    """Refuse a model size (``name`` ``params``) or token budget (``tokens``), one value or several, that is
    not a count in the run reader's [:data:`~scalemix.runs.MIN_COUNT`, :data:`~scalemix.runs.MAX_COUNT`],
    naming it and its option."""
    what, example = COUNTS[name]
    for given in np.atleast_1d(np.asarray(values, dtype=float)):
        if not MIN_COUNT <= given <= MAX_COUNT:
            raise OptimizeError(f"{name}={given:g} is not a {what} from {MIN_COUNT:g} to {MAX_COUNT:g} (MIN_COUNT, "
                                f"MAX_COUNT); give a count such as --{name} {example}")


def check_steps(steps) -> None:
    """Refuse a solver step count that is not a whole number >= 1."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise OptimizeError(f"steps={steps!r}: the solver needs a whole number of steps >= 1 (default {STEPS})")


def _draw_fun(law, kind, theta, scale, own, objective):
    def fun(w):
        loss = losses(law, theta, w, scale, own)
        return value(kind, objective, loss), violation(objective, loss)

    return fun


def expected_fun(law, kind, draws, scale, own, objective):
    """``w -> (E_s[F(L(theta_s, w))], E_s[L(theta_s, w)] - tau)`` over all draws."""

    def fun(w):
        loss = jax.vmap(lambda theta: losses(law, theta, w, scale, own))(draws)
        return jnp.mean(jax.vmap(lambda row: value(kind, objective, row))(loss)), violation(objective, loss.mean(axis=0))

    return fun


@partial(jax.jit, static_argnames=("law", "kind", "steps"))
def _per_draw_optima(law, kind, steps, a: SolverArrays):
    def one(theta):
        return solve(_draw_fun(law, kind, theta, a.scale, a.own, a.objective), a.region, steps)

    return jax.vmap(one)(a.draws)


@partial(jax.jit, static_argnames=("law", "kind", "steps"))
def _expected_optimum(law, kind, steps, a: SolverArrays):
    return solve(expected_fun(law, kind, a.draws, a.scale, a.own, a.objective), a.region, steps)


@partial(jax.jit, static_argnames=("law", "kind"))
def _objective_draws(law, kind, a: SolverArrays, w):
    return jax.vmap(lambda theta: value(kind, a.objective, losses(law, theta, w, a.scale, a.own)))(a.draws)


__all__: Sequence[str] = ("MixtureProblem", "Optimum", "bind", "check_scale", "check_steps", "optimize")
