"""The ``scalemix`` command line.

Adding a command: write a plain function decorated ``@app.command()`` below, import heavy modules (polars,
jax, ...) inside it so ``scalemix --help`` stays fast, and raise a ``ScalemixError`` for anything the user
can fix. ``main()`` at the bottom -- the console-script entry point -- turns such errors (and OSError)
into one line on stderr and exit code 2; the global ``--debug`` flag shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from scalemix import __version__
from scalemix.errors import ScalemixError

app = typer.Typer(
    name="scalemix",
    help="Fit scaling laws (size, tokens, data mixture) to logged training runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
datasets_app = typer.Typer(help="List the embedded datasets, or show one with `datasets show NAME`.")
app.add_typer(datasets_app, name="datasets")

_LISTED = 12  # names shown before "... (N in all)" in text output
_WIDE = 200  # columns for result tables, so numbers are never cut to fit an 80-column pipe


def _console(width: int | None = None) -> Console:
    """A console that prints text as given: parameter names such as ``t[pile_cc,arxiv]`` and file paths
    are not read as Rich markup (which silently dropped the brackets)."""
    return Console(width=width, markup=False)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"scalemix {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of errors (give it before the command)."),
) -> None:
    """Fit scaling laws (size, tokens, data mixture) to logged training runs."""


def _print_json(value: Any) -> None:
    """Print ``value`` as JSON, and nothing else, on stdout."""
    typer.echo(json.dumps(value, indent=2))


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED]) or "-"
    return shown if len(names) <= _LISTED else f"{shown}, ... ({len(names)} in all)"


@datasets_app.callback(invoke_without_command=True)
def datasets_list(ctx: typer.Context) -> None:
    """List the embedded datasets, one line each."""
    if ctx.invoked_subcommand is not None:
        return
    from scalemix import datasets

    width = max(map(len, datasets.names()))
    for name in datasets.names():
        typer.echo(f"{name:<{width}}  {datasets.describe(name)}")


@datasets_app.command("show")
def datasets_show(
    name: str = typer.Argument(..., help="Dataset name (see `scalemix datasets`)."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON."),
) -> None:
    """Show an embedded dataset's source, licence, what a row is, units and counts."""
    from scalemix import datasets

    from scalemix import runs

    summary = runs.read(name).summary()
    info = {**datasets.info(name), "loss_unit": summary["loss_unit"], "rows": summary["rows"], "runs": summary["runs"],
            "targets": len(summary["targets"]), "domains": len(summary["domains"]), "notes": summary["notes"]}
    if as_json:
        _print_json(info)
        return
    table = Table(show_header=False, box=None)
    for key, value in info.items():
        table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    _console().print(table)


@app.command()
def inspect(
    source: str = typer.Argument(..., help="A dataset name, a .csv/.parquet/.jsonl file, or a .toml spec file."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (the run table's summary)."),
) -> None:
    """Read run logs, validate them, and summarise: counts, ranges, rows set aside, notes."""
    from scalemix import runs

    table = runs.read(source)
    summary = table.summary()
    if as_json:
        _print_json(summary)
        return
    console = _console()
    overview = Table(show_header=False, box=None)
    overview.add_row("source", summary["source"])
    overview.add_row("rows", f"{summary['rows']} ({summary['runs']} runs)")
    overview.add_row("targets", f"{len(summary['targets'])}: {_names(summary['targets'])}")
    overview.add_row("domains", f"{len(summary['domains'])}: {_names(summary['domains'])}")
    for column, (low, high) in summary["ranges"].items():
        unit = f" {summary['loss_unit']}" if column == "loss" else ""
        overview.add_row(column, f"{low:.4g} to {high:.4g}{unit}")
    overview.add_row("rejected", f"{summary['rejected']['rows']} rows set aside")
    overview.add_row("fingerprint", summary["fingerprint"])
    console.print(overview)
    if table.rejected.height:
        rejected = Table(*table.rejected.columns, title="rows set aside (first 20)")
        for row in table.rejected.head(20).iter_rows():
            rejected.add_row(*(str(value) for value in row))
        console.print(rejected)
    for note in summary["notes"]:
        console.print(f"note: {note}", highlight=False)


@app.command()
def sweep(
    config: str = typer.Argument(None, help="A sweep TOML file (or give --preset)."),
    preset: str = typer.Option(None, "--preset", help="A built-in sweep: cpu-tiny, cpu-demo, gpu-mnmt, proxy-mnmt."),
    out: str = typer.Option("runs.parquet", "--out", help="Run table to write (.parquet or .csv); finished runs in it are skipped."),
    executor: str = typer.Option("local", "--executor", help="'local' or 'ray' (Ray comes with the optional 'ray' extra)."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (default: start a local Ray)."),
    workers: int = typer.Option(None, "--workers", help="Local worker processes (default: one per core; 1 for vmapped GPU sweeps)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train small proxy language models on mixtures and write one run-table row per (run, target)."""
    from scalemix.proxy.sweep import sweep_command

    table = sweep_command(config, preset, out, executor, address, workers, progress)
    typer.echo(f"wrote {out}: {table.height} rows")


_FIT_OPTIONS = ("seed", "n_boot", "delta", "chains", "draws", "warmup", "hierarchical", "likelihood")


@app.command()
def fit(
    source: str = typer.Argument(..., help="A dataset name, a .csv/.parquet/.jsonl file, or a .toml spec file."),
    law: str = typer.Option(..., "--law", help="Law name (chinchilla, power, multilingual, mixing, ...)."),
    out: str = typer.Option(..., "--out", help="Directory to save the fit in (fit.json + draws.npz)."),
    target: list[str] = typer.Option(None, "--target", help="Fit only this target (repeat for several)."),
    method: str = typer.Option("point", "--method", help="Fit method: point, bootstrap (and nuts, svi where installed)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (starts, resamples, chains)."),
    n_boot: int = typer.Option(None, "--n-boot", help="Bootstrap resamples."),
    delta: float = typer.Option(None, "--delta", help="Huber delta on log-loss residuals (default 1e-3)."),
    chains: int = typer.Option(None, "--chains", help="MCMC chains."),
    draws: int = typer.Option(None, "--draws", help="Posterior draws per chain."),
    warmup: int = typer.Option(None, "--warmup", help="MCMC warm-up iterations per chain."),
    hierarchical: bool = typer.Option(None, "--hierarchical/--no-hierarchical", help="Partial pooling across targets."),
    likelihood: str = typer.Option(None, "--likelihood", help="Observation noise model (e.g. normal, student-t)."),
    law_option: list[str] = typer.Option(None, "--law-option", help="KEY=VALUE option of the law (e.g. f=linear)."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (law, method, objective, params, diagnostics)."),
) -> None:
    """Fit a law to run logs and save it; prints the parameters (median and 95% interval)."""
    import inspect

    from scalemix import laws, runs
    from scalemix.fit import METHODS, fit as fit_runs

    table = runs.read(source)
    if target:
        table = table.select(targets=target)
    chosen = laws.get(law, **_key_values(law_option or [], "--law-option"))
    given = {name: value for name, value in locals().items() if name in _FIT_OPTIONS and value is not None}
    if method in METHODS and "progress" in inspect.signature(METHODS[method]).parameters:
        given["progress"] = sys.stderr.isatty()  # a bar on a terminal (stderr), never in --json stdout or logs
    result = fit_runs(table, chosen, method=method, **_method_options(METHODS, method, given))
    result.save(out)
    summary = {**result.to_dict(), "rows_rejected": table.rejected.height, "saved": out}
    if as_json:
        _print_json(summary)
        return
    _print_fit(summary)


def _key_values(pairs: list[str], option: str) -> dict[str, Any]:
    """``["f=linear", "k=3"]`` -> ``{"f": "linear", "k": 3}`` (numbers and true/false are parsed)."""
    from scalemix.errors import FitError

    parsed = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise FitError(f"{option} {pair!r} is not KEY=VALUE (e.g. {option} f=linear)")
        parsed[key.strip()] = _scalar(text.strip())
    return parsed


def _scalar(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _method_options(methods: dict, method: str, given: dict[str, Any]) -> dict[str, Any]:
    """The given options, checked against the signature of the method's function."""
    import inspect as signature_inspect

    from scalemix.errors import FitError

    if method not in methods:
        raise FitError(f"unknown fit method {method!r}; choose one of {', '.join(methods)}")
    accepted = signature_inspect.signature(methods[method]).parameters
    refused = [name for name in given if name not in accepted]
    if refused:
        flags = ", ".join("--" + name.replace("_", "-") for name in refused)
        raise FitError(f"fit method {method!r} does not take {flags}; leave it out or choose another --method")
    return given


def _print_fit(summary: dict[str, Any]) -> None:
    diagnostics = summary["diagnostics"]
    point = diagnostics.get("point", diagnostics)
    console = _console()
    console.print(f"{summary['law']} ({summary['formula']}), method {summary['method']}, {summary['draws']} draw(s)", highlight=False)
    facts = [f"objective {summary['objective']:.7g}" if summary["objective"] is not None else ""]
    if "starts" in point:
        facts.append(f"{point['starts_in_best_basin']} of {point['starts']} starts in the best basin")
    facts.append(f"{point.get('rows', '?')} rows fitted, {point.get('rows_set_aside', 0)} set aside, {summary['rows_rejected']} rejected when read")
    console.print("; ".join(f for f in facts if f), highlight=False)
    for reason in point.get("set_aside_reasons", []):
        console.print(f"set aside: {reason}", highlight=False)
    for warning in diagnostics.get("warnings", []):
        console.print(f"warning: {warning}", style="yellow", highlight=False)
    table = Table("parameter", "median", "q025", "q975", box=None)
    for name, values in summary["params"].items():
        table.add_row(name, *(_number(values.get(k)) for k in ("median", "q025", "q975")))
    console.print(table)
    console.print(f"saved to {summary['saved']}", highlight=False)


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:.6g}"


@app.command()
def predict(
    fit_dir: str = typer.Argument(..., metavar="FIT", help="A fit saved by `scalemix fit --out`."),
    at: list[str] = typer.Option(None, "--at", help="A query point, e.g. params=1e10,tokens=2e11,w.de=0.5,w.fr=0.5 (repeat for several)."),
    grid: str = typer.Option(None, "--grid", help="A .csv/.parquet/.jsonl file of query points, one per row."),
    target: list[str] = typer.Option(None, "--target", help="Predict only this target (default: every target of the fit)."),
    levels: str = typer.Option("0.5,0.9", "--levels", help="Central interval levels, comma separated."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (one object per point and target)."),
) -> None:
    """Predict the loss at new sizes, token budgets or mixtures, with intervals over the fit's draws.

    Mixture domains a point leaves out weigh 0. lo/hi: the law's (parameter) uncertainty; pred_lo/pred_hi
    add the observation noise of a single run."""
    import polars as pl

    from scalemix.errors import FitError
    from scalemix.fitresult import Fit

    result = Fit.load(fit_dir)
    query = _query_points(at or [], grid, result.coords.get("domain", ()))
    if target:
        query = query.join(pl.DataFrame({"target": list(target)}), how="cross")
    try:
        wanted = tuple(float(level) for level in levels.split(","))
    except ValueError:
        raise FitError(f"--levels {levels!r} is not a comma-separated list of numbers like 0.5,0.9") from None
    frame = result.predict(query, levels=wanted)
    if as_json:
        _print_json(frame.to_dicts())
        return
    table = Table(*frame.columns, box=None)
    for row in frame.iter_rows():
        table.add_row(*(value if isinstance(value, str) else _number(value) for value in row))
    _console(_WIDE).print(table)


def _query_points(at: list[str], grid: str | None, domains: tuple[str, ...]):
    """Query frame from ``--at`` points and/or a ``--grid`` file; missing ``w.<domain>`` columns weigh 0."""
    import polars as pl

    from scalemix.errors import FitError

    frames = []
    if at:
        points = [_key_values(point.split(","), "--at") for point in at]
        frames.append(pl.DataFrame(points, infer_schema_length=None))
    if grid:
        reader = {".csv": pl.read_csv, ".parquet": pl.read_parquet, ".jsonl": pl.read_ndjson}.get(grid[grid.rfind("."):].lower())
        if reader is None:
            raise FitError(f"--grid {grid}: use a .csv, .parquet or .jsonl file of query points")
        frames.append(reader(grid))
    if not frames:
        raise FitError("give the query points: --at params=1e10,tokens=2e11 (repeatable) or --grid FILE")
    query = pl.concat(frames, how="diagonal_relaxed")
    given = [c for c in query.columns if c.startswith("w.")]
    unknown = [c for c in given if c[2:] not in domains]
    if unknown:
        raise FitError(f"weight column(s) {', '.join(unknown)} name no domain of this fit; it knows {', '.join(domains) or 'none'}")
    if given:
        query = query.with_columns(pl.col(given).fill_null(0.0)).with_columns(
            pl.lit(0.0).alias(f"w.{d}") for d in domains if f"w.{d}" not in given
        )
    return query


@app.command()
def evaluate(
    fit_dir: str = typer.Argument(..., metavar="FIT", help="A fit saved by `scalemix fit --out`."),
    on: str = typer.Option(..., "--on", help="Held-out runs: a dataset name, a .csv/.parquet/.jsonl file, or a .toml spec."),
    levels: str = typer.Option("0.5,0.9", "--levels", help="Predictive-interval levels whose coverage to report."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (overall and per-target metrics)."),
) -> None:
    """Score a fit on runs it never saw: MAE, RMSE, MRE, R^2, Spearman, Pearson, interval coverage,
    and regret@1 for mixtures (true loss of the predicted-best run minus the best)."""
    from scalemix import runs
    from scalemix.errors import FitError
    from scalemix.evaluate import evaluate as score
    from scalemix.fitresult import Fit

    result = Fit.load(fit_dir)
    table = runs.read(on)
    known = [t for t in table.targets if t in result.targets]
    if not known:
        raise FitError(f"{on} has none of this fit's targets ({', '.join(result.targets)}); it has {', '.join(table.targets)}")
    try:
        wanted = tuple(float(level) for level in levels.split(","))
    except ValueError:
        raise FitError(f"--levels {levels!r} is not a comma-separated list of numbers like 0.5,0.9") from None
    scores = score(result, table.select(targets=known), levels=wanted)
    scores["in_sample"] = table.fingerprint() == result.provenance.get("data", {}).get("fingerprint")
    if as_json:
        _print_json(scores)
        return
    console = _console(_WIDE)
    console.print(f"{scores['rows']} rows scored, {scores['rows_set_aside']} set aside", highlight=False)
    if scores["in_sample"]:
        console.print("note: these are the runs the fit was fitted on; the scores are in-sample", highlight=False)
    columns = list(scores["overall"])
    table_out = Table("target", *columns, box=None)
    for name, values in [("(all)", scores["overall"]), *scores["targets"].items()]:
        table_out.add_row(name, *(_number(values.get(c)) if c != "rows" else str(values[c]) for c in columns))
    console.print(table_out)


@app.command()
def report(
    fit_dir: str = typer.Argument(..., metavar="FIT", help="A fit saved by `scalemix fit --out`."),
    out: str = typer.Option("report.html", "--out", help="HTML file to write; the JSON summary goes beside it (.json)."),
    runs_source: str = typer.Option(None, "--runs", help="The runs the fit was made on (default: the source it recorded)."),
    at: list[str] = typer.Option(None, "--at", help="A scale to predict at, e.g. params=1e10,tokens=2e11 (repeat for several; default 10x the largest run; weights left out are the runs' average)."),
    optimize: bool = typer.Option(True, "--optimize/--no-optimize", help="Optimal mixture at the first --at scale (laws that depend on the mixture)."),
) -> None:
    """Write a self-contained HTML report on a fit (data, curves with bands, parameters, diagnostics,
    predictions, optimal mixture, provenance) and its JSON summary."""
    from scalemix.fitresult import Fit
    from scalemix.report import build_report, default_at, optimal_mixture, runs_for

    result = Fit.load(fit_dir)
    table = runs_for(result, runs_source)
    points = [_key_values(point.split(","), "--at") for point in at] if at else [default_at(table)]
    optimum = optimal_mixture(result, table, points[0]) if optimize else None
    command = " ".join(["scalemix report", fit_dir, "--out", out, *(["--runs", runs_source] if runs_source else []),
                        *(f"--at {point}" for point in at or [])])
    path = build_report(result, out, runs=table, at=points, optimum=optimum, command=command)
    typer.echo(f"wrote {path} and {path.with_suffix('.json')}")


@app.command()
def demo(
    out: str = typer.Option("scalemix-demo", "--out", help="Folder for the runs, the saved fit and report.html."),
    quick: bool = typer.Option(False, "--quick", help="Fewer targets and draws: a first look in about a minute."),
) -> None:
    """Fit the multilingual law to embedded real runs, predict at 10x the largest model, find the optimal
    training weights and write an HTML report."""
    import time

    from scalemix.demo import run_demo, summary_lines

    console = _console()
    started = time.perf_counter()
    result = run_demo(out, quick=quick, progress=lambda line: console.print(f"{time.perf_counter() - started:6.1f}s {line}", highlight=False))
    for line in summary_lines(result):
        console.print(line, highlight=False)


_CONSTRAINT_HELP = {
    "minimum": "Lower bound, w.DOMAIN=WEIGHT (repeat).",
    "maximum": "Upper bound, w.DOMAIN=WEIGHT (repeat; 0 fixes a domain to zero).",
    "cap_from": "JSON/TOML file of available tokens per domain (and max_epochs): caps w_d <= tokens_d * epochs / --tokens.",
    "kl_to": "Prior mixture (DOMAIN=WEIGHT,... or a JSON/TOML file) for the --kl penalty.",
}


def _constraint_options(minimum, maximum, cap_from, max_epochs, kl_to, kl) -> dict[str, Any]:
    """The optimisation constraints as keyword arguments of ``scalemix.optimize``."""
    from scalemix.optimize.spec import read_caps, read_mapping

    options: dict[str, Any] = {"minimum": read_mapping(",".join(minimum or []), "--min"),
                               "maximum": read_mapping(",".join(maximum or []), "--max")}
    if cap_from:
        options["available_tokens"], epochs = read_caps(cap_from)
        options["max_epochs"] = max_epochs if max_epochs is not None else (epochs or 1.0)
    if kl:
        options.update(kl=kl, kl_to=read_mapping(kl_to or "", "--kl-to"))
    return options


@app.command()
def optimize(
    fit_dir: str = typer.Argument(..., metavar="FIT", help="A fit saved by `scalemix fit --out`."),
    params: float = typer.Option(None, "--params", help="Model size N to plan for (laws that read it)."),
    tokens: float = typer.Option(None, "--tokens", help="Token budget D to plan for (laws that read it; repetition caps)."),
    objective: str = typer.Option("mean", "--objective", help="mean, max (worst target) or a TARGET to minimise alone."),
    target_weights: str = typer.Option(None, "--target-weights", help="TARGET=WEIGHT,... for mean/max (default: all, uniform)."),
    ceiling: list[str] = typer.Option(None, "--ceiling", help="TARGET=LOSS: keep that target's expected loss at or below LOSS (repeat)."),
    minimum: list[str] = typer.Option(None, "--min", help=_CONSTRAINT_HELP["minimum"]),
    maximum: list[str] = typer.Option(None, "--max", help=_CONSTRAINT_HELP["maximum"]),
    cap_from: str = typer.Option(None, "--cap-from", help=_CONSTRAINT_HELP["cap_from"]),
    max_epochs: float = typer.Option(None, "--max-epochs", help="Passes allowed over each domain's data (default: the caps file's, else 1)."),
    kl_to: str = typer.Option(None, "--kl-to", help=_CONSTRAINT_HELP["kl_to"]),
    kl: float = typer.Option(0.0, "--kl", help="Strength of the KL(w || prior) penalty."),
    baseline: str = typer.Option(None, "--baseline", help="Mixture to beat: DOMAIN=WEIGHT,..., a JSON/TOML file, or 'uniform'."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (weights, expected, predicted, p_beats_baseline)."),
) -> None:
    """Optimal training mixture over the fit's draws: per-domain median and 90% interval of the optimum,
    the mixture minimising the expected objective, its predicted losses, and P(beats --baseline)."""
    from scalemix.fitresult import Fit
    from scalemix.optimize import optimize as solve
    from scalemix.optimize.spec import read_mapping

    result = Fit.load(fit_dir)
    domains = result.coords.get("domain", ())
    base = {d: 1.0 / len(domains) for d in domains} if baseline == "uniform" else (read_mapping(baseline, "--baseline") if baseline else None)
    optimum = solve(
        result, params=params, tokens=tokens, objective=objective,
        target_weights=read_mapping(target_weights, "--target-weights") if target_weights else None,
        ceilings=read_mapping(",".join(ceiling), "--ceiling") if ceiling else None,
        baseline=base,
        **_constraint_options(minimum, maximum, cap_from, max_epochs, kl_to, kl),
    )
    payload = optimum.to_dict()
    if as_json:
        _print_json(payload)
        return
    console = _console(_WIDE)
    weights = Table("domain", "expected", "median", "q05", "q95", box=None, title="optimal weights")
    for row in optimum.weights().iter_rows(named=True):
        weights.add_row(row["domain"], *(f"{row[k]:.4f}" for k in ("expected", "median", "q05", "q95")))
    console.print(weights)
    losses = Table("target", "mean", "q05", "q95", "pred_q05", "pred_q95", box=None, title="predicted loss at the expected mixture")
    for target, values in payload["predicted"].items():
        losses.add_row(target, *(_number(values[k]) for k in ("mean", "q05", "q95", "pred_q05", "pred_q95")))
    console.print(losses)
    expected = payload["expected"]["objective"]
    console.print(f"objective ({payload['settings']['objective']}): {expected['mean']:.6g} "
                  f"[{expected['q05']:.6g}, {expected['q95']:.6g}] over {payload['draws']} draw(s)", highlight=False)
    if payload["p_beats_baseline"] is not None:
        console.print(f"P(beats baseline) = {payload['p_beats_baseline']:.3f}", highlight=False)


@app.command()
def front(
    fit_dir: str = typer.Argument(..., metavar="FIT", help="A fit saved by `scalemix fit --out`."),
    targets: str = typer.Option(..., "--targets", help="Two or more targets, comma-separated (a,b)."),
    params: str = typer.Option(None, "--params", help="Model size(s), comma-separated: one front per size."),
    tokens: str = typer.Option(None, "--tokens", help="Token budget(s), one or one per size."),
    points: int = typer.Option(11, "--points", help="Target weightings per edge of the front."),
    minimum: list[str] = typer.Option(None, "--min", help=_CONSTRAINT_HELP["minimum"]),
    maximum: list[str] = typer.Option(None, "--max", help=_CONSTRAINT_HELP["maximum"]),
    cap_from: str = typer.Option(None, "--cap-from", help=_CONSTRAINT_HELP["cap_from"]),
    max_epochs: float = typer.Option(None, "--max-epochs", help="Passes allowed over each domain's data."),
    kl_to: str = typer.Option(None, "--kl-to", help=_CONSTRAINT_HELP["kl_to"]),
    kl: float = typer.Option(0.0, "--kl", help="Strength of the KL(w || prior) penalty."),
    out: str = typer.Option(None, "--out", help="Write the front to this .csv or .parquet file."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (one record per front point and target)."),
) -> None:
    """Trade-off (Pareto) front between targets with 90% credible bands, one per model size."""
    from scalemix.errors import OptimizeError
    from scalemix.fitresult import Fit
    from scalemix.optimize import front as trace

    def numbers(text, option):
        try:
            return None if text is None else [float(v) for v in text.split(",")]
        except ValueError:
            raise OptimizeError(f"{option} {text!r} is not a comma-separated list of numbers like 1e8,1e9") from None

    table = trace(Fit.load(fit_dir), targets.split(","), params=numbers(params, "--params"), tokens=numbers(tokens, "--tokens"),
                  points=points, **_constraint_options(minimum, maximum, cap_from, max_epochs, kl_to, kl))
    if out:
        table.write_parquet(out) if out.endswith(".parquet") else table.write_csv(out)
    if as_json:
        _print_json(table.to_dicts())
        return
    shown = ["params", "point", "target", "mean", "lo90", "hi90", *[c for c in table.columns if c.startswith("w.")][:6]]
    console = _console(_WIDE)
    view = Table(*shown, box=None)
    for row in table.select(shown).iter_rows():
        view.add_row(*(v if isinstance(v, str) else _number(v) for v in row))
    console.print(view)


@app.command()
def compare(
    fits: list[str] = typer.Argument(..., help="Two or more saved Bayesian fits (directories from `scalemix fit --method nuts|svi --out`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Rank laws fitted to the same runs by PSIS-LOO (expected log predictive density; higher is better)."""
    from scalemix.evaluate import compare as compare_fits
    from scalemix.fitresult import Fit

    table = compare_fits({path: Fit.load(path) for path in fits})
    if as_json:
        _print_json(table.to_dicts())
        return
    console = _console(_WIDE)
    view = Table(*table.columns, box=None)
    for row in table.iter_rows():
        view.add_row(*(v if isinstance(v, str) else _number(v) for v in row))
    console.print(view)
    for row in table.filter(table["pareto_k_bad"] > 0).iter_rows(named=True):
        console.print(f"warning: {row['model']}: {row['pareto_k_bad']} run(s) with Pareto k > 0.7, LOO is unreliable there", highlight=False)


def _keep_compiled_programs() -> None:
    """Let JAX keep compiled programs on disk between commands (its persistent compilation cache), in
    ``$SCALEMIX_CACHE_DIR`` (default ``~/.cache/scalemix/xla``; set it empty to turn this off). Each
    command is a new process: without the cache, every ``scalemix fit --method nuts`` compiles NumPyro's
    sampler again (about 5 s on 2 cores). The folder grows by a few hundred kB per new table shape; delete
    it at any time. Set through JAX's environment variables, before JAX is imported."""
    folder = os.environ.get("SCALEMIX_CACHE_DIR", str(Path.home() / ".cache" / "scalemix" / "xla"))
    if folder:
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", folder)
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run ``app``, turning a ScalemixError or OSError into one line, exit code 2."""
    _keep_compiled_programs()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args, prog_name="scalemix")
    except (ScalemixError, OSError) as error:
        if "--debug" in args:
            raise
        message = " ".join(str(error).split())
        print(f"scalemix: error: {message}", file=sys.stderr)
        sys.exit(2)
