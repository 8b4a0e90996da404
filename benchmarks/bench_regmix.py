"""Mixture laws against RegMix's model-free regressors, side by side in one process.

RegMix (Liu et al. 2024), target pile_cc: fit on the 512 1M-parameter runs of regmix-1m-train, rank the
256 unseen mixtures of regmix-1m-test and regmix-60m-test (Spearman; published LightGBM 0.9845 /
0.9864, linear 0.9008 / 0.8926; the in-sample Spearman on the 512 training runs bounds what a law's form
can rank), and regret@1 on the 60M runs (true loss of the mixture ranked first,
minus the best). Olmix (olmix-dclm, sparse mixtures): 5-fold out-of-fold Spearman and MAE on a few
targets, and whether any prediction overflowed.

    python benchmarks/bench_regmix.py [--olmix-targets 4]
"""

import argparse
import time

import numpy as np
import polars as pl

from scalemix.fit import fit as fit_law
from scalemix import runs
from scalemix.baseline import fit_regressor
from scalemix.evaluate import kfold, metrics, regret_at_1

LAWS = ("mixing", "mixture-additive")
REGRESSORS = ("lightgbm", "linear")


def _model(name, train):
    return fit_law(train, name) if name in LAWS else fit_regressor(train, name)


def regmix():
    train = runs.read("regmix-1m-train").select(targets=["pile_cc"])
    tests = {name: runs.read(name).select(targets=["pile_cc"]) for name in ("regmix-1m-test", "regmix-60m-test")}
    rows = []
    for name in (*LAWS, *REGRESSORS):
        started = time.perf_counter()
        model = _model(name, train)
        seconds = time.perf_counter() - started
        in_sample = model.predict(train)
        row = {"model": name, "fit_s": round(seconds, 1), "spearman in-sample": metrics(in_sample["loss"], in_sample["median"])["spearman"]}
        for test_name, test in tests.items():
            prediction = model.predict(test)
            row[f"spearman {test_name[7:]}"] = metrics(prediction["loss"], prediction["median"])["spearman"]
        prediction = model.predict(tests["regmix-60m-test"])
        row["regret@1 60m"] = regret_at_1(prediction["loss"], prediction["median"])
        rows.append(row)
    return pl.DataFrame(rows)


def olmix(count):
    table = runs.read("olmix-dclm")
    table = table.select(targets=list(table.targets[:count]))
    rows = []
    for name in (*LAWS, *REGRESSORS):
        predictions = []
        for train, test in kfold(table, k=5, seed=0):
            predictions.append(_model(name, train).predict(test).select("target", "loss", "median"))
        frame = pl.concat(predictions)
        finite = bool(np.isfinite(frame["median"].to_numpy()).all())
        per_target = [metrics(g["loss"], g["median"]) for _, g in frame.group_by("target", maintain_order=True)]
        rows.append({"model": name, "targets": count, "spearman (mean over targets)": np.mean([m["spearman"] for m in per_target]),
                     "mae (bpb)": np.mean([m["mae"] for m in per_target]), "all finite": finite})
    return pl.DataFrame(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--olmix-targets", type=int, default=4)
    args = parser.parse_args()
    pl.Config.set_tbl_cols(12)
    pl.Config.set_tbl_width_chars(200)
    pl.Config.set_float_precision(4)
    table = regmix()
    print("RegMix pile_cc (published: lightgbm 0.9845 / 0.9864, linear 0.9008 / 0.8926)")
    print(table)
    print("Olmix-DCLM, 5-fold out-of-fold")
    print(olmix(args.olmix_targets))
    best_law = table.filter(pl.col("model").is_in(LAWS))["spearman 60m-test"].max()
    lightgbm = table.filter(pl.col("model") == "lightgbm")["spearman 60m-test"][0]
    print(f"best law / lightgbm Spearman on regmix-60m-test: {best_law:.4f} / {lightgbm:.4f} = {best_law / lightgbm:.4f}")


if __name__ == "__main__":
    main()
