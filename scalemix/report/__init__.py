"""Self-contained HTML uncertainty reports on a fit, with a JSON summary of the same numbers beside them.

    from scalemix.report import build_report
    build_report(fit, "report.html", at=[{"params": 7e10, "tokens": 1.4e12}])

Sections: data, fitted curves with 50% / 90% bands and residuals per target, the effective-parameter
fraction (multilingual laws), the transfer matrix, language roles and repetition (transfer law), parameters with R-hat / ESS, diagnostics with plain-language warnings,
predictions, the optimal mixture and the trade-off front between two targets, the rounds of a closed loop,
provenance. Figures are embedded PNGs: nothing is fetched at view time.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Mapping, Sequence

import jinja2
import numpy as np

from scalemix import intervals
from scalemix.active.rounds import read_log
from scalemix.optimize import optimize
from scalemix.report import curves, figures
from scalemix.report.source import runs_for
from scalemix.report.summary import default_at, mean_mixture, nearest_run_mixture, summarize, untrained_domains

MAX_PANELS = 12
"""Targets drawn in the per-target figures; the JSON summary and tables hold them all."""

MAX_PARAMETER_ROWS = 200
"""Rows of the HTML parameter table; the JSON summary holds them all."""

BASELINE_RULE = "the training mixture nearest to the optimum"
"""The baseline :func:`optimal_mixture` judges the optimum against, as the report names it."""

_FRACTION_FORMS = {
    "power": "f = power: f(p) = p + c1 p^c2 (1 - p)^c3 with c1 > 0",
    "linear": "f = linear: f(p) = c0 + (1 - c0) p with 0 < c0 < 1",
}
"""The multilingual law's effective-fraction forms that have a curve to draw, as the caption writes them."""

_RANKED_ELEMENTS = 2
_PREDICTION_HEADERS = {
    **dict(zip(intervals.columns(0.5), ("50% lo", "50% hi"))),
    **dict(zip(intervals.columns(0.9), ("90% lo", "90% hi"))),
    **dict(zip(intervals.columns(0.9, predictive=True), ("predictive 90% lo", "predictive 90% hi"))),
    "beyond_params": "decades beyond N", "beyond_tokens": "decades beyond D", "beyond_compute": "decades beyond C",
    "mixture_distance": "mixture distance", "beyond_evidence": "beyond the backtest's evidence",
}


def build_report(
    fit,
    out,
    *,
    runs=None,
    at: Sequence[Mapping[str, float]] | None = None,
    optimum=None,
    command: str | None = None,
    rounds=None,
) -> Path:
    """Write the HTML report on ``fit`` to ``out`` and its JSON summary to ``out`` with suffix ``.json``.

    ``runs``: the runs the fit was made on (default: re-read the source its provenance names; the
    fingerprint must match). ``at``: scales to predict at (dicts of ``params``, ``tokens``,
    ``w.<domain>``; default: 10x the largest run). ``optimum``: a :class:`scalemix.optimize.Optimum` to
    show. ``command``: the command line that made the report, for provenance. ``rounds``: the round log of a
    closed loop (``<out>.rounds.jsonl``, or its records) whose runs these are. Returns the HTML path.
    """
    table = runs_for(fit, runs)
    at = [default_at(table)] if at is None else list(at)
    records = read_log(rounds) if isinstance(rounds, (str, Path)) else rounds
    summary = summarize(fit, table, at=at, optimum=optimum, command=command, rounds=records)
    html = render(summary, _figures(fit, table, summary))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return out


def optimal_mixture(fit, table, at: Mapping[str, float]):
    """The optimal training mixture for one model at scale ``at`` (``params``, ``tokens``) over the fit's
    draws (:func:`scalemix.optimize.optimize`), judged against the training mixture nearest to it
    (:func:`scalemix.report.summary.nearest_run_mixture`, which says why that baseline), recorded in its
    ``settings["baseline"]`` (none where the law can score no run's mixture); ``None`` for a law the
    mixture does not enter.

    For a law that reads only each target's own weight (multilingual) the mixture is over the fitted
    targets' domains alone (:func:`untrained_domains`): one model trained on its own pairs. The optimum is
    solved twice, the second time with the baseline it picked: the baseline depends on the optimum."""
    if not fit.law.reads_mixture:
        return None
    options = {"params": at.get("params"), "tokens": at.get("tokens"), "zero": untrained_domains(fit, fit.targets)}
    first = optimize(fit, **options)
    baseline = nearest_run_mixture(fit, table, dict(zip(first.domains, first.expected)))
    if baseline is None:
        return first
    found = optimize(fit, baseline=baseline["weights"], **options)
    return dataclasses.replace(found, settings={**found.settings, "baseline": {"rule": BASELINE_RULE, **baseline}})


def render(summary: dict, figures: dict) -> str:
    """The HTML page for ``summary`` with ``figures`` (data URIs); every string is autoescaped."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.filters["num"] = format_number
    extra = [c for c in ("rhat", "ess_bulk", "ess_tail") if summary["parameters"] and c in summary["parameters"][0]]
    optimum = summary["optimum"]
    return environment.get_template("template.html.j2").render(
        s=summary, figures=figures, extra_columns=extra, max_rows=MAX_PARAMETER_ROWS,
        prediction_headers=_PREDICTION_HEADERS,
        scales=[scale_text(point, summary["fit"]["law"]) for point in summary["at"]],
        optimum_scale=scale_text(optimum["at"], summary["fit"]["law"], mixture=False) if "at" in optimum else None,
    )


def scale_text(point: dict, law: str, mixture: bool = True) -> str:
    """A scale of the summary (:func:`scalemix.report.summary.scale_of`) in words: N, D (each against the
    largest run, and whether ``law`` reads it) and, with ``mixture``, the mixture and where it came from."""
    words = {"params": ("N", "parameters"), "tokens": ("D", "tokens")}
    parts = []
    for column in ("params", "tokens"):
        if column in point:
            symbol, unit = words[column]
            note = f"{format_number(point['times_largest'][column])}x the largest run"
            if column not in point["reads"]:
                note += f"; the {law} law does not read {symbol}"
            parts.append(f"{symbol} = {format_number(point[column])} {unit} ({note})")
    if mixture:
        if point["mixture"]:
            weights = ", ".join(f"{d} {format_number(w)}" for d, w in point["mixture"].items() if w > 0)
            zeros = sum(1 for w in point["mixture"].values() if w <= 0)
            others = f"; {zeros} other domain(s) at 0" if zeros else ""
            parts.append(f"the {point['mixture_from']} mixture ({weights}{others})")
        else:
            parts.append(f"no mixture (the {law} law does not read one)")
    return ", ".join(parts)


def format_number(value) -> str:
    """How the report prints a number: 4 significant digits; ``-`` for a missing one."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def _figures(fit, table, summary: dict) -> dict:
    shown = list(fit.targets[:MAX_PANELS])
    more = f" Showing {len(shown)} of {len(fit.targets)} targets." if len(fit.targets) > len(shown) else ""
    fraction, front = summary["effective_fraction"], summary["front"]
    return {
        "curves": figures.fit_curves(curves.curves(fit, table, shown), table.loss_unit),
        "curves_caption": _curves_caption(fit) + more,
        "residuals": figures.residuals(curves.residuals(fit, table), shown),
        "effective_fraction": figures.effective_fraction(fraction["rows"], shown, fraction["top"]) if "rows" in fraction else None,
        "fraction_caption": _fraction_caption(fraction, shown) if "rows" in fraction else None,
        "per_weighting": figures.per_weighting(fit) if "weighting" in fit.coords else None,
        "transfer": figures.transfer_matrix(summary["transfer"]["matrix"]) if summary["transfer"]["status"] == "computed" else None,
        "front": figures.front(front["rows"], front["targets"], table.loss_unit) if "rows" in front else None,
        "extrapolation": figures.extrapolation(summary["extrapolation"]) if summary["extrapolation"]["status"] == "learned" else None,
        "loop": figures.loop_rounds(summary["loop"]["rows"]) if summary["loop"]["status"] == "computed" else None,
        "rank": _rank(fit) if fit.inference_data is not None and "posterior" in fit.inference_data.groups() else None,
    }


def _curves_caption(fit) -> str:
    bands = "median curve with 50% and 90% bands over the draws" if fit.n_draws > 1 else "fitted curve"
    parts = [f"Observed losses (points) and the {bands}, log-log over model size."]
    if "own_weight" in fit.law.needs:
        parts.append("One colour per training weight p of the target (quintiles of p, drawn at their median, "
                     "when there are many).")
    if "tokens" in fit.law.needs:
        parts.append("Curves hold tokens per parameter at the series' median ratio; points sit at their own tokens.")
    if "weights" in fit.law.needs:
        parts.append("Curves are at the runs' average mixture; points at their own mixtures.")
    return " ".join(parts)


def _fraction_caption(fraction: dict, shown: list[str]) -> str:
    """What the effective-fraction figure shows and what its law can express: every form of the
    multilingual law keeps ``f(p) >= p``, so none can show interference; and where each curve leaves the axis."""
    leaving = []
    for target in shown:
        where = fraction["leaves"][target]
        said = [f"its {name} above p = {where[key]:.2g}" for key, name in (("median", "median"), ("hi90", "90% band"))
                if where[key] is not None]
        leaving.append(f"{target} leaves it, {', '.join(said)}" if said else f"{target} stays inside it")
    return " ".join([
        "f_i(p) against the pair's training weight p (median, 50% and 90% bands) with the f = p diagonal, as in "
        "Fernandes et al. 2023, Figure 6.",
        f"This law has {_FRACTION_FORMS[fraction['form']]}, so f(p) >= p at every p: it can show the other training "
        "data helping the pair (above the diagonal: synergy) or doing nothing (on it), never interfering (below it).",
        "No form of the multilingual law can (f = power and f = linear stay above p; f = proportional is the "
        "diagonal): "
        "runs that do worse mixed than their share p implies leave f on the diagonal and the misfit in the "
        "residuals. The multilingual-per-weight law (one beta per weighting, Fernandes et al. eq. 7) can show it.",
        f"The axis runs from 0 to {fraction['top']:g}; " + "; ".join(leaving) + ".",
    ])


def _rank(fit) -> str:
    posterior = fit.inference_data.posterior
    names = [p.name for p in fit.law.params if p.name in posterior]
    first = {dim: list(posterior[dim].values[:_RANKED_ELEMENTS]) for n in names for dim in posterior[n].dims
             if dim not in ("chain", "draw")}
    return figures.rank_plot(fit.inference_data.sel(**first), names, panels=sum(
        int(np.prod([len(first[d]) for d in posterior[n].dims if d in first])) for n in names))


__all__ = ["build_report", "default_at", "format_number", "mean_mixture", "optimal_mixture", "render", "runs_for",
           "untrained_domains"]
