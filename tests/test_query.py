"""The one check of query points (scalemix.predictor.query_frame / check_points), through the Python API: a
fit's and a regressor's ``predict`` refuse a point no run table would hold (a count that is not a positive
finite number, weights off the simplex or negative, an unknown target, domain or input) with one line
naming the row, column and value; frames carrying other columns (a run table's run_id and loss) pass through."""

import numpy as np
import polars as pl
import pytest
from _support import mixing_fit

from scalemix.baseline import Regressor
from scalemix.errors import FitError
from scalemix.predictor import check_points, query_frame
from scalemix.runs import WEIGHT_SUM_TOLERANCE

T = [[-1.0, 0.0]]  # the mixing law L = 1 + exp(t . w), one target y0 over domains a, b
EVEN = {"w.a": 0.5, "w.b": 0.5}


@pytest.fixture(scope="module")
def fit():
    return mixing_fit(T)


def _regressor():
    """A linear regressor of loss = w . (2, 3) over domains a, b (target y0)."""
    return Regressor(model="linear", coords={"target": ("y0",), "domain": ("a", "b")},
                     predictors={"y0": lambda x: x @ np.array([2.0, 3.0])}, residuals={"y0": np.zeros(4)})


REFUSED = [
    pytest.param({**EVEN, "params": -1e9}, ("query row 1", "'params'", "-1e+09", "not positive"), id="params-negative"),
    pytest.param({**EVEN, "params": [1e9, 0]}, ("query row 2", "'params'", "value 0", "not positive"), id="params-zero-row-2"),
    pytest.param({**EVEN, "params": float("nan")}, ("'params'", "nan", "not a finite number"), id="params-nan"),
    pytest.param({**EVEN, "tokens": float("inf")}, ("'tokens'", "inf", "not a finite number"), id="tokens-inf"),
    pytest.param({**EVEN, "params": "abc"}, ("'params'", "'abc'", "not a number"), id="params-text"),
    pytest.param({**EVEN, "params": [1e9, None]}, ("query row 2", "'params'", "empty"), id="params-missing"),
    pytest.param({**EVEN, "params": 1e21}, ("'params'", "MAX_COUNT"), id="params-above-max-count"),
    pytest.param({"w.a": 0.8, "w.b": 0.8}, ("query row 1", "'w.a', 'w.b'", "sum to 1.6", f"{WEIGHT_SUM_TOLERANCE:g}"), id="sum-1.6"),
    pytest.param({"w.a": [0.5, 1.2], "w.b": [0.5, -0.2]}, ("query row 2", "'w.b'", "-0.2", "negative weight"), id="weight-negative"),
    pytest.param({"w.a": [0.5, None], "w.b": 0.5}, ("query row 2", "'w.a'", "empty"), id="weight-missing"),
    pytest.param({**EVEN, "target": "zz"}, ("query row 1", "'target'", "'zz'", "not a target of this fit", "y0"), id="unknown-target"),
    pytest.param({**EVEN, "loss": 2.0}, ("query column 'loss'", "not an input"), id="non-input-key"),
    pytest.param({"w.a": [0.5, 0.5], "w.b": [0.5, 0.5, 0.5]}, ("different numbers of points", "w.a 2", "w.b 3"), id="lengths-differ"),
]


@pytest.mark.parametrize("query, named", REFUSED)
def test_a_fit_refuses_a_bad_point_naming_row_column_and_value(fit, query, named):
    with pytest.raises(FitError) as refused:
        fit.predict(query)
    message = str(refused.value)
    assert "\n" not in message
    for name in named:
        assert name in message, (name, message)


@pytest.mark.parametrize("query, named", REFUSED)
def test_a_regressor_refuses_the_same_points(query, named):
    with pytest.raises(FitError) as refused:
        _regressor().predict(query)
    assert all(name in str(refused.value) for name in named)


def test_a_regressor_refuses_a_domain_it_does_not_know():
    with pytest.raises(FitError, match=r"query column 'w.c' names no domain of this fit \(it knows a, b\)"):
        _regressor().predict({**EVEN, "w.c": 0.0})


def test_weights_within_the_readers_tolerance_are_predicted_as_given(fit):
    """A sum off by less than WEIGHT_SUM_TOLERANCE (rounded shares) is accepted, and the law is evaluated at
    the weights given: L = 1 + exp(-w.a)."""
    w = 0.5 - 0.9 * WEIGHT_SUM_TOLERANCE
    frame = fit.predict({"w.a": w, "w.b": 0.5})
    assert frame["median"][0] == pytest.approx(1.0 + np.exp(-w), rel=1e-12)


def test_frames_carry_other_columns_through(fit):
    """A frame of held-out runs (run_id, loss) is predicted as it is: only its inputs are checked."""
    runs = pl.DataFrame({"run_id": ["r1", "r2"], "target": "y0", "loss": [1.5, 1.4], "w.a": [0.25, 1.0], "w.b": [0.75, 0.0]})
    frame = fit.predict(runs)
    assert frame.select("run_id", "loss").equals(runs.select("run_id", "loss"))
    np.testing.assert_allclose(frame["median"], 1.0 + np.exp(-runs["w.a"].to_numpy()), rtol=1e-12)


def test_counts_given_as_text_or_integers_are_floats_after_the_check():
    """Mixed --at points arrive as text ('1000000000'); checked points hold floats, whatever the input type."""
    frame = check_points(pl.DataFrame({"params": ["1000000000", "2e9"], "tokens": [1, 2]}), ("t",))
    assert frame.schema["params"] == pl.Float64 and frame.schema["tokens"] == pl.Float64
    assert frame["params"].to_list() == [1e9, 2e9] and frame["tokens"].to_list() == [1.0, 2.0]


def test_check_points_names_its_origin_and_row():
    with pytest.raises(FitError, match=r"^--grid g.csv row 2, column 'tokens': value -1 is not positive"):
        check_points(pl.DataFrame({"params": [1e9, 1e9], "tokens": [1e10, -1]}), ("t",), origin="--grid g.csv")
    with pytest.raises(FitError, match=r"^--at column 'seed' is not an input; a query point gives params, tokens, "
                                       r"target, unique, w.<domain> and unique.<domain> \(a\)$"):
        check_points(pl.DataFrame({"w.a": [1.0], "seed": [3]}), ("t",), ("a",), origin="--at", inputs_only=True)


def test_query_frame_checks_before_asking_for_every_target():
    """Row numbers are the caller's points, not the rows after the cross join with the targets."""
    with pytest.raises(FitError, match="^query row 2, "):
        query_frame({"params": [1e9, -1.0]}, ("a", "b", "c"))
    assert query_frame({"params": [1e9, 2e9]}, ("a", "b")).height == 4
