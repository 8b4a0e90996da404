"""Linear mixing law (Chen et al., 2024, Aioli): loss as a linear function of the mixture."""

import jax.numpy as jnp
import numpy as np

from scalemix.laws.base import Inputs, Law, Param, positive, real, ridge

LOSS_FLOOR = 1e-9
"""The predicted loss is clipped below at this value, so its log stays finite where ``c - sum_j A_j p_j``
leaves the positive range (a mixture far from every training run); such a prediction is an extrapolation
the linear form cannot make."""
RIDGE = 1e-3
"""Ridge of the least-squares start, relative to the mean diagonal of ``p^T p``."""


def _log_loss(theta, x: Inputs):
    i = x.target
    loss = theta["c"][i] - jnp.sum(theta["A"][i] * x.weights, axis=-1)
    return jnp.log(jnp.maximum(loss, LOSS_FLOOR))


def least_squares_start(x: Inputs, log_loss, mask) -> dict[str, np.ndarray]:
    """The start for ``linear-mixing``: since ``sum_j p_j = 1``, ``L = sum_j (c - A_j) p_j`` is a regression
    on the mixture with no intercept; its coefficients ``b_j`` (ridge :data:`RIDGE` towards the mean loss,
    so a domain no run trained on predicts the mean) give ``A_j = c - b_j`` with ``c`` the mean loss."""
    weights, loss, target = np.asarray(x.weights), np.exp(np.asarray(log_loss)), np.asarray(x.target)
    targets, domains = int(target.max()) + 1, weights.shape[1]
    c, a = np.empty((1, targets)), np.empty((1, targets, domains))
    for i in range(targets):
        rows = (target == i) & (np.asarray(mask) > 0)
        p, y = weights[rows], loss[rows]
        mean = y.mean()
        b = mean + ridge(p, y - mean, RIDGE)
        c[0, i], a[0, i] = mean, mean - b
    return {"c": c, "A": a}


def linear_mixing() -> Law:
    """``L_i(p) = c_i - sum_j A_ij p_j`` over training proportions ``p``: the static linear mixing law.

    Chen, Hu, Lourie, Cho, Re. "Aioli: A Unified Optimization Framework for Language Model Data Mixing",
    ICLR 2025 (arXiv:2411.05735): the law that their Linear Mixing Optimization framework finds behind
    several mixing methods (``A_ij``: how much training on group j lowers the loss on group i). Because
    ``sum_j p_j = 1``, a constant added to ``c_i`` and to every ``A_ij`` changes nothing: the priors settle
    that direction, and only ``c_i - A_ij`` is identified. The prediction is clipped at :data:`LOSS_FLOOR`.
    RegMix's linear regression (Liu et al. 2024) is the same function fitted by least squares on the loss.
    """
    return Law(
        name="linear-mixing",
        params=(
            Param("c", constraint=positive, prior=(0.5, 1.0), grid=(1.0, 3.0)),
            Param("A", dims=("target", "domain"), constraint=real, prior=(0.0, 1.0), grid=(0.0,)),
        ),
        log_loss=_log_loss,
        needs=frozenset({"weights"}),
        formula="L_i = c_i - sum_j A_ij p_j",
        reference="Chen et al. 2024, Aioli (static linear mixing law)",
        random_starts=8,
        refine=4,
        initial=least_squares_start,
    )
