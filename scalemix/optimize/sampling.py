"""The mixtures practitioners pick from a token inventory without a law: temperature sampling and UniMax.

An optimum over a fit is worth training only if it beats these; :func:`scalemix.optimize.optimize` scores
them beside its optimum whenever it is given a token inventory (``available_tokens``).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from scalemix.errors import OptimizeError

TEMPERATURES = (0.3, 0.5, 0.7)
"""The temperatures reported beside an optimum (mT5 uses 0.3; XLM and mBERT 0.5 and 0.7)."""


def temperature(inventory: np.ndarray, power: float) -> np.ndarray:
    """Temperature sampling: ``p_i ∝ n_i^T`` for ``n_i`` tokens of domain ``i`` (``T = 1``: proportional to the
    data, ``T = 0``: uniform). The exponent convention of Conneau and Lample 2019 (XLM, ``alpha``) and Xue et
    al. 2021 (mT5, ``alpha = 0.3``); others write ``T = 1/alpha``."""
    inventory = _inventory(inventory)
    if not (np.isfinite(power) and power >= 0):
        raise OptimizeError(f"a sampling temperature is a number >= 0 (the exponent of n_i); got {power!r}")
    shares = inventory ** power
    return shares / shares.sum()


def unimax(inventory: np.ndarray, tokens: float, max_epochs: float = 1.0) -> np.ndarray:
    """UniMax (Chung et al. 2023, "UniMax: Fairer and More Effective Language Sampling for Large-Scale
    Multilingual Pretraining", Algorithm 1): visit domains from the smallest; give each a uniform share of
    the budget still unallocated, but no more than ``max_epochs`` passes over its data; weights are the
    allocations over ``tokens``. Where every domain is capped before the budget is spent, the remainder is
    spread in proportion to the allocations (the budget cannot be met without more epochs)."""
    inventory = _inventory(inventory)
    if not (np.isfinite(tokens) and tokens > 0 and max_epochs > 0):
        raise OptimizeError(f"UniMax needs a token budget > 0 and max_epochs > 0; got tokens={tokens!r}, max_epochs={max_epochs!r}")
    allocation = np.zeros_like(inventory)
    remaining = float(tokens)
    order = np.argsort(inventory, kind="stable")
    for position, index in enumerate(order):
        share = remaining / (len(order) - position)
        allocation[index] = min(inventory[index] * max_epochs, share)
        remaining -= allocation[index]
    return allocation / allocation.sum()


def heuristics(domains: Sequence[str], available: Mapping[str, float], tokens: float | None,
               max_epochs: float = 1.0) -> dict[str, np.ndarray]:
    """``{name: mixture[K]}``: temperature sampling at :data:`TEMPERATURES` and UniMax (with ``tokens``; at most
    ``max_epochs`` passes, 1 where that is unlimited) over ``domains``, for the inventory ``available`` (domain ->
    tokens). Every domain needs its inventory: both rules weigh domains by their size."""
    missing = [d for d in domains if d not in available]
    if missing:
        raise OptimizeError(f"temperature sampling and UniMax weigh every domain by its tokens; the inventory lacks "
                            f"{', '.join(missing[:5])} (give every domain in --cap-from to compare with them)")
    inventory = np.array([float(available[d]) for d in domains])
    mixtures = {f"temperature {t:g}": temperature(inventory, t) for t in TEMPERATURES}
    if tokens:
        epochs = max_epochs if np.isfinite(max_epochs) else 1.0
        mixtures[f"unimax (max {epochs:g} epochs)"] = unimax(inventory, tokens, epochs)
    return mixtures


def _inventory(inventory) -> np.ndarray:
    inventory = np.asarray(inventory, dtype=float)
    if inventory.ndim != 1 or not inventory.size or not (np.isfinite(inventory).all() and (inventory > 0).all()):
        raise OptimizeError(f"a token inventory is one positive, finite count per domain; got {inventory.tolist()}")
    return inventory
