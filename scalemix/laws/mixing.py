"""Data mixing law (Ye et al., 2024): loss as an exponential of a linear function of the mixture."""

import jax.numpy as jnp
import numpy as np

from scalemix.laws.base import Inputs, Law, Param, interval, positive, ridge

T_BOUND = 10.0
"""|t_ij| <= T_BOUND: keeps predictions on sparse held-out mixtures finite (unbounded fits overflow)."""
FLOOR_FRACTIONS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98)
"""Floors ``c = q * min(loss)`` of the log-linear least-squares starts (:func:`log_linear_starts`)."""
RIDGE = 1e-3
"""Ridge of the log-linear starts, relative to the mean diagonal of ``r^T r``: a domain no run of a target
trained on gets ``t = 0`` instead of an undetermined value."""


_FLOOR_AND_SCALE = (Param("c", constraint=positive, prior=(0.5, 1.0), grid=(0.5, 2.0)),
                    Param("k", constraint=positive, prior=(0.0, 1.5), grid=(0.5, 2.0)))
"""Per-target ``c`` and ``k`` of both forms of ``mixing``."""


def _log_loss(theta, x: Inputs):
    i = x.target
    # every target's exponent by one matrix product, then each row's own: BLAS work under jacfwd's tangents,
    # where gathering t per row and reducing made a point fit of the 512 x 64 swarm 2.5x slower (0.9 s -> 0.35 s)
    exponent = jnp.take_along_axis(x.weights @ theta["t"].T, i[..., None], axis=-1)[..., 0]
    return jnp.logaddexp(jnp.log(theta["c"][i]), jnp.log(theta["k"][i]) + exponent)


def low_rank_t(loading, basis):
    """``t = T_BOUND tanh(loading basis / T_BOUND)``: the ``[targets, domains]`` coefficients of a rank-``K`` law
    from its per-target ``loading[targets, K]`` and per-factor ``basis[K, domains]``, bounded as ``mixing``'s own
    ``t``."""
    return T_BOUND * jnp.tanh(loading @ basis / T_BOUND)


def _low_rank_log_loss(theta, x: Inputs):
    return _log_loss({"c": theta["c"], "k": theta["k"], "t": low_rank_t(theta["loading"], theta["basis"])}, x)


def log_linear_starts(x: Inputs, log_loss, mask) -> dict[str, np.ndarray]:
    """Starts for ``mixing`` from least squares: with the floor fixed at ``c = q min(L)``, the law is
    linear in log space, ``log(L - c) = log k + sum_j t_j r_j``; since ``sum_j r_j = 1`` the intercept is
    absorbed into ``t`` (``k = 1``), and ``t`` is a ridge regression of ``log(L - c)`` on the mixtures
    (:data:`RIDGE`). One start per ``q`` in :data:`FLOOR_FRACTIONS` and target, ``t`` clipped inside
    :data:`T_BOUND`. The same start the Olmix fitting code draws at random (``log c`` on a grid, ``t``
    near 0), solved instead of guessed: on a 64-domain swarm it reaches the best basin in ~50 Levenberg-
    Marquardt steps, where prior draws need hundreds."""
    weights, loss, target = np.asarray(x.weights), np.exp(np.asarray(log_loss)), np.asarray(x.target)
    targets, domains = int(target.max()) + 1, weights.shape[1]
    c = np.empty((len(FLOOR_FRACTIONS), targets))
    t = np.zeros((len(FLOOR_FRACTIONS), targets, domains))
    for i in range(targets):
        rows = (target == i) & (np.asarray(mask) > 0)
        r, y = weights[rows], loss[rows]
        for s, q in enumerate(FLOOR_FRACTIONS):
            c[s, i] = max(q * y.min(), 1e-3 * y.min())
            t[s, i] = ridge(r, np.log(y - q * y.min() + 1e-12 * y.min()), RIDGE)
    bound = 0.95 * T_BOUND
    return {"c": c, "k": np.ones_like(c), "t": np.clip(t, -bound, bound)}


def low_rank_starts(rank: int):
    """Starts for ``mixing(rank=K)``: each target's :func:`log_linear_starts`, with the ``[targets, domains]``
    matrix of their ``t`` (through ``artanh``) cut to its best rank-``K`` approximation by the SVD (Eckart and
    Young 1936), split as ``loading = U_K S_K^(1/2)``, ``basis = S_K^(1/2) V_K^T``."""

    def initial(x: Inputs, log_loss, mask) -> dict[str, np.ndarray]:
        full = log_linear_starts(x, log_loss, mask)
        left, singular, right = np.linalg.svd(T_BOUND * np.arctanh(full["t"] / T_BOUND), full_matrices=False)
        kept = min(rank, singular.shape[-1])
        root = np.sqrt(singular[:, :kept])
        loading = np.zeros((*full["c"].shape, rank))
        basis = np.zeros((full["c"].shape[0], rank, full["t"].shape[-1]))
        loading[:, :, :kept] = left[:, :, :kept] * root[:, None, :]
        basis[:, :kept] = root[:, :, None] * right[:, :kept]
        return {"c": full["c"], "k": full["k"], "loading": loading, "basis": basis}

    return initial


def mixing(rank: int = 0) -> Law:
    """``L_i(r) = c_i + k_i * exp(sum_j t_ij r_j)`` over training proportions ``r``.

    Ye, Yang, Xi, Zhang, Chen, Chen, Liu, Wang, Zhou. "Data Mixing Laws: Optimizing Data Mixtures by
    Predicting Language Modeling Performance", 2024 (arXiv:2403.16952). ``t_ij`` is bounded to
    ``(-T_BOUND, T_BOUND)``. Because ``sum_j r_j = 1``, a constant added to every ``t_ij`` trades off
    against ``log k_i``: the priors (and the optimiser's damping) settle that direction.

    Olmix's log-linear law (Chen et al. 2026, allenai/olmix ``mixing_law``: ``L = exp(log c) + exp(sum_j
    t_j r_j)``) is this law with ``log k`` folded into ``t`` the same way, so it is the same family of
    functions; Olmix fits it with a Huber loss on the loss itself from random starts. Starts here are the
    prior draws, the grid and :func:`log_linear_starts`.

    ``rank=K`` shares the coefficients across targets through ``K`` factors: ``t = T_BOUND tanh(loading basis /
    T_BOUND)`` with per-target ``loading[target, factor]`` and per-factor ``basis[factor, domain]``
    (reduced-rank regression, Izenman 1975, here inside the nonlinear law), for many targets over many
    domains (Olmix's 110 tasks): ``targets (2 + K) + K domains`` parameters instead of ``targets (2 +
    domains)``. The targets are then one fit (one Levenberg-Marquardt problem over all of them, whose cost
    grows with the square of that count) from :func:`low_rank_starts`. ``loading`` and ``basis`` are
    identified only up to an invertible ``K x K`` mixing of the factors; ``t`` is identified, so read ``t``
    (``low_rank_t``), not the two factors, and expect NUTS's R-hat on them to say so.
    """
    if rank:
        return _low_rank(rank)
    return Law(
        name="mixing",
        params=(
            *_FLOOR_AND_SCALE,
            Param("t", dims=("target", "domain"), constraint=interval(-T_BOUND, T_BOUND), prior=(0.0, 1.0), grid=(0.0,)),
        ),
        log_loss=_log_loss,
        needs=frozenset({"weights"}),
        formula="L_i = c_i + k_i * exp(sum_j t_ij r_j)",
        reference="Ye et al. 2024, Data Mixing Laws",
        # prior draws won no target of olmix-dclm, olmix-s2pdf (110 each), regmix-1m-train (13) or the simulated
        # 512 x 64 swarm from 64 draws (log-linear starts won all); on proxy-transfer 2 of 7 targets by 1%
        random_starts=16,
        refine=4,  # the log-linear starts are in the best basin after screening: run 4 to convergence, not 64
        initial=log_linear_starts,
    )


def _low_rank(rank: int) -> Law:
    """``mixing(rank=K)``, described in :func:`mixing`."""
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"rank must be a whole number >= 1, not {rank!r}")
    scale = float(rank) ** -0.25  # so that each t_ij = sum_k loading_ik basis_kj has prior variance 1, as mixing's own
    return Law(
        name="mixing",
        params=(
            *_FLOOR_AND_SCALE,
            Param("loading", dims=("target", "factor"), prior=(0.0, scale), grid=(0.0,)),
            Param("basis", dims=("factor", "domain"), prior=(0.0, scale), grid=(0.0,)),
        ),
        log_loss=_low_rank_log_loss,
        needs=frozenset({"weights"}),
        formula=f"L_i = c_i + k_i * exp(sum_j t_ij r_j), t = {T_BOUND:g} tanh(loading basis / {T_BOUND:g}), rank {rank}",
        reference="Ye et al. 2024, Data Mixing Laws; reduced rank: Izenman 1975",
        options={"rank": int(rank)},
        random_starts=8,
        refine=4,
        initial=low_rank_starts(int(rank)),
        coords={"factor": tuple(f"f{j + 1}" for j in range(int(rank)))},
    )
