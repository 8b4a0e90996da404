"""Sweeps: a TOML config (or a built-in preset) -> planned runs -> executed jobs -> a run table.

A config names a corpus, model and training defaults, and one or more ``[[cohort]]`` tables, each a
task (mode + domains), model sizes, seeds and a mixture design::

    name = "example"
    [corpus]                # source = catalogs | synthetic | dir | tsv  (see tasks.open_corpus)
    source = "catalogs"
    fallback = "synthetic"  # used, with a message, when the catalogs are not installed
    [model]                 # n_layers, seq_len, d_head
    n_layers = 2
    [train]                 # any TrainConfig field: steps, batch_size, lr_scale, schedule, ...
    steps = 4096
    [[cohort]]
    name = "en-x"
    mode = "translation"
    domains = ["en-de", "en-fr"]
    d_model = [32, 64]
    seeds = [0]
    mixture = { design = "grid", p = [0.0, 0.5, 1.0] }

In mode ``lm`` a domain ``"<lang>_clone"`` is a cloned language (``lang``'s text in bytes of its own,
:mod:`scalemix.proxy.tokens`), and a cohort's ``unique = { de = 200000 }`` caps a domain's unique
training tokens so the budget repeats them (:func:`scalemix.proxy.tasks.cap_unique`). A cohort's ``steps``
or ``batch_size`` replaces the ``[train]`` value for its runs (half the tokens by half the steps, or by half
the batch at the same steps). Every row records
``unique.<domain>`` (the unique training tokens the domain offered, capped or not) and ``epochs.<domain>``
(``w.<domain> * tokens / unique.<domain>``, the expected passes over them). A catalogs corpus reads the
languages the cohorts need, or those ``[corpus] langs`` lists (so that every cohort's English, the
msgids translated into any of them, is the same text).

Each run is keyed by a content hash of (model config, data fingerprint, mixture, seed, training
config); a sweep writing to an existing table skips the runs it already holds, so a killed sweep
resumes. Rows follow the run-table format: one per (run, target) with ``w.<domain>`` weights. A sweep
may also log each run to MLflow and resume from what the experiment holds (:mod:`scalemix.proxy.tracking`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
import tomllib
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl

from scalemix.errors import ScalemixError
from scalemix.runs import read_file
from scalemix.proxy import corpus as corpus_mod
from scalemix.proxy import executors
from scalemix.proxy import mixtures
from scalemix.proxy.model import GPTConfig, count_params, flops_per_token
from scalemix.proxy import tasks
from scalemix.proxy.tasks import TaskSpec
from scalemix.proxy.train import TrainConfig

_TOP_KEYS = {"name", "description", "corpus", "model", "train", "cohort", "group_size"}
_COHORT_TRAIN_KEYS = ("steps", "batch_size")
"""``[train]`` values a cohort may replace for its own runs."""
_COHORT_KEYS = {"name", "mode", "domains", "d_model", "n_layers", "seeds", "mixture", "heldout_frac", "disjoint_sources", "unique",
                *_COHORT_TRAIN_KEYS}
_MODEL_KEYS = {"n_layers", "seq_len", "d_head"}
_TRAIN_KEYS = set(TrainConfig.__dataclass_fields__)


@dataclass(frozen=True)
class Run:
    """One training run: what it trains on and how, plus its content hash ``run_id``."""

    run_id: str
    cohort: str
    task: TaskSpec
    model: GPTConfig
    train: TrainConfig
    weights: tuple[float, ...]
    seed: int


@dataclass(frozen=True)
class Job:
    """Runs that train together as one vmapped program (same task, model and training config), with
    the task arrays prepared at planning time (``data_path``, whose content hash is ``data_fingerprint``)
    and the corpus spec to rebuild them on a machine without that file (a Ray cluster)."""

    corpus: dict
    data_path: str
    data_fingerprint: str
    runs: tuple[Run, ...]


def _presets():
    return resources.files("scalemix.proxy") / "presets"


def preset_names() -> list[str]:
    """Built-in sweep configs (``scalemix/proxy/presets/<name>.toml``)."""
    return sorted(p.name[:-5] for p in _presets().iterdir() if p.name.endswith(".toml"))


def load_config(path=None, preset: str | None = None) -> dict:
    """Read and validate a sweep config from a TOML file or a built-in preset (by name)."""
    if preset is not None:
        if preset not in preset_names():
            raise ScalemixError(f"--preset {preset!r} is not known; choose one of {preset_names()}")
        text, where = (_presets() / f"{preset}.toml").read_text(), f"preset {preset}"
    else:
        path = Path(path)
        if not path.is_file():
            raise ScalemixError(f"sweep config {str(path)!r} does not exist; give a TOML file or --preset NAME")
        text, where = path.read_text(), str(path)
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScalemixError(f"{where}: not valid TOML ({e})") from None
    _validate(config, where)
    config["_where"] = where
    return config


def _check_keys(table: dict, allowed: set, where: str):
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ScalemixError(f"{where}: unknown key {unknown[0]!r} (value {table[unknown[0]]!r}); allowed keys are {sorted(allowed)}")


def _check_type(value, expected: type, key: str, where: str):
    ok = isinstance(value, expected) and not isinstance(value, bool)
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ScalemixError(f"{where}: {key} = {value!r} must be a{'n' if expected is int else ''} {expected.__name__}")


def _check_list(value, expected: type, key: str, where: str):
    if not isinstance(value, list) or not value:
        raise ScalemixError(f"{where}: {key} = {value!r} must be a non-empty list")
    for v in value:
        _check_type(v, expected, key, where)


def _validate(config: dict, where: str):
    _check_keys(config, _TOP_KEYS, where)
    _check_keys(config.get("model", {}), _MODEL_KEYS, f"{where} [model]")
    _check_keys(config.get("train", {}), _TRAIN_KEYS, f"{where} [train]")
    for key, value in config.get("model", {}).items():
        _check_type(value, int, key, f"{where} [model]")
    for key, value in config.get("train", {}).items():
        default = TrainConfig.__dataclass_fields__[key].default
        _check_type(value, float if default is None else type(default), key, f"{where} [train]")
    cohorts = config.get("cohort", [])
    if not cohorts:
        raise ScalemixError(f"{where}: no [[cohort]] tables; add one with mode, domains, d_model, seeds and mixture")
    for i, c in enumerate(cohorts):
        at = f"{where} cohort {c.get('name', i)!r}"
        _check_keys(c, _COHORT_KEYS, at)
        for key in ("domains", "d_model", "mixture"):
            if key not in c:
                raise ScalemixError(f"{at}: missing key {key!r}")
        _check_list(c["domains"], str, "domains", at)
        _check_list(c["d_model"], int, "d_model", at)
        _check_list(c.get("seeds", [0]), int, "seeds", at)
        for key in _COHORT_TRAIN_KEYS:
            if key in c:
                _check_type(c[key], int, key, at)
        _check_unique(c.get("unique", {}), c["domains"], at)


def _check_unique(unique, domains: list, where: str):
    """``unique`` must map domains of the cohort to positive whole numbers of tokens."""
    if not isinstance(unique, dict):
        raise ScalemixError(f"{where}: unique = {unique!r} must be a table of domain = tokens, e.g. unique = {{ de = 200000 }}")
    for domain, cap in unique.items():
        if domain not in domains:
            raise ScalemixError(f"{where}: unique names {domain!r}, which is not one of the cohort's domains {domains}")
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
            raise ScalemixError(f"{where}: unique.{domain} = {cap!r} must be a positive whole number of tokens, e.g. 200000")


def _resolve_corpus(config: dict, langs: list[str], say) -> dict:
    """The corpus spec of a cohort reading ``langs``: for catalogs, those languages or ``[corpus] langs``
    when the config lists them (which must include ``langs``)."""
    spec = dict(config.get("corpus", {"source": "synthetic"}))
    fallback = spec.pop("fallback", None)
    if spec.get("source") == "catalogs":
        listed = spec.get("langs")
        if listed is not None:
            if not isinstance(listed, list) or not all(isinstance(x, str) for x in listed):
                raise ScalemixError(f"{config['_where']} [corpus]: langs = {listed!r} must be a list of language codes")
            missing = sorted(set(langs) - set(listed) - {"en"})
            if missing:
                raise ScalemixError(
                    f"{config['_where']} [corpus]: langs = {listed} lacks {missing}, which a cohort trains on; add them"
                )
            langs = sorted(set(listed) | set(langs))
        needed = sorted(set(langs) - {"en"})
        if not corpus_mod.catalogs_available(needed, spec.get("root", corpus_mod.CATALOG_ROOT)):
            if fallback != "synthetic":
                raise ScalemixError(
                    f"{config['_where']}: no gettext catalogs installed for {needed}; install them or set corpus.fallback = 'synthetic'"
                )
            say(f"no gettext catalogs installed for {needed}: using the synthetic corpus instead")
            return {"source": "synthetic", "langs": sorted(set(langs))}
        spec["langs"] = needed
    return spec


def run_id(task_fingerprint: str, model: GPTConfig, train: TrainConfig, weights, seed: int) -> str:
    """Content hash of everything that determines a run's numbers."""
    payload = {
        "data": task_fingerprint,
        "model": asdict(model),
        "train": asdict(train),
        "weights": [round(float(w), 9) for w in weights],
        "seed": int(seed),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def plan(config: dict, say=print) -> list[Job]:
    """All jobs of a sweep (task arrays are built or loaded from the cache to fingerprint the data).

    Jobs keep the cohorts' order and, within a cohort, go from the smallest model up, so a sweep that
    is stopped early holds complete designs at the sizes it reached (list one cohort per size, as the
    ``proxy-mnmt`` preset does, to finish every cohort's small sizes before anyone's large ones).
    """
    model_defaults = {"n_layers": 2, "seq_len": 128, "d_head": 16} | config.get("model", {})
    group = int(config.get("group_size", 1))
    jobs, opened, loaded = [], {}, {}  # corpora by spec, uncapped task arrays by file: cohorts share them
    for c in config["cohort"]:
        try:
            task = TaskSpec(
                c.get("mode", "translation"), tuple(c["domains"]), model_defaults["seq_len"],
                c.get("heldout_frac", 0.05), c.get("disjoint_sources", True), tuple(sorted(c.get("unique", {}).items())),
            )
        except ScalemixError as e:
            raise ScalemixError(f"{config.get('_where', 'sweep config')} cohort {c.get('name', 'cohort')!r}: {e}") from None
        corpus_spec = _resolve_corpus(config, task.sources, say)
        try:
            source = json.dumps(corpus_spec, sort_keys=True)
            if source not in opened:
                opened[source] = tasks.open_corpus(corpus_spec)
            data_path = tasks.prepare(task, corpus_spec, opened[source])
            if data_path not in loaded:
                loaded[data_path] = tasks.load(data_path, replace(task, unique=()))
            data = tasks.cap_unique(replace(loaded[data_path], spec=task), task.unique)
        except ScalemixError as e:
            raise ScalemixError(f"{config.get('_where', 'sweep config')} cohort {c.get('name', 'cohort')!r}: {e}") from None
        train = TrainConfig(**(config.get("train", {}) | {k: c[k] for k in _COHORT_TRAIN_KEYS if k in c}))
        weights = mixtures.design(task.domains, c["mixture"])
        for d in sorted(c["d_model"]):
            model = GPTConfig(data.vocab.size, int(d), int(c.get("n_layers", model_defaults["n_layers"])),
                              model_defaults["seq_len"], model_defaults["d_head"])
            runs = [
                Run(run_id(data.fingerprint, model, train, w, s), c.get("name", "cohort"), task, model, train,
                    tuple(float(x) for x in w), int(s))
                for s in c.get("seeds", [0]) for w in weights
            ]
            jobs += [
                Job(corpus_spec, str(data_path), data.fingerprint, tuple(runs[i : i + group]))
                for i in range(0, len(runs), group)
            ]
    return jobs


@dataclass(frozen=True)
class Trained:
    """What a job returns: its runs' run-table rows, and each run's training-loss curve as
    ``(step, loss)`` pairs, by run id."""

    rows: list[dict]
    curves: dict[str, tuple[tuple[int, float], ...]]


@functools.lru_cache(maxsize=2)
def _load(path: str, task: TaskSpec) -> tasks.TaskData:
    """:func:`tasks.load`, kept for the next job of a worker: jobs come in plan order, so consecutive jobs
    mostly share a task, and reading a multilingual task's arrays (~150 MB) takes seconds."""
    return tasks.load(path, task)


def execute(job: Job) -> Trained:
    """Train one job's runs together and return their rows and curves (runs in a worker process)."""
    import jax

    from scalemix import __version__
    from scalemix.proxy.train import train_group

    first = job.runs[0]
    path = job.data_path if Path(job.data_path).exists() else tasks.prepare(first.task, job.corpus)
    data = _load(str(path), first.task)
    if data.fingerprint != job.data_fingerprint:
        raise ScalemixError(
            f"the corpus {job.corpus} changed since the sweep was planned (data {data.fingerprint}, planned "
            f"{job.data_fingerprint}); re-run the sweep to plan it on the current corpus"
        )
    t0 = time.perf_counter()
    result = train_group(first.model, first.train, data, np.array([r.weights for r in job.runs]), [r.seed for r in job.runs])
    wall = time.perf_counter() - t0
    counts = count_params(first.model)
    tokens = float(first.train.steps * first.train.batch_size * first.model.seq_len)
    dev = jax.devices()[0]
    device = f"{dev.platform}:{getattr(dev, 'device_kind', '')} ({platform.node() or 'host'})"
    every = first.train.steps // result.curve.shape[1]  # steps per curve point: train_group records max(1, steps // 64)
    unique = tasks.unique_tokens(data)
    rows, curves = [], {}
    for r, run in enumerate(job.runs):
        curves[run.run_id] = tuple(((i + 1) * every, float(loss)) for i, loss in enumerate(result.curve[r]))
        for k, target in enumerate(run.task.domains):
            rows.append(
                {
                    "run_id": run.run_id, "params": float(counts["non_embedding"]), "tokens": tokens,
                    "seed": run.seed, "target": target, "loss": float(result.loss[r, k]),
                    **{f"w.{dom}": float(w) for dom, w in zip(run.task.domains, run.weights)},
                    **{f"unique.{dom}": float(u) for dom, u in zip(run.task.domains, unique)},
                    **{f"epochs.{dom}": float(w) * tokens / float(u) for dom, w, u in zip(run.task.domains, run.weights, unique)},
                    "cohort": run.cohort, "mode": run.task.mode,
                    "bits_per_source_byte": float(result.bits_per_en_byte[r, k]),
                    "train_loss": float(result.train_loss[r]), "target_bytes": float(result.target_bytes[r]),
                    "embedding_params": float(counts["embedding"]), "vocab_size": run.model.vocab_size,
                    "d_model": run.model.d_model, "n_layers": run.model.n_layers, "seq_len": run.model.seq_len,
                    "steps": run.train.steps, "batch_size": run.train.batch_size,
                    "lr": run.train.peak_lr(run.model.d_model), "schedule": run.train.schedule,
                    "flops": flops_per_token(run.model) * tokens, "wall_s": wall / len(job.runs),
                    "group_size": len(job.runs), "device": device, "scalemix_version": __version__,
                    "data_fingerprint": data.fingerprint, "corpus_fingerprint": data.corpus_fingerprint,
                }
            )
    return Trained(rows, curves)


def read_table(path: Path) -> pl.DataFrame | None:
    """An existing run table (Parquet, or CSV by suffix), or None."""
    path = Path(path)
    if not path.exists():
        return None
    return read_file(path)


def to_frame(rows: list[dict]) -> pl.DataFrame:
    """Rows from several cohorts as one frame: weight columns a cohort lacks are 0 (it never trained there).
    Columns: the run-table head, the weights by domain, then the others by name (whatever order the rows'
    keys came in, so rows rebuilt from MLflow give the same frame)."""
    frame = pl.concat([pl.DataFrame([r]) for r in rows], how="diagonal_relaxed")
    wcols = [c for c in frame.columns if c.startswith("w.")]
    head = ["run_id", "params", "tokens", "seed", "target", "loss"]
    rest = [c for c in frame.columns if c not in head and c not in wcols]
    return frame.with_columns(pl.col(wcols).fill_null(0.0)).select(head + sorted(wcols) + sorted(rest))


def _in_plan_order(rows: list[dict], position: dict[str, int]) -> pl.DataFrame:
    """``rows`` as a frame, runs in plan order (``position``: run id -> index), after rows of runs not planned."""
    return to_frame(sorted(rows, key=lambda row: position.get(row["run_id"], -1)))


def _write(frame: pl.DataFrame, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.write_csv(tmp) if path.suffix == ".csv" else frame.write_parquet(tmp)
    os.replace(tmp, path)


def run_sweep(config: dict, out, executor, progress: bool = True, say=print, log=None) -> pl.DataFrame:
    """Plan the sweep, skip runs already in ``out``, execute the rest and add their rows to ``out`` after
    every job (so a killed sweep loses at most the jobs in flight). Returns the whole table, its rows in
    plan order (after any rows of runs the plan lacks), whichever order the jobs finished in.

    With ``log`` (a :class:`scalemix.proxy.tracking.MlflowLog`), each run is also logged to MLflow after
    its rows are written, and the runs the experiment holds as FINISHED are not trained again: their rows
    come back into ``out`` (:meth:`~scalemix.proxy.tracking.MlflowLog.resume`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    out = Path(out)
    existing = read_table(out)
    rows = existing.to_dicts() if existing is not None else []
    jobs = plan(config, say)
    planned = [r for j in jobs for r in j.runs]
    position = {r.run_id: i for i, r in enumerate(planned)}
    in_table = {row["run_id"] for row in rows} & set(position)
    recovered = log.resume(planned, rows, str(out), say) if log is not None else []
    if recovered:
        rows += recovered
        _write(_in_plan_order(rows, position), out)
    done_ids = {row["run_id"] for row in rows}
    todo = [replace(j, runs=tuple(r for r in j.runs if r.run_id not in done_ids)) for j in jobs]
    todo = [j for j in todo if j.runs]
    n_todo = sum(len(j.runs) for j in todo)
    from_log = f", {len({row['run_id'] for row in recovered})} from {log.where}" if log is not None else ""
    say(f"sweep {config.get('name', '')}: {len(planned)} runs, {len(in_table)} already in {out}{from_log}, {n_todo} to train")
    tokens_done, t0 = 0.0, time.perf_counter()
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("training", total=n_todo, rate="")
        for job, trained in executor.run(execute, todo):
            rows += trained.rows
            _write(_in_plan_order(rows, position), out)
            if log is not None:
                for run in job.runs:
                    log.log([row for row in trained.rows if row["run_id"] == run.run_id], trained.curves[run.run_id])
            tokens_done += sum(r.train.steps * r.train.batch_size * r.model.seq_len for r in job.runs)
            rate = tokens_done / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, advance=len(job.runs), rate=f"{rate:,.0f} tok/s")
    return _in_plan_order(rows, position) if rows else pl.DataFrame()


def sweep_command(config=None, preset=None, out="runs.parquet", executor="local", address=None,
                  workers: int | None = None, progress: bool = True, log_to: str | None = None,
                  tracking_uri: str | None = None) -> pl.DataFrame:
    """What ``scalemix sweep`` does: load a config or preset, pick an executor, run, write ``out``, and
    with ``log_to="mlflow:EXPERIMENT"`` log each run to MLflow at ``tracking_uri`` (else
    ``MLFLOW_TRACKING_URI``) and resume from what the experiment holds.

    ``workers``: see :func:`executor_for` (at most 2 jobs' worth of small models per core is no faster).
    """
    from scalemix.proxy import tracking

    if (config is None) == (preset is None):
        raise ScalemixError("give exactly one of CONFIG.toml or --preset NAME (presets: " + ", ".join(preset_names()) + ")")
    if tracking_uri is not None and log_to is None:
        raise ScalemixError(f"--tracking-uri {tracking_uri} is where --log-to mlflow:EXPERIMENT logs; add --log-to or drop --tracking-uri")
    cfg = load_config(config, preset)
    log = tracking.MlflowLog(log_to, tracking_uri, cfg.get("name", "")) if log_to is not None else None
    return run_sweep(cfg, out, executor_for(cfg, executor, workers, address), progress=progress, log=log)


def executor_for(config: dict, kind: str = "local", workers: int | None = None, address: str | None = None):
    """The executor a sweep of ``config`` runs on: ``kind`` ``local`` or ``ray``; ``workers`` defaults to one
    process per available core for local CPU sweeps, and to this process for a config with ``group_size > 1``
    (vmapped runs, for an accelerator)."""
    if workers is None:
        workers = 1 if int(config.get("group_size", 1)) > 1 else len(os.sched_getaffinity(0))
    return executors.make(kind, workers, address)
