"""The proxy GPT: exact parameter counts, causality, FLOPs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scalemix.proxy.model import GPTConfig, count_params, flops_per_token, forward, init_params


@pytest.mark.parametrize(
    "d,L,expected",
    [
        # by hand: L * (12 d^2 + 13 d) + 2 d
        (16, 1, 12 * 256 + 13 * 16 + 32),  # 3312
        (32, 2, 2 * (12 * 1024 + 13 * 32) + 64),  # 25472
        (96, 2, 223872),
        (512, 6, 6 * (12 * 512**2 + 13 * 512) + 1024),  # ~18.9M, the top of the supported range
    ],
)
def test_non_embedding_count_matches_the_formula(d, L, expected):
    assert count_params(GPTConfig(vocab_size=259, d_model=d, n_layers=L))["non_embedding"] == expected


@pytest.mark.parametrize("d,L", [(16, 1), (48, 3)])
def test_counts_match_the_initialised_arrays(d, L):
    cfg = GPTConfig(vocab_size=260, d_model=d, n_layers=L, seq_len=40)
    params = jax.jit(init_params, static_argnums=1)(jax.random.PRNGKey(0), cfg)
    total = sum(x.size for x in jax.tree.leaves(params))
    embedding = params["wte"].size + params["wpe"].size
    counts = count_params(cfg)
    assert counts == {"non_embedding": total - embedding, "embedding": (260 + 40) * d, "total": total}


def test_forward_is_causal_and_shaped():
    cfg = GPTConfig(vocab_size=258, d_model=32, n_layers=2, seq_len=16)
    params = init_params(jax.random.PRNGKey(1), cfg)
    x = jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, 16)), jnp.int32)
    y = x.at[:, 9].set((x[:, 9] + 1) % 256)
    run = jax.jit(forward, static_argnums=2)
    a, b = run(params, x, cfg), run(params, y, cfg)
    assert a.shape == (2, 16, 258)
    np.testing.assert_allclose(a[:, :9], b[:, :9], atol=1e-5)
    assert float(jnp.abs(a[:, 9:] - b[:, 9:]).max()) > 1e-3


def test_flops_per_token_formula():
    cfg = GPTConfig(vocab_size=259, d_model=32, n_layers=2, seq_len=128)
    assert flops_per_token(cfg) == 6 * (25472 + 259 * 32) + 6 * 2 * 128 * 32
