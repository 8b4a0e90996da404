"""``scalemix demo``: the README's main job end to end on embedded real runs.

read runs -> fit the ``multilingual`` law (Fernandes et al. 2023) -> predict for a model 10x the largest
run -> optimal training weights -> HTML report -> a short summary, on the embedded multilingual
translation proxy runs (``proxy-mnmt``) with NUTS.

In the proxy runs each model trains on two language pairs (a cohort: En->{De,Fr} or {De,Ru}->En), so the
demo fits one cohort's two pairs -- the law's ``p`` of one is ``1 - p`` of the other -- and "optimal
weights" are the split between those two pairs for one model of that size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import polars as pl

DATASET = "proxy-mnmt"
LAW = "multilingual"
METHOD = "nuts"
QUICK_METHOD = "bootstrap"
"""``--quick`` resamples instead of sampling the posterior: seconds of fitting instead of minutes."""
SCALE_UP = 10.0
"""The demo predicts, and optimises the mixture, for one model of ``SCALE_UP`` x the largest run's parameters
trained on the runs' token budget (every proxy run trained on the same tokens, and the multilingual law
does not read them: it says nothing about a model trained longer), at the runs' average mixture."""
SEED = 0
_OPTIONS = {
    "nuts": {"full": {"chains": 4, "draws": 1000, "warmup": 1000}},
    "bootstrap": {"full": {"n_boot": 100}, "quick": {"n_boot": 12}},
}


@dataclass(frozen=True)
class DemoResult:
    """What the demo made: the ``fit``, its ``predictions`` at 10x, the ``optimum`` and the files."""

    fit: object
    predictions: pl.DataFrame
    optimum: object
    report: Path
    fit_dir: Path
    runs: str


def run_demo(out="scalemix-demo", *, quick: bool = False, progress: Callable[[str], None] = print) -> DemoResult:
    """Run the demo into folder ``out`` (runs, saved fit, ``report.html`` + ``report.json``).

    ``quick`` fits by a small bootstrap instead of NUTS (for tests and a first look); ``progress``
    receives one line per step.
    """
    from scalemix import runs
    from scalemix.fit import fit as fit_law
    from scalemix.report import build_report, mean_mixture, optimal_mixture

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress("[1/5] reading runs")
    table = runs.read(DATASET)
    targets = cohort(table, table.targets[0])
    method = QUICK_METHOD if quick else METHOD
    options = _OPTIONS[method]["quick" if quick else "full"]
    progress(f"[2/5] fitting the {LAW} law by {method} to {len(targets)} targets of {table.source} ({options})")
    fit = fit_law(table, LAW, method=method, targets=targets, seed=SEED, **options)
    fit_dir = fit.save(out / "fit")
    selected = table.select(targets=targets)
    at = {"params": SCALE_UP * float(selected.frame["params"].max()), "tokens": float(selected.frame["tokens"].max())}
    mixture = mean_mixture(fit, selected)
    progress(f"[3/5] predicting at {_scale(at)}, the runs' average mixture ({_weights(mixture)})")
    predictions = fit.predict({**mixture, **at}, levels=(0.9,))
    progress(f"[4/5] optimal training weights over the draws, for one model at {_scale(at)}")
    optimum = optimal_mixture(fit, selected, at)
    progress("[5/5] writing the report")
    report = build_report(fit, out / "report.html", runs=selected, at=[at], optimum=optimum,
                          command="scalemix demo" + (" --quick" if quick else "") + f" --out {out}")
    return DemoResult(fit, predictions, optimum, report, fit_dir, DATASET)


def summary_lines(result: DemoResult) -> list[str]:
    """A few lines for the terminal: predictions with 90% intervals, the optimum, where the report is."""
    fit, optimum = result.fit, result.optimum
    lines = [f"{fit.law.name} law, {fit.method}, {fit.n_draws} draws, runs {result.runs}, targets {', '.join(fit.targets)}"]
    first = result.predictions.row(0, named=True)
    lines.append(f"  predicted loss at {_scale(first)}, p = the runs' average weight of each pair:")
    for row in result.predictions.iter_rows(named=True):
        lines.append(f"  {row['target']:<14} p = {row['w.' + row['target']]:.2f}: {row['median']:.4g} "
                     f"(90% interval {row['lo90']:.4g} to {row['hi90']:.4g})")
    top = sorted(zip(optimum.domains, optimum.expected), key=lambda item: -item[1])[: len(fit.targets)]
    lines.append(f"  optimal weights for one model trained on {' and '.join(fit.targets)} (mean loss of the targets, "
                 "other domains at 0): " + ", ".join(f"{d} {w:.2f}" for d, w in top))
    baseline = optimum.settings.get("baseline")
    if baseline:
        lines.append(f"  P(optimal mixture beats {baseline['rule']}, run {baseline['run_id']}: "
                     f"{_weights(baseline['weights'])}) = {optimum.p_beats_baseline:.2f}")
    lines.append(f"report: {result.report} (summary {result.report.with_suffix('.json')})")
    return lines


def cohort(table, target: str) -> list[str]:
    """The targets trained together with ``target``: those with weight in some run that trains ``target``
    (its own pair and the pairs sharing its models' mixtures), in the table's order."""
    trains = table.frame.filter(pl.col(f"w.{target}") > 0)
    return [t for t in table.targets if f"w.{t}" in trains.columns and trains[f"w.{t}"].max() > 0]


def _scale(at) -> str:
    """The model size and token budget of ``at`` in words, as the terminal lines say them."""
    return (f"N = {at['params']:.3g} parameters ({SCALE_UP:g}x the largest run), D = {at['tokens']:.3g} tokens "
            "(the runs' budget; the multilingual law does not read D)")


def _weights(mixture) -> str:
    """The non-zero weights of a mixture (``w.<domain>`` or ``<domain>`` keys), ``en-de 0.50, en-fr 0.50``."""
    return ", ".join(f"{name.removeprefix('w.')} {w:.2f}" for name, w in mixture.items() if w > 0)
