"""Training and evaluation of proxy runs: mixture sampling, AdamW schedules, one compiled step per size.

A *group* of runs shares the model shape, the task arrays and the step count, and differs in mixture
weights and seeds; the whole group trains in one program whose parameters carry a leading run axis
(``jax.vmap``). On a CPU a group of one is fastest; on an accelerator a group of tens fills the device.
The compiled step is cached per ``(GPTConfig, TrainConfig, group size)`` and reused across mixtures.

Per step and run: each of the ``batch_size`` rows draws its domain ``k ~ Categorical(w)`` and then a
row of that domain uniformly; the loss is the mean over predicted (masked) bytes in the batch.
Evaluation reports, per domain, nats per predicted byte on the held-out rows, and bits per English
byte (total target bits / English bytes of the same segments), which cancels the byte premium of
non-Latin scripts when comparing directions.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax

from scalemix.errors import ScalemixError
from scalemix.proxy.model import GPTConfig, init_params, token_losses
from scalemix.proxy.tasks import TaskData


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and budget. ``lr=None`` means ``lr_scale / d_model`` (0.192/d was tuned at d 16-96 on
    catalog translation, L=2, T=128, batch 8). ``schedule``: 'cosine' (linear warmup, cosine to
    ``final_frac * lr``) or 'wsd' (warmup, stable, linear decay over the last ``decay_frac`` of steps)."""

    steps: int = 4096
    batch_size: int = 8
    lr: float | None = None
    lr_scale: float = 0.192
    schedule: str = "cosine"
    warmup_frac: float = 0.05
    final_frac: float = 0.1
    decay_frac: float = 0.2
    weight_decay: float = 0.1
    b2: float = 0.95
    clip_norm: float = 1.0

    def __post_init__(self):
        if self.schedule not in ("cosine", "wsd"):
            raise ScalemixError(f"train.schedule {self.schedule!r} is not known; use 'cosine' or 'wsd'")
        if self.steps < 1 or self.batch_size < 1:
            raise ScalemixError(f"train.steps ({self.steps}) and train.batch_size ({self.batch_size}) must be >= 1")

    def peak_lr(self, d_model: int) -> float:
        return self.lr if self.lr is not None else self.lr_scale / d_model


def schedule(cfg: TrainConfig, d_model: int) -> optax.Schedule:
    """Learning rate per step: warmup then cosine (to ``final_frac``) or warmup-stable-decay."""
    peak, warm = cfg.peak_lr(d_model), max(1, int(cfg.warmup_frac * cfg.steps))
    if cfg.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, peak, warm, cfg.steps, peak * cfg.final_frac)
    decay = max(1, int(cfg.decay_frac * cfg.steps))
    return optax.join_schedules(
        [
            optax.linear_schedule(0.0, peak, warm),
            optax.constant_schedule(peak),
            optax.linear_schedule(peak, peak * cfg.final_frac, decay),
        ],
        [warm, cfg.steps - decay],
    )


def optimizer(cfg: TrainConfig, d_model: int) -> optax.GradientTransformation:
    """Clipped AdamW; weight decay on matrices only (not biases, LayerNorm or nothing 1-D)."""
    decay_mask = lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)  # noqa: E731
    return optax.chain(
        optax.clip_by_global_norm(cfg.clip_norm),
        optax.adamw(schedule(cfg, d_model), b1=0.9, b2=cfg.b2, weight_decay=cfg.weight_decay, mask=decay_mask),
    )


def sample_rows(key, weights, offsets, counts, batch_size):
    """Row indices of one batch: domain ``k ~ Categorical(weights)`` per row, then a uniform row of it."""
    k_dom, k_row = jax.random.split(key)
    logw = jnp.where(weights > 0, jnp.log(jnp.maximum(weights, 1e-30)), -jnp.inf)
    dom = jax.random.categorical(k_dom, logw, shape=(batch_size,))
    u = jax.random.uniform(k_row, (batch_size,))
    return offsets[dom] + jnp.minimum((u * counts[dom]).astype(jnp.int32), counts[dom] - 1)


def _masked_mean_loss(params, rows, mask, model_cfg):
    losses = token_losses(params, rows, model_cfg)
    m = mask[:, 1:]
    return (losses * m).sum() / jnp.maximum(m.sum(), 1.0)


@functools.lru_cache(maxsize=16)
def _compiled(model_cfg: GPTConfig, train_cfg: TrainConfig, vmapped: bool):
    """(init, step, eval) jitted once per shape and reused across mixtures. With ``vmapped`` they map
    over a leading run axis; without, they take one run whose leading axis has size 1 (a CPU runs one
    model faster unbatched than as a batch of one)."""
    opt = optimizer(train_cfg, model_cfg.d_model)

    def init_one(key):
        params = init_params(key, model_cfg)
        return params, opt.init(params)

    def step_one(params, opt_state, key, weights, step, tokens, mask, offsets, counts):
        idx = sample_rows(jax.random.fold_in(key, step), weights, offsets, counts, train_cfg.batch_size)
        rows, m = tokens[idx], mask[idx]
        loss, grads = jax.value_and_grad(_masked_mean_loss)(params, rows, m, model_cfg)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, m[:, 1:].sum()

    def eval_one(params, rows, mask):
        return (token_losses(params, rows, model_cfg) * mask[:, 1:]).sum(-1)

    if vmapped:
        init, step = jax.vmap(init_one), jax.vmap(step_one, in_axes=(0, 0, 0, 0) + (None,) * 5)
        evaluate = jax.vmap(eval_one, in_axes=(0, None, None))
    else:
        init, step, evaluate = _squeezed(init_one), _squeezed(step_one, 4), _squeezed(eval_one, 1)
    return jax.jit(init), jax.jit(step, donate_argnums=(0, 1)), jax.jit(evaluate)


def _squeezed(fn, n_mapped: int | None = None):
    """``fn`` on the single run of a size-1 leading axis: drop it from the first ``n_mapped`` arguments
    (all when None) and add it back to every output."""

    def wrapped(*args):
        n = len(args) if n_mapped is None else n_mapped
        args = [jax.tree.map(lambda a: a[0], a) for a in args[:n]] + list(args[n:])
        return jax.tree.map(lambda a: a[None], fn(*args))

    return wrapped


@dataclass(frozen=True)
class GroupResult:
    """Per run ``r`` and domain ``k``: held-out nats per byte ``loss[r, k]``, bits per English byte
    ``bits_per_en_byte[r, k]``; ``train_loss[r]`` (last 5% of steps), ``target_bytes[r]`` predicted
    training bytes seen, ``curve[r, :]`` the training loss every ``steps // 64`` steps."""

    loss: np.ndarray
    bits_per_en_byte: np.ndarray
    train_loss: np.ndarray
    target_bytes: np.ndarray
    curve: np.ndarray


def train_group(
    model_cfg: GPTConfig,
    train_cfg: TrainConfig,
    data: TaskData,
    weights: np.ndarray,
    seeds: list[int],
    on_step=None,
    eval_batch: int = 64,
) -> GroupResult:
    """Train ``len(seeds)`` runs (weights ``[runs, domains]``, rows summing to 1) and evaluate them.

    Seed ``s`` fixes both the initialisation and the data order (``PRNGKey(s)`` split in two), so the
    same seed, weights and data give the same losses. ``on_step(done_steps)`` is called periodically.
    """
    weights = np.asarray(weights, np.float32)
    if weights.shape != (len(seeds), len(data.domains)):
        raise ScalemixError(f"weights shape {weights.shape} != (runs {len(seeds)}, domains {len(data.domains)})")
    init, step, evaluate = _compiled(model_cfg, train_cfg, len(seeds) > 1)
    keys = jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])
    init_keys, data_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    params, opt_state = init(init_keys)
    tokens, mask = jnp.asarray(data.train_tokens), jnp.asarray(data.train_mask)
    offsets, counts = jnp.asarray(data.train_offsets), jnp.asarray(data.train_counts)
    w = jnp.asarray(weights)
    every = max(1, train_cfg.steps // 64)
    losses, nbytes = [], []
    for i in range(train_cfg.steps):
        params, opt_state, loss, n = step(params, opt_state, data_keys, w, i, tokens, mask, offsets, counts)
        losses.append(loss)
        nbytes.append(n)
        if on_step is not None and (i + 1) % every == 0:
            on_step(i + 1)
    result_loss, bits = _evaluate(evaluate, params, data, eval_batch, len(seeds))
    losses = np.stack([np.asarray(x) for x in losses], axis=1)  # [runs, steps]
    tail = max(1, train_cfg.steps // 20)
    return GroupResult(
        loss=result_loss,
        bits_per_en_byte=bits,
        train_loss=losses[:, -tail:].mean(1),
        target_bytes=np.stack([np.asarray(x, np.float64) for x in nbytes], axis=1).sum(1),
        curve=losses[:, every - 1 :: every],
    )


def _evaluate(evaluate, params, data: TaskData, eval_batch: int, n_runs: int):
    n = len(data.eval_tokens)
    pad = (-n) % eval_batch
    rows = np.concatenate([data.eval_tokens, np.zeros((pad, data.eval_tokens.shape[1]), np.int32)])
    mask = np.concatenate([data.eval_mask, np.zeros((pad, data.eval_mask.shape[1]), np.float32)])
    sums = np.concatenate(
        [np.asarray(evaluate(params, rows[i : i + eval_batch], mask[i : i + eval_batch])) for i in range(0, n + pad, eval_batch)],
        axis=1,
    )[:, :n].astype(np.float64)
    n_dom = len(data.domains)
    onehot = np.eye(n_dom)[data.eval_domain]  # [rows, domains]
    nats = sums @ onehot  # [runs, domains]
    predicted = data.eval_mask[:, 1:].sum(-1).astype(np.float64) @ onehot
    en = np.nan_to_num(data.eval_en_bytes) @ onehot
    has_en = ~np.isnan(data.eval_en_bytes).any() if n else False
    bits = nats / math.log(2) / en if has_en else np.full((n_runs, n_dom), np.nan)
    return nats / predicted, bits
