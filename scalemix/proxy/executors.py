"""Where sweep jobs run: in this process, in pinned single-threaded worker processes, or on Ray.

An executor takes picklable jobs and a module-level function ``fn(job) -> result`` and yields
``(job, result)`` pairs as jobs finish (in any order). Nothing here imports JAX: worker processes must
set their XLA flags before JAX is first imported.

On a 2-core machine two single-threaded workers pinned one per core train about twice as many small
runs per second as one process using both cores (measured in the proxy pilot), hence
:class:`ProcessExecutor`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from scalemix.errors import ScalemixError

SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


class InlineExecutor:
    """Jobs one after another in this process (tests, GPUs, a single worker)."""

    def run(self, fn, jobs):
        for job in jobs:
            yield job, fn(job)


def _pin_worker(cores):
    core = cores.get()
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + SINGLE_THREAD_XLA).strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int):
    """End this worker once the sweep that started it is gone: a killed sweep (SIGKILL) cannot shut its pool
    down, and its workers would otherwise wait for jobs forever."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


class ProcessExecutor:
    """``workers`` spawned processes, each single-threaded and pinned to its own core (CPU only)."""

    def __init__(self, workers: int):
        available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        if workers < 1:
            raise ScalemixError(f"--workers {workers} must be >= 1")
        self.cores = [available[i % len(available)] for i in range(workers)]

    def run(self, fn, jobs):
        ctx = mp.get_context("spawn")
        cores = ctx.Queue()
        for c in self.cores:
            cores.put(c)
        with ProcessPoolExecutor(len(self.cores), mp_context=ctx, initializer=_pin_worker, initargs=(cores,)) as pool:
            pending = {pool.submit(fn, job): job for job in jobs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()


class RayExecutor:
    """Jobs as Ray tasks on a cluster (``address``, e.g. ``ray://head:10001`` or ``auto``) or, with
    ``address=None``, on a local Ray instance. Needs the optional extra: ``pip install scalemix[ray]``."""

    def __init__(self, address: str | None = None, num_cpus_per_job: float = 1.0, num_gpus_per_job: float = 0.0):
        try:
            import ray
        except ImportError:
            raise ScalemixError("--executor ray needs Ray: pip install 'scalemix[ray]'") from None
        self.ray = ray
        self.address = address
        self.resources = {"num_cpus": num_cpus_per_job, "num_gpus": num_gpus_per_job}

    def run(self, fn, jobs):
        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        remote = ray.remote(**self.resources)(fn)
        pending = {remote.remote(job): job for job in jobs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)


def make(kind: str, workers: int = 1, address: str | None = None):
    """An executor by name: 'local' (inline for one worker, pinned processes for more) or 'ray'."""
    if kind == "local":
        return InlineExecutor() if workers == 1 else ProcessExecutor(workers)
    if kind == "ray":
        return RayExecutor(address)
    raise ScalemixError(f"--executor {kind!r} is not known; use 'local' or 'ray'")
