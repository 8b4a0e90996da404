"""Every registered law against its paper's formula written out by hand in plain numpy, at a few chosen
points and parameter values (``tests/test_laws.py`` only checks that a law recovers the parameters of data
simulated by its own formula); ``compute_optimal`` and ``effective_fraction`` against their closed forms."""

import jax.numpy as jnp
import numpy as np
import pytest

from scalemix import laws
from scalemix._x64 import float64
from scalemix.laws import Inputs, compute_optimal, effective_fraction, effective_params

RTOL = 1e-10

N = np.array([1e7, 3.3e8, 1e10, 5e6])  # parameters
D = np.array([2e9, 1e10, 3e11, 7e8])  # tokens
TARGET = np.array([0, 1, 1, 0])
P = np.array([0.05, 0.5, 1.0, 0.9])  # the target's own weight, p = 1 included
UNIQUE = np.array([D[0], np.inf, D[2] / 4, D[3] / 300])  # unique tokens: 1 epoch, no limit, 4 and 300 epochs
H = np.array([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0], [0.6, 0.0, 0.4], [1 / 3, 1 / 3, 1 / 3]])  # mixtures, with zeros

POWER = {"beta": [400.0, 60.0], "alpha": [0.3, 0.2], "Linf": [1.5, 0.8]}
SIZE = {"E": [1.8172, 1.2], "A": [477.8, 100.0], "B": [2143.4, 3000.0], "alpha": [0.3473, 0.25], "beta": [0.3672, 0.35]}


def _power(theta, x):
    t = {k: np.asarray(v)[x["target"]] for k, v in theta.items()}
    return t["beta"] * x["params"] ** -t["alpha"] + t["Linf"]


def _chinchilla(theta, x):
    t = {k: np.asarray(v)[x["target"]] for k, v in theta.items()}
    return t["E"] + t["A"] / x["params"] ** t["alpha"] + t["B"] / x["tokens"] ** t["beta"]


def _kaplan(theta, x):
    t = {k: np.asarray(v)[x["target"]] for k, v in theta.items()}
    return t["E"] + ((t["A"] / x["params"]) ** t["gamma"] + t["B"] / x["tokens"]) ** t["beta"]


def _multilingual(fraction):
    def loss(theta, x):
        t = {k: np.asarray(v)[x["target"]] for k, v in theta.items()}
        return t["beta"] * (fraction(t, x["own_weight"]) * x["params"]) ** -t["alpha"] + t["Linf"]

    return loss


def _per_weight(theta, x):
    i, w = x["target"], x["weighting"]
    return np.asarray(theta["beta"])[i, w] * x["params"] ** -np.asarray(theta["alpha"])[i] + np.asarray(theta["Linf"])[i]


def _mixing(theta, x):
    i = x["target"]
    c, k, t = (np.asarray(theta[name])[i] for name in ("c", "k", "t"))
    return c + k * np.exp(np.sum(t * x["weights"], axis=1))


def _linear_mixing(theta, x):
    i = x["target"]
    return np.asarray(theta["c"])[i] - np.sum(np.asarray(theta["A"])[i] * x["weights"], axis=1)


def _family(theta, x):
    return _chinchilla(theta, x) * x["own_weight"] ** -np.asarray(theta["gamma"])[x["target"]]


def _additive(theta, x):
    i = x["target"]
    mixture = 1.0 / np.sum(np.asarray(theta["C"])[i] * x["weights"] ** np.asarray(theta["gamma"])[i], axis=1)
    return _chinchilla(theta, x) + mixture


def _joint(theta, x):
    i = x["target"]
    scales = {
        "A": np.sum(np.asarray(theta["CA"])[i] * x["weights"], axis=1) ** np.asarray(theta["gammaA"])[i],
        "B": np.sum(np.asarray(theta["CB"])[i] * x["weights"], axis=1) ** np.asarray(theta["gammaB"])[i],
    }
    t = {k: np.asarray(theta[k])[i] for k in ("E", "alpha", "beta")}
    return t["E"] + scales["A"] / x["params"] ** t["alpha"] + scales["B"] / x["tokens"] ** t["beta"]


def _repeated(amount, unique, rstar):
    """Muennighoff et al. 2023, eq. 5: U + U R* (1 - exp(-(x/U - 1)/R*)) beyond U unique units, x up to it."""
    with np.errstate(invalid="ignore", over="ignore"):
        saturated = unique * (1 + rstar * (1 - np.exp(-(amount / unique - 1) / rstar)))
    return np.where(amount > unique, saturated, amount)


def _data_constrained(theta, x):
    t = {k: np.asarray(v)[x["target"]] for k, v in theta.items()}
    tokens = _repeated(x["tokens"], x["unique"], t["rstar_tokens"])
    g = (t["alpha"] * t["A"] / (t["beta"] * t["B"])) ** (1 / (t["alpha"] + t["beta"]))
    base = np.minimum(g * (g * x["unique"]) ** (t["beta"] / t["alpha"]), x["params"])  # U_N = min(N_opt(U_D), N)
    params = _repeated(x["params"], base, t["rstar_params"])
    return t["E"] + t["A"] / params ** t["alpha"] + t["B"] / tokens ** t["beta"]


def _tokens_only(theta, x):
    rstar = np.asarray(theta["rstar_tokens"])[x["target"]]
    return _chinchilla(theta, {**x, "tokens": _repeated(x["tokens"], x["unique"], rstar)})


def _transfer(theta, x):
    t = {k: np.asarray(v)[x["target"]] for k, v in theta.items()}
    tau = t["transfer"].copy()
    own = x["own_domain"] >= 0
    tau[np.flatnonzero(own), x["own_domain"][own]] = 1.0  # a language's own data counts fully
    per_domain = _repeated(x["tokens"][:, None] * x["weights"], x["unique_by_domain"], t["rstar"][:, None])
    tokens = np.sum(tau * per_domain, axis=1)
    return t["E"] + t["A"] / x["params"] ** t["alpha"] + t["B"] / tokens ** t["beta"]


def _bump(t, p):
    return p + t["c1"] * p ** t["c2"] * (1 - p) ** t["c3"]  # Fernandes et al. 2023, eq. 6


# case id: law name, options, parameters (per target, or [target, domain / weighting]), inputs, the formula
CASES = {
    "power": ("power", {}, POWER, {"params": N, "target": TARGET}, _power),
    "chinchilla": ("chinchilla", {}, {**SIZE, "alpha": [0.3473, -0.1]}, {"params": N, "tokens": D, "target": TARGET}, _chinchilla),
    "kaplan": ("kaplan", {}, {"E": [1.7, 1.2], "A": [8.8e13, 1e10], "B": [5.4e13, 1e12], "gamma": [0.8, 1.2],
                               "beta": [0.095, 0.25]}, {"params": N, "tokens": D, "target": TARGET}, _kaplan),
    "multilingual-power": (
        "multilingual", {"f": "power"}, {**POWER, "c1": [0.8, 0.3], "c2": [1.0, 1.2], "c3": [0.5, 0.7]},
        {"params": N, "own_weight": P, "target": TARGET}, _multilingual(_bump),
    ),
    "multilingual-linear": (
        "multilingual", {"f": "linear"}, {**POWER, "c0": [0.2, 0.05]},
        {"params": N, "own_weight": np.array([0.0, 0.5, 1.0, 0.3]), "target": TARGET},  # f(0) = c0: zero-shot
        _multilingual(lambda t, p: t["c0"] + (1 - t["c0"]) * p),
    ),
    "multilingual-proportional": (
        "multilingual", {"f": "proportional"}, POWER, {"params": N, "own_weight": P, "target": TARGET},
        _multilingual(lambda t, p: p),
    ),
    "multilingual-per-weight": (
        "multilingual-per-weight", {}, {**POWER, "beta": [[20.0, 25.0, 30.0], [60.0, 70.0, 80.0]]},
        {"params": N, "own_weight": P, "target": TARGET, "weighting": np.array([0, 2, 1, 2])}, _per_weight,
    ),
    "mixing": (
        "mixing", {}, {"c": [1.5, 2.0], "k": [1.0, 0.3], "t": [[0.5, -1.0, 0.3], [-2.0, 0.1, 4.0]]},
        {"weights": H, "target": TARGET}, _mixing,
    ),
    "linear-mixing": (
        "linear-mixing", {}, {"c": [3.0, 2.5], "A": [[0.5, -1.0, 0.3], [1.0, 0.1, 1.5]]},
        {"weights": H, "target": TARGET}, _linear_mixing,
    ),
    "multilingual-family": (
        "multilingual-family", {}, {**SIZE, "gamma": [0.05, 0.1]},
        {"params": N, "tokens": D, "own_weight": P, "target": TARGET}, _family,
    ),
    "mixture-additive": (
        "mixture-additive", {}, {**SIZE, "C": [[4.0, 2.0, 6.0], [1.0, 0.5, 3.0]], "gamma": [[0.5, 1.0, 0.3], [2.0, 0.7, 1.1]]},
        {"params": N, "tokens": D, "weights": H, "target": TARGET}, _additive,
    ),
    "mixture-joint": (
        "mixture-joint", {},
        {"E": [1.5, 1.1], "alpha": [0.3, 0.28], "beta": [0.3, 0.33], "CA": [[100.0, 300.0, 200.0], [50.0, 20.0, 80.0]],
         "gammaA": [1.2, 0.9], "CB": [[900.0, 500.0, 2000.0], [300.0, 700.0, 100.0]], "gammaB": [1.0, 1.3]},
        {"params": N, "tokens": D, "weights": H, "target": TARGET}, _joint,
    ),
    "data-constrained": (
        "data-constrained", {}, {**SIZE, "rstar_tokens": [15.4, 8.0], "rstar_params": [5.3, 2.0]},
        {"params": N, "tokens": D, "unique": UNIQUE, "target": TARGET}, _data_constrained,
    ),
    "data-constrained-tokens-only": (
        "data-constrained", {"excess_params": False}, {**SIZE, "rstar_tokens": [15.4, 8.0]},
        {"params": N, "tokens": D, "unique": UNIQUE, "target": TARGET},
        _tokens_only,
    ),
    "transfer": (  # targets 0 and 1 are named like domains 0 and 1; domain 2 is no target's own
        "transfer", {}, {**SIZE, "rstar": [10.0, 20.0], "transfer": [[0.5, 0.2, 0.05], [0.3, 0.4, 0.1]]},
        {"params": N, "tokens": D, "weights": H, "target": TARGET, "own_domain": np.array([0, 1, 1, 0]),
         "unique_by_domain": np.array([[np.inf, 1e8, np.inf], [np.inf] * 3, [1e10, np.inf, 2e10], [1e8, 1e8, 1e8]])},
        _transfer,
    ),
}


def _inputs(fields):
    """``Inputs`` from numpy arrays; fields the law does not read stay ``None``."""
    empty = dict.fromkeys(Inputs._fields)
    return Inputs(**{**empty, **{k: jnp.asarray(v) for k, v in fields.items()}})


def test_every_registered_law_has_a_case():
    assert {name for name, *_ in CASES.values()} == set(laws.names())
    assert {case[1].get("f") for case in CASES.values() if case[0] == "multilingual"} == {"power", "linear", "proportional"}


@pytest.mark.parametrize("case", list(CASES))
def test_law_matches_the_papers_formula(case):
    name, options, theta, fields, formula = CASES[case]
    law = laws.get(name, **options)
    assert set(theta) == {p.name for p in law.params}
    expected = formula(theta, fields)
    with float64():
        got = np.exp(np.asarray(law.log_loss({k: jnp.asarray(v, dtype=float) for k, v in theta.items()}, _inputs(fields))))
    assert got.dtype == np.float64 and np.all(np.isfinite(expected))
    np.testing.assert_allclose(got, expected, rtol=RTOL)


def test_reads_mixture_is_true_for_laws_that_read_a_weight():
    readers = {name for name in laws.names() if laws.get(name).reads_mixture}
    assert readers == {"multilingual", "multilingual-per-weight", "mixing", "linear-mixing", "multilingual-family", "mixture-additive",
                       "mixture-joint", "transfer"}


def test_compute_optimal_spends_the_budget_at_the_closed_form():
    """``N* = G (C/6)^(beta/(alpha+beta))``, ``D* = G^-1 (C/6)^(alpha/(alpha+beta))``,
    ``G = (alpha A / (beta B))^(1/(alpha+beta))`` (Hoffmann et al. 2022, eq. 4), at Besiroglu et al.'s fit;
    there ``6 N* D* = C`` and the marginal gains balance: ``alpha A / N*^alpha = beta B / D*^beta``."""
    a, b, alpha, beta = 477.8, 2143.4, 0.3473, 0.3672
    flops = np.array([1e18, 5.76e23, 1e26])
    g = (alpha * a / (beta * b)) ** (1 / (alpha + beta))
    want_n = g * (flops / 6) ** (beta / (alpha + beta))
    want_d = (flops / 6) ** (alpha / (alpha + beta)) / g
    with float64():
        n, d, ratio = map(np.asarray, compute_optimal({"A": a, "B": b, "alpha": alpha, "beta": beta}, flops))
    np.testing.assert_allclose(6 * n * d, flops, rtol=1e-12)
    np.testing.assert_allclose(n, want_n, rtol=RTOL)
    np.testing.assert_allclose(d, want_d, rtol=RTOL)
    np.testing.assert_allclose(ratio, want_d / want_n, rtol=RTOL)
    np.testing.assert_allclose(alpha * a / n**alpha, beta * b / d**beta, rtol=1e-10)


@pytest.mark.parametrize(
    "f, theta, expected",
    [
        ("power", {"c1": 0.8, "c2": 1.0, "c3": 0.5}, [0.0, 0.05 + 0.8 * 0.05 * 0.95**0.5, 0.5 + 0.8 * 0.5 * 0.5**0.5, 1.0]),
        ("power", {"c1": 0.3, "c2": 2.0, "c3": 1.5}, [0.0, 0.05 + 0.3 * 0.05**2 * 0.95**1.5, 0.5 + 0.3 * 0.25 * 0.5**1.5, 1.0]),
        ("linear", {"c0": 0.2}, [0.2, 0.2 + 0.8 * 0.05, 0.2 + 0.8 * 0.5, 1.0]),
        ("proportional", {}, [0.0, 0.05, 0.5, 1.0]),
    ],
)
def test_effective_fraction_matches_its_forms(f, theta, expected):
    """``f(p)`` at p = 0, 0.05, 0.5, 1: the power form's bump vanishes at both ends (Fernandes et al. 2023)."""
    p, size = np.array([0.0, 0.05, 0.5, 1.0]), 1e8
    with float64():
        fraction = np.asarray(effective_fraction(theta, p, f))
        params = np.asarray(effective_params(theta, size, p, f))
    np.testing.assert_allclose(fraction, expected, rtol=RTOL, atol=0)
    np.testing.assert_allclose(params, np.asarray(expected) * size, rtol=RTOL, atol=0)
