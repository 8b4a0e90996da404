"""Every law recovers the parameters it simulated data with (the law's own ``log_loss`` on a small design),
without noise to tight tolerance and with log-normal noise to a stated one; a user-defined law does the same
through the registry and a save/load round trip."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest

from scalemix import laws, runs
from scalemix._x64 import float64
from scalemix.fit import fit_point
from scalemix.design import design, table_coords
from scalemix.fitresult import Fit
from scalemix.laws import Law, Param, positive

NOISE = 0.01  # sd of the log-loss noise of the noisy simulation (about 1% of the loss)
SEED = 0
STARTS = {"random_starts": 8, "seed": SEED, "refine": 10_000}  # every start to convergence: one compile per law


def _runs(params=(1e8,), tokens=(1e10,), mixtures=((),), targets=("t",), domains=()):
    """One row per (params, tokens, mixture, target); ``mixtures`` are weight tuples over ``domains``."""
    rows = []
    for k, (n, d, w) in enumerate(itertools.product(params, tokens, mixtures)):
        for target in targets:
            rows.append({"run_id": f"r{k}", "target": target, "params": n, "tokens": d, **{f"w.{x}": v for x, v in zip(domains, w)}})
    return pl.DataFrame(rows)


def _grid(low, high, n):
    return tuple(np.logspace(low, high, n))


def _dirichlet(k, n):
    return tuple(map(tuple, np.random.default_rng(SEED).dirichlet(np.ones(k), n)))


PAIRS = tuple((p, round(1 - p, 2)) for p in (0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95))  # Fernandes et al.'s p
BILINGUAL = {"targets": ("de", "fr"), "domains": ("de", "fr"), "mixtures": PAIRS}

# law name, options, run design, true parameters (per target, or [target, domain/weighting])
CASES = {
    "power": ("power", {}, {"params": _grid(7, 10, 12), "targets": ("a", "b")},
              {"beta": [400.0, 60.0], "alpha": [0.3, 0.2], "Linf": [1.5, 0.8]}),
    "chinchilla": ("chinchilla", {}, {"params": _grid(7.5, 10, 6), "tokens": _grid(9, 11.5, 6)},
                   {"E": [1.7], "A": [400.0], "B": [2000.0], "alpha": [0.34], "beta": [0.28]}),
    "multilingual-power": ("multilingual", {"f": "power"}, {**BILINGUAL, "params": _grid(7, 9.5, 8)},
                           {"beta": [50.0, 80.0], "alpha": [0.25, 0.3], "Linf": [1.2, 1.0],
                            "c1": [0.8, 0.3], "c2": [1.0, 1.2], "c3": [0.5, 0.7]}),
    "multilingual-linear": ("multilingual", {"f": "linear"}, {**BILINGUAL, "params": _grid(7, 9.5, 8)},
                            {"beta": [50.0, 80.0], "alpha": [0.25, 0.3], "Linf": [1.2, 1.0], "c0": [0.2, 0.05]}),
    "multilingual-per-weight": ("multilingual-per-weight", {}, {**BILINGUAL, "params": _grid(7, 9.5, 8)},
                                {"beta": [[20, 22, 25, 30, 35, 40, 42], [60, 65, 70, 75, 78, 80, 82]], "alpha": [0.25, 0.3],
                                 "Linf": [1.2, 1.0]}),
    "mixing": ("mixing", {}, {"mixtures": _dirichlet(4, 40), "domains": ("a", "b", "c", "d")},
               {"c": [1.5], "k": [1.0], "t": [[0.5, -1.0, 0.3, -0.2]]}),
    "linear-mixing": ("linear-mixing", {}, {"mixtures": _dirichlet(4, 40), "domains": ("a", "b", "c", "d")},
                      {"c": [3.0], "A": [[0.5, -0.4, 0.3, 1.0]]}),
    "multilingual-family": ("multilingual-family", {}, {**BILINGUAL, "params": _grid(7, 9.5, 4), "tokens": _grid(9, 11, 3)},
                            {"E": [1.5, 1.2], "A": [300.0, 100.0], "B": [900.0, 3000.0], "alpha": [0.3, 0.25],
                             "beta": [0.3, 0.35], "gamma": [0.05, 0.1]}),
    "mixture-additive": ("mixture-additive", {}, {"params": _grid(7, 9.5, 3), "tokens": _grid(9, 11, 3),
                                                  "mixtures": _dirichlet(3, 8), "domains": ("a", "b", "c")},
                         {"E": [1.5], "A": [300.0], "B": [900.0], "alpha": [0.3], "beta": [0.3],
                          "C": [[4.0, 2.0, 6.0]], "gamma": [[0.5, 1.0, 0.3]]}),
    "mixture-joint": ("mixture-joint", {}, {"params": _grid(7, 9.5, 3), "tokens": _grid(9, 11, 3),
                                            "mixtures": _dirichlet(3, 8), "domains": ("a", "b", "c")},
                      {"E": [1.5], "alpha": [0.3], "beta": [0.3], "CA": [[100.0, 300.0, 200.0]], "gammaA": [1.2],
                       "CB": [[900.0, 500.0, 2000.0]], "gammaB": [1.0]}),
}


def _simulate(law, frame, theta, noise):
    """The law's own loss at every row of ``frame``, times log-normal noise of sd ``noise`` (seeded)."""
    log_loss = _log_loss(law, frame, theta)
    log_loss = log_loss + noise * np.random.default_rng(SEED + 1).standard_normal(log_loss.shape)
    return runs.read(frame.with_columns(loss=pl.Series(np.exp(log_loss))))


def _identified(law, values):
    """Parameters compared with the truth; for ``mixing`` the gauge-free ``c`` and ``log k + t_j``
    (``sum_j r_j = 1``, so adding a constant to every ``t_ij`` and taking it from ``log k`` changes nothing),
    for ``linear-mixing`` likewise ``c - A_j``."""
    values = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    if law.name == "mixing":
        return {"c": values["c"], "log k + t": np.log(values["k"])[:, None] + values["t"]}
    if law.name == "linear-mixing":
        return {"c - A": values["c"][:, None] - values["A"]}
    return values


@pytest.mark.parametrize("case", list(CASES))
def test_law_recovers_simulated_parameters(case):
    name, options, runs_design, truth = CASES[case]
    law = laws.get(name, **options)
    frame = _runs(**runs_design)
    starts = {**STARTS, "refine": 64} if name == "chinchilla" else STARTS  # 4,500 grid starts: screen them
    exact = fit_point(_simulate(law, frame, truth, 0.0), law, **starts)
    want = _identified(law, truth)
    got = _identified(law, {k: v[0] for k, v in exact.draws.items()})
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-3, atol=1e-4, err_msg=f"{case}: {key} without noise")
    assert exact.diagnostics["objective"] < 1e-12

    table = _simulate(law, frame, truth, NOISE)
    noisy = fit_point(table, law, **starts)  # same shapes: the same compiled program
    assert noisy.diagnostics["objective"] <= _objective(law, table, truth) * (1 + 1e-9)  # no worse than the truth
    # least squares with p parameters on n rows misses the true curve by about NOISE * sqrt(p / n) (RMS)
    true_curve = _log_loss(law, frame, truth)
    fitted_curve = _log_loss(law, frame, {k: v[0] for k, v in noisy.draws.items()})
    assert np.sqrt(np.mean((fitted_curve - true_curve) ** 2)) < 0.75 * NOISE


def _log_loss(law, frame, theta):
    with float64():
        d = design(frame, law, table_coords(frame, law), observed=False)
        return np.asarray(law.log_loss({k: jnp.asarray(v, dtype=float) for k, v in theta.items()}, d.inputs))


def _objective(law, table, theta, delta=1e-3):
    """Summed Huber objective of ``theta`` on ``table``, computed here (not by the solver)."""
    r = _log_loss(law, table.frame, theta) - np.log(table.frame["loss"].to_numpy())
    a = np.abs(r)
    return float(np.sum(np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))))


def _saturating_log_loss(theta, x):
    i = x.target
    return jnp.logaddexp(jnp.log(theta["E"][i]), theta["alpha"][i] * (jnp.log(theta["N0"][i]) - jnp.log(x.params)))


def test_user_defined_law_fits_saves_and_loads(tmp_path):
    """The README's recipe: parameter declarations plus a jnp formula, registered by name."""
    law = laws.register(Law(
        name="saturating",
        params=(
            Param("E", constraint=positive, prior=(0.5, 1.0), grid=(1.0, 2.0)),
            Param("N0", constraint=positive, prior=(15.0, 5.0), grid=(1e4, 1e6)),
            Param("alpha", constraint=positive, prior=(-1.0, 1.0), grid=(0.2, 0.5)),
        ),
        log_loss=_saturating_log_loss,
        needs=frozenset({"params"}),
        formula="L = E + (N0 / N)^alpha",
        reference="a user's own law (README example)",
    ))
    assert laws.get("saturating") is law and "saturating" in laws.names()
    truth = {"E": [1.6], "N0": [3e5], "alpha": [0.35]}
    fit = fit_point(_simulate(law, _runs(params=_grid(6, 10, 10)), truth, 0.0), law)
    for key, value in truth.items():
        np.testing.assert_allclose(fit.draws[key][0], value, rtol=1e-4)
    loaded = Fit.load(fit.save(tmp_path / "fit"))
    assert loaded.law is law
    expected = 1.6 + (3e5 / 1e11) ** 0.35  # the formula by hand, 10x beyond the largest run
    assert float(loaded.predict({"params": 1e11})["median"][0]) == pytest.approx(expected, rel=1e-4)


def test_logsumexp_terms_matches_jax_value_and_gradient():
    """The elementwise log-sum-exp the laws use against ``jax.scipy.special.logsumexp`` on a stacked axis,
    including -inf terms (a weight of 0) and terms large enough to overflow a naive sum."""
    from jax.scipy.special import logsumexp

    from scalemix.laws import logsumexp_terms

    with float64():
        a = jnp.array([0.0, -jnp.inf, 800.0, -3.0])
        b = jnp.array([1.0, 2.0, 799.0, -jnp.inf])

        def ours(x):
            return jnp.sum(logsumexp_terms((a * x, b, jnp.full(4, x))))

        def reference(x):
            return jnp.sum(logsumexp(jnp.stack([a * x, b, jnp.full(4, x)]), axis=0))

        np.testing.assert_allclose(ours(0.7), reference(0.7), rtol=1e-14)
        np.testing.assert_allclose(jax.grad(ours)(0.7), jax.grad(reference)(0.7), rtol=1e-14)


def test_safe_power_is_zero_at_zero_with_finite_gradients():
    """``h^gamma`` for a domain left out of a mixture (h = 0): value 0 and gradient 0 in gamma (not NaN,
    which stopped every fit of mixture-additive on RegMix's sparse mixtures); elsewhere ``h ** gamma``."""
    from scalemix.laws import safe_power

    with float64():
        shares = jnp.array([0.0, 0.25, 1.0])
        value, (d_share, d_exponent) = jax.value_and_grad(lambda h, g: jnp.sum(safe_power(h, g)), argnums=(0, 1))(shares, 0.5)
        np.testing.assert_allclose(value, 0.5 + 1.0, rtol=1e-15)
        assert np.isfinite(d_share[1:]).all() and np.isfinite(d_exponent)
        np.testing.assert_allclose(d_exponent, 0.5 * np.log(0.25), rtol=1e-14)  # d/dg h^g = h^g log h, 0 at h = 1
