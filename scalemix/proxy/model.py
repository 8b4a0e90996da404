"""A small pre-norm decoder-only transformer (GPT-2 layout) in plain JAX.

Layer ``l`` maps the residual stream ``x`` (``[B, T, d]``) as

    x = x + Attn(LN_1(x)),   x = x + MLP(LN_2(x)),   MLP(h) = GELU(h W_1 + b_1) W_2 + b_2,

with causal multi-head attention (head width ``d_head``), learned positions, a final LayerNorm and an
output head tied to the token embedding. Layers are a Python list, so ``jit`` unrolls them (faster
than ``lax.scan`` for 1-6 small layers on a CPU).

Parameter count (exact, :func:`count_params`), with ``d = d_model``, ``L = n_layers``, ``V`` the vocabulary,
``T`` the context:

    per layer: LN_1 2d + QKV (3d^2 + 3d) + out (d^2 + d) + LN_2 2d + W_1 (4d^2 + 4d) + W_2 (4d^2 + d)
             = 12 d^2 + 13 d
    non-embedding N = L (12 d^2 + 13 d) + 2d (final LN);   embedding = V d + T d (tied head: no extra).

Scaling laws use the non-embedding N (Kaplan et al. 2020).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class GPTConfig:
    """Model shape. ``d_model`` must be a multiple of ``d_head``."""

    vocab_size: int
    d_model: int
    n_layers: int
    seq_len: int = 128
    d_head: int = 16

    @property
    def n_heads(self) -> int:
        return max(1, self.d_model // self.d_head)


def count_params(cfg: GPTConfig) -> dict[str, int]:
    """Exact counts: ``{"non_embedding": N, "embedding": V d + T d, "total": ...}`` (formula above)."""
    d = cfg.d_model
    n = cfg.n_layers * (12 * d * d + 13 * d) + 2 * d
    emb = (cfg.vocab_size + cfg.seq_len) * d
    return {"non_embedding": n, "embedding": emb, "total": n + emb}


def flops_per_token(cfg: GPTConfig) -> float:
    """Training FLOPs per token: ``6 (N + V d) + 6 L T d`` (weights incl. the output head, and attention
    scores/values; Kaplan et al. 2020, eq. 2.1, with the backward pass as twice the forward)."""
    d = cfg.d_model
    n = count_params(cfg)["non_embedding"]
    return 6.0 * (n + cfg.vocab_size * d) + 6.0 * cfg.n_layers * cfg.seq_len * d


def init_params(key: jax.Array, cfg: GPTConfig) -> dict:
    """GPT-2 initialisation: weights N(0, 0.02), residual output projections N(0, 0.02/sqrt(2L)),
    biases 0, LayerNorm scales 1."""
    d, L = cfg.d_model, cfg.n_layers
    std, std_out = 0.02, 0.02 / math.sqrt(2 * L)
    keys = jax.random.split(key, 2 + 4 * L)
    normal = lambda k, shape, s: s * jax.random.normal(k, shape, jnp.float32)  # noqa: E731
    ln = lambda: {"scale": jnp.ones(d), "bias": jnp.zeros(d)}  # noqa: E731
    layers = []
    for i in range(L):
        k = keys[2 + 4 * i : 6 + 4 * i]
        layers.append(
            {
                "ln1": ln(),
                "qkv": {"w": normal(k[0], (d, 3 * d), std), "b": jnp.zeros(3 * d)},
                "out": {"w": normal(k[1], (d, d), std_out), "b": jnp.zeros(d)},
                "ln2": ln(),
                "fc1": {"w": normal(k[2], (d, 4 * d), std), "b": jnp.zeros(4 * d)},
                "fc2": {"w": normal(k[3], (4 * d, d), std_out), "b": jnp.zeros(d)},
            }
        )
    return {
        "wte": normal(keys[0], (cfg.vocab_size, d), std),
        "wpe": normal(keys[1], (cfg.seq_len, d), std),
        "layers": layers,
        "ln_f": ln(),
    }


def _layer_norm(x, p, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + eps) * p["scale"] + p["bias"]


def _attention(x, p, n_heads):
    B, T, d = x.shape
    q, k, v = jnp.split(x @ p["qkv"]["w"] + p["qkv"]["b"], 3, axis=-1)
    heads = lambda a: a.reshape(B, T, n_heads, d // n_heads)  # noqa: E731
    q, k, v = heads(q), heads(k), heads(v)
    scores = jnp.einsum("bqhc,bkhc->bhqk", q, k) / math.sqrt(d // n_heads)
    causal = jnp.tril(jnp.ones((T, T), bool))
    scores = jnp.where(causal, scores, -1e30)
    out = jnp.einsum("bhqk,bkhc->bqhc", jax.nn.softmax(scores, axis=-1), v).reshape(B, T, d)
    return out @ p["out"]["w"] + p["out"]["b"]


def forward(params: dict, tokens: jax.Array, cfg: GPTConfig) -> jax.Array:
    """Logits ``[B, T, V]`` for token ids ``[B, T]`` (``T <= cfg.seq_len``)."""
    T = tokens.shape[1]
    x = params["wte"][tokens] + params["wpe"][:T]
    for layer in params["layers"]:
        x = x + _attention(_layer_norm(x, layer["ln1"]), layer, cfg.n_heads)
        h = _layer_norm(x, layer["ln2"])
        x = x + jax.nn.gelu(h @ layer["fc1"]["w"] + layer["fc1"]["b"]) @ layer["fc2"]["w"] + layer["fc2"]["b"]
    x = _layer_norm(x, params["ln_f"])
    return x @ params["wte"].T


def token_losses(params: dict, rows: jax.Array, cfg: GPTConfig) -> jax.Array:
    """Negative log-likelihood in nats of ``rows[:, 1:]`` given the prefix, shape ``[B, T]``."""
    logits = forward(params, rows[:, :-1], cfg)
    logp = jax.nn.log_softmax(logits, axis=-1)
    # a one-hot product instead of a gather: its gradient is dense, not a scatter (slow on CPUs)
    return -(logp * jax.nn.one_hot(rows[:, 1:], cfg.vocab_size, dtype=logp.dtype)).sum(-1)
