"""A model-free baseline to beat: RegMix-style regression from mixture weights to loss, per target.

Liu, Qian, Zhao, Zhang, Lin, Jiang, Chen, Pang, Du, Lin. "RegMix: Data Mixture as Regression for
Language Model Pre-training", 2024 (arXiv:2407.01492): train many small proxy runs on random mixtures,
regress each validation loss on the weights ``w`` with LightGBM (``1000`` trees, learning rate
``1e-2``, their settings), and rank unseen mixtures by the prediction. ``model="linear"`` is their
linear row (least squares on ``w``; no intercept, since ``sum w = 1`` already spans it).

:func:`fit_regressor` returns a :class:`Regressor`, a :class:`~scalemix.predictor.Predictor` with one
draw and no law, so :func:`scalemix.evaluate.evaluate` and the CLI compare it with a law on the same
runs. Its intervals are empirical: quantiles of ``K``-fold out-of-fold log residuals (the regressor has
no parameter posterior).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import polars as pl

from scalemix import intervals
from scalemix.design import SET_ASIDE_SCHEMA
from scalemix.errors import FitError
from scalemix.predictor import query_frame
from scalemix.runs import RunTable, read

MODELS = ("lightgbm", "linear")
FOLDS = 5


@dataclass
class Regressor:
    """Per-target regressors from ``w.<domain>`` columns to loss.

    Attributes:
      model: ``lightgbm`` or ``linear``.
      coords: ``{"target": ..., "domain": ...}`` as a fit's.
      predictors: target -> ``X[rows, domains] -> loss[rows]``.
      residuals: target -> out-of-fold log residuals ``log(loss) - log(prediction)`` of the training runs.
      law: ``None``: no law, no formula.
    """

    model: str
    coords: dict[str, tuple[str, ...]]
    predictors: dict[str, Callable[[np.ndarray], np.ndarray]]
    residuals: dict[str, np.ndarray]
    law: None = None
    method: str = "regression"
    n_draws: int = 1

    @property
    def targets(self) -> tuple[str, ...]:
        return self.coords["target"]

    def log_loss_draws(self, query) -> tuple[pl.DataFrame, np.ndarray]:
        """Query rows (one per point and target) and the log of the predicted loss, ``[1, rows]``."""
        domains = self.coords["domain"]
        frame = query_frame(query, self.targets, domains)
        missing = [f"w.{d}" for d in domains if f"w.{d}" not in frame.columns]
        if missing:
            raise FitError(f"the regressor reads the mixture; the query lacks column(s) {', '.join(missing[:5])}")
        x = frame.select([f"w.{d}" for d in domains]).to_numpy().astype(float)
        targets = frame["target"].to_numpy()
        prediction = np.empty(frame.height)
        for target in self.targets:  # one fitted model per target
            rows = targets == target
            if rows.any():
                prediction[rows] = self.predictors[target](x[rows])
        return frame, np.log(np.maximum(prediction, np.finfo(float).tiny))[None]

    def predict(self, query, levels: Sequence[float] = (0.5, 0.9), *, seed: int = 0,
                extrapolation: bool = True) -> pl.DataFrame:
        """``mean`` = ``median`` = the regression, with ``lo<L>``/``hi<L>`` and ``pred_lo<L>``/``pred_hi<L>``
        both from the out-of-fold residual quantiles (the same columns as ``Fit.predict``; ``seed`` and
        ``extrapolation`` are unused: nothing is sampled, and a regressor has no extrapolation term)."""
        levels = intervals.check(levels)
        frame, log_loss = self.log_loss_draws(query)
        center = np.exp(log_loss[0])
        columns = {"mean": center, "median": center}
        targets = frame["target"].to_numpy()
        for level in levels:
            low, high = np.empty(frame.height), np.empty(frame.height)
            for target in self.targets:
                rows = targets == target
                q_low, q_high = np.quantile(self.residuals[target], intervals.tails(level))
                low[rows], high[rows] = center[rows] * np.exp(q_low), center[rows] * np.exp(q_high)
            names = intervals.columns(level) + intervals.columns(level, predictive=True)
            columns.update(zip(names, (low, high, low, high)))
        return frame.with_columns(**{k: pl.Series(k, v) for k, v in columns.items()})

    def usable(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Every row: a regression is defined at every mixture (none set aside)."""
        return frame, pl.DataFrame(schema=SET_ASIDE_SCHEMA)


def fit_regressor(source, model: str = "lightgbm", *, targets: Sequence[str] | None = None, seed: int = 0) -> Regressor:
    """Fit a RegMix-style regressor per target of ``source`` (anything :func:`scalemix.runs.read` takes).

    Raises :class:`FitError` for an unknown model, runs without ``w.<domain>`` columns, or a missing
    LightGBM (install the extra: ``pip install 'scalemix[lightgbm]'``).
    """
    if model not in MODELS:
        raise FitError(f"unknown regression model {model!r}; choose one of {', '.join(MODELS)}")
    table = source if isinstance(source, RunTable) else read(source)
    if targets:
        table = table.select(targets=list(targets))
    domains = table.domains
    if not domains:
        raise FitError("a mixture regressor needs mixture weights (columns w.<domain>); the runs have none")
    rng = np.random.default_rng(seed)
    predictors, residuals = {}, {}
    for target in table.targets:  # independent per-target regressions, as in RegMix
        rows = table.frame.filter(pl.col("target") == target)
        x = rows.select([f"w.{d}" for d in domains]).to_numpy().astype(float)
        y = rows["loss"].to_numpy().astype(float)
        predictors[target] = train(model, x, y, seed)
        residuals[target] = _out_of_fold_log_residuals(model, x, y, seed, rng)
    return Regressor(model, {"target": table.targets, "domain": domains}, predictors, residuals)


def train(model: str, x: np.ndarray, y: np.ndarray, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """One ``model`` regression of losses ``y[rows]`` on mixtures ``x[rows, domains]``: ``X -> loss``. What
    :func:`fit_regressor` fits per target (without its out-of-fold residuals); a benchmark times this."""
    if model not in MODELS:
        raise FitError(f"unknown regression model {model!r}; choose one of {', '.join(MODELS)}")
    return _TRAINERS[model](x, y, seed)


def _out_of_fold_log_residuals(model, x, y, seed, rng) -> np.ndarray:
    fold = rng.permutation(len(y)) % min(FOLDS, len(y))
    residual = np.empty(len(y))
    for k in np.unique(fold):
        held = fold == k
        residual[held] = np.log(y[held]) - np.log(np.maximum(train(model, x[~held], y[~held], seed)(x[held]), 1e-300))
    return residual


def _train_lightgbm(x: np.ndarray, y: np.ndarray, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    try:
        import lightgbm
    except ImportError:
        raise FitError("the lightgbm baseline needs LightGBM: pip install 'scalemix[lightgbm]' (or use model='linear')") from None
    settings = {"objective": "regression", "learning_rate": 1e-2, "seed": seed, "num_threads": 1, "verbosity": -1}
    booster = lightgbm.train(settings, lightgbm.Dataset(x, label=y), num_boost_round=1000)
    return booster.predict


def _train_linear(x: np.ndarray, y: np.ndarray, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
    return lambda query: query @ coefficients


_TRAINERS: dict[str, Any] = {"lightgbm": _train_lightgbm, "linear": _train_linear}
