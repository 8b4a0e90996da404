"""fit/problem.py: a run table's rows grouped for vmapped solving, and the readable error when the runs
cannot determine the law."""

import numpy as np
import polars as pl
import pytest

from scalemix import laws, runs
from scalemix._x64 import float64
from scalemix.errors import FitError
from scalemix.fit import fit_point
from scalemix.fit.problem import build


def test_too_few_rows_names_the_law_and_the_count(chinchilla_table):
    tiny = chinchilla_table.select(where=pl.col("run_id").is_in(list(chinchilla_table.runs[:4])))
    with pytest.raises(FitError, match=r"too few runs .*'chinchilla'.* 5 free parameter\(s\).*4 row\(s\)"):
        fit_point(tiny, laws.get("chinchilla"))


def test_a_separable_law_solves_each_target_apart_padded_with_zero_weight():
    """The power law has only per-target parameters: each target is its own group, padded to the longest
    group by repeating its first row with mask 0; residuals are the law by hand minus the log loss."""
    params = np.array([1e7, 3e7, 1e8, 3e8, 1e9, 1e7, 1e8, 1e9])
    loss = np.array([3.0, 2.8, 2.6, 2.5, 2.4, 4.0, 3.5, 3.2])
    table = runs.read(pl.DataFrame({"run_id": [f"r{k}" for k in range(8)], "target": ["a"] * 5 + ["b"] * 3,
                                    "params": params, "tokens": 1e10, "loss": loss}))
    with float64():
        problem = build(table, laws.get("power"))
    assert problem.groups == (("a",), ("b",)) and problem.mask.shape == (2, 5)
    np.testing.assert_array_equal(problem.mask.sum(axis=1), [5, 3])
    np.testing.assert_array_equal(problem.row, [[0, 1, 2, 3, 4], [5, 6, 7, 5, 5]])
    np.testing.assert_allclose(problem.log_loss, np.log(loss)[problem.row], rtol=0)
    theta = {"beta": np.array([30.0, 40.0]), "alpha": np.array([0.2, 0.25]), "Linf": np.array([1.5, 2.0])}
    t = np.array([0] * 5 + [1] * 3)
    by_hand = np.log(theta["beta"][t] * params ** -theta["alpha"][t] + theta["Linf"][t]) - np.log(loss)
    with float64():
        np.testing.assert_allclose(problem.residuals(theta), by_hand, rtol=1e-12)
