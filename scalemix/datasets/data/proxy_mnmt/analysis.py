"""The fits behind the README's reading of `proxy-mnmt` (scipy least squares; run from the repo root).

    python scalemix/datasets/data/proxy_mnmt/analysis.py [runs.csv]

Per target pair i (rows with weight p = w.<i> > 0, seeds averaged per configuration):

1. single-pair law on the p = 1 runs: L(N) = beta N^-alpha + Linf (Ghorbani et al. 2021);
2. the joint multilingual law of Fernandes et al. (2023), one alpha and Linf for all weightings:
   L(N, p) = beta (f(p) N)^-alpha + Linf,  f(p) = p + c1 p^c2 (1 - p)^c3,
   against the same law with f(p) = p (no synergy) and with a free alpha per weighting;
3. effective-parameter fractions read off the single-pair curve: f_hat(N, p) = N_eff / N where
   L_single(N_eff) = L(N, p) -- model-free apart from the single-pair fit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
from scipy.optimize import least_squares

HERE = Path(__file__).parent


def power(theta, n):
    log_beta, alpha, linf = theta
    return np.exp(log_beta - alpha * np.log(n)) + linf


def fit_power(n, loss):
    """L = beta N^-alpha + Linf, Linf in [0, min loss)."""
    res = least_squares(
        lambda t: power(t, n) - loss, x0=[np.log(10.0), 0.2, 0.5 * loss.min()],
        bounds=([-20, 0.0, 0.0], [30, 3.0, loss.min() - 1e-6]),
    )
    return res.x, res


def f_of_p(p, c1, c2, c3):
    return p + c1 * p**c2 * (1 - p) ** c3


def fit_joint(n, p, loss, synergy=True, per_weight_alpha=False):
    """Fernandes et al.'s law on all weightings of one pair; returns params, RSS, residual dof."""
    ps = np.unique(p)
    n_alpha = len(ps) if per_weight_alpha else 1

    def unpack(t):
        log_beta, linf = t[0], t[1]
        alphas = t[2 : 2 + n_alpha]
        c = t[2 + n_alpha :] if synergy else (0.0, 1.0, 1.0)
        return log_beta, linf, alphas, c

    def resid(t):
        log_beta, linf, alphas, c = unpack(t)
        alpha = alphas[np.searchsorted(ps, p)] if per_weight_alpha else alphas[0]
        f = np.maximum(f_of_p(p, *c), 1e-9)
        return np.exp(log_beta - alpha * np.log(f * n)) + linf - loss

    x0 = [np.log(10.0), 0.5 * loss.min()] + [0.2] * n_alpha + ([0.5, 1.0, 1.0] if synergy else [])
    lo = [-20, 0.0] + [0.0] * n_alpha + ([-0.99, 0.05, 0.05] if synergy else [])
    hi = [30, loss.min() - 1e-6] + [3.0] * n_alpha + ([20.0, 5.0, 5.0] if synergy else [])
    best = min((least_squares(resid, np.array(x0) * s, bounds=(lo, hi)) for s in (1.0, 0.7, 1.3)),
               key=lambda r: r.cost)
    rss = 2 * best.cost
    return unpack(best.x), rss, len(loss) - len(x0)


def analyse(table: pl.DataFrame) -> str:
    lines = []
    mean = (
        table.with_columns(p=pl.struct(pl.all()).map_elements(lambda r: r[f"w.{r['target']}"], return_dtype=pl.Float64))
        .group_by("cohort", "target", "params", "p")
        .agg(loss=pl.col("loss").mean(), seeds=pl.len(), spread=pl.col("loss").max() - pl.col("loss").min())
        .sort("cohort", "target", "p", "params")
    )
    for (cohort, target), g in mean.group_by("cohort", "target", maintain_order=True):
        g = g.filter(pl.col("p") > 0)
        single = g.filter(pl.col("p") == 1.0)
        if single.height < 3 or g["p"].n_unique() < 3:
            lines.append(f"{cohort} {target}: not enough runs yet ({g.height} configurations)")
            continue
        theta1, _ = fit_power(single["params"].to_numpy(), single["loss"].to_numpy())
        n, p, loss = (g[c].to_numpy() for c in ("params", "p", "loss"))
        (_, linf, (alpha,), c), rss, dof = fit_joint(n, p, loss)
        _, rss_lin, dof_lin = fit_joint(n, p, loss, synergy=False)
        (_, _, alphas, _), rss_free, dof_free = fit_joint(n, p, loss, per_weight_alpha=True)
        sd = lambda r, d: np.sqrt(r / max(d, 1))  # noqa: E731  residual sd, per free parameter count
        lines.append(
            f"{cohort} {target}: single-pair (p=1) alpha {theta1[1]:.3f}, Linf {theta1[2]:.3f}\n"
            f"    joint law: alpha {alpha:.3f}, Linf {linf:.3f}, c = ({c[0]:.2f}, {c[1]:.2f}, {c[2]:.2f}), "
            f"f(0.5) = {f_of_p(0.5, *c):.2f}, residual sd {sd(rss, dof):.4f} nats\n"
            f"    same law with f(p) = p: residual sd {sd(rss_lin, dof_lin):.4f}\n"
            f"    alpha free per weighting: {', '.join(f'{a:.2f}' for a in alphas)} at p = "
            f"{', '.join(f'{x:g}' for x in np.unique(p))}, residual sd {sd(rss_free, dof_free):.4f}"
        )
        # effective-parameter fractions off the single-pair curve (only where the loss is inside its range)
        lb1, a1, l1 = theta1
        for pv in np.unique(p[p < 1]):
            sel = p == pv
            ok = loss[sel] > l1
            n_eff = np.exp((lb1 - np.log(loss[sel][ok] - l1)) / a1)
            f_hat = n_eff / n[sel][ok]
            lines.append(
                f"    p = {pv:.2f}: f_hat = N_eff/N per size {', '.join(f'{x:.2f}' for x in f_hat)}"
                f" (median {np.median(f_hat):.2f} {'>' if np.median(f_hat) > pv else '<='} p)"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "runs.csv"
    table = pl.read_csv(path) if path.suffix == ".csv" else pl.read_parquet(path)
    print(analyse(table))
