"""The ``scalemix`` command line.

Adding a command: write a plain function decorated ``@app.command()`` below, import heavy modules (polars,
jax, ...) inside it so ``scalemix --help`` stays fast, and raise a ``ScalemixError`` for anything the user
can fix. ``main()`` at the bottom -- the console-script entry point -- turns such errors (and OSError)
into one line on stderr and exit code 2; the global ``--debug`` flag shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
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

    info = datasets.info(name)
    if as_json:
        _print_json(info)
        return
    table = Table(show_header=False, box=None)
    for key, value in info.items():
        table.add_row(key, "\n".join(value) if isinstance(value, list) else str(value))
    Console().print(table)


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
    console = Console()
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


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run ``app``, turning a ScalemixError or OSError into one line, exit code 2."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        app(args=args, prog_name="scalemix")
    except (ScalemixError, OSError) as error:
        if "--debug" in args:
            raise
        message = " ".join(str(error).split())
        print(f"scalemix: error: {message}", file=sys.stderr)
        sys.exit(2)
