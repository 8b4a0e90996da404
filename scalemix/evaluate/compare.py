"""Model comparison between laws fitted to the same runs: PSIS-LOO (via ArviZ).

The expected log pointwise predictive density of leaving each run out, ``elpd_loo = sum_r log p(y_r | y_-r)``,
estimated from one posterior by Pareto-smoothed importance sampling (Vehtari, Gelman & Gabry 2017,
"Practical Bayesian model evaluation using leave-one-out cross-validation and WAIC"). Higher is better;
``elpd_diff`` and its standard error ``dse`` say by how much the best law wins. Pareto ``k > 0.7`` flags
runs whose LOO estimate is unreliable (usually outliers or very influential runs;
:data:`scalemix.diagnostics.PARETO_K_LIMIT`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import polars as pl

from scalemix.diagnostics import PARETO_K_LIMIT
from scalemix.errors import FitError
from scalemix.fitresult import Fit

_COLUMNS = {"rank": pl.Int64, "elpd_loo": pl.Float64, "se": pl.Float64, "p_loo": pl.Float64,
            "elpd_diff": pl.Float64, "dse": pl.Float64, "weight": pl.Float64}
"""The columns of ArviZ's comparison table that :func:`compare` returns, with their types."""


def compare(fits: Mapping[str, Fit] | Sequence[Fit]) -> pl.DataFrame:
    """Rank Bayesian fits of different laws on the same runs by PSIS-LOO.

    ``fits`` maps a label to a fit (a sequence is labelled by law name). Returns one row per fit, best
    first: ``model, rank, elpd_loo, se, p_loo, elpd_diff, dse, weight`` (stacking weights) and
    ``pareto_k_bad`` (runs with Pareto k above the limit). Raises :class:`FitError` when a fit has no
    posterior (point/bootstrap) or the fits were not made on the same rows.
    """
    import arviz as az

    labelled = dict(fits) if isinstance(fits, Mapping) else _labels(list(fits))
    if len(labelled) < 2:
        raise FitError("compare needs at least two fits of different laws on the same runs")
    for label, fit in labelled.items():
        if fit.inference_data is None or "log_likelihood" not in fit.inference_data.groups():
            raise FitError(f"fit {label!r} ({fit.method}) has no posterior log-likelihood; refit it with --method nuts or svi")
    _check_same_rows(labelled)
    idata = {label: fit.inference_data for label, fit in labelled.items()}
    table = az.compare(idata, ic="loo")
    bad_k = {label: int((np.asarray(az.loo(data, pointwise=True).pareto_k) > PARETO_K_LIMIT).sum()) for label, data in idata.items()}
    return _frame(table).with_columns(pl.col("model").replace_strict(bad_k, return_dtype=pl.Int64).alias("pareto_k_bad"))


def _frame(table) -> pl.DataFrame:
    """ArviZ's pandas comparison table (one row per model, best first) as a polars frame, built from numpy
    columns: ``pl.from_pandas`` needs pyarrow, which the base install does not have."""
    model = pl.Series("model", [str(label) for label in table.index], dtype=pl.Utf8)
    return pl.DataFrame([model, *(pl.Series(name, table[name].to_numpy(), dtype=dtype) for name, dtype in _COLUMNS.items())])


def _labels(fits: list[Fit]) -> dict[str, Fit]:
    labels = [fit.law.name + "".join(f",{k}={v}" for k, v in fit.law.options.items()) for fit in fits]
    return {(label if labels.count(label) == 1 else f"{label}#{i + 1}"): fit for i, (label, fit) in enumerate(zip(labels, fits))}


def _check_same_rows(fits: Mapping[str, Fit]) -> None:
    (first_label, first), *rest = fits.items()
    reference = np.asarray(first.inference_data.observed_data["log_loss"])
    for label, fit in rest:
        observed = np.asarray(fit.inference_data.observed_data["log_loss"])
        if observed.shape != reference.shape or not np.array_equal(observed, reference):
            raise FitError(
                f"fits {first_label!r} and {label!r} were made on different runs ({reference.size} vs {observed.size} "
                f"rows, e.g. rows one law sets aside); LOO compares laws only on the same rows"
            )


__all__ = ["compare"]
