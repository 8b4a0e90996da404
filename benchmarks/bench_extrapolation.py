"""Intervals where users extrapolate: fit small, predict large, on real runs and on simulations.

For each split (``extrapolation_splits.py``: Chinchilla, (Mis)Fitting, Porian, Open-Athena isoFLOPs,
RegMix 1M -> 60M) and each method, side by side in one process:

- ``curve_fit``: scipy's least squares on log loss from the point optimum, its covariance propagated by
  the delta method plus the residual variance (Gaussian intervals): the common peer;
- ``bootstrap``: Epoch-style bootstrap over runs (200 refits), parameter + noise intervals (today's);
- ``nuts``: NUTS 4 x 500 (today's posterior predictive);
- ``bootstrap+ext`` (the new default of ``scalemix.fit.fit``) and ``nuts+ext``: the same draws with the
  extrapolation term learned by the leave-future-out backtest inside the training runs
  (:mod:`scalemix.fit.discrepancy`);
- ``point+ext`` against ``point+conformal``: the point fit with the Student-t term, and with split conformal
  intervals calibrated on the same backtest rows (:class:`Conformal`), the distribution-free variant;
- ``stacked``: bootstrap fits of the candidate laws of :data:`STACKS` (each with its term) stacked by their
  leave-future-out scores (``fit(train, ["chinchilla", "kaplan"], method="bootstrap")``, :mod:`scalemix.stack`).

Columns: coverage of central 50/80/95% predictive intervals, mean interval score over the three levels
and CRPS (both on log loss, Gneiting and Raftery 2007; lower is better), MRE of the median, mean 80%
width (log loss) and wall seconds of the fit (the backtest included). Then the simulations: the right
law (Chinchilla law at Epoch's fit, 1.5% noise) and wrong ones (data exponent breaking from 0.367 to
0.2 beyond D = 1e10; size exponent drifting down 0.01 per decade of N; size exponent bending smoothly
from 0.347 to 0.197 around N = 5e8, at 1.5% and 0.5% noise; ``extrapolation_splits.SIMULATED``), fitted
with Chinchilla on N < 2e9, 5 seeds each. Last, over the real splits where
a term can be learned: mean coverage per method and geometric means of per-split interval-score ratios;
the last line is new default / today's NUTS.

    python benchmarks/bench_extrapolation.py [--splits chinchilla,misfitting] [--simulations bent] [--seeds 5] [--no-nuts]
"""

import argparse
import dataclasses
import time
import warnings

import numpy as np
import polars as pl
from scipy import optimize, stats

import extrapolation_splits as splits
from scalemix import intervals, laws
from scalemix.design import SET_ASIDE_SCHEMA
from scalemix.errors import FitError
from scalemix.evaluate import evaluate
from scalemix.fit import discrepancy, fit, fit_bootstrap, fit_nuts, fit_point

LEVELS = (0.5, 0.8, 0.95)
STACKS = {"chinchilla": ("chinchilla", "kaplan"), "mixture-additive": ("mixture-additive", "mixture-joint")}
"""The laws stacked for a split fitted with the key law (its alternatives of the same inputs)."""


@dataclasses.dataclass
class CurveFit:
    """scipy ``curve_fit`` on log loss with delta-method intervals: a Predictor of the Chinchilla law."""

    theta: np.ndarray
    covariance: np.ndarray
    noise: float
    targets: tuple = ("",)
    law = None
    method = "curve_fit"
    n_draws = 1

    @classmethod
    def fit(cls, table, start):
        frame = table.frame
        x = np.log(frame.select("params", "tokens").to_numpy().T)
        y = np.log(frame["loss"].to_numpy())
        theta, covariance = optimize.curve_fit(_log_chinchilla, x, y, p0=start, maxfev=20000)
        residual = y - _log_chinchilla(x, *theta)
        return cls(theta, covariance, float(np.sqrt(residual @ residual / (y.size - theta.size))), table.targets)

    def usable(self, frame):
        return frame, pl.DataFrame(schema=SET_ASIDE_SCHEMA)

    def predict(self, query, levels, *, seed=0, extrapolation=True):
        x = np.log(query.select("params", "tokens").to_numpy().T)
        center = _log_chinchilla(x, *self.theta)
        step = 1e-6
        gradient = np.stack([(_log_chinchilla(x, *(self.theta + step * e)) - center) / step for e in np.eye(self.theta.size)])
        sd = np.sqrt(np.einsum("ir,ij,jr->r", gradient, self.covariance, gradient) + self.noise**2)
        columns = {"mean": np.exp(center), "median": np.exp(center)}
        for level in levels:
            z = stats.norm.ppf((1 + level) / 2)
            columns.update(zip(intervals.columns(level, predictive=True), (np.exp(center - z * sd), np.exp(center + z * sd))))
        return query.with_columns(**{k: pl.Series(k, v) for k, v in columns.items()})


@dataclasses.dataclass
class Conformal:
    """Split conformal prediction across scale folds (Vovk et al. 2005; normalised scores, Lei et al. 2018):
    the distribution-free alternative to the Student-t term. The calibration set is the backtest's rows
    (each scored by a fit below its cut); a row's score is ``|r| / s(d)`` with ``s`` the learned term's
    scale at its distance, so the interval at level ``L`` is ``log yhat +- q_L s(d)``, ``q_L`` the
    cut-weighted ``L`` quantile of the scores (finite-sample corrected)."""

    point: object
    scores: np.ndarray
    weights: np.ndarray
    law = None
    method = "conformal"
    n_draws = 1

    @property
    def targets(self):
        return self.point.targets

    @classmethod
    def fit(cls, point, scored, learned):
        scale = learned.scale(scored["distance"].to_numpy(), scored["sigma"].to_numpy())
        return cls(point, np.abs(scored["residual"].to_numpy()) / scale, discrepancy.cut_weights(scored))

    def usable(self, frame):
        return self.point.usable(frame)

    def quantile(self, level):
        order = np.argsort(self.scores)
        cumulative = np.cumsum(self.weights[order]) / (self.weights.sum() + self.weights.mean())  # the +1 of split conformal
        return self.scores[order][min(np.searchsorted(cumulative, level), order.size - 1)]

    def predict(self, query, levels, *, seed=0, extrapolation=True):
        frame = self.point.predict(query, levels=(0.5,), extrapolation=False)
        distance = frame[f"beyond_{self.point.discrepancy.axis}"].to_numpy()
        sigma = np.median(self.point.noise, axis=0)[[self.point.targets.index(t) for t in frame["target"]]]
        scale = self.point.discrepancy.scale(distance, sigma)
        center = np.log(frame["median"].to_numpy())
        columns = {}
        for level in levels:
            half = self.quantile(level) * scale
            columns.update(zip(intervals.columns(level, predictive=True), (np.exp(center - half), np.exp(center + half))))
        return frame.with_columns(**{k: pl.Series(k, v) for k, v in columns.items()})


def _log_chinchilla(x, log_e, log_a, log_b, alpha, beta):
    log_n, log_d = x
    return np.logaddexp(np.logaddexp(log_e, log_a - alpha * log_n), log_b - beta * log_d)


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def _score(predictor, test, extrapolation=True):
    overall = evaluate(predictor, test, levels=LEVELS, extrapolation=extrapolation)["overall"]
    return {"cov50": overall["coverage50"], "cov80": overall["coverage80"], "cov95": overall["coverage95"],
            "IS": overall["interval_score"], "CRPS": overall["crps"], "MRE": overall["mre"], "width80": overall["width80"]}


def run_split(train, test, law_name, nuts: bool, seed: int = 0, variants: dict | None = None) -> dict[str, dict]:
    law = laws.get(law_name)
    rows = {}
    point, _ = _timed(fit_point, train, law, seed=seed)
    (learned, note, scored), learn_s = _timed(discrepancy.learn_with_scores, train, law, seed=seed)
    if learned is not None:  # the same point fit and backtest: t term against split conformal
        with_term = dataclasses.replace(point, discrepancy=learned)
        rows["point+ext"] = {**_score(with_term, test), "wall": learn_s}
        rows["point+conformal"] = {**_score(Conformal.fit(with_term, scored, learned), test), "wall": learn_s}
    if law_name == "chinchilla":
        d = point.draws
        start = [np.log(d["E"][0, 0]), np.log(d["A"][0, 0]), np.log(d["B"][0, 0]), d["alpha"][0, 0], d["beta"][0, 0]]
        peer, wall = _timed(CurveFit.fit, train, start)
        rows["curve_fit"] = {**_score(peer, test), "wall": wall}
    boot, wall = _timed(fit_bootstrap, train, law, n_boot=200, seed=seed)
    rows["bootstrap"] = {**_score(boot, test, extrapolation=False), "wall": wall}
    rows["bootstrap+ext"] = {**_score(dataclasses.replace(boot, discrepancy=learned), test), "wall": wall + learn_s}
    if law_name in STACKS and learned is not None:
        try:
            stacked, wall = _timed(fit, train, STACKS[law_name], method="bootstrap", n_boot=200, seed=seed)
        except FitError as error:  # a candidate whose backtest cannot be scored: said, not hidden
            note += f"; no stack ({error})"
        else:
            rows["stacked"] = {**_score(stacked, test), "wall": wall}
            note += "; stack weights " + ", ".join(f"{n} {w:.2f}" for n, w in zip(stacked.laws, stacked.weights))
    for label, by in (variants or {}).items():
        (other, _), other_s = _timed(discrepancy.learn, train, law, seed=seed, by=by)
        rows[label] = {**_score(dataclasses.replace(boot, discrepancy=other), test), "wall": wall + other_s}
    if nuts:
        post, wall = _timed(fit_nuts, train, law, chains=4, draws=500, warmup=500, seed=seed, init=point)
        rows["nuts"] = {**_score(post, test, extrapolation=False), "wall": wall}
        rows["nuts+ext"] = {**_score(dataclasses.replace(post, discrepancy=learned), test), "wall": wall + learn_s}
    rows["_note"] = note
    return rows


def _print(name, rows, n_test):
    print(f"\n{name} ({n_test} held-out rows): {rows.pop('_note')}")
    print(f"  {'method':16s} {'cov50':>6s} {'cov80':>6s} {'cov95':>6s} {'IS':>7s} {'CRPS':>7s} {'MRE':>7s} {'width80':>8s} {'wall s':>7s}")
    for method, r in rows.items():
        print(f"  {method:16s} {r['cov50']:6.2f} {r['cov80']:6.2f} {r['cov95']:6.2f} {r['IS']:7.4f} {r['CRPS']:7.4f} "
              f"{r['MRE']:7.2%} {r['width80']:8.4f} {r['wall']:7.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", default=",".join(splits.REAL))
    parser.add_argument("--simulations", default=",".join(splits.SIMULATED), help="comma-separated labels of splits.SIMULATED")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-nuts", action="store_true")
    parser.add_argument("--variants", action="store_true", help="also backtest along one scale at a time")
    args = parser.parse_args()
    variants = {f"+ext[{by}]": (by,) for by in ("params", "tokens", "compute")} if args.variants else None
    results = {}
    for name in filter(None, args.splits.split(",")):
        train, test, law = splits.REAL[name]()
        results[name] = run_split(train, test, law, nuts=not args.no_nuts, variants=variants)
        _print(name, dict(results[name]), len(test))
    for kind in filter(None, args.simulations.split(",")):
        per_seed = [run_split(*splits.simulated(kind.split()[0], seed, **splits.SIMULATED[kind]), nuts=False, seed=seed)
                    for seed in range(args.seeds)]
        mean = {m: {k: float(np.mean([r[m][k] for r in per_seed])) for k in per_seed[0][m]} for m in per_seed[0] if m != "_note"}
        widen = mean["bootstrap+ext"]["width80"] / mean["bootstrap"]["width80"]
        _print(f"simulated {kind} law, mean of {args.seeds} seeds (80% width x{widen:.2f} against the bootstrap)",
               {**mean, "_note": per_seed[0]["_note"]}, 52)
    _summary(results, variants)


def _summary(results: dict, variants) -> None:
    """Mean coverage and the geometric mean of per-split interval-score ratios (scale-free: one split's loss
    scale does not dominate), over the splits where a term could be learned (not RegMix: one scale)."""
    learned = {name: rows for name, rows in results.items() if "too few" not in rows["_note"]}
    methods = [m for m in ("curve_fit", "bootstrap", "bootstrap+ext", "point+ext", "point+conformal", "stacked", "nuts",
                           "nuts+ext", *(variants or {}))
               if any(m in rows for rows in learned.values())]
    print(f"\nover the {len(learned)} real splits with an extrapolation term (of {len(results)}):")
    for method in methods:
        having = [rows for rows in learned.values() if method in rows]
        coverage = [np.mean([rows[method][f"cov{c}"] for rows in having]) for c in (50, 80, 95)]
        print(f"  {method:16s} mean coverage 50/80/95 {np.round(coverage, 2)} ({len(having)} splits)")

    def ratio(a, b):
        both = [rows for rows in learned.values() if a in rows and b in rows]
        return float(np.exp(np.mean([np.log(rows[a]["IS"] / rows[b]["IS"]) for rows in both]))), len(both)

    for a, b in (("bootstrap+ext", "bootstrap"), ("nuts+ext", "nuts"), ("bootstrap+ext", "curve_fit"),
                 ("point+conformal", "point+ext"), ("stacked", "bootstrap+ext"), ("stacked", "nuts")):
        if a in methods and b in methods:
            print(f"  interval score, {a} / {b} (geometric mean over %d splits): %.3f" % ratio(a, b)[::-1])
    if "nuts" in methods:
        print(f"interval score, new default (bootstrap+ext) / today's NUTS (geometric mean over splits): "
              f"{ratio('bootstrap+ext', 'nuts')[0]:.3f}")


if __name__ == "__main__":
    main()
