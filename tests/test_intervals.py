"""intervals.py: central intervals over draws and the column names that hold them, against numpy."""

import numpy as np
import polars as pl
import pytest

from scalemix import intervals
from scalemix.errors import ScalemixError


def test_labels_and_columns_spell_the_level_in_percent():
    assert intervals.label(0.9) == "90" and intervals.label(0.975) == "97.5" and intervals.label(0.5) == "50"
    assert intervals.columns(0.5) == ("lo50", "hi50")
    assert intervals.columns(0.9, predictive=True) == ("pred_lo90", "pred_hi90")
    assert intervals.tails(0.9) == pytest.approx((0.05, 0.95), abs=1e-15)


def test_quantiles_and_summary_are_numpys_over_the_draw_axis():
    values = np.random.default_rng(0).normal(size=(1000, 3))
    got = intervals.quantiles(values, (0.5, 0.9))
    assert list(got) == ["lo50", "hi50", "lo90", "hi90"]
    np.testing.assert_array_equal(got["lo50"], np.quantile(values, 0.25, axis=0))
    np.testing.assert_array_equal(got["hi90"], np.quantile(values, 0.95, axis=0))
    along = intervals.quantiles(values.T, (0.9,), axis=1, predictive=True)
    np.testing.assert_allclose(along["pred_lo90"], np.quantile(values, 0.05, axis=0), rtol=1e-14)
    summary = intervals.summary(values, (0.9,))
    np.testing.assert_array_equal(summary["mean"], values.mean(axis=0))
    np.testing.assert_array_equal(summary["median"], np.median(values, axis=0))
    frame = pl.DataFrame({k: v for k, v in summary.items()})
    low, high = intervals.bounds(frame, 0.9)
    assert low.to_list() == summary["lo90"].tolist() and high.to_list() == summary["hi90"].tolist()


@pytest.mark.parametrize("levels, named", [((0.9, 0.0), "got 0"), ((1.5,), "got 1.5"), ((), "got none"), ((0.5, 1.0), "got 1")])
def test_check_refuses_levels_outside_0_1(levels, named):
    with pytest.raises(ScalemixError, match=f"--levels: interval levels must lie strictly between 0 and 1 .*{named}$"):
        intervals.check(levels, "--levels")


def test_parse_reads_a_comma_separated_list():
    assert intervals.parse("0.5, 0.9,") == (0.5, 0.9)
    with pytest.raises(ScalemixError, match=r"--levels 'half' is not a comma-separated list of numbers"):
        intervals.parse("half")
    with pytest.raises(ScalemixError, match="got 50, 90$"):
        intervals.parse("50,90")
