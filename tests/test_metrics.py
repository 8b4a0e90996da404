"""evaluate/metrics.py: validation metrics against scipy and closed forms."""

import numpy as np
import pytest
from scipy import stats

from scalemix.evaluate import coverage, metrics, regret_at_1


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
