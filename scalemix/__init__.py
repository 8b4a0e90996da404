"""scalemix: scaling laws over size, tokens and data mixture, fitted to logged runs.

The public API, loaded on first use so that ``scalemix --help`` stays fast::

    import scalemix as sm
    runs = sm.read("chinchilla")                 # a validated RunTable
    fit = sm.fit(runs, "chinchilla")             # a Fit: parameter draws + diagnostics
    fit.summary(); fit.predict({"params": 7e10, "tokens": 1.4e12})
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from scalemix.errors import FitError, OptimizeError, RunTableError, ScalemixError

try:
    __version__ = version("scalemix")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

_LAZY = {
    "RunTable": ("scalemix.runs", "RunTable"),
    "read": ("scalemix.runs", "read"),
    "fit": ("scalemix.fit", "fit"),
    "Fit": ("scalemix.fitresult", "Fit"),
    "load_fit": ("scalemix.fitresult", "Fit.load"),
    "laws": ("scalemix.laws", None),
    "datasets": ("scalemix.datasets", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'scalemix' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    value = import_module(module_name)
    for part in (attribute or "").split(".") if attribute else ():
        value = getattr(value, part)
    globals()[name] = value
    return value


__all__ = ["FitError", "OptimizeError", "RunTableError", "ScalemixError", "__version__", *_LAZY]
