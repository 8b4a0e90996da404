"""The RegMix-style regression baseline against RegMix's published Spearman correlations (Pile-CC)."""

import sys

import numpy as np
import pytest
from scipy.stats import spearmanr

from scalemix import runs
from scalemix.baseline import fit_regressor
from scalemix.errors import FitError
from scalemix.evaluate import evaluate

# Liu et al. 2024, RegMix, Pile-CC validation loss, Spearman x 100 on 256 unseen mixtures.
PUBLISHED = {"linear": {"regmix-1m-test": 90.08, "regmix-60m-test": 89.26},
             "lightgbm": {"regmix-1m-test": 98.45, "regmix-60m-test": 98.64}}
TOLERANCE = {"linear": 0.15, "lightgbm": 1.0}  # linear is deterministic; LightGBM's trees differ by version


@pytest.fixture(scope="module")
def train():
    return runs.read("regmix-1m-train").select(targets=["pile_cc"])


@pytest.mark.parametrize("model", ["linear", "lightgbm"])
def test_spearman_on_unseen_mixtures_matches_regmix(train, model):
    regressor = fit_regressor(train, model)
    for name, published in PUBLISHED[model].items():
        test = runs.read(name).select(targets=["pile_cc"])
        prediction = regressor.predict(test)
        ours = 100 * spearmanr(prediction["median"], prediction["loss"]).statistic
        assert ours == pytest.approx(published, abs=TOLERANCE[model]), name
        scores = evaluate(regressor, test)["targets"]["pile_cc"]  # the same interface as a law's fit
        assert 100 * scores["spearman"] == pytest.approx(ours, abs=1e-9)


def test_out_of_fold_intervals_cover_unseen_runs_at_the_same_scale(train):
    scores = evaluate(fit_regressor(train, "linear"), runs.read("regmix-1m-test").select(targets=["pile_cc"]))
    assert scores["targets"]["pile_cc"]["coverage90"] == pytest.approx(0.9, abs=0.05)  # 256 runs: sd ~0.02


def test_linear_is_least_squares_without_intercept(train):
    x = train.frame.select([f"w.{d}" for d in train.domains]).to_numpy()
    y = train.frame["loss"].to_numpy()
    coefficients = np.linalg.solve(x.T @ x, x.T @ y)  # normal equations, independent of lstsq
    _, log_loss = fit_regressor(train, "linear").log_loss_draws(train.frame)
    assert np.exp(log_loss[0]) == pytest.approx(x @ coefficients, rel=1e-9)


def test_missing_lightgbm_names_the_extra(train, monkeypatch):
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # import lightgbm now raises ImportError
    with pytest.raises(FitError, match=r"scalemix\[lightgbm\]"):
        fit_regressor(train, "lightgbm")
    with pytest.raises(FitError, match="choose one of lightgbm, linear"):
        fit_regressor(train, "forest")
