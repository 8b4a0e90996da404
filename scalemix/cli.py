"""The ``scalemix`` command line.

Adding a command: write a plain function decorated ``@app.command()`` below, import heavy modules (polars,
jax, ...) inside it so ``scalemix --help`` stays fast, declare the range of each number option (``min=``
for counts, a :func:`_finite` callback for the rest), and raise a ``ScalemixError`` for anything else the
user can fix. ``main()`` at the bottom -- the console-script entry point -- turns such errors (and OSError,
and click's usage errors) into one line on stderr and exit code 2; the global ``--debug`` flag shows the
traceback of a ScalemixError instead. Results go to stdout, warnings to stderr (:func:`_warn`).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import warnings
from inspect import signature
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable, NoReturn, Sequence

import typer
from rich.console import Console
from rich.table import Table

from scalemix import __version__
from scalemix.errors import FitError, OptimizeError, ScalemixError, SuggestError

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

_Source = Annotated[str, typer.Argument(help="A dataset name, a .csv/.parquet/.jsonl file, a .toml spec file, or mlflow:EXPERIMENT, tensorboard:DIR, wandb:DIR.")]
_TrackingUri = Annotated[str, typer.Option("--tracking-uri", help="For an mlflow: source, the tracking server or store (default: the spec's tracking_uri, else MLFLOW_TRACKING_URI).")]
_FitDir = Annotated[str, typer.Argument(metavar="FIT", help="A fit saved by `scalemix fit --out`.")]


def _console(width: int | None = None) -> Console:
    """A console that prints text as given: parameter names such as ``t[pile_cc,arxiv]`` and file paths
    are not read as Rich markup (which silently dropped the brackets)."""
    return Console(width=width, markup=False)


def _print_version(value: bool) -> None:
    """``--version``: print the version and stop."""
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


def _names(names: Sequence[str], empty: str = "-") -> str:
    """``a, b, c``: the first :data:`_LISTED` names, then how many there are in all; ``empty`` for none."""
    shown = ", ".join(names[:_LISTED]) or empty
    return shown if len(names) <= _LISTED else f"{shown}, ... ({len(names)} in all)"


def _number(value: Any) -> str:
    """A number to 6 significant digits; ``-`` for a missing one."""
    return "-" if value is None else f"{value:.6g}"


def _print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
                 header: bool = True, width: int | None = _WIDE) -> None:
    """Print ``rows`` under ``columns`` without borders: text as it is, anything else by :func:`_number`.
    ``header=False`` for key/value listings; ``width=None`` wraps at the terminal's width."""
    table = Table(*columns, title=title, show_header=header, box=None)
    for row in rows:
        table.add_row(*(value if isinstance(value, str) else _number(value) for value in row))
    _console(width).print(table)


def _read_runs(source: str, tracking_uri: str | None):
    """``runs.read(source)``, with the MLflow tracking URI when one was given on the command line."""
    from scalemix import runs

    return runs.read(source, **({"tracking_uri": tracking_uri} if tracking_uri else {}))


def _key_values(text: str, option: str, example: str) -> dict[str, Any]:
    """``"f=linear,k=3"`` -> ``{"f": "linear", "k": 3}`` (numbers and true/false are parsed); a pair that
    is not KEY=VALUE is refused, naming ``option`` and an ``example``."""
    from scalemix.optimize.spec import read_pairs

    if not text.strip():
        raise FitError(f"{option} {text!r} is not KEY=VALUE (e.g. {option} {example})")
    return {key: _scalar(value) for key, value in read_pairs(text, option, example, FitError).items()}


def _scalar(text: str) -> Any:
    """``"true"`` -> True, ``"3"`` -> 3, ``"1e10"`` -> 1e10; other text as it is."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _points(at: Sequence[str]) -> list[dict[str, Any]]:
    """The ``--at`` query points (each ``params=1e10,tokens=2e11,w.de=0.5``) as dicts."""
    return [_key_values(point, "--at", "params=1e10,tokens=2e11") for point in at]


def _numbers(text: str | None, option: str) -> list[float] | None:
    """``"1e8,1e9"`` -> ``[1e8, 1e9]``; ``None`` (option not given) stays ``None``."""
    if text is None:
        return None
    try:
        return [float(value) for value in text.split(",")]
    except ValueError:
        raise OptimizeError(f"{option} {text!r} is not a comma-separated list of numbers like 1e8,1e9") from None


def _finite(least: float = 0.0, *, inclusive: bool = False) -> Callable[[float | None], float | None]:
    """A typer callback that refuses a number that is NaN, infinite or not above ``least`` (or at it, with
    ``inclusive``); ``main`` adds the value given to the one-line error."""
    rule = f"must be a finite number {'>=' if inclusive else '>'} {least:g}"

    def check(value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and (value >= least if inclusive else value > least)):
            raise typer.BadParameter(rule)
        return value

    return check


_POSITIVE = _finite()
_NON_NEGATIVE = _finite(inclusive=True)


def _shrinkage(text: str | None) -> float | str | None:
    """``--shrinkage``: ``cv`` or a finite number >= 0 (a typer callback, like :func:`_finite`)."""
    if text is None or text == "cv":
        return text
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter("must be cv or a finite number >= 0") from None
    return _NON_NEGATIVE(value)


def _warn(messages: Iterable[str]) -> None:
    """Print each warning as one line on stderr (stdout holds the results, or only JSON)."""
    for message in messages:
        typer.echo(f"warning: {' '.join(message.split())}", err=True)


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
    from scalemix import datasets, runs

    summary = runs.read(name).summary()
    info = {**datasets.info(name), "loss_unit": summary["loss_unit"], "rows": summary["rows"], "runs": summary["runs"],
            "targets": len(summary["targets"]), "domains": len(summary["domains"]), "notes": summary["notes"]}
    if as_json:
        _print_json(info)
        return
    rows = [(key, "\n".join(value) if isinstance(value, list) else str(value)) for key, value in info.items()]
    _print_table(("key", "value"), rows, header=False, width=None)


@app.command()
def inspect(
    source: _Source,
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (the run table's summary)."),
    tracking_uri: _TrackingUri = None,
) -> None:
    """Read run logs, validate them, and summarise: counts, ranges, rows set aside, notes."""
    table = _read_runs(source, tracking_uri)
    summary = table.summary()
    if as_json:
        _print_json(summary)
        return
    overview = [
        ("source", summary["source"]),
        ("rows", f"{summary['rows']} ({summary['runs']} runs)"),
        ("targets", f"{len(summary['targets'])}: {_names(summary['targets'])}"),
        ("domains", f"{len(summary['domains'])}: {_names(summary['domains'])}"),
        *((column, f"{low:.4g} to {high:.4g}{' ' + summary['loss_unit'] if column == 'loss' else ''}")
          for column, (low, high) in summary["ranges"].items()),
        ("rejected", f"{summary['rejected']['rows']} rows set aside"),
        ("fingerprint", summary["fingerprint"]),
    ]
    _print_table(("key", "value"), overview, header=False, width=None)
    if table.rejected.height:
        rejected = ([str(value) for value in row] for row in table.rejected.head(20).iter_rows())
        _print_table(table.rejected.columns, rejected, title="rows set aside (first 20)", width=None)
    console = _console()
    for note in summary["notes"]:
        console.print(f"note: {note}", highlight=False)


@app.command()
def sweep(
    config: str = typer.Argument(None, help="A sweep TOML file (or give --preset)."),
    preset: str = typer.Option(None, "--preset", help="A built-in sweep: cpu-tiny, cpu-demo, gpu-mnmt, proxy-mnmt, proxy-transfer."),
    out: str = typer.Option("runs.parquet", "--out", help="Run table to write (.parquet or .csv); finished runs in it are skipped."),
    executor: str = typer.Option("local", "--executor", help="'local' or 'ray' (Ray comes with the optional 'ray' extra)."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (default: start a local Ray)."),
    workers: int = typer.Option(None, "--workers", min=1, help="Local worker processes (default: one per core; 1 for vmapped GPU sweeps)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    log_to: str = typer.Option(None, "--log-to", help="mlflow:EXPERIMENT: log each run to MLflow as it finishes (one MLflow run per proxy run; the experiment is created if missing), and skip the runs the experiment holds as FINISHED, their rows coming back into --out."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="For --log-to, the MLflow tracking server or store (default: MLFLOW_TRACKING_URI)."),
) -> None:
    """Train small proxy language models on mixtures and write one run-table row per (run, target)."""
    from scalemix.proxy.sweep import sweep_command

    table = sweep_command(config, preset, out, executor, address, workers, progress, log_to, tracking_uri)
    typer.echo(f"wrote {out}: {table.height} rows")


_EXTRAPOLATION = typer.Option(True, "--extrapolation/--no-extrapolation", help="Predictive intervals with the fit's extrapolation term (the default), or parameters and noise only (today's intervals).")

_METHOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "point": ("seed", "delta", "shrinkage"),
    "bootstrap": ("seed", "delta", "n_boot", "shrinkage"),
    "nuts": ("seed", "chains", "draws", "warmup", "hierarchical", "shrink_domains", "likelihood", "init"),
    "svi": ("seed", "steps", "draws", "learning_rate", "hierarchical", "shrink_domains", "likelihood", "init"),
}
"""The options of ``scalemix fit`` that each method (``scalemix.fit.METHODS``) takes, as keyword arguments."""
_SHOWS_PROGRESS = ("point", "bootstrap", "nuts", "svi")
"""Methods that take ``progress`` (a bar on stderr)."""


def _fit_help(name: str, text: str) -> str:
    """The help of fit option ``name``: ``text`` and the methods that take it (from :data:`_METHOD_OPTIONS`)."""
    takers = [method for method, names in _METHOD_OPTIONS.items() if name in names]
    return f"{text} Methods: {', '.join(takers)}."


def _method_options(method: str, given: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments for fit ``method``: the options the user gave (``None``, not given, leaves the
    method's own default), ``progress`` for methods with a bar, and a one-line error naming any option the
    method does not take."""
    if method not in _METHOD_OPTIONS:
        raise FitError(f"unknown fit method {method!r}; choose one of {', '.join(_METHOD_OPTIONS)}")
    options = {name: value for name, value in given.items() if value is not None}
    refused = [name for name in options if name not in _METHOD_OPTIONS[method]]
    if refused:
        flags = ", ".join("--" + name.replace("_", "-") for name in refused)
        raise FitError(f"fit method {method!r} does not take {flags}; leave it out or choose another --method")
    if method in _SHOWS_PROGRESS:
        options["progress"] = sys.stderr.isatty()  # a bar on a terminal (stderr), never in --json stdout or logs
    return options


@app.command()
def fit(
    source: _Source,
    law: str = typer.Option(..., "--law", help="Law name (chinchilla, power, multilingual, mixing, ...), or several, comma separated (chinchilla,kaplan), to stack them by their backtest scores."),
    out: str = typer.Option(..., "--out", help="Directory to save the fit in (fit.json + draws.npz; a stack: stack.json + one directory per law)."),
    target: list[str] = typer.Option(None, "--target", help="Fit only this target (repeat for several)."),
    method: str = typer.Option("point", "--method", help=f"Fit method: {', '.join(_METHOD_OPTIONS)}."),
    seed: int = typer.Option(None, "--seed", min=0, help=_fit_help("seed", "Random seed (starts, resamples, chains; default 0).")),
    n_boot: int = typer.Option(None, "--n-boot", min=1, help=_fit_help("n_boot", "Bootstrap resamples (default 200).")),
    delta: float = typer.Option(None, "--delta", callback=_POSITIVE, help=_fit_help("delta", "Huber delta on log-loss residuals (default 1e-3).")),
    shrinkage: str = typer.Option(None, "--shrinkage", callback=_shrinkage, help=_fit_help("shrinkage", "Ridge strength pulling per-domain coefficients to their prior (many domains, few runs), or cv to choose it by 5-fold cross-validation over runs (default 0).")),
    chains: int = typer.Option(None, "--chains", min=1, help=_fit_help("chains", "MCMC chains (default 4).")),
    draws: int = typer.Option(None, "--draws", min=1, help=_fit_help("draws", "Posterior draws: per chain (nuts), from the fitted guide (svi) (default 1000).")),
    warmup: int = typer.Option(None, "--warmup", min=0, help=_fit_help("warmup", "MCMC warm-up iterations per chain (default 1000).")),
    hierarchical: bool = typer.Option(None, "--hierarchical/--no-hierarchical", help=_fit_help("hierarchical", "Partial pooling of per-target parameters across targets (default off).")),
    shrink_domains: bool = typer.Option(None, "--shrink-domains/--no-shrink-domains", help=_fit_help("shrink_domains", "A prior scale learned per target for the per-domain coefficients (many domains, few runs; default off).")),
    likelihood: str = typer.Option(None, "--likelihood", help=_fit_help("likelihood", "Observation noise on log loss: student (Student-t) or normal (default student).")),
    steps: int = typer.Option(None, "--steps", min=1, help=_fit_help("steps", "Adam steps on the ELBO (default 3000).")),
    learning_rate: float = typer.Option(None, "--learning-rate", callback=_POSITIVE, help=_fit_help("learning_rate", "Adam learning rate (default 0.01).")),
    init: str = typer.Option(None, "--init", help=_fit_help("init", "Where the chains or the guide start: point (the point fit) or prior (the prior medians) (default point).")),
    extrapolation: bool = typer.Option(True, "--extrapolation/--no-extrapolation", help="Learn the law's error beyond the fitted scales by a backtest on the runs, so that predictive intervals widen with the distance a query extrapolates (--no-extrapolation: parameters and noise only, as before)."),
    law_option: list[str] = typer.Option(None, "--law-option", help="KEY=VALUE option of the law (e.g. f=linear; repeat for several)."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (law, method, objective, params, diagnostics)."),
    tracking_uri: _TrackingUri = None,
) -> None:
    """Fit a law to run logs and save it; prints the parameters (median and 95% interval)."""
    from scalemix import laws
    from scalemix.fit import fit as fit_runs

    options = _method_options(method, {
        "seed": seed, "delta": delta, "n_boot": n_boot, "shrinkage": shrinkage, "chains": chains, "draws": draws,
        "warmup": warmup, "hierarchical": hierarchical, "shrink_domains": shrink_domains, "likelihood": likelihood, "steps": steps, "learning_rate": learning_rate, "init": init,
    })
    names = _law_names(law)
    if law_option and len(names) > 1:
        raise FitError(f"--law-option applies to one law; fit {', '.join(names)} without it, or stack laws registered with their options")
    table = _read_runs(source, tracking_uri)
    if target:
        table = table.select(targets=target)
    chosen = [laws.get(name, **(_key_values(",".join(law_option), "--law-option", "f=linear") if law_option else {})) for name in names]
    with warnings.catch_warnings():  # the fit's warnings are printed below, once, from its diagnostics
        warnings.simplefilter("ignore", UserWarning)
        result = fit_runs(table, chosen[0] if len(chosen) == 1 else chosen, method=method, extrapolation=extrapolation, **options)
    result.save(out)
    summary = {**result.to_dict(), "rows_rejected": table.rejected.height, "saved": out}
    _warn(result.diagnostics.get("warnings", []))
    if as_json:
        _print_json(summary)
    elif len(chosen) == 1:
        _print_fit(summary)
    else:
        _print_stack(result, summary)


def _law_names(text: str) -> list[str]:
    """``--law chinchilla,kaplan`` -> ``["chinchilla", "kaplan"]``; an empty or repeated name is refused."""
    names = [name.strip() for name in text.split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise FitError(f"--law {text!r}: give a law name, or distinct names separated by commas (e.g. chinchilla,kaplan)")
    return names


def _print_stack(stack, summary: dict[str, Any]) -> None:
    """The text output of ``scalemix fit --law a,b``: the stacking weights, then each law's fit."""
    console = _console()
    console.print(f"stack of {', '.join(stack.laws)}: {stack.diagnostics['stacking']}", highlight=False)
    _print_table(stack.summary().columns, stack.summary().iter_rows())
    for folder, fit_summary in zip(stack.save_folders(), summary["fits"]):
        console.print("", highlight=False)
        _print_fit({**fit_summary, "rows_rejected": summary["rows_rejected"], "saved": str(Path(summary["saved"]) / folder)})


def _print_fit(summary: dict[str, Any]) -> None:
    """The text output of ``scalemix fit``: whether the point fit converged (first, where it did not), what
    was fitted, how well, the parameter table. Its warnings go to stderr (:func:`_warn`)."""
    diagnostics = summary["diagnostics"]
    point = diagnostics.get("point", diagnostics)
    console = _console()
    stalled = [name for name, group in point.get("groups", {}).items() if not group["converged"]]
    if stalled:
        console.print(f"NOT CONVERGED for {_names(stalled)}: the point fit's best start stopped before converging, so "
                      "the numbers below may still move (warnings on stderr)", highlight=False, soft_wrap=True)
    console.print(f"{summary['law']} ({summary['formula']}), method {summary['method']}, {summary['draws']} draw(s)", highlight=False)
    facts = [f"objective {summary['objective']:.7g}" if summary["objective"] is not None else ""]
    if "starts" in point:
        facts.append(f"{point['starts_in_best_basin']} of {point['starts']} starts in the best basin")
    facts.append(f"{point.get('rows', '?')} rows fitted, {point.get('rows_set_aside', 0)} set aside, {summary['rows_rejected']} rejected when read")
    console.print("; ".join(f for f in facts if f), highlight=False)
    for reason in point.get("set_aside_reasons", []):
        console.print(f"set aside: {reason}", highlight=False)
    if "extrapolation" in diagnostics:
        console.print(f"extrapolation term: {diagnostics['extrapolation']}", highlight=False)
    if "shrinkage" in diagnostics:
        console.print(f"shrinkage: {diagnostics['shrinkage']}", highlight=False)
    columns = ("parameter", "median", "q025", "q975")
    rows = ((name, *(values.get(k) for k in columns[1:])) for name, values in summary["params"].items())
    _print_table(columns, rows, width=None)
    console.print(f"saved to {summary['saved']}", highlight=False)


@app.command()
def predict(
    fit_dir: _FitDir,
    at: list[str] = typer.Option(None, "--at", help="A query point, e.g. params=1e10,tokens=2e11,w.de=0.5,w.fr=0.5 (repeat for several)."),
    grid: str = typer.Option(None, "--grid", help="A .csv/.parquet/.jsonl file of query points, one per row."),
    target: list[str] = typer.Option(None, "--target", help="Predict only this target (default: every target of the fit)."),
    levels: str = typer.Option("0.5,0.9", "--levels", help="Central interval levels, comma separated, each between 0 and 1."),
    extrapolation: bool = _EXTRAPOLATION,
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (one object per point and target)."),
) -> None:
    """Predict the loss at new sizes, token budgets or mixtures, with intervals over the fit's draws.

    Mixture domains a point leaves out weigh 0. lo/hi: the law's (parameter) uncertainty; pred_lo/pred_hi
    add the observation noise of a single run and the law's own error at the point's distance beyond the
    fitted range (beyond_* columns, in decades; beyond_evidence: farther than the fit's backtest saw)."""
    import polars as pl

    from scalemix import intervals
    from scalemix.stack import load

    wanted = intervals.parse(levels, "--levels")
    result = load(fit_dir)
    query = _query_points(at or [], grid, result.targets, result.coords.get("domain", ()))
    if target:
        unknown = [t for t in target if t not in result.targets]
        if unknown:
            raise FitError(f"--target {unknown[0]!r} is not a target of this fit; it knows {_names(result.targets)}")
        if "target" in query.columns:
            raise FitError("the query points name their targets (column 'target'); leave out --target, or the column")
        query = query.join(pl.DataFrame({"target": list(target)}), how="cross")
    frame = result.predict(query, levels=wanted, extrapolation=extrapolation)
    far = int(frame["beyond_evidence"].sum()) if "beyond_evidence" in frame.columns else 0
    if far:
        _warn([f"{far} row(s) lie beyond where the fit's backtest has evidence (beyond_evidence): "
               "read their intervals as a trend extended, not as measured"])
    if as_json:
        _print_json(frame.to_dicts())
        return
    _print_table(frame.columns, frame.iter_rows())


def _query_points(at: list[str], grid: str | None, targets: tuple[str, ...], domains: tuple[str, ...]):
    """The query points of ``--at`` and/or a ``--grid`` file, each checked as a run table's row would be
    (:func:`scalemix.predictor.check_points`: inputs only, positive finite counts, weights on the simplex);
    the ``w.<domain>`` columns a point leaves out weigh 0."""
    import polars as pl

    frames = []
    if at:
        frames.append(_checked_points(pl.DataFrame(_points(at), infer_schema_length=None), "--at", "point", targets, domains))
    if grid:
        frames.append(_checked_points(_read_grid(grid), f"--grid {grid}", "row", targets, domains))
    if not frames:
        raise FitError("give the query points: --at params=1e10,tokens=2e11 (repeatable) or --grid FILE")
    return pl.concat(frames, how="diagonal_relaxed")


def _checked_points(frame, origin: str, row: str, targets: tuple[str, ...], domains: tuple[str, ...]):
    """``frame``'s points, with 0 for each weight they leave out (when they give any), checked (one line
    naming ``origin``, the ``row`` and the column at fault)."""
    import polars as pl

    from scalemix.predictor import check_points

    given = [c for c in frame.columns if c.startswith("w.")]
    if given:
        frame = frame.with_columns(pl.col(given).fill_null(0.0)).with_columns(
            pl.lit(0.0).alias(f"w.{d}") for d in domains if f"w.{d}" not in given
        )
    return check_points(frame, targets, domains, origin=origin, row=row, inputs_only=True)


def _read_grid(path: str):
    """The query points in a ``--grid`` file, read by the run reader (.csv, .parquet, .jsonl, .ndjson)."""
    from scalemix.runs import TABLE_SUFFIXES, read_file

    if Path(path).suffix.lower() not in TABLE_SUFFIXES:
        raise FitError(f"--grid {path}: use a .csv, .parquet or .jsonl file of query points")
    return read_file(path, ())


@app.command()
def evaluate(
    fit_dir: _FitDir,
    on: str = typer.Option(..., "--on", help="Held-out runs: a dataset name, a .csv/.parquet/.jsonl file, a .toml spec, or a tracking source (mlflow:EXPERIMENT, ...)."),
    levels: str = typer.Option("0.5,0.9", "--levels", help="Predictive-interval levels whose coverage to report, each between 0 and 1."),
    extrapolation: bool = _EXTRAPOLATION,
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (overall and per-target metrics)."),
    tracking_uri: _TrackingUri = None,
) -> None:
    """Score a fit on runs it never saw: MAE, RMSE, MRE, R^2, Spearman, Pearson, interval coverage and
    width, interval score and CRPS (log loss), and regret@1 for mixtures (true loss of the predicted-best
    run minus the best)."""
    from scalemix import intervals
    from scalemix.evaluate import evaluate as score
    from scalemix.stack import load

    wanted = intervals.parse(levels, "--levels")
    result = load(fit_dir)
    table = _read_runs(on, tracking_uri)
    known = [t for t in table.targets if t in result.targets]
    if not known:
        raise FitError(f"{on} has none of this fit's targets ({_names(result.targets)}); it has {_names(table.targets)}")
    scored = table.select(targets=known)
    scores = score(result, scored, levels=wanted, extrapolation=extrapolation)
    scores["in_sample"] = result.provenance.get("data", {}).get("fingerprint") in (table.fingerprint(), scored.fingerprint())
    if as_json:
        _print_json(scores)
        return
    console = _console(_WIDE)
    console.print(f"{scores['rows']} rows scored, {scores['rows_set_aside']} set aside", highlight=False)
    if scores["in_sample"]:
        console.print("note: these are the runs the fit was fitted on; the scores are in-sample", highlight=False)
    columns = list(scores["overall"])
    rows = ((name, *(str(values[c]) if c == "rows" else values.get(c) for c in columns))
            for name, values in [("(all)", scores["overall"]), *scores["targets"].items()])
    _print_table(("target", *columns), rows)


@app.command()
def backtest(
    source: _Source,
    law: str = typer.Option(..., "--law", help="Law name (chinchilla, power, multilingual, mixing, ...), or several, comma separated, to backtest their stack."),
    by: str = typer.Option("compute", "--by", help="The scale to cut along: compute (6 N D), params or tokens."),
    cuts: int = typer.Option(5, "--cuts", min=1, help="Rolling-origin cuts, at the runs' 0.5 to 0.9 quantiles of --by."),
    method: str = typer.Option("point", "--method", help="Fit method at each cut: point or bootstrap (nuts, svi: slow)."),
    n_boot: int = typer.Option(None, "--n-boot", min=1, help="Bootstrap resamples at each cut (default 200)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed."),
    extrapolation: bool = typer.Option(True, "--extrapolation/--no-extrapolation", help="Fit each cut with the extrapolation term learned from its own training runs (the default), or without (today's intervals)."),
    out: str = typer.Option(None, "--out", help="Write every held-out prediction to this .csv or .parquet file."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (one record per distance bin)."),
    tracking_uri: _TrackingUri = None,
) -> None:
    """How far can I trust this law on my runs? Fit below each cut along --by, predict the runs above,
    and score them by distance beyond the fitted range: coverage at 50/80/95%, interval score, CRPS, MRE."""
    from scalemix.evaluate import backtest as run_backtest, summarize

    options = _method_options(method, {"n_boot": n_boot})
    options.pop("progress", None)
    names = _law_names(law)
    rows = run_backtest(_read_runs(source, tracking_uri), names[0] if len(names) == 1 else names, by=by, cuts=cuts, method=method, seed=seed, extrapolation=extrapolation, **options)
    if out:
        rows.write_parquet(out) if out.endswith(".parquet") else rows.write_csv(out)
    table = summarize(rows)
    if as_json:
        _print_json(table.to_dicts())
        return
    _console().print(f"{law}, {method}, {rows['cut'].n_unique()} cuts along {by}: {rows.height} held-out predictions; "
                     f"distance = decades of {by} beyond each cut's fitted range", highlight=False)
    shown = ["distance", "rows", "mean_distance", "coverage50", "coverage80", "coverage95", "interval_score", "crps", "mre"]
    _print_table(shown, table.select(shown).iter_rows())


@app.command()
def report(
    fit_dir: _FitDir,
    out: str = typer.Option("report.html", "--out", help="HTML file to write; the JSON summary goes beside it (.json)."),
    runs_source: str = typer.Option(None, "--runs", help="The runs the fit was made on (default: the source it recorded)."),
    at: list[str] = typer.Option(None, "--at", help="A scale to predict at, e.g. params=1e10,tokens=2e11 (repeat for several; default 10x the largest run; weights left out weigh 0, as in predict)."),
    optimize: bool = typer.Option(True, "--optimize/--no-optimize", help="Optimal mixture at the first --at scale (laws that depend on the mixture)."),
    rounds: str = typer.Option(None, "--rounds", help="The round log of `scalemix loop` (RUNS.rounds.jsonl): the goal's uncertainty round by round."),
) -> None:
    """Write a self-contained HTML report on a fit (data, curves with bands, parameters, diagnostics,
    predictions, optimal mixture, a closed loop's rounds, provenance) and its JSON summary."""
    from scalemix.fitresult import Fit
    from scalemix.report import build_report, default_at, optimal_mixture, runs_for

    result = Fit.load(fit_dir)
    table = runs_for(result, runs_source)
    points = _points(at) if at else [default_at(table)]
    optimum = optimal_mixture(result, table, points[0]) if optimize else None
    command = " ".join(["scalemix report", fit_dir, "--out", out, *(["--runs", runs_source] if runs_source else []),
                        *(f"--at {point}" for point in at or []), *(["--rounds", rounds] if rounds else [])])
    path = build_report(result, out, runs=table, at=points, optimum=optimum, command=command, rounds=rounds)
    typer.echo(f"wrote {path} and {path.with_suffix('.json')}")


@app.command()
def demo(
    out: str = typer.Option("scalemix-demo", "--out", help="Folder for the runs, the saved fit and report.html."),
    quick: bool = typer.Option(False, "--quick", help="A 12-resample bootstrap instead of NUTS on the same targets: a first look in about half a minute."),
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


_CONSTRAINTS_PANEL = "Constraints"


def _constraints(
    minimum: list[str] = typer.Option(None, "--min", rich_help_panel=_CONSTRAINTS_PANEL,
                                      help="Lower bound, w.DOMAIN=WEIGHT (repeat)."),
    maximum: list[str] = typer.Option(None, "--max", rich_help_panel=_CONSTRAINTS_PANEL,
                                      help="Upper bound, w.DOMAIN=WEIGHT (repeat; 0 fixes a domain to zero)."),
    cap_from: str = typer.Option(None, "--cap-from", rich_help_panel=_CONSTRAINTS_PANEL,
                                 help="JSON/TOML file of available tokens per domain (and max_epochs): caps w_d <= tokens_d * epochs / --tokens."),
    max_epochs: float = typer.Option(None, "--max-epochs", rich_help_panel=_CONSTRAINTS_PANEL, callback=_POSITIVE,
                                     help="Passes allowed over each domain's data, with --cap-from (default: the caps file's, else 1; no cap for a "
                                          "law that prices repetition itself, e.g. transfer)."),
    kl_to: str = typer.Option(None, "--kl-to", rich_help_panel=_CONSTRAINTS_PANEL,
                              help="Prior mixture (DOMAIN=WEIGHT,... or a JSON/TOML file) for the --kl penalty."),
    kl: float = typer.Option(0.0, "--kl", rich_help_panel=_CONSTRAINTS_PANEL, callback=_NON_NEGATIVE, help="Strength of the KL(w || prior) penalty."),
) -> dict[str, Any]:
    """The mixture constraints as keyword arguments of ``scalemix.optimize.optimize`` and ``front``. Its
    parameters are the constraint options, declared here once for the commands :func:`_with_constraints` gives
    them to."""
    from scalemix.optimize.spec import read_caps, read_mapping

    options: dict[str, Any] = {"minimum": read_mapping(",".join(minimum or []), "--min"),
                               "maximum": read_mapping(",".join(maximum or []), "--max")}
    if cap_from:
        options["available_tokens"], epochs = read_caps(cap_from)
        if max_epochs is not None or epochs:
            options["max_epochs"] = max_epochs if max_epochs is not None else epochs
    if kl:
        options.update(kl=kl, kl_to=read_mapping(kl_to or "", "--kl-to"))
    return options


def _with_constraints(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with the options of :func:`_constraints` in place of its keyword-only ``constraints``
    parameter, which it then receives parsed (typer reads the options from the signature set here)."""
    shared = signature(_constraints, eval_str=True).parameters

    @functools.wraps(command)
    def with_constraints(**given: Any) -> None:
        chosen = {name: given.pop(name) for name in shared}
        command(**given, constraints=_constraints(**chosen))

    own = signature(command, eval_str=True)
    kept = [parameter for name, parameter in own.parameters.items() if name != "constraints"]
    with_constraints.__signature__ = own.replace(parameters=[*kept, *shared.values()])
    return with_constraints


@app.command()
@_with_constraints
def optimize(
    fit_dir: _FitDir,
    params: float = typer.Option(None, "--params", callback=_POSITIVE, help="Model size N to plan for (laws that read it)."),
    tokens: float = typer.Option(None, "--tokens", callback=_POSITIVE, help="Token budget D to plan for (laws that read it; repetition caps)."),
    objective: str = typer.Option("mean", "--objective", help="mean, max (worst target) or a TARGET to minimise alone."),
    target_weights: str = typer.Option(None, "--target-weights", help="TARGET=WEIGHT,... for mean/max (default: all, uniform)."),
    ceiling: list[str] = typer.Option(None, "--ceiling", help="TARGET=LOSS: keep that target's expected loss at or below LOSS (repeat)."),
    baseline: str = typer.Option(None, "--baseline", help="Mixture to beat: DOMAIN=WEIGHT,..., a JSON/TOML file, 'nearest' (the training mixture nearest the optimum) or 'uniform' (over the domains the runs trained on, or all of the fit's)."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (weights, expected, predicted, baseline, p_beats_baseline)."),
    *,
    constraints: dict[str, Any],
) -> None:
    """Optimal training mixture over the fit's draws: per-domain median and 90% interval of the optimum,
    the mixture minimising the expected objective, its predicted losses, and P(beats --baseline)."""
    from scalemix.fitresult import Fit
    from scalemix.optimize import optimize as solve
    from scalemix.optimize.spec import read_mapping

    result = Fit.load(fit_dir)
    settings = dict(
        params=params, tokens=tokens, objective=objective,
        target_weights=read_mapping(target_weights, "--target-weights") if target_weights else None,
        ceilings=read_mapping(",".join(ceiling), "--ceiling") if ceiling else None, **constraints,
    )
    if baseline == "nearest":
        base = _nearest_training_mixture(result, solve(result, **settings).to_dict()["expected"]["weights"])
    elif baseline == "uniform":
        trained = _trained_domains(result)
        base = {d: 1.0 / len(trained) for d in trained}
    else:
        base = read_mapping(baseline, "--baseline") if baseline else None
    optimum = solve(result, baseline=base, **settings)
    payload = {**optimum.to_dict(), "baseline": base}
    if as_json:
        _print_json(payload)
        return
    columns = ("domain", "expected", "median", "q05", "q95")
    weights = ((row["domain"], *(f"{row[k]:.4f}" for k in columns[1:])) for row in optimum.weights().iter_rows(named=True))
    _print_table(columns, weights, title="optimal weights")
    columns = ("target", "mean", "q05", "q95", "pred_q05", "pred_q95")
    losses = ((target, *(values[k] for k in columns[1:])) for target, values in payload["predicted"].items())
    _print_table(columns, losses, title="predicted loss at the expected mixture")
    expected = payload["expected"]["objective"]
    console = _console(_WIDE)
    console.print(f"objective ({payload['settings']['objective']}): {expected['mean']:.6g} "
                  f"[{expected['q05']:.6g}, {expected['q95']:.6g}] over {payload['draws']} draw(s)", highlight=False)
    if payload["heuristics"]:
        rows = ((name, ", ".join(f"{d}={w:.3f}" for d, w in h["weights"].items()), h["objective"]["mean"], h["p_optimum_beats"])
                for name, h in payload["heuristics"].items())
        _print_table(("rule", "weights", "objective", "P(optimum beats it)"), rows, title="sampling rules on the same inventory")
    if payload["p_beats_baseline"] is not None:
        shown = ", ".join(f"{d}={w:.3g}" for d, w in base.items() if w > 0)
        console.print(f"P(beats baseline {baseline if baseline in ('nearest', 'uniform') else ''} {shown}) = "
                      f"{payload['p_beats_baseline']:.3f}", highlight=False)


@app.command()
@_with_constraints
def suggest(
    fit_dir: _FitDir,
    candidates: str = typer.Option(..., "--candidates", help="The runs you could train: a .csv/.parquet/.jsonl table (params, tokens, w.DOMAIN, optional cost) or a .toml spec (params, tokens, [mixtures] design)."),
    goal: str = typer.Option("predict", "--goal", help="predict (the loss at --at), optimum (the optimal mixture at the --at scale), information (the law as a whole) or discriminate (between the laws of a stacked fit)."),
    at: list[str] = typer.Option(None, "--at", help="predict: a point, e.g. params=1e10,tokens=2e11,w.de=0.5 (repeat); optimum: the scale, params=1e9,tokens=2e10."),
    grid: str = typer.Option(None, "--grid", help="predict: a .csv/.parquet/.jsonl file of points (e.g. the mixtures you will rank)."),
    target: list[str] = typer.Option(None, "--target", help="predict: only this target's loss (repeat; default: every target)."),
    batch: int = typer.Option(8, "--batch", min=1, help="Runs to suggest."),
    budget: float = typer.Option(None, "--budget", callback=_POSITIVE, help="Total cost the batch may spend (FLOPs = 6 N D unless the candidates give a cost column)."),
    objective: str = typer.Option("mean", "--objective", help="optimum: mean, max (worst target) or a TARGET to minimise alone."),
    target_weights: str = typer.Option(None, "--target-weights", help="optimum: TARGET=WEIGHT,... for mean/max (default: all, uniform)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the normal scores behind the optimum goal's expectation."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (suggestions: params, tokens, w.DOMAIN, cost, gain)."),
    *,
    constraints: dict[str, Any],
) -> None:
    """Which runs to train next: the candidates whose outcome is expected to sharpen the goal most per unit
    cost, over the fit's draws (fit by bootstrap or NUTS), as a batch picked greedily."""
    from scalemix.active import suggest as choose
    from scalemix.optimize.spec import read_mapping
    from scalemix.stack import load

    result = load(fit_dir)
    if goal == "predict":
        point = _query_points(at or [], grid, result.targets, result.coords.get("domain", ()))
    else:
        point = _points(at or [])[0] if at else {}
    suggestions = choose(result, candidates, goal=goal, at=point, targets=target or None, batch=batch, budget=budget,
                         seed=seed, objective=objective,
                         target_weights=read_mapping(target_weights, "--target-weights") if target_weights else None,
                         **(constraints if goal == "optimum" else {}))
    payload = suggestions.to_dict()
    if as_json:
        _print_json(payload)
        return
    picks = suggestions.picks
    _print_table(picks.columns, ([_number(v) for v in row] for row in picks.iter_rows()), title=f"next runs (goal {goal})")
    console = _console(_WIDE)
    console.print(f"uncertainty now: {payload['uncertainty']:.4g}; batch cost {payload['cost']:.4g} "
                  f"({payload['cost_unit']}); {picks.height} of {payload['settings']['candidates']} candidates", highlight=False)


@app.command()
def loop(
    config: str = typer.Argument(None, help="A sweep TOML file (or give --preset): its design is trained first, its cohorts' sizes and domains make the candidates."),
    preset: str = typer.Option(None, "--preset", help="A built-in sweep: cpu-tiny, cpu-demo, gpu-mnmt, proxy-mnmt, proxy-transfer."),
    law: str = typer.Option(..., "--law", help="The law fitted (by bootstrap) each round."),
    law_option: list[str] = typer.Option(None, "--law-option", help="KEY=VALUE option of the law (e.g. f=linear; repeat)."),
    goal: str = typer.Option("optimum", "--goal", help="optimum (the optimal mixture at the --at scale), predict (the loss at --at) or information (the law as a whole)."),
    at: str = typer.Option(None, "--at", help="optimum: the scale, params=1e6; predict: the point, params=1e6,w.de=0.5,w.en=0.5."),
    budget: float = typer.Option(..., "--budget", callback=_POSITIVE, help="Training FLOPs the loop's own runs may spend (the config's design is not counted)."),
    batch: int = typer.Option(4, "--batch", min=1, help="Runs per round."),
    rounds: int = typer.Option(10, "--rounds", min=1, help="Most rounds."),
    pool: int = typer.Option(64, "--pool", min=1, help="Candidate mixtures per cohort (Dirichlet), each at every size of the cohort."),
    alpha: float = typer.Option(1.0, "--alpha", callback=_POSITIVE, help="Dirichlet concentration of the candidate mixtures."),
    n_boot: int = typer.Option(64, "--n-boot", min=2, help="Bootstrap resamples of each round's fit."),
    threshold: float = typer.Option(None, "--threshold", callback=_POSITIVE, help="Stop once the goal's uncertainty is at most this."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the candidate mixtures, resamples and scores."),
    out: str = typer.Option("runs.parquet", "--out", help="Run table (.parquet or .csv); runs in it are not trained again. The round log goes beside it (<out>.rounds.jsonl)."),
    executor: str = typer.Option("local", "--executor", help="'local' or 'ray', as for `scalemix sweep`."),
    address: str = typer.Option(None, "--address", help="Ray cluster address (default: start a local Ray)."),
    workers: int = typer.Option(None, "--workers", min=1, help="Local worker processes (default: one per core)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show the training progress bars."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (the round records)."),
) -> None:
    """The closed proxy loop: train the sweep's design, then fit -> suggest -> train the suggestions, round by
    round, until the budget is spent or the goal's uncertainty falls to --threshold."""
    from scalemix import laws
    from scalemix.active.loop import loop as run_loop
    from scalemix.proxy.sweep import executor_for, load_config

    if (config is None) == (preset is None):
        raise SuggestError("give exactly one of CONFIG.toml or --preset NAME")
    chosen = laws.get(law, **(_key_values(",".join(law_option), "--law-option", "f=linear") if law_option else {}))
    settings = load_config(config, preset)
    point = _key_values(at, "--at", "params=1e6") if at else None
    say = (lambda _: None) if as_json else (lambda line: typer.echo(line, err=True))
    records = run_loop(settings, out, executor_for(settings, executor, workers, address), law=chosen,
                       goal=goal, at=point, budget=budget, batch=batch, rounds=rounds, pool=pool, alpha=alpha, n_boot=n_boot,
                       threshold=threshold, seed=seed, progress=progress and not as_json, say=say)
    _warn(dict.fromkeys(w for r in records for w in r.get("warnings", [])))
    if as_json:
        _print_json(records)
        return
    rows = ((str(r["round"]), r["runs"], _number(r["uncertainty"]), len(r.get("picks", [])),
             _number(r.get("cost", 0.0))) for r in records)
    _print_table(("round", "runs", "goal uncertainty", "picks", "FLOPs"), rows, title=f"loop ({goal}); stopped: {records[-1]['stopped']}")


def _training_mixtures(fit) -> tuple[tuple[str, ...], Any]:
    """The fit's domains and the distinct mixtures its runs trained on (``[runs, domains]``)."""
    fitted = fit.fitted_range
    if fitted is None or fitted.mixtures is None:
        raise OptimizeError("this fit recorded no training mixtures (its law does not read the mixture); give --baseline DOMAIN=WEIGHT,...")
    return fitted.domains, fitted.mixtures


def _trained_domains(fit) -> list[str]:
    """The domains some training run gave weight to (every domain of a fit that recorded no mixtures)."""
    if fit.fitted_range is None or fit.fitted_range.mixtures is None:
        return list(fit.coords.get("domain", ()))
    domains, mixtures = _training_mixtures(fit)
    return [d for d, most in zip(domains, mixtures.max(axis=0)) if most > 0]


def _nearest_training_mixture(fit, weights: dict[str, float]) -> dict[str, float]:
    """The training mixture nearest (total variation) to ``weights``: a mixture already run, whose loss a
    reader can check, rather than one no run trained."""
    import numpy as np

    domains, mixtures = _training_mixtures(fit)
    distance = 0.5 * np.abs(mixtures - np.array([weights.get(d, 0.0) for d in domains])).sum(axis=1)
    return dict(zip(domains, mixtures[int(np.argmin(distance))].tolist()))


@app.command()
@_with_constraints
def front(
    fit_dir: _FitDir,
    targets: str = typer.Option(..., "--targets", help="Two or more targets, comma-separated (a,b)."),
    params: str = typer.Option(None, "--params", help="Model size(s), comma-separated: one front per size."),
    tokens: str = typer.Option(None, "--tokens", help="Token budget(s), one or one per size."),
    points: int = typer.Option(11, "--points", min=2, help="Target weightings per edge of the front."),
    out: str = typer.Option(None, "--out", help="Write the front to this .csv or .parquet file."),
    as_json: bool = typer.Option(False, "--json", help="Print only JSON (one record per front point and target)."),
    *,
    constraints: dict[str, Any],
) -> None:
    """Trade-off (Pareto) front between targets with 90% credible bands, one per model size."""
    from scalemix import intervals
    from scalemix.fitresult import Fit
    from scalemix.optimize import front as trace

    table = trace(Fit.load(fit_dir), targets.split(","), params=_numbers(params, "--params"),
                  tokens=_numbers(tokens, "--tokens"), points=points, **constraints)
    if out:
        table.write_parquet(out) if out.endswith(".parquet") else table.write_csv(out)
    if as_json:
        _print_json(table.to_dicts())
        return
    shown = ["params", "point", "target", "mean", *intervals.columns(0.9), *[c for c in table.columns if c.startswith("w.")][:6]]
    _print_table(shown, table.select(shown).iter_rows())


@app.command()
def compare(
    fits: list[str] = typer.Argument(..., help="Two or more saved Bayesian fits (directories from `scalemix fit --method nuts|svi --out`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Rank laws fitted to the same runs by PSIS-LOO (expected log predictive density; higher is better)."""
    from scalemix import diagnostics
    from scalemix.evaluate import compare as compare_fits
    from scalemix.fitresult import Fit

    table = compare_fits({path: Fit.load(path) for path in fits})
    if as_json:
        _print_json(table.to_dicts())
        return
    _print_table(table.columns, table.iter_rows())
    _warn(diagnostics.loo_warning(row["model"], row["pareto_k_bad"])
          for row in table.filter(table["pareto_k_bad"] > 0).iter_rows(named=True))


@app.command()
def transfer(
    fit_dir: _FitDir,
    at: str = typer.Option(None, "--at", help="The run to read roles and monolingual tokens at, e.g. params=1e8,tokens=2e9,w.en=0.5,w.de=0.5 "
                                              "(default: the middle of the fitted sizes and budgets, equal weights)."),
    epochs: str = typer.Option("1,2,4,8,16", "--epochs", help="Passes over repeated data to price, comma separated."),
    added: float = typer.Option(0.1, "--added", callback=_finite(inclusive=False), help="Extra tokens of one language, as a share of --at's tokens, that the roles are read from."),
    tolerance: float = typer.Option(0.005, "--tolerance", callback=_finite(inclusive=True), help="Relative loss drop that counts as help in the roles."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: the run read at and the four tables."),
) -> None:
    """Read a transfer fit: who learns from whom (tau_ij, with 90% intervals), each language's role
    (reciprocal / altruistic / selfish / stagnant, with probabilities), the monolingual tokens the --at run
    is worth per language, and what repeated data is worth (effective epochs)."""
    import polars as pl

    from scalemix import derived
    from scalemix.fitresult import Fit

    fit = Fit.load(fit_dir)
    matrix = derived.transfer_matrix(fit, levels=(0.9,))
    point = _points([at])[0] if at else _middle_run(fit)
    point = {**{f"w.{d}": 0.0 for d in fit.coords["domain"]}, **point}
    _checked_points(pl.DataFrame([point]), "--at", "point", fit.targets, fit.coords["domain"])
    tables = {
        "transfer": matrix,
        "roles": derived.language_roles(fit, point, added=added, tolerance=tolerance),
        "monolingual": derived.monolingual_tokens(fit, point, levels=(0.9,)),
        "repetition": derived.repetition_worth(fit, _numbers(epochs, "--epochs"), levels=(0.9,)),
    }
    if as_json:
        _print_json({"at": point, **{name: table.to_dicts() for name, table in tables.items()}})
        return
    _print_table(["target", "source", "tau", "lo90", "hi90", "P(tau>0)"],
                 tables["transfer"].select("target", "source", "median", "lo90", "hi90", "p_positive").iter_rows(),
                 title="transfer: one token of source is worth tau tokens of target")
    roles = tables["roles"]
    _print_table(["language", "role", "self gain", "others gain", *(f"P({r})" for r in derived.ROLES)],
                 roles.select("language", "role", "self_gain_median", "others_gain_median", *(f"p_{r}" for r in derived.ROLES)).iter_rows(),
                 title=f"roles: {added:g} x tokens more of one language ({', '.join(f'{k}={_number(v)}' for k, v in point.items())})")
    mono = tables["monolingual"].pivot(on="quantity", index="target", values="median")
    _print_table(["target", "monolingual tokens", "worth (x own tokens)"], mono.select("target", "tokens_monolingual", "worth").iter_rows(),
                 title="estimated monolingual tokens of the run (medians)")
    _print_table(["epochs", "target", "effective epochs", "lo90", "hi90"],
                 tables["repetition"].select("epochs", "target", "median", "lo90", "hi90").iter_rows(), title="repeated data")


def _middle_run(fit) -> dict[str, float]:
    """The geometric middle of the fitted sizes and budgets, with equal weights on the domains that are targets."""
    if fit.fitted_range is None:
        raise FitError("this fit does not record the sizes and budgets it was fitted on: give the run to read at (--at)")
    middle = {axis: 10 ** (sum(fit.fitted_range.log10[axis]) / 2) for axis in ("params", "tokens")}
    languages = [d for d in fit.coords["domain"] if d in fit.targets] or list(fit.coords["domain"])
    return {**middle, **{f"w.{d}": 1.0 / len(languages) for d in languages}}


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


def _usage_line(error: typer.TyperException, args: Sequence[str]) -> str:
    """Click's usage error (a bad option value, an unknown option, a missing argument) as one line: its
    message, the value the command line gave the option at fault, and where to read the usage."""
    message = error.format_message()
    param = getattr(error, "param", None)
    value = None if param is None else _given(args, [name for name in param.opts if name.startswith("-")])
    if value is not None:
        message = f"{message}; got {value!r}"
    context = getattr(error, "ctx", None)
    return message if context is None else f"{message} (see '{context.command_path} --help')"


def _given(args: Sequence[str], names: Sequence[str]) -> str | None:
    """The value ``args`` give the option called ``names`` (its last ``NAME VALUE`` or ``NAME=VALUE``), or None."""
    found = None
    for arg, following in zip(args, [*args[1:], None]):
        for name in names:
            if arg == name:
                found = following
            elif arg.startswith(f"{name}="):
                found = arg[len(name) + 1:]
    return found


def _refuse(message: str) -> NoReturn:
    """Print ``message`` as the one line ``scalemix: error: ...`` on stderr and exit with code 2."""
    print(f"scalemix: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run ``app``, turning a ScalemixError or OSError, and click's usage errors
    (a bad option value, an unknown option, a missing argument), into one line and exit code 2. Without
    arguments it shows the help."""
    _keep_compiled_programs()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        status = app(args=args or ["--help"], prog_name="scalemix", standalone_mode=False)
    except (ScalemixError, OSError) as error:
        if "--debug" in args:
            raise
        _refuse(str(error))
    except typer.TyperException as error:  # click's usage errors, raised as they are outside standalone mode
        _refuse(_usage_line(error, args))
    sys.exit(status if isinstance(status, int) else 0)
