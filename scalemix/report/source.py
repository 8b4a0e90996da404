"""The run table a fit was made on, re-read from the source its provenance names and checked by fingerprint."""

from __future__ import annotations

from scalemix.errors import RunTableError
from scalemix.runs import RunTable, read


def runs_for(fit, runs=None):
    """The runs ``fit`` was made on: ``runs`` (a run table, dataset name or path) or else the source
    recorded in ``fit.provenance["data"]["source"]``, restricted to the fit's targets.

    Raises :class:`RunTableError` when the source cannot be re-read (an in-memory frame) or its
    fingerprint differs from the one the fit recorded: a report on other data would be wrong.
    """
    recorded = fit.provenance.get("data", {})
    source = runs if runs is not None else recorded.get("source")
    if source is None or (isinstance(source, str) and source.startswith("<")):
        raise RunTableError(
            f"the fit was made on {source or 'runs it did not record'}, which cannot be re-read; "
            "pass the runs it was made on (scalemix report FIT --runs SOURCE)"
        )
    table = source if isinstance(source, RunTable) else read(source)
    expected = recorded.get("fingerprint")
    if expected is None or table.fingerprint() == expected:
        return _fit_targets(table, fit)
    selected = _fit_targets(table, fit)
    if selected.fingerprint() != expected:
        raise RunTableError(
            f"runs {table.source} have fingerprint {table.fingerprint()[:12]}, but the fit was made on runs with "
            f"fingerprint {expected[:12]}; pass the runs the fit was made on with --runs"
        )
    return selected


def _fit_targets(table, fit):
    """``table`` restricted to the fit's targets; a table without them cannot be the fit's runs."""
    targets = list(fit.targets)
    try:
        return table if list(table.targets) == targets else table.select(targets=targets)
    except RunTableError as error:
        recorded = fit.provenance.get("data", {}).get("fingerprint") or "unrecorded"
        raise RunTableError(f"{error}; the fit was made on runs with fingerprint {recorded[:12]}: pass those "
                            "with --runs") from None
