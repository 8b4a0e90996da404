"""Reading an MLflow experiment: ``scalemix.sources.read("mlflow:EXP")`` against ``mlflow.search_runs``.

    python benchmarks/bench_mlflow.py            # 10,000 runs
    python benchmarks/bench_mlflow.py --quick    # 1,000 runs

Logs N real runs through MLflow's client (``create_run`` and one ``log_batch`` per run: 7 params, a tag and
3 validation losses at 3 steps) into a sqlite store, kept under the temp folder for the next invocation (keyed
by N; ``--rebuild`` logs them again). Then it times scalemix's read (the raw table, a polars frame) and
``mlflow.search_runs(experiment_names=[EXP])`` (the same runs, a pandas frame) on that store, best of
``--repeat``, the two taking turns in this process. The last line is the ratio of their times.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

from scalemix import sources

EXPERIMENT = "bench"
DOMAINS = ("code", "books", "web", "wiki", "math")
TARGETS = ("code", "books", "web")
STEPS = (1000, 2000, 3000)
SCRATCH = Path("/dev/shm")  # where there is one, the runs are logged in memory (no fsync per commit), then moved


def store(count: int, rebuild: bool) -> str:
    """The sqlite tracking URI of a store holding ``count`` runs in experiment EXPERIMENT (built if needed)."""
    folder = Path(tempfile.gettempdir()) / "scalemix-bench-mlflow" / f"runs-{count}"
    database = folder / "mlflow.db"
    if rebuild:
        shutil.rmtree(folder, ignore_errors=True)
    if not database.exists():
        with tempfile.TemporaryDirectory(dir=SCRATCH if SCRATCH.is_dir() else None) as building:
            started = time.perf_counter()
            log_runs(f"sqlite:///{Path(building) / 'mlflow.db'}", count)
            folder.mkdir(parents=True, exist_ok=True)
            shutil.move(Path(building) / "mlflow.db", database)
        print(f"logged {count:,} runs in {time.perf_counter() - started:.0f} s into {database}")
    return f"sqlite:///{database}"


def log_runs(uri: str, count: int) -> None:
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment(EXPERIMENT)
    for i in range(count):
        n_params = 10 ** (6 + i % 4)
        weights = [(1 + (i * (k + 3)) % 7) for k in range(len(DOMAINS))]
        params = [Param("n_params", str(n_params)), Param("tokens", str(20 * n_params))]
        params += [Param(f"mix.{d}", str(w / sum(weights))) for d, w in zip(DOMAINS, weights)]
        metrics = [Metric(f"val/{t}_loss", 2.0 + 4.0 / (1 + step / 1000) + 0.01 * k + 1e-5 * i, i, step)
                   for step in STEPS for k, t in enumerate(TARGETS)]
        run = client.create_run(experiment_id, run_name=f"run-{i:05d}", tags={"sweep": "bench"})
        client.log_batch(run.info.run_id, metrics=metrics, params=params)


def best_seconds(calls: dict[str, Callable[[], Any]], repeat: int) -> dict[str, tuple[float, Any]]:
    """Name -> (the fastest of ``repeat`` calls, what the last returned); the calls take turns, so that a
    change in the machine's load falls on each of them alike."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    results = {}
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            results[name] = call()
            times[name].append(time.perf_counter() - started)
    return {name: (min(times[name]), results[name]) for name in calls}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 runs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="log the runs again instead of reusing the store")
    args = parser.parse_args()
    count = 1_000 if args.quick else args.runs
    uri = store(count, args.rebuild)
    mlflow.set_tracking_uri(uri)
    timed = best_seconds({
        f'scalemix.sources.read("mlflow:{EXPERIMENT}")': lambda: sources.read(f"mlflow:{EXPERIMENT}", tracking_uri=uri),
        "mlflow.search_runs(experiment_names=[...])": lambda: mlflow.search_runs(experiment_names=[EXPERIMENT]),
    }, args.repeat)
    (ours, frame), (theirs, pandas_frame) = timed.values()
    assert frame.height == len(pandas_frame) == count, (frame.height, len(pandas_frame), count)
    print(f"{count:,} runs in {uri}; best of {args.repeat}, taking turns")
    head = f"{'reader':<44} {'seconds':>8} {'runs/s':>9} {'columns':>8}"
    print(head)
    print("-" * len(head))
    for name, (seconds, table) in timed.items():
        print(f"{name:<44} {seconds:>8.3f} {count / seconds:>9,.0f} {table.shape[1]:>8}")
    print(f"mlflow read / search_runs: {ours / theirs:.2f}x")


if __name__ == "__main__":
    main()
