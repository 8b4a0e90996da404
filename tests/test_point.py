"""fit/point.py: the multi-start point fit against Epoch's exact Chinchilla replication (Besiroglu et al.
2024), and its warning when a parameter runs off to the edge of its range."""

import numpy as np
import polars as pl
import pytest

from _support import EPOCH, EPOCH_OBJECTIVE
from scalemix import laws, runs
from scalemix.fit import fit_point


def _value(fit, name):
    return float(fit.draws[name].ravel()[0])


def test_chinchilla_full_grid_reproduces_epoch(chinchilla_fit):
    for name in ("alpha", "beta", "E"):
        assert _value(chinchilla_fit, name) == pytest.approx(EPOCH[name], abs=1e-3)
    for name in ("A", "B"):
        assert _value(chinchilla_fit, name) == pytest.approx(EPOCH[name], rel=1e-3)
    d = chinchilla_fit.diagnostics
    assert d["objective"] <= EPOCH_OBJECTIVE
    assert d["starts"] == 4500 and d["converged"]
    # the spread: how many of Hoffmann's 4,500 starts reach the best basin (56 measured)
    assert 10 <= d["starts_in_best_basin"] <= 4500
    assert d["groups"]["massivetext"]["grad_norm"] < 1e-8


def test_a_parameter_at_the_edge_of_its_range_is_named(chinchilla_fit):
    """Losses on a pure power law (``50 N^-0.1``, no floor): the best Linf is 0, minus infinity in the log
    space the solver works in, and the fit's warnings name it. Chinchilla's fit names nothing."""
    params = np.geomspace(1e7, 1e9, 6)
    table = runs.read(pl.DataFrame({"run_id": [f"r{k}" for k in range(6)], "target": "t", "params": params,
                                    "tokens": 1e10, "loss": 50 * params ** -0.1}))
    (warning,) = fit_point(table, laws.get("power")).diagnostics["warnings"]
    assert warning.startswith("Linf[t] went to the edge of its range")
    assert chinchilla_fit.diagnostics["warnings"] == []
