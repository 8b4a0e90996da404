"""NUTS posteriors against the 4,000-refit bootstrap, side by side in one process, wall time including compile.

1. Chinchilla (Epoch's 240 points): NUTS 4 chains x 1,000 draws (1,000 warmup) vs Besiroglu et al.'s
   4,000-resample bootstrap (scalemix's vmapped refits): alpha's 95% interval, max R-hat, wall time.
   Epoch's published bootstrap interval for alpha is (0.317, 0.373).
2. The joint `multilingual` law on 10 simulated language pairs (known truth; 8 sizes x 5 weights each):
   the same NUTS figures, and how many of the 60 true parameters fall in their 95% intervals.
3. "Fit small, predict large" on Chinchilla: fit on runs with N < 2e9, coverage of the 90% predictive
   interval on the held-out larger runs, NUTS vs bootstrap.
4. Calibration by simulation (the larger version of the calibration study in tests/test_bayes.py), NUTS 2 x 500 per table with
   the Normal likelihood the data were drawn with; how often the 50/80/95% intervals cover the truth and
   the held-out larger runs. ``--datasets`` Chinchilla-law tables (30 runs below 1e9 params, 2% noise;
   true E, alpha, beta; held out: 4 runs at 2-4e9) and ``--ml-datasets`` multilingual tables (3 pairs,
   8 sizes up to 1e9 x 5 weights, 1% noise; true alpha, Linf and f(0.3) per pair; held out: N = 2e9, 4e9).

    python benchmarks/bench_bayes.py [--chains 4 --draws 1000 --warmup 1000 --n-boot 4000 --datasets 100 --ml-datasets 40]

Both Chinchilla methods start from the point fit, which is compiled before either is timed; each is timed on
its first call (its own compile included) and again on a second seed (compiled). The last line is the
bootstrap / NUTS wall-time ratio for both (> 1: NUTS is faster).
"""

import argparse
import time
import warnings

import numpy as np
import polars as pl

from scalemix import laws, runs
from scalemix.laws import effective_fraction
from scalemix.fit import fit_bootstrap, fit_nuts, fit_point
from scalemix._x64 import float64


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*args, **kwargs)
    return result, time.perf_counter() - started, [str(w.message) for w in caught]


def _interval(draws, level=0.95):
    """Central interval of ``draws[S, ...]`` over the draws axis."""
    return tuple(np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0))


def multilingual_truth(targets, rng):
    """Parameters of the multilingual law (power f) per pair, drawn from fixed ranges."""
    return {"beta": rng.uniform(20, 200, targets), "alpha": rng.uniform(0.2, 0.4, targets),
            "Linf": rng.uniform(0.8, 1.6, targets), "c1": rng.uniform(0.05, 0.5, targets),
            "c2": rng.uniform(0.5, 1.5, targets), "c3": rng.uniform(0.5, 1.5, targets)}


def simulated_multilingual(targets=10, seed=0, sizes=tuple(np.geomspace(2e7, 1e9, 8)), truth=None):
    """Runs of the multilingual law with ``truth`` (drawn when None) at ``sizes`` x 5 weights per pair,
    log-normal noise of 1%. Returns ``(table, truth)``."""
    rng = np.random.default_rng(seed)
    truth = multilingual_truth(targets, rng) if truth is None else truth
    names = [f"p{i}" for i in range(targets)]
    rows = []
    for n in sizes:
        for p in (0.05, 0.1, 0.3, 0.7, 1.0):
            for i, name in enumerate(names):
                with float64():
                    f = float(effective_fraction({k: v[i] for k, v in truth.items()}, p))
                loss = truth["beta"][i] * (f * n) ** -truth["alpha"][i] + truth["Linf"][i]
                weights = {f"w.{other}": (p if other == name else (1 - p) / (targets - 1)) for other in names}
                rows.append({"run_id": f"{name}-{n:.3g}-{p}", "params": n, "tokens": 20 * n, "target": name,
                             "loss": loss * np.exp(0.01 * rng.standard_normal()), **weights})
    return runs.read(pl.DataFrame(rows)), truth


CALIBRATION_TRUTH = {"E": 1.8, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.37}


def simulated_chinchilla(seed, noise=0.02):
    """5 sizes x 6 token counts below 1e9 params (fitted) and 4 runs at 2-4e9 params (held out)."""
    rng = np.random.default_rng(seed)
    t = CALIBRATION_TRUTH
    points = [(n, d) for n in np.geomspace(5e7, 8e8, 5) for d in np.geomspace(1e9, 1e11, 6)]
    points += [(n, 20 * n) for n in (2e9, 3e9, 4e9, 4e9)]
    rows = [{"run_id": f"r{k}", "params": n, "tokens": d, "target": "sim",
             "loss": (t["E"] + t["A"] / n ** t["alpha"] + t["B"] / d ** t["beta"]) * np.exp(noise * rng.standard_normal())}
            for k, (n, d) in enumerate(points)]
    table = runs.read(pl.DataFrame(rows))
    return table.select(where=pl.col("params") < 1e9), table.select(where=pl.col("params") >= 1e9)


def chinchilla_study(seed):
    """One Chinchilla calibration table: ``(fitted, held_out, law, [(draws, true values), ...])`` builder."""
    fitted, held_out = simulated_chinchilla(seed)
    return fitted, held_out, laws.get("chinchilla"), lambda fit: [(fit.draws[k], CALIBRATION_TRUTH[k]) for k in ("E", "alpha", "beta")]


def multilingual_study(seed, targets=3):
    """One multilingual calibration table (3 pairs, N up to 1e9; held out: N = 2e9 and 4e9). Checked: every
    alpha, Linf and the effective fraction f(0.3), the quantity users read off (c1..c3 trade off)."""
    fitted, truth = simulated_multilingual(targets, seed)
    held_out, _ = simulated_multilingual(targets, seed + 10_000, sizes=(2e9, 4e9), truth=truth)

    def quantities(fit):
        f_draws = np.asarray(effective_fraction({k: fit.draws[k] for k in ("c1", "c2", "c3")}, 0.3))
        return [(fit.draws["alpha"], truth["alpha"]), (fit.draws["Linf"], truth["Linf"]),
                (f_draws, np.asarray(effective_fraction(truth, 0.3)))]

    return fitted, held_out, laws.get("multilingual", f="power"), quantities


def calibration(label, study, datasets, levels=(0.5, 0.8, 0.95)):
    """Coverage rows (one per level) of NUTS 2x500 intervals over ``datasets`` tables from ``study(seed)``:
    true values inside their central intervals, held-out runs inside their predictive intervals."""
    hits = {level: {"params": 0, "held_out": 0} for level in levels}
    trials = {"params": 0, "held_out": 0}
    started = time.perf_counter()
    for seed in range(datasets):
        fitted, held_out, law, quantities = study(seed)
        fit, _, _ = _timed(fit_nuts, fitted, law, chains=2, draws=500, warmup=500, likelihood="normal", seed=seed)
        for draws, truth in quantities(fit):
            for level in levels:
                lo, hi = _interval(draws, level)
                hits[level]["params"] += int(np.sum((lo <= truth) & (truth <= hi)))
            trials["params"] += np.size(truth)
        for level in levels:
            hits[level]["held_out"] += round(predictive_coverage(fit, held_out, level) * held_out.frame.height)
        trials["held_out"] += held_out.frame.height
    seconds = time.perf_counter() - started
    return [{"case": f"calibration, {label}, {datasets} simulated tables: {100 * level:g}% intervals cover "
                     f"{hits[level]['params'] / trials['params']:.2f} of {trials['params']} true values, "
                     f"{hits[level]['held_out'] / trials['held_out']:.2f} of {trials['held_out']} held-out runs",
             "method": "nuts 2x500", "wall_s": seconds} for level in levels]


def predictive_coverage(fit, held_out, level=0.9):
    pred = fit.predict(held_out.frame, levels=(level,))
    suffix = f"{100 * level:g}"
    return float(((pred["loss"] >= pred[f"pred_lo{suffix}"]) & (pred["loss"] <= pred[f"pred_hi{suffix}"])).mean())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--n-boot", type=int, default=4000)
    parser.add_argument("--datasets", type=int, default=100, help="simulated Chinchilla calibration tables")
    parser.add_argument("--ml-datasets", type=int, default=40, help="simulated multilingual calibration tables")
    args = parser.parse_args()
    mcmc = {"chains": args.chains, "draws": args.draws, "warmup": args.warmup}
    chinchilla = laws.get("chinchilla")
    table = runs.read("chinchilla")
    rows, nuts_warnings = [], []

    fit_point(table, chinchilla)  # both methods start from the point fit: compile it before timing either
    wall = {}
    for name, function, options in (("nuts", fit_nuts, mcmc), (f"bootstrap x{args.n_boot}", fit_bootstrap, {"n_boot": args.n_boot})):
        for call, seed in (("first call", 0), ("compiled", 1)):
            fit, wall[name, call], caught = _timed(function, table, chinchilla, seed=seed, **options)
            nuts_warnings += caught if name == "nuts" else []
            lo, hi = _interval(fit.draws["alpha"][:, 0])
            rows.append({"case": f"chinchilla, {call}", "method": name, "alpha_lo95": lo, "alpha_hi95": hi,
                         "max_rhat": fit.diagnostics.get("max_rhat"), "divergences": fit.diagnostics.get("divergences"),
                         "wall_s": wall[name, call]})
    rows.append({"case": "chinchilla", "method": "Epoch bootstrap x4000 (published)", "alpha_lo95": 0.317, "alpha_hi95": 0.373})

    ml_table, truth = simulated_multilingual()
    ml_law = laws.get("multilingual", f="power")
    ml, ml_s, ml_warnings = _timed(fit_nuts, ml_table, ml_law, **mcmc)
    covered = sum(int(lo <= t <= hi) for name, values in truth.items()
                  for t, (lo, hi) in zip(values, (_interval(ml.draws[name][:, i]) for i in range(len(values)))))
    rows.append({"case": f"multilingual 10 pairs ({covered}/60 true params in 95%)", "method": "nuts",
                 "max_rhat": ml.diagnostics["max_rhat"], "divergences": ml.diagnostics["divergences"], "wall_s": ml_s})

    small = table.select(where=pl.col("params") < 2e9)
    large = table.select(where=pl.col("params") >= 2e9)
    for name, function, options in (("nuts", fit_nuts, mcmc), ("bootstrap", fit_bootstrap, {"n_boot": 1000})):
        fit, seconds, _ = _timed(function, small, chinchilla, **options)
        rows.append({"case": f"fit N<2e9 ({small.frame.height} runs), 90% pred. coverage of {large.frame.height} larger: "
                             f"{predictive_coverage(fit, large):.2f}", "method": name, "wall_s": seconds})

    rows += calibration("chinchilla", chinchilla_study, args.datasets)
    rows += calibration("multilingual 3 pairs", multilingual_study, args.ml_datasets)

    with pl.Config(tbl_rows=20, tbl_width_chars=200, fmt_str_lengths=150, tbl_hide_dataframe_shape=True):
        print(pl.DataFrame(rows))
    for message in nuts_warnings + ml_warnings:
        print("warning:", message)
    boot = f"bootstrap x{args.n_boot}"
    print("bootstrap/nuts wall-time ratio on chinchilla: "
          + ", ".join(f"{call} {wall[boot, call] / wall['nuts', call]:.2f}" for call in ("first call", "compiled")))


if __name__ == "__main__":
    main()
