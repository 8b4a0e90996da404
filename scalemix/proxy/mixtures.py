"""Mixture designs: which weightings over a task's domains a sweep trains.

- :func:`grid` -- two domains, weight ``p`` on the first (Fernandes et al. 2023 use
  p in {0, .05, .1, .3, .5, .7, .9, .95, 1}).
- :func:`dirichlet` -- ``n`` samples from a symmetric Dirichlet over k domains (RegMix, Liu et al. 2024).
- :func:`from_list` -- user weightings, each normalised to sum to 1.

Every design returns an array ``[n_mixtures, n_domains]`` with rows on the simplex.
"""

from __future__ import annotations

import numpy as np

from scalemix.errors import ScalemixError


def grid(domains, p) -> np.ndarray:
    """Rows ``(p, 1 - p)`` over exactly two domains."""
    if len(domains) != 2:
        raise ScalemixError(f"mixture design 'grid' needs exactly 2 domains, got {list(domains)}; use 'dirichlet' or 'list'")
    p = np.asarray(p, np.float64)
    if p.ndim != 1 or ((p < 0) | (p > 1)).any():
        raise ScalemixError(f"mixture p = {p.tolist()} must be a list of numbers in [0, 1]")
    return np.stack([p, 1.0 - p], axis=1)


def dirichlet(domains, n: int, alpha: float = 1.0, seed: int = 0) -> np.ndarray:
    """``n`` draws from ``Dirichlet(alpha, ..., alpha)`` over the domains (seeded, reproducible)."""
    if n < 1 or alpha <= 0:
        raise ScalemixError(f"mixture design 'dirichlet' needs n >= 1 and alpha > 0, got n={n}, alpha={alpha}")
    return np.random.default_rng(seed).dirichlet(np.full(len(domains), float(alpha)), size=n)


def from_list(domains, weights) -> np.ndarray:
    """User weightings: rows of numbers (one per domain) or mappings ``{domain: weight}``."""
    rows = []
    for w in weights:
        if isinstance(w, dict):
            unknown = set(w) - set(domains)
            if unknown:
                raise ScalemixError(f"mixture weights name unknown domains {sorted(unknown)}; the domains are {list(domains)}")
            w = [float(w.get(d, 0.0)) for d in domains]
        w = np.asarray(w, np.float64)
        if w.shape != (len(domains),) or (w < 0).any() or w.sum() <= 0:
            raise ScalemixError(
                f"mixture weights {w.tolist()} must be {len(domains)} non-negative numbers (domains {list(domains)})"
            )
        rows.append(w / w.sum())
    return np.stack(rows)


def design(domains, spec: dict) -> np.ndarray:
    """Dispatch on ``spec["design"]`` ('grid' | 'dirichlet' | 'list') with the remaining keys as arguments."""
    spec = dict(spec)
    kind = spec.pop("design", None)
    try:
        if kind == "grid":
            return grid(domains, **spec)
        if kind == "dirichlet":
            return dirichlet(domains, **spec)
        if kind == "list":
            return from_list(domains, **spec)
    except TypeError as e:
        raise ScalemixError(f"mixture design {kind!r}: bad keys {sorted(spec)} ({e})") from None
    raise ScalemixError(f"mixture design {kind!r} is not known; use 'grid', 'dirichlet' or 'list'")
