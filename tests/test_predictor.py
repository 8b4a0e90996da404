"""predictor.py: a fitted law and RegMix's model-free regressor are both Predictors, and a query without a
target column asks for every target at each point."""

import numpy as np
import polars as pl
import pytest

from _support import mixing_fit
from scalemix.baseline import Regressor
from scalemix.errors import FitError
from scalemix.predictor import Predictor, query_frame


def _regressor():
    """A linear regressor per target with known coefficients (loss = w . coef)."""
    coefficients = {"y0": np.array([2.0, 3.0]), "y1": np.array([4.0, 1.0])}
    return Regressor(model="linear", coords={"target": ("y0", "y1"), "domain": ("a", "b")},
                     predictors={t: (lambda x, c=c: x @ c) for t, c in coefficients.items()},
                     residuals={t: np.zeros(4) for t in coefficients})


def test_a_fit_and_a_regressor_are_predictors():
    assert isinstance(mixing_fit([[-1.0, 0.0]]), Predictor)
    assert isinstance(_regressor(), Predictor)
    assert not isinstance(object(), Predictor)


def test_query_frame_cross_joins_the_targets():
    frame = query_frame({"w.a": [0.25, 1.0], "w.b": [0.75, 0.0]}, ("y0", "y1"))
    assert frame.rows() == [(0.25, 0.75, "y0"), (0.25, 0.75, "y1"), (1.0, 0.0, "y0"), (1.0, 0.0, "y1")]
    asked = pl.DataFrame({"w.a": [0.5], "w.b": [0.5], "target": ["y1"]})
    assert query_frame(asked, ("y0", "y1")).equals(asked)
    assert query_frame({"params": 1e9}, ("t",)).rows() == [(1e9, "t")]  # a scalar is one point
    with pytest.raises(FitError, match="not list"):
        query_frame([1.0], ("t",))


def test_a_regressor_answers_every_target_of_a_query():
    frame, log_loss = _regressor().log_loss_draws({"w.a": [0.25, 1.0], "w.b": [0.75, 0.0]})
    assert frame["target"].to_list() == ["y0", "y1", "y0", "y1"]
    np.testing.assert_allclose(np.exp(log_loss[0]), [0.5 + 2.25, 1.0 + 0.75, 2.0, 4.0], rtol=1e-12)
