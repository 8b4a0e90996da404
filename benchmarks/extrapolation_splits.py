"""Real "fit small, predict large" splits from ../shared/data, and simulated ones with a known truth.

Each split is ``(train, test, law)``: run tables where ``test`` holds the larger scales. Sources (see
../shared/data/README.md): Chinchilla (Epoch's 240 points, N < 2e9 -> larger), (Mis)Fitting 2025 (last
checkpoints of every learning rate, N <= 6e8 -> 1B), Porian et al. 2024 isoFLOP points (three configurations, top three
budgets held out), Open-Athena's curated isoFLOP sources (top two budgets held out), RegMix 1M -> 60M.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from scalemix import runs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHINCHILLA_TRUTH = {"E": 1.8172, "A": 477.8, "B": 2143.4, "alpha": 0.3473, "beta": 0.3672}


def _table(frame: pl.DataFrame, target: str):
    frame = frame.select(pl.col("params").cast(pl.Float64), pl.col("tokens").cast(pl.Float64), "loss")
    return runs.read(frame.with_columns(run_id=pl.format("r{}", pl.int_range(pl.len()))), target=target)


def _by_compute(table, held_out: int):
    """Hold out the runs of the ``held_out`` largest compute budgets (isoFLOP sources)."""
    compute = table.frame["params"] * table.frame["tokens"] * 6.0
    budgets = np.unique(np.round(np.log10(compute.to_numpy()), 1))
    test = pl.Series(np.round(np.log10(compute.to_numpy()), 1) >= budgets[-held_out])
    return table.select(where=~test), table.select(where=test)


def chinchilla():
    table = runs.read("chinchilla")
    return table.select(where=pl.col("params") < 2e9), table.select(where=pl.col("params") >= 2e9), "chinchilla"


def misfitting(largest_train: float = 6e8):
    """Last checkpoints of every run (several peak learning rates per size: their spread is noise the fit sees)."""
    frame = pl.read_csv(DATA / "misfitting2025" / "scaling_results_last_ckpt_only.csv")
    table = _table(frame.rename({"N": "params", "D": "tokens"}), "c4")
    return table.select(where=pl.col("params") <= largest_train), table.select(where=pl.col("params") > largest_train), "chinchilla"


def porian(dataset: str, hparams: str, decay: str):
    frame = pl.read_csv(DATA / "porian2024" / "porian_isoflop_points.csv").filter(
        (pl.col("dataset") == dataset) & (pl.col("hparams") == hparams) & (pl.col("decay") == decay)
        & (pl.col("warmup") == "short") & (pl.col("param_count") == "standard") & (pl.col("loss_source") == "val"))
    return (*_by_compute(_table(frame.rename({"n": "params", "t": "tokens"}), dataset), 3), "chinchilla")


def openathena(experiment: str):
    frame = pl.read_csv(DATA / "openathena_isoflops" / "isoflops_transform.csv").filter(
        (pl.col("experiment") == experiment) & ~pl.col("outlier"))
    return (*_by_compute(_table(frame, experiment.split("__")[1]), 2), "chinchilla")


def regmix():
    train, test = runs.read("regmix-1m-train").select(targets="pile_cc"), runs.read("regmix-60m-test").select(targets="pile_cc")
    return train, test, "mixture-additive"


def simulated(kind: str, seed: int, sd: float = 0.015):
    """Chinchilla's (N, D) grid with losses from the Chinchilla law at Epoch's fit (``right``), from a
    law whose data exponent breaks from 0.367 to 0.2 beyond D = 1e10 (``broken``), one whose size
    exponent drifts down by 0.01 per decade of N above 1e8 (``drifting``: 0.347 at 1e8, 0.327 at 1e10),
    or one whose size exponent bends smoothly from 0.347 to 0.197 around N = 5e8, inside the fitted range
    (``bent``: a smoothly broken power law, Caballero et al. 2022, ``A N^-alpha (1 + (N / 5e8)^2)^0.075``),
    with log-normal noise ``sd``; fit N < 2e9, predict the rest."""
    grid = runs.read("chinchilla").frame
    n, d = grid["params"].to_numpy(), grid["tokens"].to_numpy()
    t = CHINCHILLA_TRUTH
    data_term = t["B"] / d ** t["beta"]
    if kind == "broken":
        knee = 1e10
        data_term = np.where(d <= knee, data_term, t["B"] / knee ** t["beta"] * (d / knee) ** -0.2)
    alpha = t["alpha"] - (0.01 * np.log10(n / 1e8) if kind == "drifting" else 0.0)
    size_term = t["A"] / n ** alpha * ((1 + (n / 5e8) ** 2) ** 0.075 if kind == "bent" else 1.0)
    loss = (t["E"] + size_term + data_term) * np.exp(sd * np.random.default_rng(seed).standard_normal(n.size))
    table = _table(pl.DataFrame({"params": n, "tokens": d, "loss": loss}), "sim")
    return table.select(where=pl.col("params") < 2e9), table.select(where=pl.col("params") >= 2e9), "chinchilla"


SIMULATED = {"right": {}, "broken": {}, "drifting": {}, "bent": {}, "bent (0.5% noise)": {"sd": 0.005}}
"""The simulations of ``bench_extrapolation.py``: kind (the label's first word) and options of :func:`simulated`."""


REAL = {
    "chinchilla": chinchilla,
    "misfitting": misfitting,
    "porian rw tuned const": lambda: porian("rw", "tuned", "const"),
    "porian rw base chinchilla": lambda: porian("rw", "base", "chinchilla"),
    "porian owt2 base chinchilla": lambda: porian("owt2", "base", "chinchilla"),
    "oa marin dclm": lambda: openathena("marin_202603__dclm__llama_2"),
    "oa marin comma": lambda: openathena("marin_202603__comma__llama_2"),
    "oa marin nemotron": lambda: openathena("marin_202603__nemotron__llama_2"),
    "oa misfitting c4": lambda: openathena("misfitting__fineweb_c4__transformer"),
    "oa llama 3": lambda: openathena("llama_3__raw_loss"),
    "oa ml_scalefit chinchilla": lambda: openathena("ml_scalefit__massivetext__chinchilla"),
    "regmix 1m -> 60m": regmix,
}
