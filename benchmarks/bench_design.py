"""Which run next: active choice against random choice and a classical design, replayed on a real pool.

1. Speed: ``suggest`` on 10,000 candidate mixtures x 1,000 bootstrap draws (the ``mixing`` law on RegMix's
   512 runs), a batch of 8, goals ``predict`` and ``optimum``, after compile; beside it the same greedy
   adjustment written in numpy with the dense S x S matrix (the picks must agree), and the ratio.
2. Replay on RegMix (Liu et al. 2024; target pile_cc, law ``mixing``): the 512 1M-parameter runs of
   ``regmix-1m-train`` are the pool; a run's loss is revealed only when it is chosen. Every strategy starts
   from the same 32 random runs per seed, refits (bootstrap, 128 draws) after each batch (8 runs up to 64,
   then 16) and is scored by a point fit on its chosen runs: Spearman on the 256 unseen mixtures of
   ``regmix-60m-test`` and regret@1 there (true loss of the mixture ranked first, minus the best).
   Strategies: ``random``; ``max-variance`` (the batch of runs whose own predicted loss varies most over
   the draws, a classical uncertainty-sampling design, no adjustment between picks); and ``suggest``'s goals:
   ``optimum`` (knowledge gradient for the optimal mixture), ``predict-pool`` (goal ``predict`` at every
   pool mixture: integrated variance reduction) and ``information`` (mutual information with the law:
   greedy Bayesian D-optimal). Random choice is also scored at 32-512 runs.

Last line: ``run saving factor: X`` -- how many runs random choice needs (interpolated on its mean curve)
to reach the mean Spearman the best ``suggest`` goal reaches at 64 runs, divided by 64.

    python benchmarks/bench_design.py [--quick] [--seeds 5]
"""

import argparse

import numpy as np
import polars as pl

from bench_domains import timed
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
STRATEGIES = ("random", "max-variance", "optimum", "predict-pool", "information")
ACTIVE = ("optimum", "predict-pool", "information")


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
    if strategy in ("optimum", "information"):
        result = suggest(fitted, candidates, goal=strategy, at={}, batch=batch, seed=seed)
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


# -- a simulated mixture law with known truth: regret of the chosen mixture ---------------------------------

TRUTH_T = np.array([[-1.2, 0.4, 0.6, -0.3, 0.8, 0.1],      # three targets that want different domains,
                    [0.5, -1.0, 0.2, 0.6, -0.4, 0.3],      # so that the mean-loss optimum is inside the
                    [0.3, 0.5, -0.9, 0.1, 0.2, -0.6]])     # simplex, not at a corner
TRUTH_C, TRUTH_K, NOISE = 1.5, 1.0, 0.005
SIM_START, SIM_CHECKPOINTS = 16, (16, 24, 32, 48)
SIM_STRATEGIES = ("random", "optimum", "information")


def truth_fit():
    """The true law as a one-draw fit (what the optimiser scores a chosen mixture with)."""
    from scalemix import laws
    from scalemix.fitresult import Fit

    targets = len(TRUTH_T)
    draws = {"c": np.full((1, targets), TRUTH_C), "k": np.full((1, targets), TRUTH_K), "t": TRUTH_T[None]}
    return Fit(law=laws.get("mixing"), coords={"target": tuple(f"y{i}" for i in range(targets)),
                                                "domain": tuple(f"d{j}" for j in range(TRUTH_T.shape[1]))},
               draws=draws, method="point", noise=np.full((1, targets), NOISE))


def simulated_pool(size=256, seed=0):
    """``size`` Dirichlet(1) mixtures with every target's loss from the truth, 0.5% log-normal noise."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(TRUTH_T.shape[1]), size)
    loss = (TRUTH_C + TRUTH_K * np.exp(weights @ TRUTH_T.T)) * np.exp(NOISE * rng.standard_normal((size, len(TRUTH_T))))
    rows = [{"run_id": f"r{i}", "target": f"y{j}", "loss": loss[i, j], **{f"w.d{k}": w for k, w in enumerate(weights[i])}}
            for i in range(size) for j in range(len(TRUTH_T))]
    return runs.read(pl.DataFrame(rows), params=1e8, tokens=2e9)


def regret(table, truth, best):
    """True mean loss at the mixture a point fit of ``table`` calls optimal, minus the true optimum."""
    from scalemix.optimize import optimize

    chosen = optimize(fit(table, "mixing")).expected
    query = pl.DataFrame({f"w.d{k}": [w] for k, w in enumerate(chosen)})
    return float(truth.predict(query)["mean"].mean()) - best


def simulated_replay(seeds, draws):
    from scalemix.optimize import optimize

    truth = truth_fit()
    best = float(optimize(truth).objective.mean())
    table = simulated_pool()
    ids = table.runs
    weights = table.frame.unique("run_id", maintain_order=True).select(f"w.d{k}" for k in range(TRUTH_T.shape[1]))
    rows = []
    for strategy in SIM_STRATEGIES:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            chosen = [int(i) for i in rng.choice(len(ids), SIM_START, replace=False)]
            while True:
                if len(chosen) in SIM_CHECKPOINTS:
                    rows.append({"strategy": strategy, "runs": len(chosen), "seed": seed,
                                 "regret": regret(subset(table, ids, chosen), truth, best)})
                if len(chosen) >= max(SIM_CHECKPOINTS):
                    break
                rest = np.setdiff1d(np.arange(len(ids)), chosen)
                if strategy == "random":
                    new = rng.choice(rest, 4, replace=False).tolist()
                else:
                    fitted = fit(subset(table, ids, chosen), "mixing", method="bootstrap", n_boot=draws, seed=seed,
                                 extrapolation=False)
                    picks = suggest(fitted, weights[rest.tolist()], goal=strategy, batch=4, seed=seed).picks
                    new = rest[picks["candidate"].to_numpy()].tolist()
                chosen += new
    return pl.DataFrame(rows)


# -- Chinchilla: predict the top budget, FLOPs spent ---------------------------------------------------------

CHIN_START = 24
CHIN_SHARES = (0.02, 0.05, 0.1)
"""FLOPs the strategies may spend beyond the start, as shares of the pool's total."""


def chinchilla_replay(seeds, draws):
    """Pool: Chinchilla's runs below the top 10% of compute; held out: the top 10%. Each strategy starts from
    the same 24 random pool runs per seed and spends FLOPs shares of the pool; scored by a bootstrap fit's MRE
    and 90% predictive coverage (with the extrapolation term) on the held-out runs."""
    table = runs.read("chinchilla")
    frame = table.frame.with_columns(compute=6 * pl.col("params") * pl.col("tokens"))
    top = frame["compute"].quantile(0.9)
    pool_frame, held = frame.filter(pl.col("compute") < top), frame.filter(pl.col("compute") >= top)
    ids = pool_frame["run_id"].to_list()
    cost = pool_frame["compute"].to_numpy()
    at = held.select("params", "tokens")
    test = runs.read(held.drop("compute"))
    rows = []
    for strategy in ("random", "predict"):
        for seed in seeds:
            rng = np.random.default_rng(seed)
            chosen = [int(i) for i in rng.choice(len(ids), CHIN_START, replace=False)]
            spent = 0.0
            for share in CHIN_SHARES:
                budget = share * cost.sum()
                while True:
                    rest = np.setdiff1d(np.arange(len(ids)), chosen)
                    affordable = rest[cost[rest] <= budget - spent]
                    if not affordable.size:
                        break
                    if strategy == "random":
                        new = [int(rng.choice(affordable))]
                    else:
                        fitted = fit(subset(table, ids, chosen), "chinchilla", method="bootstrap", n_boot=draws, seed=seed,
                                     extrapolation=False)
                        picks = suggest(fitted, pool_frame[rest.tolist()].select("params", "tokens", cost="compute"),
                                        goal="predict", at=at, batch=8, budget=budget - spent, seed=seed).picks
                        if picks.height == 0:
                            break
                        new = rest[picks["candidate"].to_numpy()].tolist()
                    chosen += new
                    spent += float(cost[new].sum())
                final = fit(subset(table, ids, chosen), "chinchilla", method="bootstrap", n_boot=draws, seed=seed)
                prediction = final.predict(test, levels=(0.9,))
                inside = (prediction["loss"] >= prediction["pred_lo90"]) & (prediction["loss"] <= prediction["pred_hi90"])
                rows.append({"strategy": strategy, "share of pool FLOPs": share, "seed": seed, "runs": len(chosen),
                             "mre": metrics(prediction["loss"], prediction["median"])["mre"],
                             "coverage90": float(inside.mean())})
    return pl.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2 seeds, up to 64 runs, 32 draws, 200 timing draws")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--skip", default="", help="comma separated parts to leave out: regmix, simulated, chinchilla")
    args = parser.parse_args()
    pl.Config.set_tbl_cols(12)
    pl.Config.set_tbl_width_chars(200)
    pl.Config.set_float_precision(4)
    pl.Config.set_tbl_rows(60)
    seeds = range(2 if args.quick else args.seeds)
    last, draws, timing_draws = (64, 32, 200) if args.quick else (128, 128, 1000)
    train = runs.read("regmix-1m-train").select(targets=[TARGET])
    test = runs.read("regmix-60m-test").select(targets=[TARGET])

    speed, select_seconds, numpy_seconds, agree = timing(train, timing_draws)
    print("suggest, whole call after compile (predictions of every candidate over the draws, decisions, batch)")
    print(speed)
    print(f"greedy batch of 8 alone, goal predict: scalemix {select_seconds:.3f} s, numpy dense W {numpy_seconds:.3f} s "
          f"(same picks: {agree}), ratio {numpy_seconds / select_seconds:.1f}x")

    skip = set(filter(None, args.skip.split(",")))
    if "simulated" not in skip:
        simulated = simulated_replay(seeds, draws)
        print("Simulated mixing law (6 domains, 3 targets, known truth): true regret of the fitted optimum (mean loss)")
        print(simulated.group_by("strategy", "runs", maintain_order=True).agg(
            pl.col("regret").mean().alias("regret mean"), pl.col("regret").std().alias("regret sd")))
    if "chinchilla" not in skip:
        chinchilla = chinchilla_replay(seeds, draws)
        print("Chinchilla: predict the top 10% of compute from runs chosen below it (FLOPs spent as a share of the pool)")
        print(chinchilla.group_by("strategy", "share of pool FLOPs", maintain_order=True).agg(
            pl.col("runs").mean(), pl.col("mre").mean().alias("mre mean"), pl.col("mre").std().alias("mre sd"),
            pl.col("coverage90").mean().alias("coverage90 mean")))
    if "regmix" in skip:
        return
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
    factors = []
    for strategy in STRATEGIES[1:]:
        reached = summary.filter((pl.col("strategy") == strategy) & (pl.col("runs") == 64))["spearman mean"][0]
        needed = runs_needed(curve, reached)
        factors.append({"strategy": strategy, "spearman at 64": reached, "random needs": needed,
                        "saving factor": None if needed is None else needed / 64})
    factors = pl.DataFrame(factors, schema_overrides={"random needs": pl.Float64, "saving factor": pl.Float64})
    print("runs random choice needs for each strategy's mean Spearman at 64 (null: more than 512)")
    print(factors)
    best = factors.filter(pl.col("strategy").is_in(ACTIVE)).sort("spearman at 64", descending=True).row(0, named=True)
    shown = f"{best['saving factor']:.2f}" if best["saving factor"] is not None else f"> {max(RANDOM_SIZES) / 64:.1f}"
    print(f"best suggest goal at 64 runs: {best['strategy']}, spearman {best['spearman at 64']:.4f}")
    print(f"run saving factor: {shown}")


if __name__ == "__main__":
    main()
