"""Which run next: active choice against random choice and a classical design, replayed on a real pool.

1. Speed: ``suggest`` on 10,000 candidate mixtures x 1,000 bootstrap draws (the ``mixing`` law on RegMix's
   512 runs), a batch of 8, goals ``predict`` and ``optimum``, after compile; beside it the same greedy
   adjustment written in numpy with the dense S x S matrix (the picks must agree), and the ratio.
2. Replay on RegMix (Liu et al. 2024; target pile_cc, law ``mixing``): the 512 1M-parameter runs of
   ``regmix-1m-train`` are the pool; a run's loss is revealed only when it is chosen. Every strategy starts
   from the same 32 random runs per seed, refits (bootstrap, 128 draws) after each batch (8 runs up to 64,
   then 16) and is scored by a point fit on its chosen runs: Spearman on the 256 unseen mixtures of
   ``regmix-60m-test`` and regret@1 there (true loss of the mixture ranked first, minus the best).
   Strategies: ``random``; ``max-variance`` (the runs whose own predicted loss varies most over the draws,
   a classical uncertainty-sampling design); ``optimum`` (``suggest`` goal ``optimum``: knowledge gradient
   for the optimal mixture); ``predict-pool`` (``suggest`` goal ``predict`` at every pool mixture:
   integrated variance reduction). Random choice is also scored at 32-512 runs.

Last line: ``run saving factor: X`` -- how many runs random choice needs (interpolated on its mean curve)
to reach the mean Spearman the best active strategy reaches at 64 runs, divided by 64.

    python benchmarks/bench_design.py [--quick] [--seeds 5]
"""

import argparse
import time

import numpy as np
import polars as pl

from scalemix import runs
from scalemix.active import generate, suggest
from scalemix._x64 import float64
from scalemix.active.gain import ensemble, select
from scalemix.evaluate import metrics, regret_at_1
from scalemix.fit import fit

TARGET = "pile_cc"
START = 32
CHECKPOINTS = (32, 64, 128)
RANDOM_SIZES = (32, 48, 64, 96, 128, 192, 256, 384, 512)
STRATEGIES = ("random", "max-variance", "optimum", "predict-pool")


def reference_select(e, count):
    """The greedy batch of ``scalemix.active.gain.select`` (goal ``predict``, unit costs) in numpy with the
    dense ``W`` (S x S) updated per pick: the side-by-side peer of the timing."""
    x = np.asarray(e.candidates)[:, :, 0]
    g = np.asarray(e.goal)
    noise = np.asarray(e.noise)[:, 0]
    w = np.eye(x.shape[0])
    picked = []
    for _ in range(count):
        wx = w @ x
        variance = np.einsum("sm,sm->m", x, wx) + noise
        gain = ((g.T @ wx) ** 2).sum(axis=0) / variance
        gain[picked] = -np.inf
        best = int(np.argmax(gain))
        picked.append(best)
        w = w - np.outer(wx[:, best], wx[:, best]) / variance[best]
    return np.asarray(picked)


def timing(train, draws):
    fitted = fit(train, "mixing", method="bootstrap", n_boot=draws, seed=0)
    candidates = generate(train.domains, {"design": "dirichlet", "n": 10_000, "alpha": 0.3, "seed": 1})
    at = {f"w.{d}": [1.0 / len(train.domains)] for d in train.domains}
    rows = []
    for goal, point in (("predict", at), ("optimum", {})):
        _, seconds = timed(lambda: suggest(fitted, candidates, goal=goal, at=point, batch=8))  # first call compiles
        rows.append({"goal": goal, "candidates": candidates.height, "draws": draws, "batch": 8, "seconds": round(seconds, 2)})
    log_loss = fitted.log_loss_draws(candidates.join(pl.DataFrame({"target": [TARGET]}), how="cross"))[1][:, :, None]
    with float64():
        e = ensemble(log_loss, fitted.log_loss_draws(at)[1], np.full((candidates.height, 1), np.median(fitted.noise) ** 2))
        ours, select_seconds = timed(lambda: select("predict", e, np.ones(candidates.height), 8)[0])
    reference, numpy_seconds = timed(lambda: reference_select(e, 8), repeat=1)
    return pl.DataFrame(rows), select_seconds, numpy_seconds, bool((reference == ours).all())


def timed(fun, repeat=2):
    """``fun()``'s last result and the seconds of its last call (the first ones compile)."""
    for _ in range(repeat):
        started = time.perf_counter()
        result = fun()
        seconds = time.perf_counter() - started
    return result, seconds


def replay(train, test, strategy, seed, last, draws):
    """Chosen run indices per checkpoint for one strategy and seed."""
    ids = train.frame["run_id"].to_list()
    weights = train.frame.select(f"w.{d}" for d in train.domains)
    rng = np.random.default_rng(seed)
    chosen = [int(i) for i in rng.choice(len(ids), START, replace=False)]
    scores = {}
    while len(chosen) < last:
        batch = min(8 if len(chosen) < 64 else 16, last - len(chosen))
        rest = np.setdiff1d(np.arange(len(ids)), chosen)
        if strategy == "random":
            new = rng.choice(rest, batch, replace=False).tolist()
        else:
            fitted = fit(subset(train, ids, chosen), "mixing", method="bootstrap", n_boot=draws, seed=seed)
            new = rest[pick(strategy, fitted, weights, rest, batch, seed)].tolist()
        chosen += new
        if len(chosen) in CHECKPOINTS:
            scores[len(chosen)] = score(subset(train, ids, chosen), test)
    return scores


def pick(strategy, fitted, weights, rest, batch, seed):
    candidates = weights[rest.tolist()]
    if strategy == "max-variance":
        log_loss = fitted.log_loss_draws(candidates)[1]
        return np.argsort(-log_loss.var(axis=0))[:batch]
    if strategy == "optimum":
        result = suggest(fitted, candidates, goal="optimum", at={}, batch=batch, seed=seed)
    else:
        result = suggest(fitted, candidates, goal="predict", at=weights, batch=batch, seed=seed)
    return result.picks["candidate"].to_numpy()


def subset(train, ids, chosen):
    return train.select(where=pl.col("run_id").is_in([ids[i] for i in chosen]))


def score(table, test):
    prediction = fit(table, "mixing").predict(test)
    return metrics(prediction["loss"], prediction["median"])["spearman"], regret_at_1(prediction["loss"], prediction["median"])


def random_curve(train, test, seeds, sizes):
    ids = train.frame["run_id"].to_list()
    rows = []
    for size in sizes:
        for seed in seeds:
            order = np.random.default_rng(1000 + seed).permutation(len(ids))
            spearman, regret = score(subset(train, ids, order[:size]), test)
            rows.append({"runs": size, "seed": seed, "spearman": spearman, "regret@1": regret})
    return pl.DataFrame(rows)


def runs_needed(curve, level):
    """Runs random choice needs to reach mean Spearman ``level`` (linear between measured sizes; None when
    it never does)."""
    mean = curve.group_by("runs").agg(pl.col("spearman").mean()).sort("runs")
    sizes, values = mean["runs"].to_numpy(), mean["spearman"].to_numpy()
    above = np.flatnonzero(values >= level)
    if not above.size:
        return None
    k = above[0]
    if k == 0:
        return float(sizes[0])
    return float(np.interp(level, [values[k - 1], values[k]], [sizes[k - 1], sizes[k]]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 seeds, up to 64 runs, 32 draws, 200 timing draws")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    pl.Config.set_tbl_cols(12)
    pl.Config.set_tbl_width_chars(200)
    pl.Config.set_float_precision(4)
    seeds = range(2 if args.quick else args.seeds)
    last, draws, timing_draws = (64, 32, 200) if args.quick else (128, 128, 1000)
    train = runs.read("regmix-1m-train").select(targets=[TARGET])
    test = runs.read("regmix-60m-test").select(targets=[TARGET])

    speed, select_seconds, numpy_seconds, agree = timing(train, timing_draws)
    print("suggest, whole call after compile (predictions of every candidate over the draws, decisions, batch)")
    print(speed)
    print(f"greedy batch of 8 alone, goal predict: scalemix {select_seconds:.3f} s, numpy dense W {numpy_seconds:.3f} s "
          f"(same picks: {agree}), ratio {numpy_seconds / select_seconds:.1f}x")

    rows = []
    for strategy in STRATEGIES:
        for seed in seeds:
            for size, (spearman, regret) in replay(train, test, strategy, seed, last, draws).items():
                rows.append({"strategy": strategy, "runs": size, "seed": seed, "spearman": spearman, "regret@1": regret})
            print(rows[-1], flush=True)
    table = pl.DataFrame(rows)
    summary = table.group_by("strategy", "runs", maintain_order=True).agg(
        pl.col("spearman").mean().alias("spearman mean"), pl.col("spearman").std().alias("spearman sd"),
        pl.col("spearman").min().alias("min"), pl.col("spearman").max().alias("max"),
        pl.col("regret@1").mean().alias("regret@1 mean"))
    print(f"RegMix replay ({len(seeds)} seeds; pool regmix-1m-train, scored on regmix-60m-test)")
    print(summary)
    curve = random_curve(train, test, seeds, [s for s in RANDOM_SIZES if s >= 32])
    print("random choice, more runs")
    print(curve.group_by("runs", maintain_order=True).agg(pl.col("spearman").mean().alias("spearman mean"),
                                                         pl.col("spearman").std().alias("spearman sd"),
                                                         pl.col("regret@1").mean().alias("regret@1 mean")))
    at_64 = summary.filter((pl.col("runs") == 64) & pl.col("strategy").is_in(["optimum", "predict-pool"]))
    best = at_64.sort("spearman mean", descending=True).row(0, named=True)
    needed = runs_needed(curve, best["spearman mean"])
    factor = f"{needed / 64:.2f}" if needed is not None else f"> {max(RANDOM_SIZES) / 64:.1f} (random never reaches it)"
    print(f"{best['strategy']} at 64 runs: spearman {best['spearman mean']:.4f}; random needs "
          f"{'more than 512' if needed is None else f'{needed:.0f}'} runs")
    print(f"run saving factor: {factor}")


if __name__ == "__main__":
    main()
