"""diagnostics.py: each warning appears exactly when its threshold is crossed (R-hat above 1.01, ESS
below 100 per chain, Pareto k above 0.7; Vehtari et al. 2021, Yao et al. 2018), naming what it is about."""

import numpy as np
import polars as pl
import pytest

from scalemix import diagnostics as dg


@pytest.mark.parametrize(
    "rhat, ess_bulk, ess_tail, chains, expected",
    [
        (1.01, 400, 400, 4, None),  # both exactly at their limits: no warning (the tests are strict)
        (1.0101, 400, 400, 4, "R-hat 1.010 > 1.01"),
        (1.0, 500, 399, 4, "ESS 399 < 400"),  # the smaller of bulk and tail, against 100 per chain
        (1.03, 150, 300, 4, "R-hat 1.030 > 1.01; ESS 150 < 400"),
        (2.0, 150, 150, 1, None),  # one chain: R-hat is not computed, 150 >= 100
    ],
)
def test_parameter_warning_thresholds(rhat, ess_bulk, ess_tail, chains, expected):
    assert dg.parameter_warning(rhat, ess_bulk, ess_tail, chains) == expected


def test_mcmc_warnings_say_what_is_off():
    assert dg.mcmc_warnings(0, 1.005, "alpha[t]", 4, []) == []
    found = dg.mcmc_warnings(3, 1.2, "alpha[t]", 2, ["a", "b", "c", "d", "e", "f", "g"])
    assert len(found) == 3
    assert found[0].startswith("3 divergent transition(s) after warmup")
    assert found[1].startswith("R-hat up to 1.200 > 1.01 (alpha[t])")
    assert found[2].startswith("ESS is below 200 for 7 parameter(s) (a, b, c, d, e and 2 more)")
    (one_chain,) = dg.mcmc_warnings(0, None, None, 1, [])
    assert one_chain.startswith("one chain: R-hat cannot be computed")


def test_point_warnings_name_unconverged_and_lonely_targets():
    healthy = {"t": {"converged": True, "starts_in_best_basin": 56}}
    assert dg.point_warnings(healthy) == []
    found = dg.point_warnings({**healthy, "u": {"converged": False, "starts_in_best_basin": 3},
                               "v": {"converged": True, "starts_in_best_basin": 1}})
    assert len(found) == 2
    assert found[0].startswith("The optimiser stopped before converging for u:")
    assert found[1].startswith("Only one start reached the best fit for v:")


def test_svi_bootstrap_and_loo_warnings():
    assert dg.svi_warnings(np.array([3.0, 2.0]), 0.7, True) == []
    (k,) = dg.svi_warnings(np.array([3.0, 2.0]), 0.71, False)
    assert "Pareto k 0.71 > 0.7" in k and "init='point'" in k
    assert "init='point'" not in dg.svi_warnings(np.array([3.0]), 1.5, True)[0]
    assert dg.svi_warnings(np.array([3.0, np.nan]), 0.1, True) == ["the ELBO is not finite: lower learning_rate or fit with nuts"]
    assert dg.svi_warnings(np.array([3.0]), np.nan, True)  # an undefined k is not a reliable one
    assert dg.bootstrap_warnings(8, 8) == [] and dg.bootstrap_warnings(6, 8)[0].startswith("only 6 of 8 bootstrap resamples")
    assert dg.loo_warning("power", 2) == "power: 2 run(s) with Pareto k > 0.7, LOO is unreliable there"


def test_reading_notes_flag_vanishing_and_wide_parameters():
    summary = pl.DataFrame({"parameter": ["A", "B", "c"], "median": [5.0, 1e-9, 1.0],
                            "q025": [1.0, 1e-12, 0.9], "q975": [10.0, 1e-6, 1.1]})
    notes = dg.reading_notes(summary, 200)
    assert len(notes) == 2
    assert notes[0].startswith("B fitted to essentially 0 (below 1e-08)")
    assert notes[1].startswith("The 95% interval spans more than 10x for B:")  # 1e-6 / 1e-12; A spans exactly 10x
    assert dg.reading_notes(summary.slice(2), 1)[0].startswith("A point fit is a single draw")
