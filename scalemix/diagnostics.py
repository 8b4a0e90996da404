"""Whether a fit can be trusted: the thresholds, and the plain-language warnings every fit method writes.

Each fit method writes its warnings into ``fit.diagnostics["warnings"]`` (and raises them as Python
warnings); the CLI and the report print them as they are. What a warning says -- what is off, what it
means, what to do -- lives here once, beside the threshold that triggers it:

- point fits: starts that did not converge or that found the optimum alone, parameters that ran off to the
  edge of their range;
- NUTS: divergences, R-hat above :data:`RHAT_LIMIT` (Vehtari et al. 2021), ESS below
  :data:`ESS_PER_CHAIN` per chain;
- SVI and PSIS-LOO: Pareto k above :data:`PARETO_K_LIMIT` (Yao et al. 2018; Vehtari et al. 2017);
- any fit with draws: parameters the runs barely constrain (:func:`reading_notes`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl

RHAT_LIMIT = 1.01
"""A parameter whose rank-normalised R-hat exceeds this has chains that disagree (Vehtari et al. 2021)."""
ESS_PER_CHAIN = 100
"""A parameter whose bulk or tail ESS is below this many per chain gets a warning (Vehtari et al. 2021)."""
PARETO_K_LIMIT = 0.7
"""Importance weights with a Pareto k above this are unreliable: an SVI guide that misses posterior mass
(Yao et al. 2018), or a run whose PSIS-LOO estimate cannot be trusted (Vehtari, Gelman & Gabry 2017)."""
BASIN_RTOL = 1e-6
"""Starts whose objective is within this relative distance of the best are counted as in its basin."""
RAN_OFF_PRIOR_SDS = 10.0
"""A fitted parameter farther than this many prior sd from its prior's centre (in the unconstrained space)
has run off along a direction the runs do not determine, and the fit says so."""
WIDE_RATIO = 10.0
"""A parameter whose 95% interval spans more than this factor is one the runs barely constrain."""
VANISHING = 1e-8
"""A parameter whose median magnitude is below this has been pushed to the edge of its range."""


def listing(names: Sequence[str], shown: int = 5) -> str:
    """``a, b, c and 4 more``: the first ``shown`` names, then how many are left out."""
    names = list(names)
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def point_warnings(groups: dict[str, dict]) -> list[str]:
    """Warnings on a multi-start point fit from its per-group facts (``converged``, ``starts_in_best_basin``)."""
    found = []
    unconverged = [name for name, group in groups.items() if not group["converged"]]
    if unconverged:
        found.append(f"The optimiser stopped before converging for {listing(unconverged)}: its numbers may still "
                     "move; raise max_iter or check the data of those targets.")
    lonely = [name for name, group in groups.items() if group["starts_in_best_basin"] == 1]
    if lonely:
        found.append(f"Only one start reached the best fit for {listing(lonely)}: the optimum is fragile and "
                     "another start could find a different one.")
    return found


def ran_off_warning(names: Sequence[str]) -> list[str]:
    """The warning naming parameters that went to the edge of their range (see :data:`RAN_OFF_PRIOR_SDS`)."""
    if not names:
        return []
    one = len(names) == 1
    return [f"{', '.join(names)} went to the edge of {'its' if one else 'their'} range, towards 0 or infinity "
            f"(more than {RAN_OFF_PRIOR_SDS:g} prior sd from the prior's centre), where the law degenerates (a term "
            f"vanishes, or parameters trade off along a ridge): read it as the simpler law, fit with --method nuts, "
            f"whose priors hold such parameters, or add runs that pin {'it' if one else 'them'} down"]


def bootstrap_warnings(converged: int, resamples: int) -> list[str]:
    """A warning when some bootstrap resamples did not converge: their draws widen the intervals falsely."""
    if converged == resamples:
        return []
    return [f"only {converged} of {resamples} bootstrap resamples converged: the intervals mix in unfinished "
            "refits; raise max_iter or check the runs"]


def parameter_warning(rhat: float, ess_bulk: float, ess_tail: float, chains: int) -> str | None:
    """``"R-hat 1.030 > 1.01; ESS 150 < 400"`` for a parameter whose draws are not yet trustworthy, else None."""
    found = []
    if chains > 1 and rhat > RHAT_LIMIT:
        found.append(f"R-hat {rhat:.3f} > {RHAT_LIMIT}")
    if min(ess_bulk, ess_tail) < ESS_PER_CHAIN * chains:
        found.append(f"ESS {min(ess_bulk, ess_tail):.0f} < {ESS_PER_CHAIN * chains}")
    return "; ".join(found) or None


def mcmc_warnings(divergences: int, max_rhat: float | None, worst: str | None, chains: int,
                  low_ess: Sequence[str]) -> list[str]:
    """Warnings on a NUTS posterior: divergences, the worst R-hat, parameters with too few effective draws."""
    found = []
    if divergences:
        found.append(f"{divergences} divergent transition(s) after warmup: NUTS could not follow part of the "
                     f"posterior; raise --warmup, try --hierarchical off/on, and read intervals with care")
    if max_rhat is not None and max_rhat > RHAT_LIMIT:
        found.append(f"R-hat up to {max_rhat:.3f} > {RHAT_LIMIT} ({worst}): the chains disagree; run more "
                     f"--warmup/--draws before trusting the intervals")
    if chains == 1:
        found.append("one chain: R-hat cannot be computed; run --chains 2 or more to check convergence")
    if low_ess:
        found.append(f"ESS is below {ESS_PER_CHAIN * chains} for {len(low_ess)} parameter(s) ({listing(low_ess)}): "
                     "interval ends are noisy; draw more samples.")
    return found


def svi_warnings(losses: np.ndarray, pareto_k: float, from_point: bool) -> list[str]:
    """Warnings on an SVI fit: a loss trace (the negative ELBO per step) that is not finite, or a guide
    whose importance weights have a Pareto k above :data:`PARETO_K_LIMIT`."""
    if not np.isfinite(losses[-1]):
        return ["the ELBO is not finite: lower learning_rate or fit with nuts"]
    if not pareto_k <= PARETO_K_LIMIT:
        remedies = ("run more --steps or fit with nuts" if from_point else
                    "start it from the point fit (init='point'), run more --steps, or fit with nuts")
        return [f"the SVI approximation is unreliable (Pareto k {pareto_k:.2f} > {PARETO_K_LIMIT}): it misses part of "
                f"the posterior and its intervals are too narrow or misplaced; {remedies}"]
    return []


def loo_warning(model: str, bad_runs: int) -> str:
    """The warning on a PSIS-LOO estimate with runs whose Pareto k exceeds :data:`PARETO_K_LIMIT`."""
    return f"{model}: {bad_runs} run(s) with Pareto k > {PARETO_K_LIMIT}, LOO is unreliable there"


def backtest_warnings(discrepancy) -> list[str]:
    """A warning when some backtest cuts behind an extrapolation term were fitted without converging."""
    if discrepancy is None or not discrepancy.unconverged_cuts:
        return []
    return [f"{discrepancy.unconverged_cuts} of {discrepancy.cuts} backtest fits behind the extrapolation term stopped "
            "before converging: the term's growth rate may be off; raise max_iter or check the smaller runs"]


def extrapolation_warnings(predictions: Sequence[dict], discrepancy) -> list[str]:
    """A warning when predictions lie beyond where the fit's backtest has evidence (``beyond_evidence``)."""
    far = [p for p in predictions if p.get("beyond_evidence")]
    if not far:
        return []
    if discrepancy is None:
        return [f"{len(far)} prediction(s) lie outside the fitted scales and the fit has no extrapolation term (no "
                "backtest was possible): their intervals hold parameter and noise uncertainty only, far too narrow "
                "where the law's form is wrong; add runs at more scales"]
    farthest = max(p.get(f"beyond_{discrepancy.axis}", 0.0) for p in far)
    return [f"{len(far)} prediction(s) lie up to {farthest:.2g} decades of {discrepancy.axis} beyond the fitted range, "
            f"farther than the backtest scored any run ({discrepancy.evidence:.2g} decades): their widened intervals "
            "extend the trend the backtest saw and rest on no evidence there"]


def reading_notes(summary: pl.DataFrame, n_draws: int) -> list[str]:
    """How to read a fit's parameter table (``Fit.summary()``): no intervals from a single draw, parameters
    fitted to essentially 0 (:data:`VANISHING`), 95% intervals wider than :data:`WIDE_RATIO`."""
    found = []
    if n_draws == 1:
        found.append("A point fit is a single draw: it has no intervals. Fit with --method bootstrap or nuts "
                     "to see how sure the numbers are.")
    vanishing = summary.filter(pl.col("median").abs() < VANISHING)
    if vanishing.height:
        found.append(f"{listing(vanishing['parameter'].to_list())} fitted to essentially 0 (below {VANISHING:g}): "
                     "the runs do not pin these down (too few sizes or weights); read the law as the simpler one "
                     "without them.")
    if n_draws > 1:
        wide = summary.filter((pl.col("q025") > 0) & (pl.col("q975") > WIDE_RATIO * pl.col("q025")))
        if wide.height:
            found.append(f"The 95% interval spans more than {WIDE_RATIO:g}x for {listing(wide['parameter'].to_list())}: "
                         "the runs barely constrain these; add runs at more sizes or weights.")
    return found


__all__ = [
    "BASIN_RTOL", "ESS_PER_CHAIN", "PARETO_K_LIMIT", "RAN_OFF_PRIOR_SDS", "RHAT_LIMIT", "VANISHING", "WIDE_RATIO",
    "backtest_warnings", "bootstrap_warnings", "extrapolation_warnings", "listing", "loo_warning", "mcmc_warnings", "parameter_warning", "point_warnings",
    "ran_off_warning", "reading_notes", "svi_warnings",
]
