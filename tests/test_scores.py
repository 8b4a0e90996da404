"""evaluate/scores.py: ``evaluate`` of the mixing laws on RegMix's held-out mixtures against the published
baselines (Liu et al. 2024)."""

import pytest

from scalemix import laws, runs
from scalemix.evaluate import evaluate
from scalemix.fit import fit_point

# RegMix (Liu et al. 2024), Pile-CC target, Spearman of held-out 1M / 60M runs
REGMIX_LINEAR = {"regmix-1m-test": 0.9008, "regmix-60m-test": 0.8926}
REGMIX_LIGHTGBM = {"regmix-1m-test": 0.9845, "regmix-60m-test": 0.9864}


@pytest.fixture(scope="module")
def regmix_fit():
    """The mixing law on RegMix's 512 training runs of 1M-parameter models, Pile-CC target."""
    return fit_point(runs.read("regmix-1m-train").select(targets="pile_cc"), laws.get("mixing"))


@pytest.mark.parametrize("held_out", ["regmix-1m-test", "regmix-60m-test"])
def test_mixing_law_ranks_regmix_held_out_mixtures(regmix_fit, held_out):
    scores = evaluate(regmix_fit, runs.read(held_out).select(targets="pile_cc"))
    pile_cc = scores["targets"]["pile_cc"]
    assert scores["rows"] == 256 and scores["rows_set_aside"] == 0
    # Measured 0.962 (1M) and 0.957 (60M): far above RegMix's linear regression, below its LightGBM
    # (0.985, 0.986) and below the 0.97 goal. The law's limit, not the fitter's: its in-sample
    # Spearman on the 512 training runs is 0.961 too.
    assert pile_cc["spearman"] >= 0.95
    assert pile_cc["spearman"] > REGMIX_LINEAR[held_out] + 0.05
    assert pile_cc["spearman"] < REGMIX_LIGHTGBM[held_out]
    # picking the predicted-best mixture costs little true loss (measured 0.004 and 0.0015 nats)
    assert 0.0 <= pile_cc["regret_at_1"] < 0.01
    if held_out == "regmix-1m-test":  # same model size: the level too (measured 1.2%); 60M models sit lower
        assert pile_cc["mre"] < 0.02


def test_mixture_additive_law_outranks_regmix_lightgbm():
    """Shukor et al.'s additive law (at RegMix's single size and token count its mixture term
    ``1 / sum_j C_j h_j^gamma_j`` carries the ranking) beats RegMix's published LightGBM on both held-out
    sets. Measured 0.9936 (1M) and 0.9913 (60M) against 0.9845 and 0.9864."""
    fit = fit_point(runs.read("regmix-1m-train").select(targets="pile_cc"), laws.get("mixture-additive"))
    for held_out, lightgbm in REGMIX_LIGHTGBM.items():
        scores = evaluate(fit, runs.read(held_out).select(targets="pile_cc"))["targets"]["pile_cc"]
        assert scores["spearman"] > lightgbm, held_out
