"""The report's numbers as one JSON-ready dict: the HTML is rendered from it, and it is written beside
the HTML, so the two always hold the same numbers."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl
from scipy import stats

from scalemix import __version__, intervals
from scalemix import diagnostics as checks
from scalemix.derived import ROLES, effective_fraction, language_roles, monolingual_tokens, repetition_worth, transfer_matrix
from scalemix.errors import FitError, OptimizeError
from scalemix.optimize import front

FRACTION_GRID = 51
"""Training weights ``p`` in [0, 1] at which the effective-parameter fraction is summarised and drawn."""

FRACTION_TOP = 1.5
"""Top of the effective-fraction axis: f(p) = 1.5 would make a model trained on a share p of the pair worth
1.5 models trained on the pair alone, half as much again as the most transfer measured on the embedded
proxy runs (f_hat ~ 1.0). Draws on a ridge (huge ``c1`` traded against ``beta``) run far above it; the
summary says where each median and 90% band leaves the axis (:func:`first_above`)."""

FRONT_POINTS = 11
"""Points on each trade-off front (target weightings between the two targets)."""

_REJECTED_LISTED = 20


def default_at(table) -> dict[str, float]:
    """10x the largest run of ``table``: its parameters and (where recorded) tokens, each times 10."""
    largest = table.frame.sort("params", descending=True).row(0, named=True)
    return {"params": 10 * largest["params"], "tokens": 10 * largest["tokens"]}


def summarize(fit, table, *, at: Sequence[Mapping[str, float]] = (), optimum=None, command: str | None = None,
              rounds: Sequence[Mapping] | None = None) -> dict:
    """Every number the report shows: data, fit, parameters, diagnostics and warnings, predictions at
    the scales ``at`` (dicts of ``params``, ``tokens``, ``w.<domain>``; at the mixture
    :func:`mixture_at`), the effective-parameter fraction (multilingual law), the optimal mixture (a
    :class:`scalemix.optimize.Optimum` or ``None``), the trade-off front between the first two targets,
    the rounds of a closed loop (``rounds``: the records of its round log) and provenance."""
    predictions = _predictions(fit, table, at)
    diagnostics = _diagnostics(fit)
    diagnostics["warnings"] += checks.extrapolation_warnings(predictions, fit.discrepancy)
    return {
        "scalemix": __version__,
        "data": _data(fit, table),
        "fit": _fit(fit),
        "parameters": _json(fit.summary().to_dicts()),
        "diagnostics": diagnostics,
        "at": [scale_of(fit, table, point) for point in at],
        "predictions": predictions,
        "extrapolation": _extrapolation(fit),
        "effective_fraction": _effective_fraction(fit),
        "transfer": _transfer(fit, table, at),
        "optimum": _optimum(fit, table, optimum),
        "front": _front(fit, table, at),
        "loop": _loop(rounds),
        "provenance": {**_json(fit.provenance), "command": command, "scalemix": __version__},
    }


EXTRAPOLATION_LEVELS = (0.5, 0.8, 0.95)


def _extrapolation(fit) -> dict:
    """The extrapolation term as a reader needs it: growth per decade, where the backtest's evidence ends,
    the backtest's coverage by distance, and the term's interval half-widths (percent of the loss, at the
    median noise of the targets) from 0 to twice the evidence."""
    term = fit.discrepancy
    if term is None:
        return {"status": "none", "reason": fit.diagnostics.get("extrapolation", "the fit learned no extrapolation term")}
    sigma = float(np.median(fit.noise))
    distance = np.linspace(0.0, max(2.0 * term.evidence, 0.5), 41)
    scale = term.scale(distance, sigma)
    curve = [{"distance": float(d), **{f"half{100 * level:g}": float(100 * np.expm1(stats.t.ppf((1 + level) / 2, term.df) * s))
                                       for level in EXTRAPOLATION_LEVELS}} for d, s in zip(distance, scale)]
    return _json({"status": "learned", "axis": term.axis, "rate": term.rate, "noise_factor": term.noise_factor,
                  "evidence": term.evidence, "cuts": term.cuts, "residuals": term.residuals,
                  "coverage": list(term.coverage), "levels": [f"{100 * level:g}" for level in EXTRAPOLATION_LEVELS],
                  "curve": curve})


def untrained_domains(fit, targets: Sequence[str]) -> list[str]:
    """Domains a mixture for ``targets`` should leave at 0: for a law that reads only each target's own
    weight (multilingual), every domain that is not one of ``targets`` -- it would be trained on and
    help none of them. Mixture laws (``w.<domain>`` of every domain) get none."""
    if "weights" in fit.law.needs or "own_weight" not in fit.law.needs:
        return []
    return [d for d in fit.coords.get("domain", ()) if d not in targets]


def front_sizes(table, at: Sequence[Mapping[str, float]]) -> list[float]:
    """Model sizes of the fronts: the smallest and largest run and each requested scale."""
    sizes = [float(table.frame["params"].min()), float(table.frame["params"].max())]
    return sorted(set(sizes + [float(point["params"]) for point in at if "params" in point]))


def mean_mixture(fit, table) -> dict[str, float]:
    """The average training mixture of the runs, ``{w.<domain>: weight}`` over the fit's domains."""
    return {f"w.{d}": float(table.frame[f"w.{d}"].mean()) for d in fit.coords.get("domain", ())}


def read_scales(fit) -> list[str]:
    """Which of model size ``params`` and token budget ``tokens`` the fit's law reads."""
    return [c for c in ("params", "tokens") if c in fit.law.needs]


def mixture_at(fit, table, point: Mapping[str, float]) -> dict[str, float]:
    """The mixture :func:`summarize` predicts at for ``point``, ``{w.<domain>: weight}``: the weights it gives
    (domains it leaves out weigh 0, as in ``scalemix predict``), or the runs' average mixture if it gives none."""
    given = {k: v for k, v in point.items() if k.startswith("w.")}
    if not given:
        return mean_mixture(fit, table)
    return {f"w.{d}": given.get(f"w.{d}", 0.0) for d in fit.coords.get("domain", ())} | given


def scale_of(fit, table, point: Mapping[str, float]) -> dict:
    """What a prediction at ``point`` is for: ``params`` and ``tokens`` with their ratio to the largest run
    (``times_largest``), which of them the law ``reads``, and the ``mixture`` (:func:`mixture_at` as
    ``{domain: weight}``, empty for a law that reads none) with ``mixture_from``: ``"given"`` or
    ``"runs' average"``."""
    given = any(k.startswith("w.") for k in point)
    mixture = mixture_at(fit, table, point)
    scales = [c for c in ("params", "tokens") if c in point]
    return _json({
        **{c: point[c] for c in scales},
        "times_largest": {c: point[c] / float(table.frame[c].max()) for c in scales},
        "reads": read_scales(fit),
        "mixture": {k[2:]: v for k, v in mixture.items()} if fit.law.reads_mixture else {},
        "mixture_from": "given" if given else "runs' average",
    })


def nearest_run_mixture(fit, table, weights: Mapping[str, float]) -> dict | None:
    """The training mixture nearest to ``weights`` (``{domain: weight}``) in total-variation distance,
    among the runs the law set no row aside from: ``{"run_id", "weights", "distance"}``; ``None`` when the
    law set a row aside from every run.

    It is the baseline the report's optimal mixture is judged against (:func:`scalemix.report.optimal_mixture`):
    the question the optimum answers is whether to train at it rather than at a mixture already run, and
    the nearest such mixture is the one a reader would otherwise pick around it, a measured one whose loss
    can be checked. The runs' average mixture may be one no run trained, and a uniform mixture spreads
    weight over domains the model never trained (for an own-weight law: pairs that help none of its
    targets), against which a probability of 1 of beating it says nothing."""
    domains = list(fit.coords.get("domain", ()))
    columns = [f"w.{d}" for d in domains]
    kept = table.frame.filter(~pl.col("run_id").is_in(fit.set_aside["run_id"].implode()))
    runs = kept.unique(subset=columns, keep="first", maintain_order=True)
    if not runs.height:
        return None
    mixtures = runs.select(columns).to_numpy()
    distance = 0.5 * np.abs(mixtures - np.array([weights.get(d, 0.0) for d in domains])).sum(axis=1)
    best = int(np.argmin(distance))
    return _json({"run_id": runs["run_id"][best], "weights": dict(zip(domains, mixtures[best])),
                  "distance": distance[best]})


def _data(fit, table) -> dict:
    summary = table.summary()
    set_aside = fit.set_aside
    reasons = set_aside.group_by("reason", maintain_order=True).len().to_dicts()
    return {
        **summary,
        "rejected_rows": _json(table.rejected.head(_REJECTED_LISTED).to_dicts()),
        "set_aside_by_law": {"rows": set_aside.height, "reasons": {r["reason"]: r["len"] for r in reasons}},
    }


def _fit(fit) -> dict:
    return {
        "law": fit.law.name,
        "law_options": dict(fit.law.options),
        "formula": fit.law.formula,
        "reference": fit.law.reference,
        "method": fit.method,
        "draws": fit.n_draws,
        "targets": list(fit.targets),
        "objective": _number(fit.diagnostics.get("objective")),
        "has_intervals": fit.n_draws > 1,
    }


def _diagnostics(fit) -> dict:
    facts = {k: v for k, v in fit.diagnostics.items() if k not in ("per_parameter", "warnings", "groups", "point")}
    return {"facts": _json(facts), "warnings": _warnings(fit)}


def _warnings(fit) -> list[str]:
    """Plain-language warnings: those the fit wrote, then how to read its parameter table."""
    return list(fit.diagnostics.get("warnings", [])) + checks.reading_notes(fit.summary(), fit.n_draws)


def _predictions(fit, table, at) -> list[dict]:
    if not at:
        return []
    query = pl.DataFrame([{**point, **mixture_at(fit, table, point)} for point in at])
    frame = fit.predict(query, levels=(0.5, 0.9))
    keep = [c for c in ("params", "tokens") if c in query.columns]
    keep += ["target"] + ([f"w.{t}" for t in fit.targets] if "own_weight" in fit.law.needs else [])
    credible = [*intervals.columns(0.5), *intervals.columns(0.9)]
    rows = []
    for row in frame.iter_rows(named=True):
        record = {k: row[k] for k in ("params", "tokens", "target") if k in keep}
        if "own_weight" in fit.law.needs:
            record["p"] = row[f"w.{row['target']}"]
        record.update({k: row[k] for k in ("mean", "median")})
        record.update({k: row[k] if fit.n_draws > 1 else None for k in credible})
        record.update({k: row[k] for k in intervals.columns(0.9, predictive=True)})
        record.update({k: row[k] for k in row if k.startswith("beyond_")})
        rows.append(record)
    return _json(rows)


def _effective_fraction(fit) -> dict:
    if fit.law.name != "multilingual" or dict(fit.law.options).get("f") == "proportional":
        return {"status": "not applicable", "reason": f"the {fit.law.name} law has no effective-parameter fraction"}
    frame = effective_fraction(fit, np.linspace(0.0, 1.0, FRACTION_GRID), levels=(0.5, 0.9))
    rows = _json(frame.drop("quantity").to_dicts())
    return {"status": "computed", "form": dict(fit.law.options)["f"], "top": FRACTION_TOP,
            "leaves": {t: first_above([r for r in rows if r["target"] == t], FRACTION_TOP) for t in fit.targets},
            "rows": rows}


TRANSFER_EPOCHS = (1, 2, 4, 8, 16)
"""Passes over repeated data whose worth the report prices."""


def _transfer(fit, table, at) -> dict:
    """A transfer fit's readouts (:mod:`scalemix.derived`): the transfer matrix with 90% intervals, the language
    roles and the monolingual tokens at the first scale of ``at`` (at its mixture, :func:`mixture_at`), and the
    effective epochs of repeated data."""
    if fit.law.name != "transfer":
        return {"status": "not applicable", "reason": f"the {fit.law.name} law has no transfer matrix"}
    point = {"params": float(table.frame["params"].median()), "tokens": float(table.frame["tokens"].median()),
             **mixture_at(fit, table, at[0] if at else {})}
    return {
        "status": "computed", "at": _json(point), "roles_order": list(ROLES),
        "matrix": _json(transfer_matrix(fit, levels=(0.9,)).to_dicts()),
        "roles": _json(language_roles(fit, point).to_dicts()),
        "monolingual": _json(monolingual_tokens(fit, point, levels=(0.9,)).select("target", "quantity", "median", "lo90", "hi90").to_dicts()),
        "repetition": _json(repetition_worth(fit, TRANSFER_EPOCHS, levels=(0.9,)).to_dicts()),
    }


def first_above(rows: list[dict], top: float) -> dict:
    """The first ``p`` (rows in increasing ``p``) at which the ``median`` and the ``hi90`` bound of a target's
    effective fraction rise above ``top`` (a value the JSON holds as ``None`` is not finite: above); ``None``
    where it stays below."""
    return {k: next((r["p"] for r in rows if r[k] is None or r[k] > top), None) for k in ("median", "hi90")}


def _front(fit, table, at) -> dict:
    """The Pareto front between the first two targets (Fernandes et al. 2023, Figure 7) at
    :func:`front_sizes`, tokens at the runs' median tokens per parameter, within the targets' own
    domains for own-weight laws (:func:`untrained_domains`)."""
    targets = list(fit.targets[:2])
    if len(targets) < 2:
        return {"status": "not applicable", "reason": "a front needs a fit of two or more targets"}
    sizes = np.asarray(front_sizes(table, at))
    ratio = float(np.median(table.frame["tokens"] / table.frame["params"]))
    try:
        frame = front(fit, targets, params=sizes, tokens=sizes * ratio, points=FRONT_POINTS,
                      zero=untrained_domains(fit, targets))
    except (OptimizeError, FitError) as error:  # e.g. draws so poor that a front mixture leaves a target at p = 0
        return {"status": "not applicable", "reason": str(error)}
    keep = ["point", "params", "tokens", *(c for c in frame.columns if c.startswith(("lambda.", "w."))),
            "target", "mean", "median", *intervals.columns(0.9)]
    return {"status": "computed", "targets": targets, "sizes": _json(sizes), "rows": _json(frame.select(keep).to_dicts())}


def _optimum(fit, table, optimum) -> dict:
    if not fit.law.reads_mixture:
        return {"status": "not applicable", "reason": f"the {fit.law.name} law does not depend on the mixture"}
    if optimum is None:
        return {"status": "not computed", "reason": "no optimal mixture was asked for"}
    found = _json(optimum.to_dict())
    at = scale_of(fit, table, {c: found["settings"][c] for c in ("params", "tokens")})
    return {"status": "computed", "at": at, **found}


def _loop(rounds: Sequence[Mapping] | None) -> dict:
    """The closed loop's rounds: per round the runs fitted, the goal's uncertainty, the picks and their FLOPs,
    and the uncertainty after the last batch."""
    if not rounds:
        return {"status": "none", "reason": "no round log was given (scalemix report --rounds RUNS.rounds.jsonl)"}
    steps = [r for r in rounds if isinstance(r.get("round"), int)]
    final = [r for r in rounds if r.get("round") == "final"]
    rows = [{"round": r["round"], "runs": r["runs"], "uncertainty": r["uncertainty"], "picks": len(r["picks"]),
             "cost": r["cost"], "spent": r["spent_before"] + r["cost"]} for r in steps]
    if final:
        last = final[-1]
        rows.append({"round": "after the last batch", "runs": last["runs"], "uncertainty": last["uncertainty"],
                     "picks": 0, "cost": 0.0, "spent": last["spent"]})
    return {"status": "computed", "goal": steps[0]["goal"] if steps else None, "rows": _json(rows),
            "stopped": final[-1].get("stopped") if final else None,
            "picks": _json([{"round": r["round"], **p} for r in steps for p in r["picks"]])}


def _number(value):
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _json(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python numbers and non-finite floats into None."""
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json(value.tolist())
    if isinstance(value, (np.generic, float)):
        return _number(value) if isinstance(value, (float, np.floating)) else value.item()
    return value
