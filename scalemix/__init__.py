"""scalemix: scaling laws over size, tokens and data mixture, fitted to logged runs."""

from importlib.metadata import PackageNotFoundError, version

from scalemix.errors import FitError, OptimizeError, RunTableError, ScalemixError

try:
    __version__ = version("scalemix")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["FitError", "OptimizeError", "RunTableError", "ScalemixError", "__version__"]
