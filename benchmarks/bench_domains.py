"""Mixture laws over many domains against LightGBM and linear regression, side by side in one process (#14).

Datasets: ``olmix-dclm`` (127 runs x 24 sparse DCLM topic domains), ``olmix-s2pdf`` (64 runs x 22 domains),
and a simulated swarm of 512 runs x 64 sparse domains (2-8 domains per run, Dirichlet(1) weights over
them) whose truth is the data mixing law (``t_j ~ N(0, 0.7^2)``, ``c = 2``, ``k = 1``, log-normal noise
of sd 0.01). Each model is scored by 5-fold out-of-fold Spearman and MAE per target (averaged over the
targets); fit seconds are summed over the folds. Laws are point fits (:data:`LAWS`); the regressors are
RegMix's (``baseline.train``: LightGBM with 1,000 trees, one thread; least squares on the weights).

Then, on the full swarm: one point fit of the best law against one LightGBM fit (each timed on its second
call, after compilation), and optimal weights over the 64 domains for 1,000 draws (the law's point fit
with ``t`` jittered by N(0, 0.3^2) per draw, as in bench_optimize; every domain <= 0.2, 8 domains fixed to
0, KL 0.01 to the uniform mixture), timed after compile. Last, NUTS on the full swarm with ``shrink_domains``
(4 chains x 1,000 draws after 1,000 warm-up steps, started at the point fit), timed with its compile.

    python benchmarks/bench_domains.py [--targets 8] [--quick] [--datasets swarm] [--laws mixing]

``--datasets`` / ``--laws`` run a subset (comma-separated: ``olmix-dclm``, ``olmix-s2pdf``, ``swarm``; names
from :data:`LAWS`); the timings on the full swarm need ``swarm`` and take the best of the laws that ran.
"""

import argparse
import time

import numpy as np
import polars as pl

from scalemix import baseline, laws, runs
from scalemix.evaluate import kfold, metrics
from scalemix.fit import fit, fit_nuts, fit_point
from scalemix.fitresult import Fit
from scalemix.optimize import optimize

LAWS = {"mixing": ("mixing", {}, {}), "mixing+cv": ("mixing", {}, {"shrinkage": "cv"}),
        "mixing rank 2": ("mixing", {"rank": 2}, {}), "mixing rank 4": ("mixing", {"rank": 4}, {}),
        "linear-mixing": ("linear-mixing", {}, {}), "mixture-additive": ("mixture-additive", {}, {}),
        "mixture-joint": ("mixture-joint", {}, {})}
"""Point fits of each law: ``label: (law, law options, fit settings)``. ``+cv``: with the ridge strength on
per-domain coefficients chosen by 5-fold cross-validation inside the training runs (``fit(...,
shrinkage="cv")``); ``rank K``: ``t`` shared across the targets through K factors (one fit of all targets)."""
REGRESSORS = ("lightgbm", "linear")
FOLDS = 5


def simulated_swarm(runs_count: int = 512, domains: int = 64, seed: int = 0, noise: float = 0.01) -> pl.DataFrame:
    """A sparse swarm whose losses follow the data mixing law, one target ``sim``; see the module docstring."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((runs_count, domains))
    for row in weights:
        chosen = rng.choice(domains, rng.integers(2, 9), replace=False)
        row[chosen] = rng.dirichlet(np.ones(chosen.size))
    t = rng.normal(0.0, 0.7, domains)
    loss = (2.0 + np.exp(weights @ t)) * np.exp(noise * rng.standard_normal(runs_count))
    frame = pl.DataFrame({"run_id": [f"r{i:03d}" for i in range(runs_count)], "target": "sim", "params": 3e7,
                          "tokens": 3e9, "loss": loss})
    return frame.with_columns(pl.Series(f"w.d{j:02d}", weights[:, j]) for j in range(domains))


def _matrix(table):
    return table.frame.select([f"w.{d}" for d in table.domains]).to_numpy().astype(float)


def _fit(name, train):
    """A predictor ``test -> (target, loss, prediction)`` frame, and the seconds its fit took."""
    started = time.perf_counter()
    if name in LAWS:
        law, options, settings = LAWS[name]
        model = fit(train, laws.get(law, **options), extrapolation=False, **settings)
        seconds = time.perf_counter() - started
        return (lambda test: model.predict(test).select("target", "loss", pl.col("median").alias("prediction"))), seconds
    per_target = {}
    for target in train.targets:
        part = train.select(targets=[target])
        per_target[target] = baseline.train(name, _matrix(part), part.frame["loss"].to_numpy(), seed=0)
    seconds = time.perf_counter() - started

    def predict(test):
        parts = []
        for target in test.targets:
            part = test.select(targets=[target])
            parts.append(part.frame.select("target", "loss").with_columns(prediction=per_target[target](_matrix(part))))
        return pl.concat(parts)

    return predict, seconds


def cross_validate(name, table):
    predictions, seconds = [], 0.0
    for train, test in kfold(table, k=FOLDS, seed=0):
        predict, fold_seconds = _fit(name, train)
        seconds += fold_seconds
        predictions.append(predict(test))
    frame = pl.concat(predictions)
    scores = [metrics(g["loss"], g["prediction"]) for _, g in frame.group_by("target", maintain_order=True)]
    return {"model": name, "spearman": float(np.mean([s["spearman"] for s in scores])),
            "mae": float(np.mean([s["mae"] for s in scores])), "fit_s": round(seconds, 2),
            "all finite": bool(np.isfinite(frame["prediction"].to_numpy()).all())}


def _subset(table, count):
    """``count`` targets evenly spaced through the table's (all of them for 0)."""
    if not count or count >= len(table.targets):
        return table
    return table.select(targets=[table.targets[i] for i in np.linspace(0, len(table.targets) - 1, count).astype(int)])


def timed(fun, repeat=2):
    """``fun()``'s last result and the seconds of its last call (the first ones compile)."""
    for _ in range(repeat):
        started = time.perf_counter()
        result = fun()
        seconds = time.perf_counter() - started
    return result, seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=8, help="Olmix targets, evenly spaced (0: all 110)")
    parser.add_argument("--quick", action="store_true", help="2 Olmix targets, a 256-run swarm, 200 draws")
    parser.add_argument("--datasets", default="olmix-dclm,olmix-s2pdf,swarm", help="comma-separated subset")
    parser.add_argument("--laws", default=",".join(LAWS), help="comma-separated subset of the laws (labels of LAWS)")
    args = parser.parse_args()
    chosen_laws = args.laws.split(",")
    chosen = args.datasets.split(",")
    unknown = sorted(set(chosen_laws) - set(LAWS)) + sorted(set(chosen) - {"olmix-dclm", "olmix-s2pdf", "swarm"})
    if unknown:
        parser.error(f"unknown --laws/--datasets: {', '.join(unknown)}")
    pl.Config.set_tbl_cols(12)
    pl.Config.set_tbl_width_chars(200)
    pl.Config.set_float_precision(4)
    count, swarm_runs, draws = (2, 256, 200) if args.quick else (args.targets, 512, 1000)
    swarm = runs.read(simulated_swarm(swarm_runs))
    datasets = {name: _subset(runs.read(name), count) for name in ("olmix-dclm", "olmix-s2pdf") if name in chosen}
    if "swarm" in chosen:
        datasets[f"swarm {swarm_runs}x64"] = swarm
    rows = []
    for dataset, table in datasets.items():
        for name in (*chosen_laws, *REGRESSORS):
            row = {"dataset": dataset, "runs": len(table.runs), "domains": len(table.domains), "targets": len(table.targets),
                   **cross_validate(name, table)}
            rows.append(row)
            print(row, flush=True)
    table = pl.DataFrame(rows)
    print(f"{FOLDS}-fold out-of-fold, mean over targets")
    print(table)
    for dataset in datasets:
        part = table.filter(pl.col("dataset") == dataset)
        best = part.filter(pl.col("model").is_in(chosen_laws)).sort("spearman", descending=True).row(0, named=True)
        lightgbm = part.filter(pl.col("model") == "lightgbm").row(0, named=True)
        print(f"{dataset}: best law {best['model']} spearman {best['spearman']:.4f}, lightgbm {lightgbm['spearman']:.4f}")
    if "swarm" not in chosen:
        return
    swarm_rows = table.filter(pl.col("dataset") == f"swarm {swarm_runs}x64")
    best_law = swarm_rows.filter(pl.col("model").is_in(chosen_laws)).sort("spearman", descending=True).row(0, named=True)
    lightgbm_row = swarm_rows.filter(pl.col("model") == "lightgbm").row(0, named=True)
    law = laws.get(LAWS[best_law["model"]][0], **LAWS[best_law["model"]][1])
    point, law_seconds = timed(lambda: fit_point(swarm, law))
    _, lightgbm_seconds = timed(lambda: baseline.train("lightgbm", _matrix(swarm), swarm.frame["loss"].to_numpy()))
    print(f"full swarm, one point fit after compile: {law.name} {law_seconds:.2f} s, lightgbm {lightgbm_seconds:.2f} s")

    rng = np.random.default_rng(0)
    jittered = {k: np.repeat(v, draws, axis=0) for k, v in point.draws.items()}
    jittered["t"] = jittered["t"] + 0.3 * rng.standard_normal(jittered["t"].shape) if "t" in jittered else jittered["t"]
    posterior = Fit(law=point.law, coords=point.coords, draws=jittered, method="bootstrap", noise=np.repeat(point.noise, draws, axis=0))
    domains = posterior.coords["domain"]
    uniform = {d: 1.0 for d in domains}
    settings = {"maximum": {d: 0.2 for d in domains}, "zero": list(domains[:8]), "kl_to": uniform, "kl": 0.01}
    optimum, optimise_seconds = timed(lambda: optimize(posterior, **settings))
    print(f"optimal weights over {len(domains)} domains x {draws} draws: {optimise_seconds:.2f} s after compile "
          f"(non-zero domains in the expected optimum: {int((optimum.expected > 1e-4).sum())})")
    started = time.perf_counter()
    posterior = fit_nuts(swarm, law, chains=4, draws=draws, warmup=draws, shrink_domains=True, init=point)
    print(f"NUTS {law.name} with shrink_domains on {swarm_runs} x 64, 4 chains x {draws}: {time.perf_counter() - started:.1f} s "
          f"(sampling {posterior.diagnostics['sampling_s']:.1f} s), max R-hat {posterior.diagnostics['max_rhat']:.4f}, "
          f"{posterior.diagnostics['divergences']} divergences, min bulk ESS {posterior.diagnostics['min_ess_bulk']:.0f}")
    print(f"{swarm_runs} x 64: best law / lightgbm spearman {best_law['spearman'] / lightgbm_row['spearman']:.3f}, "
          f"fit time ratio {law_seconds / lightgbm_seconds:.2f}")


if __name__ == "__main__":
    main()
