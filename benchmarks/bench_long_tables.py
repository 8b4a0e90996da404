"""Long tables: point fits on logs with every evaluation step as a row, against scipy on the same objective.

Two tables, each fitted by scalemix's point fit (the multi-start search screens and refines its starts on
``SCREEN_ROWS`` evenly spaced rows per group, then finishes the best ``POLISH`` on every row) and by scipy
from the same grid of starts, keeping the best:

- ``power`` on simulated training curves (issue #14: "a point fit of power on 200,000 rows"): 20 runs of 1e7
  to 1e9 parameters, ``--rows`` rows in all, loss ``1.7 + 400 N^-0.34 + 410 D^-0.28`` times log-normal noise
  (sd 0.01). The power law reads N only, so every step of a run is one more noisy look at the same
  prediction. scipy: ``least_squares(loss="huber", f_scale=delta)`` (its cost is the same summed Huber),
  analytic Jacobian, from each of the law's 36 grid starts.
- ``chinchilla`` on the (Mis)Fitting per-checkpoint table (Li et al. 2025, ``../shared/data``, 4,852 rows of
  263 runs): scipy is Epoch's L-BFGS-B loop (``bench_chinchilla.scipy_grid``) on ``--scipy-starts`` of the
  4,500 grid starts, its time scaled to the full grid (the table says so).

"after compile" is the best of ``--repeats`` fits once the first has compiled. Prints one table; the last
line is the two speed-ups.

    python benchmarks/bench_long_tables.py [--rows 200000] [--repeats 3] [--scipy-starts 450]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy.optimize import least_squares

from bench_chinchilla import DELTA, scipy_grid
from scalemix import laws, runs
from scalemix.fit import fit_point
from scalemix.fit.problem import build

MISFITTING = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "misfitting2025" / "scaling_results.csv"


def training_curves(rows: int, seed: int = 0) -> runs.RunTable:
    """20 simulated runs' eval loss at every step, ``rows`` rows in all (see the module docstring)."""
    rng = np.random.default_rng(seed)
    params = np.geomspace(1e7, 1e9, 20)
    steps = np.arange(1, rows // params.size + 1)
    frames = []
    for k, n in enumerate(params):
        tokens = steps * 2e5
        loss = (1.7 + 400 * n**-0.34 + 410 * tokens**-0.28) * np.exp(rng.normal(0, 0.01, steps.size))
        frames.append(pl.DataFrame({"run_id": f"run{k}", "params": n, "tokens": tokens, "step": steps,
                                    "target": "val", "loss": loss}))
    return runs.read(pl.concat(frames))


def misfitting() -> runs.RunTable:
    """The (Mis)Fitting checkpoints as a run table: a run is a contiguous block of one configuration whose
    steps rise (the file repeats some configurations, as separate runs)."""
    raw = pl.read_csv(MISFITTING, infer_schema_length=None)
    config = pl.concat_str(["model", pl.col("peak_lr").cast(pl.Utf8), "sweep", pl.col("total_steps").cast(pl.Utf8)], separator="|")
    starts = (pl.col("current_steps") <= pl.col("current_steps").shift(1)) | (config != config.shift(1))
    raw = raw.with_columns(run_id=starts.fill_null(True).cum_sum().cast(pl.Utf8), step=pl.col("current_steps"))
    return runs.read(raw.select("run_id", "step", "N", "D", "loss"), params="N", tokens="D", target="c4")


def _power_residuals(x, log_n, log_loss):
    """Log-loss residuals of ``beta N^-alpha + Linf`` at ``x = (log beta, log alpha, log Linf)`` and their
    Jacobian."""
    log_beta, log_alpha, log_linf = x
    power_term = log_beta - np.exp(log_alpha) * log_n
    log_pred = np.logaddexp(power_term, log_linf)
    share = np.exp(power_term - log_pred)
    jac = np.stack([share, -share * np.exp(log_alpha) * log_n, 1 - share], axis=1)
    return log_pred - log_loss, jac


def scipy_power(table, starts):
    """scipy's robust least squares (Huber, ``f_scale = delta``) from every start; (best x, best objective)."""
    log_n, log_loss = np.log(table.frame["params"].to_numpy()), np.log(table.frame["loss"].to_numpy())
    best = None
    for x0 in starts:
        result = least_squares(lambda x: _power_residuals(x, log_n, log_loss)[0], x0,
                               jac=lambda x: _power_residuals(x, log_n, log_loss)[1],
                               loss="huber", f_scale=DELTA, xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=2000)
        if best is None or result.cost < best.cost:
            best = result
    return best.x, best.cost


def _timed(function, repeats):
    """(result, seconds of the first call, best seconds of ``repeats`` more)."""
    t0 = time.perf_counter()
    result = function()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - t0)
    return result, first, min(times)


def _row(label, objective, wall, note=""):
    print(f"  {label:40}{objective:>18.10e}{wall:>10.2f}  {note}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the simulated training curves")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits after the compiling one")
    parser.add_argument("--scipy-starts", type=int, default=450, help="Chinchilla grid starts scipy runs (scaled to 4,500)")
    args = parser.parse_args()
    print(f"{'':42}{'objective':>18}{'wall s':>10}")

    curves, power = training_curves(args.rows), laws.get("power")
    fit, first, ours_power = _timed(lambda: fit_point(curves, power), args.repeats)
    grid = build(curves, power).layout.grid()  # (log beta, log alpha, log Linf)
    t0 = time.perf_counter()
    x, scipy_cost = scipy_power(curves, grid)
    scipy_power_time = time.perf_counter() - t0
    ours_x = np.log([fit.draws[k].ravel()[0] for k in ("beta", "alpha", "Linf")])
    print(f"power, {len(curves):,} rows of {len(curves.runs)} simulated runs, {len(grid)} starts")
    _row("scalemix point fit (compile+run)", fit.diagnostics["objective"], first)
    _row("scalemix point fit (after compile)", fit.diagnostics["objective"], ours_power)
    _row("scipy least_squares huber loop", scipy_cost, scipy_power_time,
         f"max |log-parameter difference| {np.max(np.abs(ours_x - x)):.1e}")

    checkpoints, chinchilla = misfitting(), laws.get("chinchilla")
    fit, first, ours_chinchilla = _timed(lambda: fit_point(checkpoints, chinchilla), args.repeats)
    grid = build(checkpoints, chinchilla).layout.grid()
    picked = grid[:: max(1, len(grid) // args.scipy_starts)][: args.scipy_starts]
    t0 = time.perf_counter()
    x, scipy_best = scipy_grid(checkpoints, picked)
    scipy_chinchilla_time = (time.perf_counter() - t0) * len(grid) / len(picked)
    ours_x = np.r_[np.log([fit.draws[k][0, 0] for k in ("E", "A", "B")]), [fit.draws[k][0, 0] for k in ("alpha", "beta")]]
    print(f"chinchilla, (Mis)Fitting per checkpoint: {len(checkpoints):,} rows of {len(checkpoints.runs)} runs, {len(grid)} starts")
    _row("scalemix point fit (compile+run)", fit.diagnostics["objective"], first)
    _row("scalemix point fit (after compile)", fit.diagnostics["objective"], ours_chinchilla)
    scaled = "" if len(picked) == len(grid) else f" ({len(picked)} starts, x{len(grid) / len(picked):.0f})"
    _row(f"scipy L-BFGS-B loop{scaled}", scipy_best, scipy_chinchilla_time,
         f"max |parameter difference| {np.max(np.abs(ours_x - x)):.1e}")
    print(f"speed-up (scipy / scalemix after compile): power {scipy_power_time / ours_power:.1f}x, "
          f"chinchilla {scipy_chinchilla_time / ours_chinchilla:.1f}x")


if __name__ == "__main__":
    main()
