"""Optimal weights over RegMix's 17 Pile domains for 1,000 draws: scalemix's vmapped mirror descent
against scipy SLSQP (one solve per draw, jitted JAX gradients), in one process.

Draws: the `mixing` law point-fitted on regmix-1m-train (target pile_cc), with t jittered by
N(0, 0.3^2) per draw (a stand-in posterior with the real law's shapes; timing does not depend on how
draws were made). Objective: expected loss; bounds: every domain <= 0.3. Timings are after compile.

    python benchmarks/bench_optimize.py [--draws 1000] [--scipy-draws 100]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from scalemix.fit import fit as fit_law
from scalemix._x64 import float64
from scalemix.fitresult import Fit
from scalemix.optimize import optimize
from scalemix.optimize.objective import Scale, losses

CAP = 0.3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--scipy-draws", type=int, default=100)
    args = parser.parse_args()
    point = fit_law("regmix-1m-train", "mixing", targets=["pile_cc"])
    rng = np.random.default_rng(0)
    draws = {k: np.repeat(v, args.draws, axis=0) for k, v in point.draws.items()}
    draws["t"] = draws["t"] + 0.3 * rng.standard_normal(draws["t"].shape)
    fit = Fit(law=point.law, coords=point.coords, draws=draws, method="bootstrap", noise=np.repeat(point.noise, args.draws, axis=0))
    domains = fit.coords["domain"]
    maximum = {d: CAP for d in domains}

    optimize(fit, maximum=maximum)  # compile
    started = time.perf_counter()
    ours = optimize(fit, maximum=maximum)
    ours_seconds = time.perf_counter() - started

    with float64():
        theta = {k: jnp.asarray(v) for k, v in fit.draws.items()}
        own = jnp.zeros(1, dtype=jnp.int32)
        value_grad = jax.jit(jax.value_and_grad(lambda w, th: losses(fit.law, th, w, Scale(1.0, 1.0), own)[0]))
        value_grad(jnp.full(len(domains), 1 / len(domains)), {k: v[0] for k, v in theta.items()})  # compile
        started = time.perf_counter()
        gaps = []
        for s in range(args.scipy_draws):
            one = {k: v[s] for k, v in theta.items()}
            fun = lambda w: tuple(np.asarray(x, dtype=float) for x in value_grad(jnp.asarray(w), one))  # noqa: E731
            result = minimize(fun, np.full(len(domains), 1 / len(domains)), jac=True, method="SLSQP",
                              bounds=[(0.0, CAP)] * len(domains), constraints={"type": "eq", "fun": lambda w: w.sum() - 1},
                              options={"ftol": 1e-12, "maxiter": 500})
            gaps.append(abs(float(fun(ours.per_draw[s])[0] - result.fun)))
        scipy_seconds = time.perf_counter() - started

    ours_per = ours_seconds / args.draws
    scipy_per = scipy_seconds / args.scipy_draws
    print(f"{'solver':<36}{'draws':>7}{'seconds':>10}{'ms/draw':>10}")
    print(f"{'scalemix optimize (all of it)':<36}{args.draws:>7}{ours_seconds:>10.2f}{1e3 * ours_per:>10.3f}")
    print(f"{'scipy SLSQP per draw':<36}{args.scipy_draws:>7}{scipy_seconds:>10.2f}{1e3 * scipy_per:>10.3f}")
    print(f"|objective gap| ours vs scipy over {args.scipy_draws} draws: max {max(gaps):.2e}, median {np.median(gaps):.2e} (nats)")
    print(f"speed-up per draw (scipy / scalemix): {scipy_per / ours_per:.1f}x")


if __name__ == "__main__":
    main()
