"""Validation metrics against scipy and closed forms, splits that never leak a run, and the mixing law
on RegMix's held-out mixtures against the published baselines (Liu et al. 2024)."""

import numpy as np
import polars as pl
import pytest
from scipy import stats

from scalemix import laws, runs
from scalemix.fit import fit_point
from scalemix.evaluate import coverage, evaluate, kfold, metrics, regret_at_1, scale_split

# RegMix (Liu et al. 2024), Pile-CC target, Spearman of held-out 1M / 60M runs
REGMIX_LINEAR = {"regmix-1m-test": 0.9008, "regmix-60m-test": 0.8926}
REGMIX_LIGHTGBM = {"regmix-1m-test": 0.9845, "regmix-60m-test": 0.9864}


def test_metrics_match_scipy_and_closed_forms():
    rng = np.random.default_rng(0)
    true = rng.uniform(2.0, 4.0, 200)
    predicted = np.round(true + rng.normal(0.0, 0.1, 200), 1)  # rounding makes ties in the ranks
    got = metrics(true, predicted)
    error = predicted - true
    assert got["mae"] == pytest.approx(np.abs(error).mean(), rel=1e-12)
    assert got["rmse"] == pytest.approx(np.sqrt((error**2).mean()), rel=1e-12)
    assert got["mre"] == pytest.approx((np.abs(error) / true).mean(), rel=1e-12)
    assert got["r2"] == pytest.approx(1 - (error**2).sum() / ((true - true.mean()) ** 2).sum(), rel=1e-12)
    assert got["spearman"] == pytest.approx(stats.spearmanr(true, predicted).statistic, rel=1e-12)
    assert got["pearson"] == pytest.approx(stats.pearsonr(true, predicted).statistic, rel=1e-12)


def test_perfect_and_reversed_predictions():
    y = np.array([3.0, 1.0, 2.0, 5.0])
    assert metrics(y, y) == {"mae": 0.0, "rmse": 0.0, "mre": 0.0, "r2": 1.0, "spearman": 1.0, "pearson": 1.0}
    assert metrics(y, -y)["spearman"] == pytest.approx(-1.0)


def test_regret_at_1_is_the_true_loss_of_the_predicted_best_minus_the_best():
    true = np.array([2.5, 2.1, 2.3, 2.0])
    assert regret_at_1(true, [1.0, 0.5, 0.7, 0.9]) == pytest.approx(0.1)  # picks run 1 (2.1), best is 2.0
    assert regret_at_1(true, true) == 0.0


def test_normal_interval_covers_its_level():
    y = np.random.default_rng(1).standard_normal(20_000)
    z = stats.norm.ppf(0.95)
    covered = coverage(y, np.full_like(y, -z), np.full_like(y, z))
    assert covered == pytest.approx(0.9, abs=3 * np.sqrt(0.9 * 0.1 / y.size))  # 3 binomial sd


def test_kfold_holds_each_run_out_exactly_once(chinchilla_table):
    held = []
    for train, test in kfold(chinchilla_table, k=5, seed=3):
        assert not set(train.runs) & set(test.runs)
        assert len(train) + len(test) == len(chinchilla_table)
        held += list(test.runs)
    assert sorted(held) == sorted(chinchilla_table.runs)
    assert [len(t) for _, t in kfold(chinchilla_table, k=5, seed=3)] == [48] * 5


def test_scale_split_fits_small_and_predicts_large(chinchilla_table):
    train, test = scale_split(chinchilla_table, by="compute", hold_out=0.2)
    compute = lambda t: (6 * t.frame["params"] * t.frame["tokens"]).to_numpy()  # noqa: E731
    assert compute(train).max() < compute(test).min()
    assert len(test) == 48  # 20% of the 240 distinct budgets
    train, test = scale_split(chinchilla_table, by="params", hold_out=3)
    assert train.frame["params"].max() < test.frame["params"].min() and test.frame["params"].n_unique() == 3


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
