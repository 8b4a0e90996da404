"""design.py: the one conversion from runs, queries and mixtures to a law's inputs: what it says when a
column or target is missing, the rows it sets aside, and the optimiser's per-target mixture inputs."""

import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest

from scalemix import laws
from scalemix._x64 import float64
from scalemix.design import Scale, design, mixture_inputs, table_coords, without_set_aside
from scalemix.errors import FitError
from scalemix.fit import fit_point


@pytest.mark.parametrize(
    "law, message",
    [
        ("mixing", r"needs mixture weights \(columns w\.<domain>\)"),
        ("multilingual", r"no column for target\(s\) massivetext"),
    ],
)
def test_missing_inputs_say_what_is_missing(chinchilla_table, law, message):
    with pytest.raises(FitError, match=message):
        fit_point(chinchilla_table, laws.get(law))


def test_predicting_a_target_the_fit_never_saw_names_it(chinchilla_fit):
    with pytest.raises(FitError, match=r"query row 1, column 'target': value 'c4' is not a target of this fit; it knows massivetext"):
        chinchilla_fit.predict({"params": [1e9], "tokens": [2e10], "target": ["c4"]})


def _two_pair_frame():
    """Three rows of a two-pair table; the last trains 'de' with weight 0 (zero-shot)."""
    return pl.DataFrame({"run_id": ["r0", "r1", "r2"], "target": ["de", "fr", "de"], "params": [1e7, 1e8, 1e9],
                         "loss": [3.0, 2.5, 2.0], "w.de": [0.3, 0.3, 0.0], "w.fr": [0.7, 0.7, 1.0]})


def test_design_reads_each_targets_own_weight_and_sets_zero_shot_rows_aside():
    frame, law = _two_pair_frame(), laws.get("multilingual")
    coords = table_coords(frame, law)
    d = design(frame, law, coords)
    assert coords == {"target": ("de", "fr"), "domain": ("de", "fr")}
    np.testing.assert_array_equal(d.inputs.own_weight, [0.3, 0.7])  # w.de for the de row, w.fr for the fr row
    np.testing.assert_array_equal(d.inputs.target, [0, 1])
    np.testing.assert_array_equal(d.inputs.params, [1e7, 1e8])
    np.testing.assert_allclose(d.log_loss, np.log([3.0, 2.5]), rtol=0)
    assert d.set_aside.to_dicts() == [{"row": 2, "run_id": "r2", "target": "de", "reason": law.invalid_reason}]
    assert without_set_aside(frame, d.set_aside).equals(d.frame) and d.frame["run_id"].to_list() == ["r0", "r1"]


def test_without_set_aside_drops_exactly_the_recorded_rows():
    frame = pl.DataFrame({"run_id": [f"r{k}" for k in range(5)], "loss": [1.0, 2.0, 3.0, 4.0, 5.0]})
    aside = pl.DataFrame({"row": [3, 1], "run_id": ["r3", "r1"], "target": ["t", "t"], "reason": ["x", "y"]})
    assert without_set_aside(frame, aside)["run_id"].to_list() == ["r0", "r2", "r4"]
    assert without_set_aside(frame, aside.clear()) is frame


def test_mixture_inputs_give_one_row_per_target_with_its_own_weight():
    with float64():
        w = jnp.array([0.2, 0.5, 0.3])
        multilingual = mixture_inputs(laws.get("multilingual"), w, Scale(1e9, 2e10), jnp.array([2, 0]))
        mixing = mixture_inputs(laws.get("mixing"), w, Scale(1e9, 2e10), jnp.array([2, 0]))
    np.testing.assert_array_equal(multilingual.own_weight, [0.3, 0.2])  # domain 2 for target 0, domain 0 for target 1
    np.testing.assert_array_equal(multilingual.weights, [[0.2, 0.5, 0.3]] * 2)
    np.testing.assert_array_equal(multilingual.params, [1e9, 1e9])
    np.testing.assert_array_equal(multilingual.tokens, [2e10, 2e10])
    np.testing.assert_array_equal(multilingual.target, [0, 1])
    assert mixing.own_weight is None  # the mixing law reads the whole mixture, not one weight
