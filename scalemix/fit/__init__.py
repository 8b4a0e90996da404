"""Fitting laws to runs: ``fit(source, law, method=...)`` returns a :class:`~scalemix.Fit`.

Methods: ``point`` (robust multi-start, :mod:`scalemix.fit.point`), ``bootstrap`` (resampled runs),
``nuts`` and ``svi`` (posteriors, :mod:`scalemix.fit.bayes`). Whatever the method, :func:`fit` also
learns how wrong the law gets beyond the fitted scales (:mod:`scalemix.fit.discrepancy`), so that the
fit's predictive intervals widen with the distance a query extrapolates.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from typing import Sequence

from scalemix import diagnostics as checks
from scalemix import laws
from scalemix.errors import FitError
from scalemix.fit import discrepancy, shrinkage, stacking
from scalemix.fit.bayes import fit_nuts, fit_svi
from scalemix.fit.point import fit_bootstrap, fit_point
from scalemix.laws import Law
from scalemix.runs import RunTable, read

METHODS = {"point": fit_point, "bootstrap": fit_bootstrap, "nuts": fit_nuts, "svi": fit_svi}


def fit(source, law: str | Law | Sequence[str | Law], *, method: str = "point", targets: Sequence[str] | None = None,
        extrapolation: bool = True, **options):
    """Fit ``law`` (a name or a :class:`~scalemix.laws.Law`) to the runs in ``source``.

    ``source`` is anything :func:`scalemix.runs.read` accepts (a run table, a dataset name, a file, a
    spec, a polars or pandas frame); ``targets`` restricts the fit to those targets; ``options`` go to
    the method (``seed``, ``delta``, ``n_boot``, ``shrinkage``, ...); ``shrinkage="cv"`` (point and bootstrap)
    chooses the ridge strength on per-domain coefficients by cross-validation over runs
    (:mod:`scalemix.fit.shrinkage`; its line is in ``diagnostics["shrinkage"]``). With ``extrapolation`` (the default) the fit's
    :attr:`~scalemix.Fit.discrepancy` is learned by a backtest of point fits on the same runs
    (:mod:`scalemix.fit.discrepancy`; its line is in ``diagnostics["extrapolation"]``).

    Given several laws (``["chinchilla", "kaplan"]``) it fits each and returns their
    :class:`~scalemix.stack.Stack`, weighted by the leave-future-out scores of those backtests
    (:mod:`scalemix.fit.stacking`): one predictor whose intervals carry the spread between the laws.
    """
    table = source if isinstance(source, RunTable) else read(source)
    if targets:
        table = table.select(targets=list(targets))
    if method not in METHODS:
        raise FitError(f"unknown fit method {method!r}; choose one of {', '.join(METHODS)}")
    if isinstance(law, (str, Law)):
        return _fit_one(table, _law(law), method, extrapolation, options)[0]
    candidates = [_law(one) for one in law]
    if len(candidates) < 2 or not extrapolation:
        raise FitError(f"stacking needs two or more laws and their backtests (extrapolation on); got "
                       f"{len(candidates)} law(s){'' if extrapolation else ' with extrapolation off'}")
    fitted, scores = zip(*(_fit_one(table, one, method, True, options) for one in candidates))
    for one, scored, result in zip(candidates, scores, fitted):
        if scored is None:
            raise FitError(f"cannot stack law {one.name!r}: {result.diagnostics['extrapolation']}")
    return stacking.stack(fitted, scores)


def _law(law: str | Law) -> Law:
    return laws.get(law) if isinstance(law, str) else law


def _fit_one(table: RunTable, law: Law, method: str, extrapolation: bool, options: dict):
    """The fit of one law and, with ``extrapolation``, its backtest rows (``None`` where none could be
    scored; the reason is then in ``diagnostics["extrapolation"]``)."""
    result = _fit_method(table, law, method, options)
    if not extrapolation:
        return result, None
    learned, note, scored = discrepancy.learn_with_scores(table, law, seed=options.get("seed", 0),
                                                          delta=options.get("delta", 1e-3))
    warned = result.diagnostics.get("warnings", []) + checks.backtest_warnings(learned)
    return dataclasses.replace(result, discrepancy=learned,
                               diagnostics={**result.diagnostics, "extrapolation": note, "warnings": warned}), scored


def _fit_method(table: RunTable, law: Law, method: str, options: dict):
    """``METHODS[method]`` with ``options``; ``shrinkage="cv"`` is chosen first (:func:`shrinkage.choose`)."""
    if options.get("shrinkage") != "cv":
        return METHODS[method](table, law, **options)
    if method not in ("point", "bootstrap"):
        raise FitError(f"shrinkage is a point and bootstrap option; {method} learns it from the runs with shrink_domains=True (--shrink-domains)")
    settings = {k: options[k] for k in ("seed", "delta", "max_iter") if k in options}
    choice = shrinkage.choose(table, law, **settings)
    result = METHODS[method](table, law, **{**options, "shrinkage": choice.strength})
    return dataclasses.replace(result, diagnostics={**result.diagnostics, "shrinkage": choice.describe()})


class _CallableModule(types.ModuleType):
    """This package, callable as :func:`fit`: ``import scalemix as sm; sm.fit(...)`` must call the function
    even after ``scalemix.fit`` was imported as a module, which makes ``sm.fit`` the module (the import
    system sets a package's attribute to its imported sub-package, over the lazily exported function)."""

    def __call__(self, *args, **kwargs):
        return fit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["METHODS", "fit", "fit_bootstrap", "fit_nuts", "fit_point", "fit_svi"]
