"""Transfer and repetition laws (#15): the data-constrained law on Muennighoff et al.'s runs, and a known
6-language transfer matrix recovered by NUTS.

1. ``datablations``: the 229 final C4 runs of Muennighoff et al. 2023 (ColPret's contour file; 7M-8.7B
   parameters, 1-9000 epochs of 0.1-21B unique tokens; ``unique = tokens / epochs``, the file's
   ``tokens_per_epoch`` is wrong for the repeated runs). Point fit and a 200-resample bootstrap of
   ``data-constrained`` (both terms) and ``data-constrained`` with ``excess_params=False``, beside the
   paper's R*_D = 15.4 and R*_N = 5.3; plus the correlation of log R*_D and log R*_N over the resamples.
2. ``simulation``: runs of the ``transfer`` law with a known 6 x 6 transfer matrix (5 sizes 1e7-1e9 x 2
   budgets x 6 monolingual + 8 Dirichlet(0.7) mixtures = 140 runs x 6 targets, 30% of languages per run
   repeated 1-16 epochs, 1% log-normal noise; with 3 sizes E, A and alpha of a language trade off along a
   curved ridge that NUTS crosses slowly: R-hat 1.38 after 200 draws), fitted by NUTS (4 chains x 1,000
   draws after 1,000 warmup, started at the point fit); per seed: wall seconds, max R-hat, divergences and
   the share of the 30 off-diagonal tau_ij inside their 50% and 90% credible intervals.

    python benchmarks/bench_transfer.py [--seeds 3] [--draws 1000] [--skip-nuts] [--skip-datablations]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl

from scalemix import laws, runs
from scalemix.fit import fit_bootstrap, fit_nuts, fit_point
from scalemix.simulate import simulate

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PUBLISHED = {"rstar_tokens": 15.387756, "rstar_params": 5.309743}  # Muennighoff et al. 2023
LANGS = ("en", "de", "fr", "ru", "ja", "ar")


def datablations() -> runs.RunTable:
    frame = pl.read_csv(DATA / "hitchhiker_colpret" / "datablations_contour_losses.csv")
    return runs.read(frame.select(
        run_id=pl.col("model_args") + "#" + pl.col("index").cast(pl.Utf8), params="num_params", tokens="token_num",
        unique=pl.col("token_num") / pl.col("epochs"), target=pl.lit("c4"), loss="openLM_loss",
    ))


def datablations_table(n_boot: int) -> pl.DataFrame:
    table = datablations()
    rows = []
    for label, law in (("data-constrained", laws.get("data-constrained")),
                       ("data-constrained, tokens only", laws.get("data-constrained", excess_params=False))):
        started = time.perf_counter()
        point = fit_point(table, law)
        boot = fit_bootstrap(table, law, n_boot=n_boot)
        seconds = time.perf_counter() - started
        row = {"law": label, "rows": table.frame.height, "wall_s": round(seconds, 1)}
        for name in ("rstar_tokens", "rstar_params"):
            if name not in point.draws:
                continue
            values = boot.draws[name][:, 0]
            low, high = np.quantile(values, [0.05, 0.95])
            row[name] = f"{point.draws[name][0, 0]:.3g} [{low:.3g}, {high:.3g}]"
            row[f"{name} (paper)"] = PUBLISHED[name]
        if "rstar_params" in boot.draws:
            both = np.log(np.stack([boot.draws["rstar_tokens"][:, 0], boot.draws["rstar_params"][:, 0]]))
            finite = np.isfinite(both).all(axis=0)
            row["corr log R*"] = round(float(np.corrcoef(both[:, finite])[0, 1]), 2)
        row["alpha, beta"] = f"{point.draws['alpha'][0, 0]:.3f}, {point.draws['beta'][0, 0]:.3f}"
        rows.append(row)
    return pl.DataFrame(rows, strict=False)


def transfer_truth(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    k = len(LANGS)
    return {"E": rng.uniform(1.0, 1.6, k), "A": rng.uniform(200, 600, k), "B": rng.uniform(300, 900, k),
            "alpha": rng.uniform(0.3, 0.4, k), "beta": rng.uniform(0.28, 0.36, k), "rstar": rng.uniform(8, 20, k),
            "transfer": np.exp(rng.normal(-2.0, 0.8, (k, k)))}


def transfer_points(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed + 1)
    k = len(LANGS)
    mixtures = np.concatenate([np.eye(k), rng.dirichlet(np.full(k, 0.7), 14 - k)])
    rows = []
    for n in (1e7, 3e7, 1e8, 3e8, 1e9):
        for per_param in (8, 32):
            for m, w in enumerate(mixtures):
                tokens = per_param * n
                capped = {f"unique.{lang}": tokens * w[j] / rng.choice([1, 2, 4, 8, 16])
                          for j, lang in enumerate(LANGS) if w[j] > 0 and rng.random() < 0.3}
                rows.append({"run_id": f"{n:.0e}-{per_param}-{m}", "params": n, "tokens": tokens,
                             **{f"w.{lang}": w[j] for j, lang in enumerate(LANGS)}, **capped})
    return pl.concat([pl.DataFrame([r]) for r in rows], how="diagonal_relaxed")


def simulation_row(seed: int, draws: int) -> dict:
    truth = transfer_truth(seed)
    table = runs.read(simulate("transfer", truth, transfer_points(seed), targets=LANGS, domains=LANGS, noise=0.01, seed=seed))
    law = laws.get("transfer")
    started = time.perf_counter()
    point = fit_point(table, law, max_iter=1000)
    point_s = time.perf_counter() - started
    started = time.perf_counter()
    nuts = fit_nuts(table, law, chains=4, draws=draws, warmup=draws, init=point, seed=seed)
    nuts_s = time.perf_counter() - started
    order = [nuts.coords["domain"].index(lang) for lang in LANGS]
    tau = nuts.draws["transfer"][:, :, order]  # [S, target, domain] in LANGS order
    off = ~np.eye(len(LANGS), dtype=bool)
    row = {"seed": seed, "runs": table.frame["run_id"].n_unique(), "parameters": point.layout.size,
           "point_s": round(point_s, 1), "nuts_s": round(nuts_s, 1), "max_rhat": round(nuts.diagnostics["max_rhat"], 4),
           "divergences": nuts.diagnostics["divergences"]}
    for level in (0.5, 0.9):
        low, high = np.quantile(tau, [(1 - level) / 2, (1 + level) / 2], axis=0)
        row[f"coverage{int(level * 100)}"] = float(((truth["transfer"] >= low) & (truth["transfer"] <= high))[off].mean())
    estimate = np.median(tau, axis=0)
    row["median |rel error|"] = round(float(np.median(np.abs(estimate[off] / truth["transfer"][off] - 1))), 3)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--skip-nuts", action="store_true")
    parser.add_argument("--skip-datablations", action="store_true")
    args = parser.parse_args()
    pl.Config.set_tbl_cols(20)
    pl.Config.set_tbl_width_chars(220)
    if not args.skip_datablations:
        print("== datablations (Muennighoff et al. 2023), 229 final C4 runs")
        print(datablations_table(args.n_boot))
    if not args.skip_nuts:
        print("== simulated 6-language transfer matrix, NUTS")
        rows = pl.DataFrame([simulation_row(seed, args.draws) for seed in range(args.seeds)])
        print(rows)
        print(f"tau coverage over {args.seeds} seed(s): 50% {rows['coverage50'].mean():.3f}, 90% {rows['coverage90'].mean():.3f}; "
              f"NUTS {rows['nuts_s'].max():.0f} s at most, R-hat {rows['max_rhat'].max():.4f} at most")


if __name__ == "__main__":
    main()
