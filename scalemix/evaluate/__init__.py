"""Scoring any :class:`~scalemix.predictor.Predictor` on runs: metrics, splits, held-out evaluation and
model comparison.

- :mod:`~scalemix.evaluate.metrics`: MAE, RMSE, MRE, R^2, Spearman, Pearson, coverage, regret@1;
- :mod:`~scalemix.evaluate.splits`: k-fold and "fit small, predict large" splits of a run table;
- :mod:`~scalemix.evaluate.scores`: :func:`evaluate`, all of the above for a predictor on a table;
- :mod:`~scalemix.evaluate.compare`: PSIS-LOO ranking of Bayesian fits (loads ArviZ when called).
"""

from scalemix.evaluate.compare import compare
from scalemix.evaluate.metrics import METRICS, coverage, metrics, pearson, regret_at_1, spearman
from scalemix.evaluate.scores import evaluate
from scalemix.evaluate.splits import kfold, scale_split

__all__ = ["METRICS", "compare", "coverage", "evaluate", "kfold", "metrics", "pearson", "regret_at_1",
           "scale_split", "spearman"]
