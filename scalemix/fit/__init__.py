"""Fitting laws to runs: ``fit(source, law, method=...)`` returns a :class:`~scalemix.Fit`.

Methods: ``point`` (robust multi-start, :mod:`scalemix.fit.point`), ``bootstrap`` (resampled runs),
``nuts`` and ``svi`` (posteriors, :mod:`scalemix.fit.bayes`). Whatever the method, :func:`fit` also
learns how wrong the law gets beyond the fitted scales (:mod:`scalemix.fit.discrepancy`), so that the
fit's predictive intervals widen with the distance a query extrapolates.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from scalemix import diagnostics as checks
from scalemix import laws
from scalemix.errors import FitError
from scalemix.fit import discrepancy
from scalemix.fit.bayes import fit_nuts, fit_svi
from scalemix.fit.point import fit_bootstrap, fit_point
from scalemix.laws import Law
from scalemix.runs import RunTable, read

METHODS = {"point": fit_point, "bootstrap": fit_bootstrap, "nuts": fit_nuts, "svi": fit_svi}


def fit(source, law: str | Law, *, method: str = "point", targets: Sequence[str] | None = None,
        extrapolation: bool = True, **options):
    """Fit ``law`` (a name or a :class:`~scalemix.laws.Law`) to the runs in ``source``.

    ``source`` is anything :func:`scalemix.runs.read` accepts (a run table, a dataset name, a file, a
    spec, a polars or pandas frame); ``targets`` restricts the fit to those targets; ``options`` go to
    the method (``seed``, ``delta``, ``n_boot``, ...). With ``extrapolation`` (the default) the fit's
    :attr:`~scalemix.Fit.discrepancy` is learned by a backtest of point fits on the same runs
    (:func:`scalemix.fit.discrepancy.learn`; its line is in ``diagnostics["extrapolation"]``).
    """
    table = source if isinstance(source, RunTable) else read(source)
    if targets:
        table = table.select(targets=list(targets))
    law = laws.get(law) if isinstance(law, str) else law
    if method not in METHODS:
        raise FitError(f"unknown fit method {method!r}; choose one of {', '.join(METHODS)}")
    result = METHODS[method](table, law, **options)
    if not extrapolation:
        return result
    learned, note = discrepancy.learn(table, law, seed=options.get("seed", 0), delta=options.get("delta", 1e-3))
    warned = result.diagnostics.get("warnings", []) + checks.backtest_warnings(learned)
    return dataclasses.replace(result, discrepancy=learned,
                               diagnostics={**result.diagnostics, "extrapolation": note, "warnings": warned})


__all__ = ["METHODS", "fit", "fit_bootstrap", "fit_nuts", "fit_point", "fit_svi"]
