"""Run tables simulated from a law with known parameters.

``simulate(law, params, points, noise=, seed=)`` evaluates ``law`` at every point and target with the
given parameter values and adds log-normal noise: the run table a design would give if the law were
exactly right. It is how a fit is checked against known truth (tests, benchmarks), and how a team can
see, before training anything, whether a planned set of runs can pin down the parameters it cares about
(fit the simulated table and look at the intervals).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import polars as pl

from scalemix import laws
from scalemix.errors import FitError
from scalemix.fitresult import Fit


def simulate(law: str | laws.Law, params: Mapping[str, np.ndarray], points: pl.DataFrame, *, targets: Sequence[str],
             domains: Sequence[str] = (), noise: float = 0.01, seed: int = 0) -> pl.DataFrame:
    """``points`` (one row per run: ``run_id``, ``params``, ``tokens``, ``w.<domain>``, ``unique...`` as the
    law reads) crossed with ``targets``, with ``loss = exp(log L(params) + noise * eps)``, ``eps ~ N(0, 1)``
    drawn with ``seed``.

    ``params`` maps each of the law's parameters to its value, shaped by its dims over ``targets`` and
    ``domains`` (in the order given here), e.g. ``alpha[targets]``, ``transfer[targets, domains]``.
    """
    law = laws.get(law) if isinstance(law, str) else law
    coords = {"target": tuple(targets), "domain": tuple(domains), **law.coords}
    layout = law.layout(coords)
    draws = {}
    for slot in layout.slots:
        if slot.param.name not in params:
            raise FitError(f"simulate: law {law.name!r} needs a value for parameter {slot.param.name!r} "
                           f"(shape {slot.shape} over {', '.join(slot.param.dims) or 'nothing'})")
        value = np.broadcast_to(np.asarray(params[slot.param.name], dtype=float), slot.shape)
        draws[slot.param.name] = value[None]
    truth = Fit(law=law, coords=coords, draws=draws, method="point", noise=np.zeros((1, len(targets))))
    frame, log_loss = truth.log_loss_draws(points)
    noisy = log_loss[0] + noise * np.random.default_rng(seed).standard_normal(log_loss.shape[1])
    return frame.with_columns(loss=pl.Series(np.exp(noisy)))
