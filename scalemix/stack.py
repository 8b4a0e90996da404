"""``Stack``: several laws fitted to the same runs, weighted by how well each predicted the future.

When the form of the law is in doubt, no single fit's intervals hold the spread between plausible laws at
a query scale. A stack predicts with the mixture ``sum_k w_k p_k(y | query)`` of its fits' predictive
distributions (stacking of predictive distributions, Yao, Vehtari, Simpson and Gelman 2018, "Using
stacking to average Bayesian predictive distributions", Bayesian Analysis 13(3)), with weights ``w`` on
the simplex that maximise the leave-future-out log score of the backtest behind each fit's extrapolation
term (:func:`scalemix.fit.stacking.weights`), not PSIS-LOO, which rewards interpolation. Each draw of the
mixture comes from one law, so both the credible and the predictive interval widen where the laws part.

A ``Stack`` is a :class:`~scalemix.predictor.Predictor`: ``predict``, ``evaluate`` and the backtest take it
as they take a :class:`~scalemix.Fit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import polars as pl

from scalemix import intervals
from scalemix.errors import FitError
from scalemix.fitresult import Fit, predicted

STACK_FORMAT = 1
_SAMPLES = 4000


@dataclass
class Stack:
    """Fits of several laws to the same runs and their stacking ``weights`` (same order, summing to 1).

    ``diagnostics`` holds how the weights were learned (``rows``, ``cuts``, the leave-future-out log
    score of each law alone and of the stack) and the fits' warnings."""

    fits: tuple[Fit, ...]
    weights: np.ndarray
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.weights = np.asarray(self.weights, dtype=float)
        if len(self.fits) < 2 or len(self.fits) != self.weights.size:
            raise FitError(f"a stack holds two or more fits and one weight each; got {len(self.fits)} fit(s) and "
                           f"{self.weights.size} weight(s)")
        if len({fit.targets for fit in self.fits}) != 1:
            raise FitError(f"stacked fits must predict the same targets; got {', '.join(str(f.targets) for f in self.fits)}")

    law = None  # a stack has no single law (Predictor.law)

    @property
    def laws(self) -> tuple[str, ...]:
        return tuple(fit.law.name for fit in self.fits)

    @property
    def coords(self) -> dict[str, tuple[str, ...]]:
        return self.fits[0].coords

    @property
    def provenance(self) -> dict[str, Any]:
        """The first fit's (versions, settings, the fingerprint of the runs every fit was made on)."""
        return self.fits[0].provenance

    @property
    def method(self) -> str:
        return self.fits[0].method

    @property
    def targets(self) -> tuple[str, ...]:
        return self.fits[0].targets

    @property
    def n_draws(self) -> int:
        return _SAMPLES

    @property
    def fitted_range(self):
        return self.fits[0].fitted_range

    def allocation(self, count: int, seed: int) -> np.ndarray:
        """Which fit each of ``count`` mixture samples comes from: ``round(w_k count)`` of fit ``k`` (largest
        remainders), in an order shuffled by ``seed``."""
        exact = self.weights * count
        counts = np.floor(exact).astype(int)
        counts[np.argsort(counts - exact)[: count - counts.sum()]] += 1
        return np.random.default_rng(seed).permutation(np.repeat(np.arange(len(self.fits)), counts))

    def law_of_draws(self) -> np.ndarray:
        """``[n_draws]``: which fit each draw of :meth:`log_loss_draws` comes from."""
        return self.allocation(_SAMPLES, 0)

    def log_loss_draws(self, query) -> tuple[pl.DataFrame, np.ndarray]:
        """Query rows and log loss over ``n_draws`` mixture draws (each one draw of one fit)."""
        frames, draws = zip(*(fit.log_loss_draws(query) for fit in self.fits))
        return frames[0], self._mix(draws, seed=0)

    def predict(self, query, levels: Sequence[float] = (0.5, 0.9), *, seed: int = 0,
                extrapolation: bool = True) -> pl.DataFrame:
        """Predicted loss at each query point and target under the mixture of the fits (the columns of
        :meth:`Fit.predict`, and ``beyond_evidence`` where any fit has no backtest evidence)."""
        levels = intervals.check(levels)
        parts = [fit.predictive_samples(query, seed=seed + k, extrapolation=extrapolation) for k, fit in enumerate(self.fits)]
        frame, distances = parts[0][0], dict(parts[0][3])
        if "beyond_evidence" in distances:
            distances["beyond_evidence"] = np.any([part[3]["beyond_evidence"] for part in parts], axis=0)
        loss = np.exp(self._mix([part[1] for part in parts], seed))
        predictive = np.exp(self._mix([part[2] for part in parts], seed + 1))
        return predicted(frame, loss, predictive, levels, distances)

    def usable(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The rows every fit is defined on, and the rows some fit sets aside (with the first reason)."""
        indexed = frame.with_row_index("_row")
        parts = [fit.usable(indexed) for fit in self.fits]
        rows = set.intersection(*(set(kept["_row"].to_list()) for kept, _ in parts))
        aside = pl.concat([aside for _, aside in parts]).unique("row", keep="first", maintain_order=True)
        return indexed.filter(pl.col("_row").is_in(sorted(rows))).drop("_row"), aside

    def _mix(self, samples: Sequence[np.ndarray], seed: int) -> np.ndarray:
        """``[n_draws, rows]`` mixture samples: sample ``i`` from fit ``allocation[i]``, its draws taken in
        turn (each fit's ``[S_k, rows]`` samples, shuffled by ``seed``)."""
        rng = np.random.default_rng(seed)
        which = self.allocation(_SAMPLES, seed)
        out = np.empty((_SAMPLES, samples[0].shape[1]))
        for k, values in enumerate(samples):
            chosen = np.flatnonzero(which == k)
            out[chosen] = values[rng.permutation(np.arange(chosen.size) % values.shape[0])]
        return out

    # -- summaries and persistence ---------------------------------------------------------------------

    def summary(self) -> pl.DataFrame:
        """One row per law: its stacking weight, its leave-future-out log score, and its point objective."""
        scores = self.diagnostics.get("log_score", {})
        return pl.DataFrame({"law": list(self.laws), "weight": self.weights.tolist(),
                             "log_score": [scores.get(name) for name in self.laws],
                             "objective": [fit.diagnostics.get("objective") for fit in self.fits]},
                            schema_overrides={"log_score": pl.Float64, "objective": pl.Float64})

    def to_dict(self) -> dict[str, Any]:
        """The laws, their weights, how the weights were learned, and each fit's :meth:`Fit.to_dict`."""
        return {"stack": list(self.laws), "weights": self.weights.tolist(), "method": self.method,
                "diagnostics": self.diagnostics, "fits": [fit.to_dict() for fit in self.fits]}

    def save_folders(self) -> list[str]:
        """The sub-directory each fit is saved in: ``<k>-<law>``."""
        return [f"{k}-{name}" for k, name in enumerate(self.laws)]

    def save(self, path) -> Path:
        """Write ``stack.json`` (laws, weights, diagnostics) and each fit in its :meth:`save_folders`."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        folders = self.save_folders()
        for folder, fit in zip(folders, self.fits):
            fit.save(out / folder)
        meta = {"format": STACK_FORMAT, "fits": folders, "weights": self.weights.tolist(), "diagnostics": self.diagnostics}
        (out / "stack.json").write_text(json.dumps(meta, indent=2) + "\n")
        return out

    @classmethod
    def load(cls, path) -> Stack:
        """Read a stack written by :meth:`save` (each fit through :meth:`Fit.load`, which verifies it)."""
        folder = Path(path)
        meta_path = folder / "stack.json"
        try:
            meta = json.loads(meta_path.read_text())
            fits, weights = meta["fits"], meta["weights"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise FitError(f"{meta_path}: not a readable stack ({type(error).__name__}: {error}); "
                           f"refit with `scalemix fit ... --law a,b --out DIR`") from None
        if meta.get("format") != STACK_FORMAT:
            raise FitError(f"{meta_path}: stack format {meta.get('format')} is not {STACK_FORMAT}; refit with this scalemix")
        return cls(fits=tuple(Fit.load(folder / name) for name in fits), weights=weights,
                   diagnostics=meta.get("diagnostics", {}))


def load(path) -> Fit | Stack:
    """A saved fit or stack: a directory with ``stack.json`` is a :class:`Stack`, else a :class:`Fit`."""
    return Stack.load(path) if (Path(path) / "stack.json").is_file() else Fit.load(path)


__all__ = ["STACK_FORMAT", "Stack", "load"]
