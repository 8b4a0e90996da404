"""The package's lazily loaded API (``scalemix/__init__.py``)."""

import subprocess
import sys


def test_sm_fit_is_callable_before_and_after_scalemix_fit_is_imported_as_a_module():
    # a fresh interpreter: importing the sub-package scalemix.fit sets the package's attribute `fit` to the
    # module, over the lazily exported function; the module must still fit when called
    script = """
import scalemix as sm
from scalemix.fit import fit_point
from scalemix.fitresult import Fit
assert isinstance(sm.fit("chinchilla", "power", extrapolation=False), Fit)
assert isinstance(sm.read("chinchilla"), sm.RunTable) and sm.load_fit == Fit.load
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
