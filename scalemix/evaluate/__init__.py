"""Scoring any :class:`~scalemix.predictor.Predictor` on runs: metrics, splits, held-out evaluation and
model comparison.

- :mod:`~scalemix.evaluate.metrics`: MAE, RMSE, MRE, R^2, Spearman, Pearson, coverage, regret@1;
- :mod:`scalemix.splits` (re-exported): k-fold, "fit small, predict large" and rolling-origin splits;
- :mod:`~scalemix.evaluate.scores`: :func:`evaluate`, all of the above for a predictor on a table;
- :mod:`~scalemix.evaluate.backtest`: a rolling-origin backtest of a law and method on a user's runs,
  scored by distance beyond the fitted range;
- :mod:`~scalemix.evaluate.compare`: PSIS-LOO ranking of Bayesian fits (loads ArviZ when called).
"""

from scalemix.evaluate.backtest import backtest, summarize
from scalemix.evaluate.compare import compare
from scalemix.evaluate.metrics import METRICS, coverage, crps, interval_score, metrics, pearson, regret_at_1, spearman
from scalemix.evaluate.scores import evaluate
from scalemix.splits import kfold, rolling_origin, scale_split

__all__ = ["METRICS", "backtest", "compare", "coverage", "crps", "evaluate", "interval_score", "kfold", "metrics", "pearson", "regret_at_1",
           "rolling_origin", "scale_split", "spearman", "summarize"]
