"""Chinchilla full-grid fit: scalemix's vmapped Levenberg-Marquardt vs Epoch's scipy L-BFGS-B loop.

Both minimise the same objective on Epoch's 240 points (Besiroglu et al. 2024): the summed Huber
(delta 1e-3) of log-loss residuals of ``logsumexp(a - alpha log N, b - beta log D, e)``, from Hoffmann's
4,500-point grid, keeping the best. scipy gets the exact gradient (numpy), tight tolerances, one start
after another. ``--scipy-starts K`` runs scipy on every (4500/K)-th start and scales its time to the full
grid (the table says so). Prints a table; the last line is the speed-up.

    python benchmarks/bench_chinchilla.py [--repeats 3] [--scipy-starts 4500]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import huber, logsumexp, softmax

from scalemix import laws, runs
from scalemix.fit import fit_point
from scalemix.fit.problem import build

DELTA = 1e-3


def _objective(x, log_n, log_d, log_loss):
    """Summed Huber of log-loss residuals and its exact gradient; ``x = (e, a, b, alpha, beta)``."""
    e, a, b, alpha, beta = x
    terms = np.stack([np.full_like(log_n, e), a - alpha * log_n, b - beta * log_d])
    r = logsumexp(terms, axis=0) - log_loss
    share, psi = softmax(terms, axis=0), np.clip(r, -DELTA, DELTA)
    grad = np.array([psi @ share[0], psi @ share[1], psi @ share[2], -psi @ (share[1] * log_n), -psi @ (share[2] * log_d)])
    return huber(DELTA, r).sum(), grad


def scipy_grid(table, starts):
    """Epoch's procedure: L-BFGS-B from every start, keep the best. Returns (best x, best objective)."""
    frame = table.frame
    data = (np.log(frame["params"].to_numpy()), np.log(frame["tokens"].to_numpy()), np.log(frame["loss"].to_numpy()))
    best = None
    for x0 in starts:
        result = minimize(_objective, x0, args=data, jac=True, method="L-BFGS-B",
                          options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
        if best is None or result.fun < best.fun:
            best = result
    return best.x, best.fun


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed scalemix fits after the compiling one")
    parser.add_argument("--scipy-starts", type=int, default=4500, help="grid starts scipy runs (scaled to 4,500)")
    args = parser.parse_args()

    table, law = runs.read("chinchilla"), laws.get("chinchilla")
    t0 = time.perf_counter()
    fit = fit_point(table, law)
    first = time.perf_counter() - t0
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fit = fit_point(table, law)
        times.append(time.perf_counter() - t0)
    ours = min(times)

    grid = build(table, law).layout.grid()  # (log E, log A, log B, alpha, beta), 4,500 rows
    picked = grid[:: max(1, len(grid) // args.scipy_starts)][: args.scipy_starts]
    t0 = time.perf_counter()
    x, scipy_best = scipy_grid(table, picked)
    scipy_time = (time.perf_counter() - t0) * len(grid) / len(picked)

    ours_x = np.log([fit.draws[k][0, 0] for k in ("E", "A", "B")]).tolist() + [fit.draws[k][0, 0] for k in ("alpha", "beta")]
    print(f"Chinchilla full grid ({len(grid)} starts, {len(table)} points)")
    print(f"{'':29}{'objective':>16}{'alpha':>10}{'beta':>10}{'E':>10}{'wall s':>10}")
    print(f"{'scalemix LM (compile+run)':28} {fit.diagnostics['objective']:>16.10e}{ours_x[3]:>10.5f}{ours_x[4]:>10.5f}"
          f"{np.exp(ours_x[0]):>10.5f}{first:>10.2f}")
    print(f"{'scalemix LM (after compile)':28} {'':>16}{'':>10}{'':>10}{'':>10}{ours:>10.2f}")
    label = "scipy L-BFGS-B loop" + ("" if len(picked) == len(grid) else f" ({len(picked)} starts, x{len(grid) / len(picked):.0f})")
    print(f"{label:28} {scipy_best:>16.10e}{x[3]:>10.5f}{x[4]:>10.5f}{np.exp(x[0]):>10.5f}{scipy_time:>10.2f}")
    print(f"max |parameter difference| (log E, log A, log B, alpha, beta): {np.max(np.abs(np.asarray(ours_x) - x)):.2e}")
    print(f"speed-up (scipy / scalemix after compile): {scipy_time / ours:.1f}x")


if __name__ == "__main__":
    main()
