"""Proxy-model throughput: training tokens/s per model size, sequential vs vmapped runs.

    python benchmarks/bench_proxy.py                   # CPU: sizes 32-96, groups 1 and 4
    python benchmarks/bench_proxy.py --groups 1 16 64  # GPU: vmapped runs of one size in one program

For each size it times the compiled training step (after one warm-up call, evaluation excluded) for a
single run and for groups of runs vmapped into one program (the peer: the same runs one after
another), and prints tokens/s, the ratio to the single run, model FLOP utilisation against
``--peak-tflops`` (training FLOPs from ``model.flops_per_token``), and how many runs of
``--run-steps`` steps fit in 10 minutes. Data: the synthetic corpus (throughput does not depend on
the text). Single-threaded CPU numbers: run with
``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" taskset -c 0``.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from scalemix.proxy import corpus, tasks, train
from scalemix.proxy.model import GPTConfig, count_params, flops_per_token

# dense TF32 / FP32-accumulate tensor-core peaks (TFLOP/s); CPUs have no meaningful default
PEAK_TFLOPS = {"H100": 494.7, "H200": 494.7, "A100": 156.0}


def time_group(model: GPTConfig, cfg: train.TrainConfig, data: tasks.TaskData, group: int, steps: int) -> float:
    """Seconds per training step of ``group`` runs (vmapped when ``group > 1``)."""
    init, step, _ = train._compiled(model, cfg, group > 1)
    keys = jax.random.split(jax.random.PRNGKey(0), group)
    params, opt = init(keys)
    w = jnp.full((group, len(data.domains)), 1.0 / len(data.domains))
    arrays = [jnp.asarray(a) for a in (data.train_tokens, data.train_mask, data.train_offsets, data.train_counts)]
    params, opt, loss, _ = step(params, opt, keys, w, 0, *arrays)  # compile
    loss.block_until_ready()
    t0 = time.perf_counter()
    for i in range(steps):
        params, opt, loss, _ = step(params, opt, keys, w, i + 1, *arrays)
    loss.block_until_ready()
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 48, 64, 96])
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--groups", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50, help="timed steps per measurement")
    ap.add_argument("--run-steps", type=int, default=2048, help="steps of one run, for 'runs per 10 min'")
    ap.add_argument("--peak-tflops", type=float, default=None)
    args = ap.parse_args()

    dev = jax.devices()[0]
    kind = getattr(dev, "device_kind", dev.platform)
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in kind), None)
    data = tasks.build(tasks.TaskSpec("translation", ("en-de", "en-fr"), seq_len=args.seq_len), corpus.synthetic())
    cfg = train.TrainConfig(steps=args.run_steps, batch_size=args.batch)
    print(f"device: {dev.platform} {kind}; batch {args.batch} x {args.seq_len} tokens per run and step; "
          f"{args.layers} layers; peak {peak or '-'} TFLOP/s")
    head = f"{'d':>4} {'N':>10} {'runs':>5} {'ms/step':>9} {'tokens/s':>12} {'vs 1 run':>9} {'MFU':>7} {'runs/10min':>11}"
    print(head)
    print("-" * len(head))
    for d in args.sizes:
        model = GPTConfig(data.vocab.size, d, args.layers, args.seq_len)
        base = None
        for g in args.groups:
            sec = time_group(model, cfg, data, g, args.steps)
            tps = g * args.batch * args.seq_len / sec
            base = base or tps
            mfu = f"{100 * tps * flops_per_token(model) / (peak * 1e12):.2f}%" if peak else "-"
            runs = int(600 / (sec * args.run_steps) * g)
            print(f"{d:>4} {count_params(model)['non_embedding']:>10,} {g:>5} {1e3 * sec:>9.2f} {tps:>12,.0f} "
                  f"{tps / base:>8.2f}x {mfu:>7} {runs:>11,}")


if __name__ == "__main__":
    main()
