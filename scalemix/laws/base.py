"""What a law is: parameter declarations plus a pure ``jax.numpy`` function of log loss.

A :class:`Law` never holds data. It is *bound* to the coordinates of a run table (its target names,
domain names, ...) to give a :class:`Layout`, which maps between the flat unconstrained vector that
optimisers and samplers work on and the named, constrained parameter arrays the formula reads.

A :class:`Constraint` maps the unconstrained real line onto a parameter's support with the same
bijections as NumPyro's ``biject_to`` (exp for positive, a clipped sigmoid for intervals), so a point
fit, a bootstrap and a NUTS posterior all live in the same unconstrained space; declaring them here keeps
the law layer free of NumPyro, which only the Bayesian fits load.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import expit, logit

Array = Any


@dataclass(frozen=True)
class Constraint:
    """The support of a parameter, as the interval ``(lower, upper)`` it maps the real line onto:
    the identity for ``(-inf, inf)``, ``exp`` for ``(0, inf)``, and ``lower + (upper - lower) *
    sigmoid(z)`` for a bounded interval (the sigmoid clipped to ``[tiny, 1 - eps]``, as NumPyro's)."""

    lower: float = -math.inf
    upper: float = math.inf

    def __post_init__(self):
        if not self.lower < self.upper or (math.isfinite(self.lower) != math.isfinite(self.upper) and self.lower != 0.0):
            raise ValueError(f"a constraint is (-inf, inf), (0, inf) or a bounded interval; got ({self.lower}, {self.upper})")

    def to_constrained(self, z):
        if not math.isfinite(self.lower):
            return z
        if not math.isfinite(self.upper):
            return jnp.exp(z)
        finfo = jnp.finfo(jnp.result_type(z))
        unit_value = jnp.clip(expit(z), finfo.tiny, 1.0 - finfo.eps)
        return self.lower + (self.upper - self.lower) * unit_value

    def to_unconstrained(self, value):
        if not math.isfinite(self.lower):
            return value
        if not math.isfinite(self.upper):
            return jnp.log(value)
        return logit((value - self.lower) / (self.upper - self.lower))


real = Constraint()
positive = Constraint(0.0)
unit = Constraint(0.0, 1.0)


def interval(lower: float, upper: float) -> Constraint:
    """The bounded support ``(lower, upper)``."""
    return Constraint(float(lower), float(upper))


class Inputs(NamedTuple):
    """Design arrays a law reads; every field has one entry per row (``weights`` is ``[rows, domains]``).

    ``own_weight`` is the weight of the domain named like the row's target (``w.<target>``), the
    ``p_i`` of the multilingual laws; ``weighting`` indexes the distinct values of ``own_weight``.
    ``unique`` is the unique tokens the run's data held (column ``unique``) and ``unique_by_domain``
    (``[rows, domains]``) the same per training domain (columns ``unique.<domain>``), ``inf`` where there
    was no limit; ``own_domain`` is the index of the domain named like the row's target (-1 where none).
    Fields a table cannot provide, or the law does not read, are ``None``.
    """

    params: Array
    tokens: Array
    weights: Array
    target: Array
    own_weight: Array = None
    weighting: Array = None
    unique: Array = None
    unique_by_domain: Array = None
    own_domain: Array = None


NEEDS = frozenset({"params", "tokens", "weights", "own_weight", "unique", "unique_by_domain", "own_domain"})
"""The :class:`Inputs` fields a law may read (``weighting`` comes with a ``("target", "weighting")`` parameter)."""


@dataclass(frozen=True)
class Param:
    """One parameter of a law.

    Attributes:
      name: the name the paper uses (``alpha``, ``Linf``, ``t``).
      dims: coordinate names the parameter varies over: ``()`` scalar, ``("target",)`` one per target,
        ``("target", "domain")`` one per target and training domain, ``("target", "weighting")``.
      constraint: a :class:`Constraint` (``real``, ``positive``, ``unit`` or ``interval(a, b)``); fits run
        on its unconstrained side (log for positive, logit for intervals).
      prior: ``(loc, scale)`` of a Normal on the *unconstrained* value; weakly informative.
      grid: constrained values used as multi-start points (every combination over the law's params).
    """

    name: str
    dims: tuple[str, ...] = ("target",)
    constraint: Constraint = real
    prior: tuple[float, float] = (0.0, 1.0)
    grid: tuple[float, ...] = (0.5,)

    def __post_init__(self):
        if not isinstance(self.constraint, Constraint):
            raise ValueError(f"parameter {self.name!r}: constraint must be scalemix.laws.real, positive, unit or "
                             f"interval(a, b), not {self.constraint!r}")

    def to_unconstrained(self, value):
        return self.constraint.to_unconstrained(jnp.asarray(value))

    def to_constrained(self, z):
        return self.constraint.to_constrained(z)


@dataclass(frozen=True, eq=False)
class Law:
    """A scaling law: parameter declarations and ``log_loss(theta, inputs) -> log predicted loss``.

    ``log_loss`` must be pure ``jax.numpy`` with no Python control flow on values, so that it jits and
    vmaps over starts, draws and query points. ``theta`` maps each parameter name to its constrained
    array, shaped by the parameter's ``dims``; per-target parameters are read with
    ``theta["alpha"][inputs.target]``. Laws compare and hash by identity, so a law object can key
    the cache of compiled programs (``laws.get`` returns the same object for the same options).

    Attributes:
      name: registry name (``chinchilla``); a saved fit stores it with ``options``.
      params: the parameter declarations.
      log_loss: the formula, in log space.
      needs: which inputs the formula reads, from :data:`NEEDS`.
      formula: the formula as text, for reports.
      reference: the paper.
      options: keyword arguments that rebuild this law from the registry (``f="power"``).
      random_starts: prior draws added to the grid starts (for laws with many per-domain params).
      refine: starts per group that a point fit runs to convergence after screening them all (its default).
      initial: optional ``(inputs, log_loss, mask) -> {name: [starts, *shape]}``: starts computed from the
        data of one fitting group (its rows, with ``mask`` 0 on padding), as constrained values shaped like
        the group's layout; added to the grid and random starts. A law whose parameters enter linearly
        once a few are fixed (a log-linear least-squares start for ``mixing``) needs few starts this way.
      valid: optional ``inputs -> bool mask`` of rows where the formula is defined; other rows are set
        aside at fit time with ``invalid_reason``.
      coords: coordinates the law declares itself, beside the table's ``target``/``domain``/``weighting``
        (the ``factor`` axis of a low-rank law): ``{name: labels}``.
    """

    name: str
    params: tuple[Param, ...]
    log_loss: Callable[[Mapping[str, Array], Inputs], Array]
    needs: frozenset[str]
    formula: str
    reference: str
    options: Mapping[str, Any] = field(default_factory=dict)
    random_starts: int = 0
    refine: int = 64
    initial: Callable[[Inputs, Array, Array], Mapping[str, Array]] | None = None
    valid: Callable[[Inputs], Array] | None = None
    invalid_reason: str = ""
    coords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self):
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"law {self.name!r} declares a parameter twice: {names}")
        unknown = set(self.needs) - NEEDS
        if unknown:
            raise ValueError(f"law {self.name!r} needs unknown inputs {sorted(unknown)}")

    @property
    def dims(self) -> frozenset[str]:
        """Every coordinate any parameter varies over."""
        return frozenset(d for p in self.params for d in p.dims)

    @property
    def separable(self) -> bool:
        """True when every parameter is per target, so each target can be fitted on its own."""
        return all(p.dims[:1] == ("target",) for p in self.params)

    @property
    def reads_mixture(self) -> bool:
        """True when the formula reads the training mixture: the weights over domains (``weights``) or the
        target's own weight (``own_weight``). Only such a law can predict at, or optimise, a mixture."""
        return bool({"weights", "own_weight"} & self.needs)

    def predict(self, theta: Mapping[str, Array], inputs: Inputs) -> Array:
        """Predicted loss (``exp`` of :attr:`log_loss`)."""
        return jnp.exp(self.log_loss(theta, inputs))

    def layout(self, coords: Mapping[str, tuple[str, ...]]) -> "Layout":
        return Layout(self, {k: tuple(v) for k, v in coords.items()})


class Slot(NamedTuple):
    param: Param
    shape: tuple[int, ...]
    start: int
    size: int


class Layout:
    """A law bound to coordinates: flat unconstrained vector <-> named constrained arrays."""

    def __init__(self, law: Law, coords: Mapping[str, tuple[str, ...]]):
        missing = sorted(law.dims - set(coords))
        if missing:
            raise ValueError(f"law {law.name!r} needs coordinates {missing}")
        self.law = law
        self.coords = dict(coords)
        slots, start = [], 0
        for p in law.params:
            shape = tuple(len(coords[d]) for d in p.dims)
            size = math.prod(shape)
            slots.append(Slot(p, shape, start, size))
            start += size
        self.slots = tuple(slots)
        self.size = start

    def _key(self):
        return (id(self.law), tuple((s.param.name, s.shape) for s in self.slots))

    def __hash__(self):  # equal law and shapes -> one compiled program, whatever the labels
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, Layout) and self._key() == other._key()

    def unpack(self, z: Array) -> dict[str, Array]:
        """Flat unconstrained ``z[size]`` -> ``{name: constrained array}``."""
        return {
            s.param.name: s.param.to_constrained(z[s.start : s.start + s.size].reshape(s.shape))
            for s in self.slots
        }

    def pack(self, theta: Mapping[str, Array]) -> Array:
        """``{name: constrained array}`` -> flat unconstrained vector."""
        return jnp.concatenate(
            [jnp.ravel(s.param.to_unconstrained(jnp.broadcast_to(theta[s.param.name], s.shape))) for s in self.slots]
        )

    def element_names(self) -> list[str]:
        """One name per scalar, in flat order: ``alpha[de]``, ``t[pile_cc,github]``, ``E``."""
        names = []
        for s in self.slots:
            labels = [self.coords[d] for d in s.param.dims]
            for index in itertools.product(*labels):
                names.append(f"{s.param.name}[{','.join(index)}]" if index else s.param.name)
        return names

    def grid(self) -> np.ndarray:
        """Every combination of the params' grid values, each broadcast over its dims: ``[starts, size]``."""
        per_slot = [np.asarray(s.param.to_unconstrained(np.asarray(s.param.grid, dtype=float))) for s in self.slots]
        combos = np.array(list(itertools.product(*per_slot)), dtype=float).reshape(-1, len(self.slots))
        return np.concatenate([np.repeat(combos[:, k : k + 1], s.size, axis=1) for k, s in enumerate(self.slots)], axis=1)

    def prior_loc_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """Normal prior location and scale for each unconstrained element: two ``[size]`` arrays."""
        loc = np.concatenate([np.full(s.size, s.param.prior[0]) for s in self.slots])
        scale = np.concatenate([np.full(s.size, s.param.prior[1]) for s in self.slots])
        return loc, scale


def per_row(theta: Mapping[str, Array], index: Array) -> dict[str, Array]:
    """Each per-target parameter read at every row's target: ``{name: theta[name][index]}``."""
    return {name: value[index] for name, value in theta.items()}


def logsumexp_terms(terms) -> Array:
    """``log(sum_k exp(terms[k]))`` elementwise over a sequence of broadcastable arrays.

    The value and gradient of ``jax.scipy.special.logsumexp(jnp.stack(terms), axis=0)``, computed with
    elementwise maxima instead of a reduction over a stacked axis: vmapped over thousands of starts on
    CPU, that reduction made Chinchilla's residuals 5x slower than the arithmetic they need.
    """
    top = functools.reduce(jnp.maximum, terms)
    top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0.0))
    return top + jnp.log(sum(jnp.exp(term - top) for term in terms))


def safe_power(x: Array, exponent: Array) -> Array:
    """``x ** exponent`` for shares ``x >= 0`` and positive exponents, with ``0 ** exponent = 0`` and finite
    gradients in both arguments where ``x`` is exactly 0 (a domain left out of a mixture).

    ``exp(exponent * log(x))`` with ``log(0) = -inf`` has the right value but a NaN gradient in
    ``exponent`` there (``-inf * 0``), which stops a fit on any table with sparse mixtures.
    """
    present = x > 0
    return jnp.where(present, jnp.exp(exponent * jnp.log(jnp.where(present, x, 1.0))), 0.0)


def ridge(features: np.ndarray, values: np.ndarray, relative: float = 1e-3) -> np.ndarray:
    """Least-squares coefficients of ``values[rows]`` on ``features[rows, k]`` with a ridge of ``relative``
    times the mean diagonal of ``features^T features``: a column no row uses gets 0, not an arbitrary value.
    The solve behind the laws' data-driven starts (:attr:`Law.initial`)."""
    gram = features.T @ features
    size = gram.shape[0]
    return np.linalg.solve(gram + relative * max(np.trace(gram) / size, 1e-12) * np.eye(size), features.T @ values)
