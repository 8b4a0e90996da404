"""The closed proxy loop: train a sweep's design, then fit -> suggest -> train the suggestions, round by round.

``loop(config, out, executor, law="mixing", goal="optimum", at={...}, budget=1e15)``:

1. trains the sweep config's own runs (:func:`scalemix.proxy.sweep.run_sweep`; runs already in ``out`` are
   skipped, so a stopped loop resumes);
2. plans the candidates: every cohort's model sizes x ``pool`` mixtures drawn from a Dirichlet(``alpha``)
   over its domains (seeded), each a sweep run with its content-hash id and its training FLOPs
   (:func:`scalemix.proxy.model.flops_per_token` x tokens) as its cost;
3. each round: fits ``law`` by bootstrap to every run in ``out``, asks :func:`~scalemix.active.suggest` for
   ``batch`` runs within the budget left, trains them with the sweep machinery into ``out`` and appends the
   round to the round log (JSON lines): the fit and its warnings (resamples that did not converge, ...), the
   goal's uncertainty, the picks, their gain and cost;
4. stops when the budget is spent, no candidate is left or affordable, the goal's uncertainty falls to
   ``threshold``, or after ``rounds`` rounds; a last record holds the uncertainty after the last batch.

The budget counts the loop's suggestions only, not the sweep's own design.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import polars as pl

from scalemix import runs
from scalemix.active.rounds import append, read_log
from scalemix.active.suggest import suggest, uncertainty
from scalemix.errors import SuggestError
from scalemix.fit import fit
from scalemix.laws import Law
from scalemix.proxy import mixtures
from scalemix.proxy.model import count_params, flops_per_token
from scalemix.proxy.sweep import Run, plan, read_table, run_sweep


@dataclass(frozen=True)
class Candidate:
    """A run the loop may train: the sweep ``run`` and the ``cohort`` config that plans it."""

    run: Run
    cohort: dict

    @property
    def tokens(self) -> float:
        return float(self.run.train.steps * self.run.train.batch_size * self.run.model.seq_len)

    def row(self) -> dict[str, Any]:
        """The candidate as ``suggest`` reads it: ``params``, ``tokens``, ``w.<domain>`` and ``cost`` (FLOPs)."""
        return {"params": float(count_params(self.run.model)["non_embedding"]), "tokens": self.tokens,
                **{f"w.{d}": w for d, w in zip(self.run.task.domains, self.run.weights)},
                "cost": flops_per_token(self.run.model) * self.tokens}

    def config(self) -> dict:
        """A sweep cohort that trains exactly this run."""
        return {**self.cohort, "name": self.run.cohort, "d_model": [self.run.model.d_model], "seeds": [self.run.seed],
                "mixture": {"design": "list", "weights": [list(self.run.weights)]}}


def candidates(config: dict, pool: int, alpha: float = 1.0, seed: int = 0, say=print) -> list[Candidate]:
    """Every cohort's sizes x ``pool`` Dirichlet(``alpha``) mixtures over its domains, planned as sweep runs."""
    found = []
    for k, cohort in enumerate(config["cohort"]):
        weights = mixtures.dirichlet(cohort["domains"], pool, alpha, seed + k)
        pooled = {**cohort, "mixture": {"design": "list", "weights": weights.tolist()}}
        for job in plan({**config, "cohort": [pooled]}, say):
            found += [Candidate(run, cohort) for run in job.runs]
    return found


def loop(config: dict, out, executor, *, law: str | Law = "mixing", goal: str = "optimum", at: Mapping | None = None,
         budget: float, batch: int = 4, rounds: int = 10, pool: int = 64, alpha: float = 1.0, n_boot: int = 64,
         threshold: float | None = None, seed: int = 0, progress: bool = True, say: Callable[[str], None] = print,
         **options) -> list[dict[str, Any]]:
    """Run the loop (see the module docstring); returns the round records also appended to
    ``<out>.rounds.jsonl``. ``options`` go to :func:`~scalemix.active.suggest` (``objective``, ``targets``,
    constraints). Raises :class:`SuggestError` for a budget or round count that is not positive."""
    if not (np.isfinite(budget) and budget > 0):
        raise SuggestError(f"budget={budget!r}: give the FLOPs the loop may spend (e.g. --budget 1e15)")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise SuggestError(f"rounds={rounds!r}: give a whole number of rounds >= 1")
    out = Path(out)
    log = out.with_name(out.stem + ".rounds.jsonl")
    run_sweep(config, out, executor, progress=progress, say=say)
    pool_runs = candidates(config, pool, alpha, seed, say=lambda _: None)
    records, spent = _previous(log)
    stopped = f"{rounds} round(s)"
    for number in range(len(records) + 1, len(records) + rounds + 1):
        fitted, left, count = _fit_and_left(out, pool_runs, law, n_boot, seed)
        if not left:
            stopped = "every candidate is trained"
            break
        result = suggest(fitted, pl.DataFrame([c.row() for c in left]), goal=goal, at=at, batch=batch,
                         budget=budget - spent, seed=seed + number, **options)
        if threshold is not None and result.uncertainty <= threshold:
            stopped = f"uncertainty {result.uncertainty:.4g} <= threshold {threshold:g}"
            break
        if result.picks.height == 0:
            stopped = "no candidate fits the budget left"
            break
        picks = [left[i] for i in result.picks["candidate"].to_list()]
        record = _record(number, count, fitted, result, picks, spent)
        say(f"round {number}: {len(picks)} run(s), goal uncertainty {result.uncertainty:.4g}, "
            f"{spent + record['cost']:.3g} of {budget:.3g} FLOPs")
        run_sweep({**config, "cohort": [c.config() for c in picks]}, out, executor, progress=progress, say=lambda _: None)
        spent += record["cost"]
        append(log, record)
        records.append(record)
    fitted, _, count = _fit_and_left(out, pool_runs, law, n_boot, seed)
    now = uncertainty(fitted, goal=goal, at=at, candidates=pl.DataFrame([c.row() for c in pool_runs]), **options)
    closing = {"round": "final", "runs": count, "uncertainty": now, "spent": spent, "stopped": stopped,
               "warnings": fitted.diagnostics.get("warnings", [])}
    append(log, closing)
    return [*records, closing]


def _fit_and_left(out: Path, pool_runs: list[Candidate], law: str | Law, n_boot: int, seed: int):
    """The bootstrap fit to every run in ``out``, the pool's runs not trained yet, and the runs trained."""
    frame = read_table(out)
    trained = set(frame["run_id"].to_list())
    fitted = fit(runs.read(frame), law, method="bootstrap", n_boot=n_boot, seed=seed, extrapolation=False)
    return fitted, [c for c in pool_runs if c.run.run_id not in trained], len(trained)


def _record(number: int, count: int, fitted, result, picks: list[Candidate], spent: float) -> dict[str, Any]:
    rows = result.picks.drop("candidate").to_dicts()
    return {
        "round": number, "runs": count, "law": fitted.law.name, "draws": fitted.n_draws,
        "warnings": fitted.diagnostics.get("warnings", []), "goal": result.goal, "uncertainty": result.uncertainty,
        "picks": [{"run_id": c.run.run_id, "d_model": c.run.model.d_model, **row} for c, row in zip(picks, rows)],
        "cost": float(result.picks["cost"].sum()), "spent_before": spent,
    }


def _previous(log: Path) -> tuple[list[dict], float]:
    """Round records of an earlier, stopped loop on the same table, and the FLOPs they spent."""
    if not log.exists():
        return [], 0.0
    rounds = [r for r in read_log(log) if isinstance(r.get("round"), int)]
    return rounds, float(sum(r["cost"] for r in rounds))
