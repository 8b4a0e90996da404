"""Fitting laws to runs: ``fit(source, law, method=...)`` returns a :class:`~scalemix.Fit`.

Methods: ``point`` (robust multi-start, :mod:`scalemix.fit.point`), ``bootstrap`` (resampled runs),
``nuts`` and ``svi`` (posteriors, :mod:`scalemix.fit.bayes`).
"""

from __future__ import annotations

from typing import Sequence

from scalemix import laws
from scalemix.errors import FitError
from scalemix.fit.bayes import fit_nuts, fit_svi
from scalemix.fit.point import fit_bootstrap, fit_point
from scalemix.laws import Law
from scalemix.runs import RunTable, read

METHODS = {"point": fit_point, "bootstrap": fit_bootstrap, "nuts": fit_nuts, "svi": fit_svi}


def fit(source, law: str | Law, *, method: str = "point", targets: Sequence[str] | None = None, **options):
    """Fit ``law`` (a name or a :class:`~scalemix.laws.Law`) to the runs in ``source``.

    ``source`` is anything :func:`scalemix.runs.read` accepts (a run table, a dataset name, a file, a
    spec, a polars or pandas frame); ``targets`` restricts the fit to those targets; ``options`` go to
    the method (``seed``, ``delta``, ``n_boot``, ...).
    """
    table = source if isinstance(source, RunTable) else read(source)
    if targets:
        table = table.select(targets=list(targets))
    law = laws.get(law) if isinstance(law, str) else law
    if method not in METHODS:
        raise FitError(f"unknown fit method {method!r}; choose one of {', '.join(METHODS)}")
    return METHODS[method](table, law, **options)


__all__ = ["METHODS", "fit", "fit_bootstrap", "fit_nuts", "fit_point", "fit_svi"]
