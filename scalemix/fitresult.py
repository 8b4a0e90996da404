"""``Fit``: a law plus parameter draws. One draw for a point fit, B for a bootstrap, S for a posterior.

Everything downstream (summaries, predictions, optimal mixtures, reports) is written once over draws
with ``jax.vmap`` and never asks how the draws were made: a ``Fit`` is a
:class:`~scalemix.predictor.Predictor`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from scalemix import intervals, laws
from scalemix._x64 import float64
from scalemix.design import SET_ASIDE_SCHEMA, design
from scalemix.errors import FitError
from scalemix.extrapolation import Discrepancy, FittedRange
from scalemix.laws import Law, Layout
from scalemix.predictor import query_frame

FORMAT_VERSION = 2
_PREDICTIVE_SAMPLES = 4000


@dataclass
class Fit:
    """A fitted law.

    Attributes:
      law: the :class:`~scalemix.laws.Law`.
      coords: coordinate labels (``target``, ``domain``, ...) the parameters are indexed by.
      draws: ``{name: array[S, *shape]}`` of constrained parameter values.
      method: ``point``, ``bootstrap``, ``nuts`` or ``svi``.
      noise: ``[S, targets]`` scale of the log-loss observation noise (for predictive intervals).
      noise_df: Student-t degrees of freedom of that noise; ``None`` for Normal.
      diagnostics: convergence facts (objective, starts in the best basin, R-hat, divergences, ...).
      provenance: scalemix and library versions, settings, seed, data fingerprint and source.
      inference_data: the ArviZ ``InferenceData`` of a Bayesian fit.
      set_aside: the rows of the fitted run table the law is undefined on (``row``, ``run_id``,
        ``target``, ``reason``); every other row was fitted.
      fitted_range: the scales (and mixtures) of the fitted rows; predictions say how far beyond it they lie.
      discrepancy: the law's own error beyond that range, learned by a backtest on the runs
        (:func:`scalemix.fit.discrepancy.learn`), or ``None``.
    """

    law: Law
    coords: dict[str, tuple[str, ...]]
    draws: dict[str, np.ndarray]
    method: str
    noise: np.ndarray
    noise_df: float | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    inference_data: Any = None
    set_aside: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SET_ASIDE_SCHEMA))
    fitted_range: FittedRange | None = None
    discrepancy: Discrepancy | None = None

    @property
    def layout(self) -> Layout:
        return self.law.layout(self.coords)

    @property
    def n_draws(self) -> int:
        return int(next(iter(self.draws.values())).shape[0])

    @property
    def targets(self) -> tuple[str, ...]:
        return self.coords["target"]

    def flat_draws(self) -> np.ndarray:
        """``[S, elements]`` constrained values in :meth:`Layout.element_names` order."""
        return np.concatenate([self.draws[s.param.name].reshape(self.n_draws, -1) for s in self.layout.slots], axis=1)

    # -- summaries -----------------------------------------------------------------------------------

    def summary(self) -> pl.DataFrame:
        """One row per scalar parameter: mean, sd, median, 2.5% and 97.5% quantiles over draws
        (``sd`` and quantiles are null for a single-draw point fit), plus R-hat, bulk/tail ESS and a
        ``warning`` (R-hat above 1.01 or ESS below 100 per chain, else null) for NUTS posteriors. Warnings
        about the whole fit (divergences) are in ``diagnostics["warnings"]``."""
        values = self.flat_draws()
        single = self.n_draws == 1
        columns: dict[str, Any] = {
            "parameter": self.layout.element_names(),
            "mean": values.mean(axis=0),
            "sd": None if single else values.std(axis=0, ddof=1),
            "median": np.median(values, axis=0),
            "q025": None if single else np.quantile(values, 0.025, axis=0),
            "q975": None if single else np.quantile(values, 0.975, axis=0),
        }
        frame = pl.DataFrame({k: v if v is not None else [None] * values.shape[1] for k, v in columns.items()},
                             schema_overrides={k: pl.Float64 for k in columns if k != "parameter"})
        extra = self.diagnostics.get("per_parameter")
        if extra:
            frame = frame.join(pl.DataFrame(extra), on="parameter", how="left")
        return frame

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape every method shares: law, method, objective, params by name, diagnostics and the
        extrapolation term (``discrepancy``, or None)."""
        params = {}
        for row in self.summary().iter_rows(named=True):
            name = row.pop("parameter")
            params[name] = {k: _json_number(v) for k, v in row.items()}
        return {
            "law": self.law.name,
            "law_options": dict(self.law.options),
            "formula": self.law.formula,
            "method": self.method,
            "draws": self.n_draws,
            "objective": _json_number(self.diagnostics.get("objective")),
            "params": params,
            "diagnostics": {k: v for k, v in self.diagnostics.items() if k != "per_parameter"},
            "discrepancy": None if self.discrepancy is None else self.discrepancy.to_dict(),
            "provenance": self.provenance,
        }

    # -- prediction ----------------------------------------------------------------------------------

    def log_loss_draws(self, query) -> tuple[pl.DataFrame, np.ndarray]:
        """Query rows (one per point and target) and their predicted log loss, ``[S, rows]``."""
        frame = query_frame(query, self.targets)
        with float64():
            d = design(frame, self.law, self.coords, observed=False)
            values = _log_loss_over_draws(self.law, _as_jax(self.draws), _as_jax(d.inputs))
        if d.set_aside.height:
            raise FitError(f"cannot predict {d.set_aside.height} query row(s): {d.set_aside['reason'][0]}")
        return d.frame, np.asarray(values)

    def predict(self, query, levels: Sequence[float] = (0.5, 0.9), *, seed: int = 0,
                extrapolation: bool = True) -> pl.DataFrame:
        """Predicted loss at each query point and target, over draws.

        ``query`` is a polars frame, a mapping of column -> value(s), or a run table, with ``params``,
        ``tokens`` and ``w.<domain>`` as the law needs; without a ``target`` column every target of
        the fit is predicted. Returns the query columns plus, for each level ``L`` (e.g. ``lo90``), three
        layers of uncertainty: ``mean``, ``median`` and the parameter (credible) interval
        ``lo<L>``/``hi<L>``; the predictive interval ``pred_lo<L>``/``pred_hi<L>`` of a single run, which
        adds the observation noise and, where the fit has a :attr:`discrepancy` and ``extrapolation`` is
        true (the default), the law's own error at the row's distance beyond the fitted range
        (``extrapolation=False`` gives parameters and noise alone). Rows also say how far outside the
        fitted range they lie: ``beyond_params``, ``beyond_tokens``, ``beyond_compute`` (decades) and
        ``mixture_distance`` (see :mod:`scalemix.extrapolation`), and ``beyond_evidence``: whether the row
        lies farther out than the backtest behind the discrepancy scored any run (or, without one, outside
        the fitted scales at all), where even the widened interval rests on no evidence.
        """
        levels = intervals.check(levels)
        frame, log_loss = self.log_loss_draws(query)
        distances = self.fitted_range.distances(frame) if self.fitted_range is not None else {}
        if distances:
            distances["beyond_evidence"] = self._beyond_evidence(distances)
        loss = np.exp(log_loss)
        discrepancy = self.discrepancy if extrapolation else None
        predictive = np.exp(self._predictive_log_loss(frame, log_loss, seed, discrepancy, distances))
        columns = {"mean": loss.mean(axis=0), "median": np.median(loss, axis=0)}
        for level in levels:
            columns |= intervals.quantiles(loss, [level]) | intervals.quantiles(predictive, [level], predictive=True)
        return frame.with_columns(**{k: pl.Series(k, v) for k, v in {**distances, **columns}.items()})

    def usable(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The rows of ``frame`` the law is defined on, and the rows it sets aside with their reason."""
        d = design(frame, self.law, self.coords)
        return d.frame, d.set_aside

    def _beyond_evidence(self, distances: dict) -> np.ndarray:
        if self.discrepancy is not None:
            return distances[f"beyond_{self.discrepancy.axis}"] > self.discrepancy.evidence
        return np.any([v > 0 for k, v in distances.items() if k.startswith("beyond_")], axis=0)

    def _predictive_log_loss(self, frame: pl.DataFrame, log_loss: np.ndarray, seed: int,
                             discrepancy: Discrepancy | None, distances: dict) -> np.ndarray:
        """Samples of observed log loss: each draw's prediction plus its noise and, given a ``discrepancy``,
        a Student-t term of scale :meth:`Discrepancy.extra_scale` at each row's distance: ``[max(S, 4000), rows]``."""
        target_index = {t: i for i, t in enumerate(self.targets)}
        columns = np.array([target_index[t] for t in frame["target"].to_list()], dtype=int)
        picks = np.arange(max(self.n_draws, _PREDICTIVE_SAMPLES)) % self.n_draws
        scale = self.noise[picks][:, columns]
        rng = np.random.default_rng(seed)
        shape = (picks.size, frame.height)
        eps = rng.standard_normal(shape) if self.noise_df is None else rng.standard_t(self.noise_df, shape)
        samples = log_loss[picks] + scale * eps
        if discrepancy is None:
            return samples
        sigma = np.median(self.noise, axis=0)[columns]
        extra = discrepancy.extra_scale(distances[f"beyond_{discrepancy.axis}"], sigma, log_loss.var(axis=0))
        return samples + extra * rng.standard_t(discrepancy.df, shape)

    # -- persistence ---------------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Write ``fit.json`` (law, coords, diagnostics, provenance, rows set aside), ``draws.npz`` and, for
        Bayesian fits, ``posterior.nc`` (ArviZ NetCDF) into directory ``path``. No pickle: safe to share."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "law": self.law.name,
            "law_options": dict(self.law.options),
            "coords": {k: list(v) for k, v in self.coords.items()},
            "method": self.method,
            "noise_df": self.noise_df,
            "diagnostics": self.diagnostics,
            "provenance": self.provenance,
            "set_aside": self.set_aside.to_dicts(),
            "fitted_range": None if self.fitted_range is None else self.fitted_range.to_dict(),
            "discrepancy": None if self.discrepancy is None else self.discrepancy.to_dict(),
        }
        (out / "fit.json").write_text(json.dumps(meta, indent=2, default=_json_number) + "\n")
        np.savez(out / "draws.npz", noise=self.noise, **{f"param:{k}": v for k, v in self.draws.items()})
        if self.inference_data is not None:
            self.inference_data.to_netcdf(str(out / "posterior.nc"))
        return out

    @classmethod
    def load(cls, path, law: Law | None = None) -> "Fit":
        """Read a fit written by :meth:`save`. A user-defined law must be registered
        (``scalemix.laws.register``) or passed as ``law``."""
        folder = Path(path)
        meta_path = folder / "fit.json"
        if not meta_path.is_file():
            raise FitError(f"{folder} is not a saved fit (no fit.json); save one with `scalemix fit ... --out DIR`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise FitError(f"{meta_path}: fit format {meta.get('format')} is not {FORMAT_VERSION}; refit with this scalemix")
        law = law or laws.get(meta["law"], **meta["law_options"])
        with np.load(folder / "draws.npz") as stored:
            draws = {k.split(":", 1)[1]: stored[k] for k in stored.files if k.startswith("param:")}
            noise = stored["noise"]
        inference_data = None
        if (folder / "posterior.nc").is_file():
            import arviz as az

            inference_data = az.from_netcdf(str(folder / "posterior.nc"))
        return cls(
            law=law,
            coords={k: tuple(v) for k, v in meta["coords"].items()},
            draws=draws,
            method=meta["method"],
            noise=noise,
            noise_df=meta["noise_df"],
            diagnostics=meta["diagnostics"],
            provenance=meta["provenance"],
            inference_data=inference_data,
            set_aside=pl.DataFrame(meta["set_aside"], schema=SET_ASIDE_SCHEMA),
            fitted_range=None if meta["fitted_range"] is None else FittedRange.from_dict(meta["fitted_range"]),
            discrepancy=None if meta["discrepancy"] is None else Discrepancy.from_dict(meta["discrepancy"]),
        )


@partial(jax.jit, static_argnames="law")
def _log_loss_over_draws(law: Law, draws, inputs):
    return jax.vmap(lambda theta: law.log_loss(theta, inputs))(draws)


def _as_jax(tree):
    return jax.tree_util.tree_map(lambda a: None if a is None else jnp.asarray(a), tree, is_leaf=lambda a: a is None)


def _json_number(value):
    if value is None:
        return None
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
