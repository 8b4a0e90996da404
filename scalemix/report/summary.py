"""The report's numbers as one JSON-ready dict: the HTML is rendered from it, and it is written beside
the HTML, so the two always hold the same numbers."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from scalemix import __version__, intervals
from scalemix import diagnostics as checks
from scalemix.derived import effective_fraction
from scalemix.errors import FitError, OptimizeError
from scalemix.optimize import front

FRACTION_GRID = 51
"""Training weights ``p`` in [0, 1] at which the effective-parameter fraction is summarised and drawn."""

FRONT_POINTS = 11
"""Points on each trade-off front (target weightings between the two targets)."""

_REJECTED_LISTED = 20


def default_at(table) -> dict[str, float]:
    """10x the largest run of ``table``: its parameters and (where recorded) tokens, each times 10."""
    largest = table.frame.sort("params", descending=True).row(0, named=True)
    return {"params": 10 * largest["params"], "tokens": 10 * largest["tokens"]}


def summarize(fit, table, *, at: Sequence[Mapping[str, float]] = (), optimum=None, command: str | None = None) -> dict:
    """Every number the report shows: data, fit, parameters, diagnostics and warnings, predictions at
    the scales ``at`` (dicts of ``params``, ``tokens``, ``w.<domain>``; unset weights are the runs'
    average mixture), the effective-parameter fraction (multilingual law), the optimal mixture (a
    :class:`scalemix.optimize.Optimum` or ``None``), the trade-off front between the first two targets
    and provenance."""
    predictions = _predictions(fit, table, at)
    diagnostics = _diagnostics(fit)
    diagnostics["warnings"] += checks.extrapolation_warnings(predictions, fit.discrepancy)
    return {
        "scalemix": __version__,
        "data": _data(fit, table),
        "fit": _fit(fit),
        "parameters": _json(fit.summary().to_dicts()),
        "diagnostics": diagnostics,
        "predictions": predictions,
        "effective_fraction": _effective_fraction(fit),
        "optimum": _optimum(fit, optimum),
        "front": _front(fit, table, at),
        "provenance": {**_json(fit.provenance), "command": command, "scalemix": __version__},
    }


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
    base = mean_mixture(fit, table)
    query = pl.DataFrame([{**base, **point} for point in at])
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
    return {"status": "computed", "rows": _json(frame.drop("quantity").to_dicts())}


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


def _optimum(fit, optimum) -> dict:
    if not fit.law.reads_mixture:
        return {"status": "not applicable", "reason": f"the {fit.law.name} law does not depend on the mixture"}
    if optimum is None:
        return {"status": "not computed", "reason": "no optimal mixture was asked for"}
    return {"status": "computed", **_json(optimum.to_dict())}


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
