"""The proxy-transfer dataset (#15): do transfer weights predict unseen mixtures better than own-weight laws?
And what do the cloned-language control and the repetition series show?

Reads the run table of ``scalemix sweep --preset proxy-transfer`` (6 languages, 3-5 sizes; see the preset's
header) and reports, as measured:

1. ``laws``: point fits on the fitting cohorts (mono, pairs, dirichlet, repeat, and mono and dirichlet at
   half the budget) of ``transfer``,
   ``multilingual`` (``f=linear``, the own-weight law defined at p = 0), ``multilingual-family`` and
   ``mixing`` (which reads no model size: also fitted per size, ``mixing per size``); MRE, Spearman and
   the 90% predictive coverage (with each fit's extrapolation term, :mod:`scalemix.fit.discrepancy`, and
   without) on the held-out mixtures x 6 languages (:data:`HELD_OUT`: Dirichlet(1) and
   sparse Dirichlet(0.3), each at the fitted sizes and at the unseen d 96), all together and per set, and
   the paired MRE difference of ``transfer`` against each law on each.
2. ``cv``: leave-mixtures-out cross-validation inside the fitting cohorts (:func:`mixture_cv`): the 12
   fitting Dirichlet mixtures in 6 blocks of 2, each law refitted without a block's runs (every size, both
   budgets) and scored on them; the paired MRE difference of ``transfer`` against each law with the
   mixtures resampled.
3. ``loo``: NUTS fits of the same laws on the rows every law is defined on (own weight > 0), PSIS-LOO
   ranked by ``scalemix.evaluate.compare``.
4. ``clone``: English loss with a cloned English (same text, 256 byte ids of its own) taking 0-50% of the
   budget, beside English alone at half the budget (the English tokens of the 50/50 run without the clone).
5. ``steps``: each language alone at half the tokens, by half the steps (``mono-half``) and by half the
   batch (``mono-half-batch``), beside the full budget: what the optimizer steps are worth at equal tokens.
6. ``repeat``: German alone with 1-16 epochs of its unique tokens, and the ``data-constrained`` law's R*_D
   (tokens only; 5/50/95% of a 200-resample bootstrap) fitted to those runs plus the unrepeated monolingual
   German runs.
7. ``optimum``: the transfer law's optimal mixture for one d_model 64 model (mean loss of the six languages,
   each language's training tokens as its inventory) beside temperature sampling and UniMax, written as a
   sweep config; ``check`` reads that sweep's table (``--trained``): the only real test of an optimum.

    python benchmarks/bench_proxy_transfer.py RUNS.parquet [--parts laws,cv,loo,clone,steps,repeat] [--draws 500]
    python benchmarks/bench_proxy_transfer.py RUNS.parquet --parts optimum --config optimum.toml
    scalemix sweep optimum.toml --out optimum.parquet
    python benchmarks/bench_proxy_transfer.py RUNS.parquet --parts check --config optimum.toml --trained optimum.parquet
"""

import argparse
import time

import numpy as np
import polars as pl

from scalemix import laws, runs
from scalemix.design import own_weights
from scalemix.evaluate import compare, evaluate
from scalemix.fit import fit, fit_bootstrap, fit_nuts, fit_point

LANGS = ("en", "de", "fr", "ru", "ja", "hi")
FITTING = ("mono", "pairs", "dirichlet", "repeat", "mono-half", "dirichlet-half")
OPTIMUM_FITTING = ("mono", "pairs", "dirichlet", "repeat")
OPTIMUM_SIZES = (32, 48, 64)
"""The cohorts and d_model whose ``transfer`` fit chose the trained ``optimum-check`` mixtures (the dataset's
first 117 runs, before the half-budget cohorts and the d 24 runs): ``--parts optimum`` and ``check`` refit on
them to reproduce that choice."""
HELD_OUT = ("dirichlet-test", "dirichlet-sparse")
"""Held out from every fit: Dirichlet(1) mixtures (seed 1) and sparse Dirichlet(0.3) mixtures (seed 2, most
languages at a few percent or less), each at the fitted sizes d 32-64 and at the unseen d 96."""
LAWS = {"transfer": ("transfer", {}), "multilingual (f=linear)": ("multilingual", {"f": "linear"}),
        "multilingual-family": ("multilingual-family", {}), "mixing": ("mixing", {})}


def language_rows(frame: pl.DataFrame, cohorts) -> pl.DataFrame:
    """The rows of ``cohorts`` on the six languages, with only their ``w.``/``unique.`` columns."""
    keep = [c for c in frame.columns if not c.startswith(("w.", "unique.", "epochs.")) or c.split(".", 1)[1] in LANGS]
    return frame.filter(pl.col("cohort").is_in(list(cohorts)) & pl.col("target").is_in(LANGS)).select(keep)


def held_out_sets(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The held-out rows, all together and split by cohort and by whether the model size was fitted."""
    rows = language_rows(frame, HELD_OUT)
    fitted_sizes = language_rows(frame, FITTING)["d_model"].unique().to_list()
    sets = {"all held-out": rows}
    for cohort in HELD_OUT:
        for label, at in (("fitted sizes", pl.col("d_model").is_in(fitted_sizes)), ("unseen size", ~pl.col("d_model").is_in(fitted_sizes))):
            subset = rows.filter((pl.col("cohort") == cohort) & at)
            if subset.height:
                sizes = "/".join(str(d) for d in sorted(subset["d_model"].unique()))
                sets[f"{cohort}, d {sizes} ({label})"] = subset
    return sets


def law_table(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The laws scored on each held-out set, and :func:`paired_differences` of ``transfer`` against each law
    on each set."""
    train = runs.read(language_rows(frame, FITTING))
    sets = held_out_sets(frame)
    rows, paired = [], []
    fits = {}
    for label, (name, options) in LAWS.items():
        started = time.perf_counter()
        fits[label] = fit(train, laws.get(name, **options), max_iter=1000)  # with its extrapolation term
        fit_s = time.perf_counter() - started
        print(f"{label}: {fits[label].diagnostics['extrapolation']}"
              + "".join(f"; warning: {w}" for w in fits[label].diagnostics["warnings"]))
        seen = evaluate(fits[label], train, levels=(0.9,))
        rows += [_scored(label, fits[label], seen, runs.read(test), held, fit_s) for held, test in sets.items()]
    for size in sorted(train.frame["params"].unique()):  # mixing reads no size: one fit per fitted size
        at = pl.col("params") == size
        started = time.perf_counter()
        fitted = fit_point(runs.read(train.frame.filter(at)), laws.get("mixing"), max_iter=1000)
        fit_s = time.perf_counter() - started
        test = sets["all held-out"].filter(at)
        if test.height:
            seen = evaluate(fitted, runs.read(train.frame.filter(at)), levels=(0.9,))
            rows.append(_scored(f"mixing per size (N={size:.3g})", fitted, seen, runs.read(test), "all held-out at this size", fit_s))
    for held, test in sets.items():
        errors = {}
        for label, fitted in fits.items():
            predicted = fitted.predict(runs.read(test)).sort("run_id", "target")
            errors[label] = (predicted["median"] / predicted["loss"] - 1).abs().to_numpy()
        paired.append(paired_differences(errors, "transfer", predicted["run_id"].to_numpy()).select(pl.lit(held).alias("held out"), pl.all()))
    return pl.DataFrame(rows), pl.concat(paired)


def paired_differences(errors: dict, reference: str, clusters: np.ndarray, n_boot: int = 2000, seed: int = 0) -> pl.DataFrame:
    """Held-out MRE of ``reference`` minus each other law's, on the same rows, with a 95% interval from
    resampling the ``clusters`` (a label per row: the held-out runs, all of a run's languages together, or
    the mixtures, all of a mixture's runs together) ``n_boot`` times."""
    rng = np.random.default_rng(seed)
    names, index = np.unique(clusters, return_inverse=True)
    counts = np.stack([np.bincount(rng.choice(len(names), len(names)), minlength=len(names)) for _ in range(n_boot)])
    row_weights = counts[:, index]  # [n_boot, rows]: how often each row's run was drawn
    rows = []
    for label, other in errors.items():
        if label == reference:
            continue
        difference = errors[reference] - other
        resampled = row_weights @ difference / row_weights.sum(axis=1)
        low, high = np.quantile(resampled, [0.025, 0.975])
        rows.append({"against": label, "MRE difference": round(float(difference.mean()), 5), "2.5%": round(float(low), 5),
                     "97.5%": round(float(high), 5), f"P({reference} better)": round(float(np.mean(resampled < 0)), 3)})
    return pl.DataFrame(rows)


def mixture_cv(frame: pl.DataFrame, folds: int = 6) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Leave-mixtures-out cross-validation inside the fitting cohorts: the 12 fitting Dirichlet mixtures
    (sorted by their weights) in ``folds`` blocks; each law is refitted without a block's runs (every size
    and both budgets) and scored on them. Returns MRE per law and fold, and :func:`paired_differences` of
    ``transfer`` against each law with the mixtures resampled (a mixture's runs share its errors)."""
    rows = language_rows(frame, FITTING)
    mixture = pl.concat_str([pl.col(f"w.{lang}").round(3).cast(pl.Utf8) for lang in LANGS], separator=",")
    rows = rows.with_columns(mixture=pl.when(pl.col("cohort").is_in(["dirichlet", "dirichlet-half"])).then(mixture))
    mixtures = sorted(rows["mixture"].drop_nulls().unique())
    blocks = np.array_split(np.array(mixtures), folds)
    errors, labels, scores = {label: [] for label in LAWS}, [], []
    for fold, block in enumerate(blocks):
        out = pl.col("mixture").is_in(block.tolist()).fill_null(False)
        train, test = runs.read(rows.filter(~out).drop("mixture")), rows.filter(out)
        for label, (name, options) in LAWS.items():
            predicted = fit_point(train, laws.get(name, **options), max_iter=1000).predict(runs.read(test.drop("mixture")))
            predicted = predicted.join(test.select("run_id", "target", "mixture"), on=["run_id", "target"]).sort("run_id", "target")
            error = (predicted["median"] / predicted["loss"] - 1).abs().to_numpy()
            errors[label].append(error)
            scores.append({"fold": fold, "law": label, "rows": error.size, "MRE": round(float(error.mean()), 4)})
        labels.append(predicted["mixture"].to_numpy())
    errors = {label: np.concatenate(e) for label, e in errors.items()}
    overall = [{"fold": -1, "law": label, "rows": e.size, "MRE": round(float(e.mean()), 4)} for label, e in errors.items()]
    return pl.DataFrame(scores + overall), paired_differences(errors, "transfer", np.concatenate(labels))


def _scored(label, fitted, seen, test, held, seconds) -> dict:
    """Held-out scores beside the in-sample ones (``seen``: ``evaluate`` on the fitting runs); 90% coverage
    with the fit's extrapolation term (where it has one) and without (``extrapolation=False``: parameters and
    noise only)."""
    scores = evaluate(fitted, test, levels=(0.9,))
    bare = evaluate(fitted, test, levels=(0.9,), extrapolation=False)
    return {"law": label, "held out": held, "rows": scores["rows"], "train rows": seen["rows"], "set aside": seen["rows_set_aside"],
            "fit_s": round(seconds, 1), "in-sample MRE": round(seen["overall"]["mre"], 4), "held-out MRE": round(scores["overall"]["mre"], 4),
            "held-out Spearman": round(scores["overall"]["spearman"], 3), "coverage90": round(scores["overall"]["coverage90"], 3),
            "coverage90 without term": round(bare["overall"]["coverage90"], 3)}


def loo_table(frame: pl.DataFrame, draws: int) -> pl.DataFrame:
    rows = language_rows(frame, FITTING)
    table = runs.read(rows.filter(pl.Series(own_weights(rows, LANGS) > 0)))
    fits, times = {}, {}
    for label, (name, options) in LAWS.items():
        started = time.perf_counter()
        fits[label] = fit_nuts(table, laws.get(name, **options), chains=4, draws=draws, warmup=draws)
        times[label] = round(time.perf_counter() - started, 1)
    ranked = compare(fits)
    extra = pl.DataFrame({"model": list(fits), "nuts_s": [times[k] for k in fits],
                          "max_rhat": [round(fits[k].diagnostics["max_rhat"], 3) for k in fits],
                          "divergences": [fits[k].diagnostics["divergences"] for k in fits]})
    return ranked.join(extra, on="model")


def clone_table(frame: pl.DataFrame) -> pl.DataFrame:
    clone = frame.filter(pl.col("cohort").is_in(["clone", "clone-half"]) & (pl.col("target") == "en"))
    return (clone.select("d_model", "cohort", "w.en", "w.en_clone", "tokens", en_tokens=pl.col("tokens") * pl.col("w.en"), loss="loss")
            .sort("d_model", "cohort", "w.en", descending=[False, False, True]))


def steps_table(frame: pl.DataFrame) -> pl.DataFrame:
    """Each language alone at the full budget and at half the tokens, by half the steps (``mono-half``:
    8 x 1,024) and by half the batch (``mono-half-batch``: 4 x 2,048): own-language loss per size, and the
    mean over the languages of what halving the steps costs beyond halving the batch."""
    mono = frame.filter(pl.col("cohort").is_in(["mono", "mono-half", "mono-half-batch"]) & pl.col("target").is_in(LANGS))
    own = mono.filter(pl.Series(own_weights(mono, LANGS) == 1.0))
    wide = own.pivot(on="cohort", index=["d_model", "target"], values="loss").sort("d_model", "target")
    return wide.with_columns((pl.col("mono-half") - pl.col("mono-half-batch")).alias("half steps - half batch"))


def repeat_table(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    german = frame.filter((pl.col("target") == "de") & (pl.col("w.de") == 1.0) & pl.col("cohort").is_in(["mono", "repeat"]))
    shown = german.select("d_model", "cohort", "unique.de", "epochs.de", "loss").sort("d_model", "epochs.de")
    table = runs.read(german.select("run_id", "params", "tokens", "target", "loss", unique="unique.de"))
    fitted = fit_bootstrap(table, laws.get("data-constrained", excess_params=False), n_boot=200, max_iter=1000)
    return shown, np.quantile(fitted.draws["rstar_tokens"][:, 0], [0.05, 0.5, 0.95])


def optimum_config(frame: pl.DataFrame, d_model: int, path: str) -> pl.DataFrame:
    """Fit ``transfer`` on :data:`OPTIMUM_FITTING` at :data:`OPTIMUM_SIZES`, optimise the mean loss over the six languages for one model
    of width ``d_model`` at the preset's budget, with each language's training tokens as its inventory (hi
    holds less than the budget: the law prices its repeats), and write a sweep config that trains the optimum
    beside temperature sampling (0.3, 0.5, 0.7) and UniMax on the same inventory. Returns the mixtures with
    their predicted objective."""
    from scalemix.optimize import optimize

    train = runs.read(language_rows(frame.filter(pl.col("d_model").is_in(OPTIMUM_SIZES)), OPTIMUM_FITTING))
    fitted = fit_point(train, laws.get("transfer"), max_iter=1000)
    size = frame.filter(pl.col("d_model") == d_model)
    params, tokens = float(size["params"][0]), float(size.filter(pl.col("cohort") == "mono")["tokens"][0])
    inventory = {lang: float(frame.filter(pl.col("cohort") == "mono")[f"unique.{lang}"].max()) for lang in LANGS}
    found = optimize(fitted, params=params, tokens=tokens, available_tokens=inventory)
    mixtures = {"optimum": dict(zip(found.domains, found.expected.tolist())),
                **{name: h["weights"] for name, h in found.to_dict()["heuristics"].items()}}
    objective = {"optimum": float(found.objective.mean()),
                 **{name: h["objective"]["mean"] for name, h in found.to_dict()["heuristics"].items()}}
    weights = ", ".join("{ " + ", ".join(f"{d} = {w:.6f}" for d, w in m.items()) + " }" for m in mixtures.values())
    with open(path, "w") as out:
        out.write(f"""# Written by benchmarks/bench_proxy_transfer.py --parts optimum: the optimum of the transfer law for d_model {d_model}
# and the sampling rules on the same inventory, in this order: {", ".join(mixtures)}.
name = "proxy-transfer-optimum"
[corpus]
source = "catalogs"
langs = {list(LANGS)!r}
[model]
n_layers = 2
seq_len = 128
[train]
steps = 2048
batch_size = 8
[[cohort]]
name = "optimum-check"
mode = "lm"
domains = {list(LANGS)!r}
heldout_frac = 0.03
d_model = [{d_model}]
mixture = {{ design = "list", weights = [{weights}] }}
""".replace("'", '"'))
    return pl.DataFrame({"rule": list(mixtures), "predicted mean loss": [objective[k] for k in mixtures],
                         **{f"w.{d}": [m[d] for m in mixtures.values()] for d in LANGS}})


def check_table(trained: pl.DataFrame, chosen: pl.DataFrame) -> pl.DataFrame:
    """The mean held-out loss over the six languages of each trained mixture, beside its prediction."""
    mean = trained.filter(pl.col("target").is_in(LANGS)).group_by("run_id", *[f"w.{d}" for d in LANGS]).agg(
        pl.col("loss").mean().alias("trained mean loss"))
    return _match(chosen, mean).sort("trained mean loss")


def _match(chosen: pl.DataFrame, mean: pl.DataFrame) -> pl.DataFrame:
    """Rows of ``chosen`` with the trained loss of the run whose weights are nearest (the sweep rounds them)."""
    w_chosen = chosen.select([f"w.{d}" for d in LANGS]).to_numpy()
    w_trained = mean.select([f"w.{d}" for d in LANGS]).to_numpy()
    nearest = np.abs(w_chosen[:, None, :] - w_trained[None, :, :]).sum(axis=-1).argmin(axis=1)
    return chosen.with_columns(pl.Series("trained mean loss", mean["trained mean loss"].to_numpy()[nearest]))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs")
    parser.add_argument("--parts", default="laws,cv,loo,clone,steps,repeat")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--d-model", type=int, default=64, help="the model width the optimum is for (part optimum)")
    parser.add_argument("--config", default="proxy-transfer-optimum.toml", help="sweep config the part optimum writes")
    parser.add_argument("--trained", help="the run table of that sweep (part check)")
    args = parser.parse_args()
    pl.Config.set_tbl_cols(20)
    pl.Config.set_tbl_rows(60)
    pl.Config.set_tbl_width_chars(220)
    frame = pl.read_parquet(args.runs) if args.runs.endswith(".parquet") else pl.read_csv(args.runs)
    parts = set(args.parts.split(","))
    print(f"{frame['run_id'].n_unique()} runs: " + ", ".join(f"{c} {n}" for c, n in frame.group_by("cohort").agg(pl.col("run_id").n_unique()).sort("cohort").rows()))
    if "laws" in parts:
        print("== held-out Dirichlet mixtures, point fits")
        scored, paired = law_table(frame)
        print(scored)
        print("== held-out MRE of transfer minus each law's, paired; 95% interval over 2,000 resamples of the held-out runs")
        print(paired)
    if "cv" in parts:
        print("== leave-mixtures-out cross-validation over the 12 fitting Dirichlet mixtures (fold -1: all folds)")
        scores, paired = mixture_cv(frame)
        print(scores.pivot(on="law", index="fold", values="MRE"))
        print("== cross-validated MRE of transfer minus each law's, paired; 95% interval over 2,000 resamples of the mixtures")
        print(paired)
    if "loo" in parts:
        print("== PSIS-LOO on the rows every law is defined on (own weight > 0), NUTS")
        print(loo_table(frame, args.draws))
    if "clone" in parts:
        print("== cloned English: en loss")
        print(clone_table(frame))
    if "steps" in parts:
        print("== each language alone: full budget (mono), half the tokens by half the steps (mono-half) or by half the batch")
        steps = steps_table(frame)
        print(steps)
        print("mean over languages of half steps - half batch, per d_model: " + ", ".join(
            f"d {d} {v:+.3f}" for d, v in steps.group_by("d_model").agg(pl.col("half steps - half batch").mean()).sort("d_model").rows()))
    if "repeat" in parts:
        shown, fitted = repeat_table(frame)
        print("== German repeated: de loss")
        print(shown)
        print("data-constrained (tokens only) on these runs, 200-resample bootstrap: R*_D 5%, 50%, 95%: "
              + ", ".join(f"{v:.3g}" for v in fitted))
    if "optimum" in parts or "check" in parts:
        chosen = optimum_config(frame, args.d_model, args.config)
        print(f"== the transfer law's optimum and the sampling rules (sweep config: {args.config})")
        print(chosen)
        if "check" in parts:
            print("== trained: mean held-out loss over the six languages")
            print(check_table(pl.read_parquet(args.trained), chosen))


if __name__ == "__main__":
    main()
