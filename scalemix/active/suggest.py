"""Which runs to train next: the candidates whose outcome would most sharpen the answer a team needs.

``suggest(fit, candidates, goal="optimum", at={"params": 1e9, "tokens": 2e10}, batch=8)`` scores every
candidate run over the fit's draws and returns a batch ranked by gain per unit cost
(:mod:`scalemix.active.gain` has the method and its references). Goals:

- ``predict``: the log loss of the fit's targets (or ``targets``) at the ``at`` point(s); gain = expected
  reduction of its variance (summed over the points and targets).
- ``optimum``: the optimal mixture at the ``at`` scale (the objective and constraints of
  :func:`scalemix.optimize.optimize`); the decisions are the Bayes mixture and up to ``decisions - 1`` of the
  draws' own optima; gain = knowledge gradient, the expected fall of the Bayes risk, on the log of the
  objective (a relative regret: 0.01 is 1% of the loss).
- ``information``: the law as a whole, wherever the candidates lie (no ``at``); gain = mutual information
  between a run's outcome and the draws (nats), greedy batches being Bayesian D-optimal design.
- ``discriminate``: between the laws of a :class:`~scalemix.Stack`; gain = expected reduction of the
  variance of which law holds (each draw's law as a 0/1 quantity), the Bayes-linear form of Box and Hill's
  (1967) discrimination criterion.

A run reports every target of the fit; its observation noise is the fit's noise scale per target. The draws
of the candidates' log loss and of the goal's quantities are winsorised (:func:`scalemix.active.gain.winsorize`)
before the adjustment: a handful of draws that explode at an extreme mixture would otherwise be the whole
covariance.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from scalemix._x64 import float64
from scalemix.active import candidates as _candidates
from scalemix.active.gain import ensemble, select, winsorize
from scalemix.errors import ScalemixError, SuggestError
from scalemix.optimize import optimize
from scalemix.optimize.optimal import bind

GOALS = ("predict", "optimum", "information", "discriminate")
DECISIONS = 32
"""Mixtures the ``optimum`` goal decides between: the Bayes mixture and draws' optima."""
PLAUSIBLE = 0.9
"""A draw's optimum is a decision of the ``optimum`` goal when its mean log risk is at most this quantile of
the Bayes mixture's over the draws: one more run will not make a mixture best that almost every draw rates
worse (and a few exploding draws would make its Gaussian spread, and the knowledge gradient, meaningless)."""
BATCH = 8


@dataclass
class Suggestions:
    """Result of :func:`suggest`.

    Attributes:
      picks: the chosen runs in the order picked: ``rank``, ``candidate`` (row of the candidate table),
        its ``params`` / ``tokens`` / ``w.<domain>``, ``cost``, ``gain`` (given the earlier picks) and
        ``gain_per_cost``.
      goal: ``predict``, ``optimum`` or ``discriminate``.
      uncertainty: what the goal's gain reduces, now: the goal's variance (``predict``, ``discriminate``),
        the candidates' mean variance of log loss (``information``) or the expected relative regret of
        deciding now, ``E_s[log F_s(w_E) - min_d log F_s(d)]`` (``optimum``).
      cost_unit: ``FLOPs`` (6 N D), ``given`` (the candidates' ``cost`` column) or ``runs``.
      settings: what was asked.
    """

    picks: pl.DataFrame
    goal: str
    uncertainty: float
    cost_unit: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of ``scalemix suggest --json``: ``suggestions`` (rows of ``picks``), the goal, its
        uncertainty now, the cost unit and total, and the settings."""
        return {
            "goal": self.goal,
            "suggestions": self.picks.to_dicts(),
            "uncertainty": self.uncertainty,
            "cost_unit": self.cost_unit,
            "cost": float(self.picks["cost"].sum()),
            "settings": self.settings,
        }


def suggest(predictor, candidates, *, goal: str = "predict", at: Mapping | pl.DataFrame | None = None,
            targets: Sequence[str] | None = None, batch: int = BATCH, budget: float | None = None, seed: int = 0,
            decisions: int = DECISIONS, objective: str = "mean", target_weights: Mapping[str, float] | None = None,
            **constraints) -> Suggestions:
    """The next runs to train from ``candidates`` (frame or file, :func:`scalemix.active.candidates.read`).

    ``predictor`` is a :class:`~scalemix.Fit` with draws (bootstrap, NUTS, SVI) or, for ``discriminate``, a
    :class:`~scalemix.Stack`. ``at``: the point(s) to ``predict`` at (``params``, ``tokens``, ``w.<domain>``
    as the law reads them), or the scale of the ``optimum`` (``params``, ``tokens``). Up to ``batch`` runs
    whose total cost stays within ``budget`` (same unit as the costs). ``objective``, ``target_weights`` and
    ``constraints`` (``minimum``, ``maximum``, ...) are :func:`scalemix.optimize.optimize`'s. Raises
    :class:`SuggestError` for a fit with one draw, an unknown goal or missing ``at``.
    """
    _check(predictor, goal, batch, budget, decisions)
    predictor, dropped = _finite_draws(predictor)
    frame, unit = _candidates.read(candidates, predictor.targets, predictor.coords.get("domain", ()))
    observed = winsorize(_observed_draws(predictor, frame))
    quantities, uncertainty = _goal_draws(predictor, goal, at, targets, decisions, objective, target_weights,
                                          constraints, observed)
    cost = frame["cost"].to_numpy()
    with float64():
        picked, gain = select(goal if goal in ("optimum", "information") else "predict",
                              ensemble(observed, quantities, _noise(predictor, frame.height)),
                              cost, batch, np.inf if budget is None else budget, seed=seed)
    picks = frame.with_row_index("candidate")[picked.tolist()].with_columns(
        pl.Series("gain", gain, dtype=pl.Float64), pl.Series("gain_per_cost", gain / cost[picked], dtype=pl.Float64),
    ).with_row_index("rank", offset=1)
    settings = {"goal": goal, "at": _plain(at), "targets": list(targets or predictor.targets), "batch": batch,
                "budget": budget, "seed": seed, "candidates": frame.height, "draws": int(observed.shape[0]),
                "draws_dropped": dropped}
    if goal == "optimum":
        settings.update(objective=objective, target_weights=dict(target_weights or {}), decisions=int(quantities.shape[1]))
    return Suggestions(picks=picks, goal=goal, uncertainty=uncertainty, cost_unit=unit, settings=settings)


def uncertainty(predictor, *, goal: str = "predict", at: Mapping | pl.DataFrame | None = None, candidates=None,
                targets: Sequence[str] | None = None, decisions: int = DECISIONS, objective: str = "mean",
                target_weights: Mapping[str, float] | None = None, **constraints) -> float:
    """What :func:`suggest`'s gains reduce, now (:attr:`Suggestions.uncertainty`); the ``information`` goal
    reads it over the ``candidates``."""
    _check(predictor, goal, BATCH, None, decisions)
    predictor = _finite_draws(predictor)[0]
    observed = None
    if goal == "information":
        if candidates is None:
            raise SuggestError("goal 'information' measures the law's spread over candidate runs; give candidates")
        frame, _ = _candidates.read(candidates, predictor.targets, predictor.coords.get("domain", ()))
        observed = winsorize(_observed_draws(predictor, frame))
    return _goal_draws(predictor, goal, at, targets, decisions, objective, target_weights, constraints, observed)[1]


def _goal_draws(predictor, goal, at, targets, decisions, objective, target_weights, constraints,
                observed) -> tuple[np.ndarray, float]:
    """``[S, Q]`` draws of the goal's quantities and its uncertainty now (``information``: none, and the mean
    over the candidates (``observed``, ``[S, M, T]``) of their log loss's variance summed over targets)."""
    if goal == "predict":
        quantities = winsorize(_prediction_draws(predictor, at, targets))
        return quantities, float(quantities.var(axis=0, ddof=1).sum())
    if goal == "information":
        return np.zeros((observed.shape[0], 0)), float(observed.var(axis=0, ddof=1).sum(axis=-1).mean())
    if goal == "optimum":
        with np.errstate(divide="ignore", invalid="ignore"):
            risks = np.log(_decision_draws(predictor, at, decisions, objective, target_weights, constraints))
        quantities = winsorize(risks)
        plausible = quantities.mean(axis=0) <= np.quantile(quantities[:, 0], PLAUSIBLE)
        plausible[0] = True
        quantities = quantities[:, plausible]
        return quantities, float(np.mean(quantities[:, 0] - quantities.min(axis=1)))
    quantities = _law_draws(predictor)
    return quantities, float(quantities.var(axis=0, ddof=1).sum())


def _check(predictor, goal: str, batch: int, budget: float | None, decisions: int) -> None:
    if goal not in GOALS:
        raise SuggestError(f"goal {goal!r} is not known; use one of {', '.join(GOALS)}")
    if goal == "discriminate" and not hasattr(predictor, "fits"):
        raise SuggestError("goal 'discriminate' chooses between the laws of a stacked fit; fit several laws "
                           "(scalemix fit --law chinchilla,power --method bootstrap)")
    if goal == "optimum" and hasattr(predictor, "fits"):
        raise SuggestError("goal 'optimum' needs one law; suggest on one of the stack's fits")
    if predictor.n_draws < 2:
        raise SuggestError("this fit has one draw (a point fit): what a run would tell is read from the spread of "
                           "draws; fit by bootstrap or NUTS (scalemix fit --method bootstrap)")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SuggestError(f"batch={batch!r}: give a whole number of runs >= 1")
    if budget is not None and not (np.isfinite(budget) and budget > 0):
        raise SuggestError(f"budget={budget!r}: give a positive total cost (FLOPs unless the candidates give a cost)")
    if isinstance(decisions, bool) or not isinstance(decisions, int) or decisions < 2:
        raise SuggestError(f"decisions={decisions!r}: give a whole number of mixtures >= 2")


def _finite_draws(predictor):
    """The fit without the draws holding a non-finite parameter (a degenerate bootstrap resample, say), and how
    many it lost; a stack as it is."""
    if hasattr(predictor, "fits"):
        return predictor, 0
    keep = np.all([np.isfinite(v.reshape(v.shape[0], -1)).all(axis=1) for v in predictor.draws.values()], axis=0)
    if keep.sum() < 2:
        raise SuggestError(f"only {int(keep.sum())} of the fit's {keep.size} draws have finite parameters; refit "
                           "with more runs or more resamples")
    if keep.all():
        return predictor, 0
    draws = {k: v[keep] for k, v in predictor.draws.items()}
    return replace(predictor, draws=draws, noise=predictor.noise[keep], inference_data=None), int((~keep).sum())


def _observed_draws(predictor, frame: pl.DataFrame) -> np.ndarray:
    """``[S, M, T]`` log loss each draw predicts for each candidate and target."""
    targets = predictor.targets
    query = frame.drop("cost").with_row_index("candidate").join(pl.DataFrame({"target": list(targets)}), how="cross")
    rows, values = predictor.log_loss_draws(query)
    out = np.full((values.shape[0], frame.height, len(targets)), np.nan)
    target_index = {t: i for i, t in enumerate(targets)}
    out[:, rows["candidate"].to_numpy(), [target_index[t] for t in rows["target"].to_list()]] = values
    return out


def _prediction_draws(predictor, at, targets: Sequence[str] | None) -> np.ndarray:
    """``[S, points x targets]`` log loss at the ``at`` point(s)."""
    if at is None:
        raise SuggestError("goal 'predict' needs the point to predict at: --at params=1e9,tokens=2e10 (and w.DOMAIN=... for a mixture law)")
    rows, values = predictor.log_loss_draws(at)
    wanted = list(targets or predictor.targets)
    unknown = sorted(set(wanted) - set(predictor.targets))
    if unknown:
        raise SuggestError(f"target(s) {', '.join(unknown)} are not in this fit; it knows {', '.join(predictor.targets)}")
    return values[:, rows["target"].is_in(wanted).to_numpy()]


def _decision_draws(fit, at, count: int, objective: str, target_weights, constraints) -> np.ndarray:
    """``[S, K]`` objective of each draw at the Bayes mixture (column 0) and up to ``count - 1`` draws' optima."""
    scale = {k: float(np.asarray(v).reshape(-1)[0]) for k, v in dict(at or {}).items() if k in ("params", "tokens")}
    scale = {"params": scale.get("params"), "tokens": scale.get("tokens")}
    mixture = [k for k in dict(at or {}) if k.startswith("w.")]
    if mixture:
        raise SuggestError(f"goal 'optimum' chooses the mixture; give only the scale in --at, not {', '.join(mixture)}")
    try:
        problem = bind(fit, scale["params"], scale["tokens"], objective, target_weights, **constraints)
        optimum = optimize(fit, objective=objective, target_weights=target_weights, **scale, **constraints)
    except ScalemixError as e:
        raise SuggestError(str(e)) from None
    chosen = np.unique(np.linspace(0, optimum.per_draw.shape[0] - 1, count - 1).round().astype(int))
    return problem.objective_draws(np.vstack([optimum.expected, optimum.per_draw[chosen]]))


def _law_draws(stack) -> np.ndarray:
    """``[S, laws]``: 1 where a draw of the stack's mixture comes from that law."""
    return np.eye(len(stack.fits))[stack.law_of_draws()]


def _noise(predictor, count: int) -> np.ndarray:
    """``[M, T]`` observation variance of a run's log loss per target (the fits' median noise scale, squared;
    a stack's weighted by its law weights)."""
    fits, weights = (predictor.fits, predictor.weights) if hasattr(predictor, "fits") else ((predictor,), np.ones(1))
    variance = sum(w * np.median(fit.noise, axis=0) ** 2 for fit, w in zip(fits, weights))
    return np.broadcast_to(variance, (count, variance.shape[0]))


def _plain(at):
    if at is None:
        return None
    if isinstance(at, pl.DataFrame):
        return at.to_dicts()
    return {k: np.asarray(v).tolist() for k, v in dict(at).items()}
