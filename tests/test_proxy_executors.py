"""proxy/executors.py: where sweep jobs run: the executor by name, in order inline, and the Ray executor
giving the inline executor's rows (on the session's ``swept`` sweep). Ray is in the test extra, so its
test runs everywhere the suite runs, and fails where Ray is missing."""

import sys

import numpy as np
import psutil
import pytest

from scalemix.errors import ScalemixError
from scalemix.proxy import executors, sweep


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # Ray starts its processes while JAX runs
def test_ray_executor_on_a_local_ray(swept, tmp_path):
    """Starts a one-CPU local Ray (about 15 s on a quiet 2-core machine): the same rows as the inline
    executor, and every process Ray started (GCS, raylet, workers, agents) is gone after shutdown."""
    import ray

    config, _, table, _ = swept
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        got = sweep.run_sweep(config, tmp_path / "ray.parquet", executors.RayExecutor(), progress=False, say=lambda m: None)
        started = {p: p.name() for p in me.children(recursive=True) if p.pid not in before}
    finally:
        ray.shutdown()
    _, alive = psutil.wait_procs(list(started), timeout=30)
    assert "raylet" in started.values(), f"Ray started no raylet under this process: {sorted(started.values())}"
    assert not alive, f"Ray processes left running after shutdown: {[started[p] for p in alive]}"
    np.testing.assert_allclose(got.sort(["run_id", "target"])["loss"], table.sort(["run_id", "target"])["loss"], rtol=1e-4)


def _square(job):
    return job * job


def test_make_picks_the_executor_and_inline_runs_in_order():
    inline = executors.make("local", workers=1)
    assert isinstance(inline, executors.InlineExecutor)
    assert list(inline.run(_square, [3, 1, 2])) == [(3, 9), (1, 1), (2, 4)]
    assert len(executors.make("local", workers=3).cores) == 3  # no process starts until run()
    with pytest.raises(ScalemixError, match="--workers 0 must be >= 1"):
        executors.ProcessExecutor(0)
    with pytest.raises(ScalemixError, match="--executor 'slurm' is not known"):
        executors.make("slurm")


def test_ray_without_the_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(ScalemixError, match=r"needs Ray: pip install 'scalemix\[ray\]'"):
        executors.RayExecutor()
