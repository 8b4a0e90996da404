"""The repetition laws: Muennighoff et al.'s saturation in closed form, the data-constrained law against
Chinchilla and against the paper's fitted R*_D on its own runs, and the transfer law (ATLAS) against its
formula by hand and a simulation with a known transfer matrix."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl
import pytest

from scalemix import laws, runs
from scalemix._x64 import float64
from scalemix.errors import FitError, OptimizeError, RunTableError
from scalemix.fit import fit_point
from scalemix.fitresult import Fit
from scalemix.simulate import simulate

CHINCHILLA = {"E": 1.7, "A": 400.0, "B": 2000.0, "alpha": 0.34, "beta": 0.28}
MUENNIGHOFF = {"rstar_tokens": 15.387756, "rstar_params": 5.309743}  # Muennighoff et al. 2023, fitted R*_D, R*_N


def _one_target_fit(law, values, domains=()):
    draws = {k: np.atleast_1d(np.asarray(v, dtype=float))[None] for k, v in values.items()}
    return Fit(law=law, coords={"target": ("t",), "domain": tuple(domains)}, draws=draws, method="point",
               noise=np.full((1, 1), 0.01))


def _predicted(fit, points):
    return np.exp(fit.log_loss_draws(pl.DataFrame(points))[1][0])


def test_saturation_closed_form():
    """S = x up to U; U (1 + R* (1 - exp(-R/R*))) with R = x/U - 1 beyond; U (1 + R*) in the limit; x for U = inf."""
    with float64():
        unique, rstar = 2.0, 15.4
        amount = jnp.array([1.0, 2.0, 10.0, 1e9])
        expected = [1.0, 2.0, 2.0 * (1 + rstar * (1 - np.exp(-4.0 / rstar))), 2.0 * (1 + rstar)]
        np.testing.assert_allclose(laws.saturated(amount, unique, rstar), expected, rtol=1e-12)
        np.testing.assert_allclose(laws.saturated(amount, jnp.inf, rstar), amount, rtol=0)
        grads = jax.grad(lambda x, u, r: jnp.sum(laws.saturated(x, u, r)), argnums=(0, 1, 2))(amount, jnp.full(4, unique), rstar)
        assert all(np.isfinite(g).all() for g in grads)
        no_limit = jax.grad(lambda r: jnp.sum(laws.saturated(amount, jnp.inf, r)))(rstar)
        assert float(no_limit) == 0.0  # nothing repeated: R* has no say, and no NaN from inf * 0


def test_optimal_params_inverts_the_compute_optimal_allocation():
    """N_opt(D*) of the data-constrained law gives back Hoffmann's N* for the budget whose D* it is."""
    with float64():
        theta = {k: jnp.asarray(v) for k, v in CHINCHILLA.items() if k != "E"}
        params, tokens, _ = laws.compute_optimal(theta, jnp.array([1e19, 1e21, 1e23]))
        np.testing.assert_allclose(laws.optimal_params(theta, tokens), params, rtol=1e-10)


def test_data_constrained_is_chinchilla_when_nothing_repeats():
    """No limit on the unique data: Chinchilla's loss; one epoch or less: Chinchilla's loss for the tokens
    term alone, while the parameter term still discounts a model larger than N_opt(U) (Muennighoff's U_N)."""
    chinchilla = _one_target_fit(laws.get("chinchilla"), CHINCHILLA)
    constrained = _one_target_fit(laws.get("data-constrained"), {**CHINCHILLA, **MUENNIGHOFF})
    tokens_only = _one_target_fit(laws.get("data-constrained", excess_params=False), {**CHINCHILLA, "rstar_tokens": 15.4})
    no_limit = {"params": [1e8, 1e9], "tokens": [2e9, 2e10], "unique": [None, None]}
    np.testing.assert_allclose(_predicted(constrained, no_limit), _predicted(chinchilla, no_limit), rtol=1e-12)
    one_epoch = {"params": [1e8, 1e9], "tokens": [2e9, 2e10], "unique": [1e10, 2e10]}
    np.testing.assert_allclose(_predicted(tokens_only, one_epoch), _predicted(chinchilla, one_epoch), rtol=1e-12)
    assert (_predicted(constrained, one_epoch) > _predicted(chinchilla, one_epoch)).all()  # N > N_opt(U) here


def test_data_constrained_by_hand():
    """Four epochs of 5e9 unique tokens on a 1e9 model: both terms of Muennighoff et al.'s eqs. 5-6 by hand."""
    n, d, u = 1e9, 2e10, 5e9
    c = CHINCHILLA
    d_eff = u * (1 + MUENNIGHOFF["rstar_tokens"] * (1 - np.exp(-(d / u - 1) / MUENNIGHOFF["rstar_tokens"])))
    g = (c["alpha"] * c["A"] / (c["beta"] * c["B"])) ** (1 / (c["alpha"] + c["beta"]))
    base = min(g * (g * u) ** (c["beta"] / c["alpha"]), n)
    n_eff = n if base >= n else base * (1 + MUENNIGHOFF["rstar_params"] * (1 - np.exp(-(n / base - 1) / MUENNIGHOFF["rstar_params"])))
    expected = c["E"] + c["A"] / n_eff ** c["alpha"] + c["B"] / d_eff ** c["beta"]
    fit = _one_target_fit(laws.get("data-constrained"), {**CHINCHILLA, **MUENNIGHOFF})
    np.testing.assert_allclose(_predicted(fit, {"params": [n], "tokens": [d], "unique": [u]}), [expected], rtol=1e-12)
    tokens_only = _one_target_fit(laws.get("data-constrained", excess_params=False), {**CHINCHILLA, "rstar_tokens": MUENNIGHOFF["rstar_tokens"]})
    expected = c["E"] + c["A"] / n ** c["alpha"] + c["B"] / d_eff ** c["beta"]
    np.testing.assert_allclose(_predicted(tokens_only, {"params": [n], "tokens": [d], "unique": [u]}), [expected], rtol=1e-12)


def test_data_constrained_recovers_simulated_rstar():
    """Runs at 4 sizes x 3 budgets x 5 repetition levels, noise-free: the fit finds R*_D and R*_N."""
    grid = itertools.product([3e7, 1e8, 3e8, 1e9], [3e9, 1e10, 3e10], [1, 2, 4, 8, 16])
    points = pl.DataFrame([{"run_id": f"r{k}", "params": n, "tokens": d, "unique": d / epochs}
                           for k, (n, d, epochs) in enumerate(grid)])
    truth = {**CHINCHILLA, "rstar_tokens": 12.0, "rstar_params": 5.0}
    table = simulate("data-constrained", truth, points, targets=("t",), noise=0.0)
    fit = fit_point(runs.read(table), laws.get("data-constrained"), max_iter=1000)
    for name, value in truth.items():
        np.testing.assert_allclose(fit.draws[name][0, 0], value, rtol=1e-3, err_msg=name)


def test_datablations_rstar_tokens_beside_the_published_value(shared_data):
    """Muennighoff et al.'s 229 final C4 runs (ColPret's contour file; 7M-8.7B params, 1-9000 epochs): the
    tokens-only law fitted jointly gives R*_D within 30% of the paper's 15.4. (With the parameter term too,
    R*_D and R*_N trade off on these runs: the README's table gives both fits beside the paper's.)"""
    frame = pl.read_csv(shared_data / "hitchhiker_colpret" / "datablations_contour_losses.csv")
    table = frame.select(  # the file's tokens_per_epoch is wrong for the repeated runs: unique = tokens / epochs
        run_id=pl.col("model_args") + "#" + pl.col("index").cast(pl.Utf8), params="num_params", tokens="token_num",
        unique=pl.col("token_num") / pl.col("epochs"), target=pl.lit("c4"), loss="openLM_loss",
    )
    fit = fit_point(runs.read(table), laws.get("data-constrained", excess_params=False))
    assert fit.draws["rstar_tokens"][0, 0] == pytest.approx(MUENNIGHOFF["rstar_tokens"], rel=0.3)


LANGS = ("en", "de", "ru")
TRANSFER = np.array([[1.0, 0.3, 0.05], [0.4, 1.0, 0.1], [0.02, 0.15, 1.0]])  # [target, domain]; own entries unread


def _transfer_truth():
    return {"E": [1.2, 1.4, 1.3], "A": [300.0, 400.0, 350.0], "B": [500.0, 800.0, 600.0], "alpha": [0.33, 0.3, 0.36],
            "beta": [0.3, 0.32, 0.28], "rstar": [10.0, 15.0, 20.0], "transfer": TRANSFER}


def test_transfer_by_hand():
    """A run on de alone with en repeated nowhere: de learns from D tokens, en from tau_en,de D, ru from
    tau_ru,de D; and a 50/50 en-de run with de capped at U (2 epochs) discounts de's half by the saturation."""
    truth = _transfer_truth()
    fit = Fit(law=laws.get("transfer"), coords={"target": LANGS, "domain": LANGS},
              draws={k: np.asarray(v, dtype=float)[None] for k, v in truth.items()}, method="point", noise=np.zeros((1, 3)))
    n, d, u = 1e8, 2e9, 5e8

    def chinchilla(i, tokens):
        return truth["E"][i] + truth["A"][i] / n ** truth["alpha"][i] + truth["B"][i] / tokens ** truth["beta"][i]

    mono = fit.predict({"params": n, "tokens": d, "w.en": 0.0, "w.de": 1.0, "w.ru": 0.0}, levels=(0.5,), extrapolation=False)
    expected = [chinchilla(0, TRANSFER[0, 1] * d), chinchilla(1, d), chinchilla(2, TRANSFER[2, 1] * d)]
    np.testing.assert_allclose(mono["median"].to_numpy(), expected, rtol=1e-10)

    def saturated(i, x):
        r = truth["rstar"][i]
        return u * (1 + r * (1 - np.exp(-(x / u - 1) / r)))

    capped = fit.predict({"params": n, "tokens": d, "w.en": 0.5, "w.de": 0.5, "w.ru": 0.0, "unique.de": u},
                         levels=(0.5,), extrapolation=False)
    half = 0.5 * d
    expected = [chinchilla(0, half + TRANSFER[0, 1] * saturated(0, half)), chinchilla(1, saturated(1, half) + TRANSFER[1, 0] * half),
                chinchilla(2, TRANSFER[2, 0] * half + TRANSFER[2, 1] * saturated(2, half))]
    np.testing.assert_allclose(capped["median"].to_numpy(), expected, rtol=1e-10)


def _transfer_points(seed=0):
    rng = np.random.default_rng(seed)
    mixtures = np.concatenate([np.eye(3), rng.dirichlet(np.ones(3), 5)])
    rows = []
    for k, (n, per_param, w) in enumerate(itertools.product([2e7, 6e7, 2e8], [8, 32], mixtures)):
        tokens = per_param * n
        capped = {"unique.ru": tokens * w[2] / 4} if k % 3 == 0 and w[2] > 0 else {}
        rows.append({"run_id": f"r{k}", "params": n, "tokens": tokens, **{f"w.{l}": v for l, v in zip(LANGS, w)}, **capped})
    return pl.concat([pl.DataFrame([r]) for r in rows], how="diagonal_relaxed")


def test_transfer_recovers_a_simulated_transfer_matrix():
    """48 runs (3 monolingual + 5 Dirichlet mixtures x 3 sizes x 2 budgets, ru repeated 4 epochs in a third):
    noise-free, the point fit finds every off-diagonal tau_ij (to 1%) and
    ru's R*; with 1% noise, each within 25% (this seed's largest miss is 17%)."""
    truth = _transfer_truth()
    points = _transfer_points()
    off = ~np.eye(3, dtype=bool)
    for noise, rtol in ((0.0, 1e-2), (0.01, 0.25)):
        table = simulate("transfer", truth, points, targets=LANGS, domains=LANGS, noise=noise)
        fit = fit_point(runs.read(table), laws.get("transfer"), max_iter=1000)
        order = [fit.coords["domain"].index(lang) for lang in LANGS]  # the reader sorts the w.<domain> columns
        np.testing.assert_allclose(fit.draws["transfer"][0][:, order][off], TRANSFER[off], rtol=rtol, err_msg=f"noise {noise}")
        if noise == 0.0:
            np.testing.assert_allclose(fit.draws["rstar"][0][2], truth["rstar"][2], rtol=rtol)  # only ru repeats


def test_signed_transfer_floors_effective_data():
    """With interference stronger than the target's own data, effective tokens stop at SIGNED_FLOOR x D."""
    from scalemix.laws.transfer import SIGNED_FLOOR, effective_tokens

    with float64():
        x = laws.Inputs(params=jnp.array([1e8, 1e8]), tokens=jnp.array([1e9, 1e9]), weights=jnp.array([[0.1, 0.9], [0.9, 0.1]]),
                        target=jnp.zeros(2, int), unique_by_domain=jnp.full((2, 2), jnp.inf), own_domain=jnp.zeros(2, int))
        theta = {"transfer": jnp.array([[1.0, -0.5], [1.0, -0.5]]), "rstar": jnp.array([10.0, 10.0])}
        tokens = effective_tokens(theta, x, signed=True)
    np.testing.assert_allclose(tokens, [SIGNED_FLOOR * 1e9, 0.85e9], rtol=1e-12)


def test_reader_checks_unique_columns(tmp_path):
    """unique values are run constants: a non-number, a non-positive count or two values for one run name the
    row, column and value; an empty cell is no limit."""
    base = {"run_id": ["a", "a", "b"], "params": [1e8] * 3, "tokens": [1e9] * 3, "target": ["x", "y", "x"],
            "loss": [3.0, 3.1, 2.9], "w.x": [0.5, 0.5, 1.0], "w.y": [0.5, 0.5, 0.0]}
    ok = runs.read(pl.DataFrame({**base, "unique.x": [4e8, 4e8, None]}))
    assert ok.frame["unique.x"].to_list() == [4e8, 4e8, None]
    bad = {"text": ["lots", "lots", None], "zero": [4e8, 4e8, 0.0], "differs": [4e8, 5e8, None]}
    messages = {"text": "'unique.x': value 'lots' is not a number", "zero": "value 0.0 is not positive",
                "differs": "values 400000000.0 and 500000000.0 differ"}
    for case, values in bad.items():
        path = tmp_path / f"{case}.csv"
        pl.DataFrame({**base, "unique.x": values}).write_csv(path)
        with pytest.raises(RunTableError, match=messages[case]):
            runs.read(path)


def test_query_unique_columns():
    """A query may give unique.<domain> for the fit's domains only, and each value must be a positive count."""
    fit = Fit(law=laws.get("transfer"), coords={"target": LANGS, "domain": LANGS},
              draws={k: np.asarray(v, dtype=float)[None] for k, v in _transfer_truth().items()}, method="point",
              noise=np.zeros((1, 3)))
    point = {"params": 1e8, "tokens": 1e9, "w.en": 1.0, "w.de": 0.0, "w.ru": 0.0}
    with pytest.raises(FitError, match="'unique.fr' names no domain of this fit"):
        fit.predict({**point, "unique.fr": 1e8})
    with pytest.raises(FitError, match="'unique.en': value -1 is not a positive number"):
        fit.predict({**point, "unique.en": -1.0})
    repeated = fit.predict({**point, "unique.en": 1e8}, extrapolation=False)["median"].to_numpy()
    fresh = fit.predict(point, extrapolation=False)["median"].to_numpy()
    assert (repeated > fresh).all()  # ten epochs of en: en learns less, and so do de and ru from it


def test_optimizer_prices_repetition_through_the_token_inventory():
    """With ru's data limited to 1/20 of the budget and repeats worth little (R* = 1), the optimum moves weight
    off ru, though no hard cap stops it (the law prices each epoch); a hard cap of one epoch holds exactly."""
    from scalemix.optimize import optimize

    truth = {**_transfer_truth(), "rstar": [1.0, 1.0, 1.0]}
    fit = Fit(law=laws.get("transfer"), coords={"target": LANGS, "domain": LANGS},
              draws={k: np.asarray(v, dtype=float)[None] for k, v in truth.items()}, method="point", noise=np.zeros((1, 3)))
    tokens = 2e9
    free = optimize(fit, params=1e8, tokens=tokens)
    priced = optimize(fit, params=1e8, tokens=tokens, available_tokens={"ru": tokens / 20})
    capped = optimize(fit, params=1e8, tokens=tokens, available_tokens={"ru": tokens / 20}, max_epochs=1.0)
    ru = LANGS.index("ru")
    assert free.expected[ru] > 0.2
    assert 1 / 20 < priced.expected[ru] < free.expected[ru] - 0.05
    assert capped.expected[ru] == pytest.approx(1 / 20, abs=1e-3)
    assert priced.settings["unique"] == {"ru": tokens / 20}
    inventory = {"en": 1e9, "de": 1e9, "ru": tokens / 20}  # with every language's inventory: the rules beside it
    compared = optimize(fit, params=1e8, tokens=tokens, available_tokens=inventory).to_dict()["heuristics"]
    assert set(compared) == {"temperature 0.3", "temperature 0.5", "temperature 0.7", "unimax (max 1 epochs)"}
    assert all(rule["p_optimum_beats"] == 1.0 for rule in compared.values())  # one draw: the optimum is lower


def _transfer_fit(values=None):
    values = values or _transfer_truth()
    return Fit(law=laws.get("transfer"), coords={"target": LANGS, "domain": LANGS},
               draws={k: np.asarray(v, dtype=float)[None] for k, v in values.items()}, method="point", noise=np.full((1, 3), 0.01))


def test_transfer_readouts_against_closed_forms():
    """The matrix is the fitted tau without its own entries; without repetition the monolingual tokens of a
    mixture are its effective tokens D (p_i + sum_j tau_ij p_j); repeated epochs are worth 1 + R*(1 - e^-(e-1)/R*)."""
    from scalemix import derived

    truth = _transfer_truth()
    fit = _transfer_fit()
    matrix = derived.transfer_matrix(fit)
    assert matrix.height == 6 and (matrix["p_positive"] == 1.0).all()
    row = matrix.filter((pl.col("target") == "ru") & (pl.col("source") == "de"))
    assert row["median"][0] == pytest.approx(TRANSFER[2, 1])

    mixture = np.array([0.5, 0.3, 0.2])
    at = {"params": 1e8, "tokens": 2e9, **{f"w.{lang}": w for lang, w in zip(LANGS, mixture)}}
    mono = derived.monolingual_tokens(fit, at).filter(pl.col("quantity") == "tokens_monolingual")
    tau = TRANSFER.copy()
    np.fill_diagonal(tau, 1.0)
    np.testing.assert_allclose(mono["median"].to_numpy(), 2e9 * tau @ mixture, rtol=1e-8)
    worth = derived.monolingual_tokens(fit, at).filter(pl.col("quantity") == "worth")
    np.testing.assert_allclose(worth["median"].to_numpy(), tau @ mixture / mixture, rtol=1e-8)

    epochs = derived.repetition_worth(fit, [0.5, 1.0, 4.0]).filter(pl.col("target") == "de")["median"].to_numpy()
    rstar = truth["rstar"][1]
    np.testing.assert_allclose(epochs, [0.5, 1.0, 1 + rstar * (1 - np.exp(-3.0 / rstar))], rtol=1e-12)


def test_language_roles():
    """en's tokens are worth as much to de and ru as their own (tau = 1), the others' barely transfer: more en
    helps everyone (reciprocal); more ru helps ru alone (selfish). self_gain is the relative loss drop by hand."""
    from scalemix import derived

    values = {**_transfer_truth(), "transfer": np.array([[1.0, 0.001, 0.001], [1.0, 1.0, 0.001], [1.0, 0.001, 1.0]])}
    fit = _transfer_fit(values)
    at = {"params": 1e8, "tokens": 2e9, "w.en": 1 / 3, "w.de": 1 / 3, "w.ru": 1 / 3}
    roles = derived.language_roles(fit, at, added=0.1, tolerance=0.005)
    assert dict(zip(roles["language"], roles["role"])) == {"en": "reciprocal", "de": "selfish", "ru": "selfish"}
    t = {k: np.asarray(v)[2] for k, v in values.items() if k != "transfer"}  # ru, its own tokens D/3 -> D/3 + 0.1 D

    def loss(tokens):
        return t["E"] + t["A"] / 1e8 ** t["alpha"] + t["B"] / tokens ** t["beta"]

    base = 2e9 * (1 / 3 + 0.001 / 3 + 1 / 3)  # ru learns from en fully and from de at 0.001
    expected = 1 - loss(base + 0.1 * 2e9) / loss(base)
    assert roles.filter(pl.col("language") == "ru")["self_gain_median"][0] == pytest.approx(expected, rel=1e-8)


def test_transfer_command(tmp_path, capsys):
    """`scalemix transfer FIT --json` gives the four readouts at the run asked for; a fit of another law is
    refused in one line with exit code 2."""
    import json

    from scalemix.cli import main

    fit = _transfer_fit()
    fit.save(tmp_path / "transfer")
    with pytest.raises(SystemExit) as done:
        main(["transfer", str(tmp_path / "transfer"), "--at", "params=1e8,tokens=2e9,w.en=0.5,w.de=0.3,w.ru=0.2", "--json"])
    assert done.value.code == 0
    shown = json.loads(capsys.readouterr().out)
    assert set(shown) == {"at", "transfer", "roles", "monolingual", "repetition"}
    assert shown["at"] == {"params": 1e8, "tokens": 2e9, "w.en": 0.5, "w.de": 0.3, "w.ru": 0.2}
    assert len(shown["transfer"]) == 6 and len(shown["roles"]) == 3 and len(shown["repetition"]) == 5 * 3
    mono = [row for row in shown["monolingual"] if row["quantity"] == "tokens_monolingual"]
    tau = TRANSFER.copy()
    np.fill_diagonal(tau, 1.0)
    np.testing.assert_allclose([row["median"] for row in mono], 2e9 * tau @ [0.5, 0.3, 0.2], rtol=1e-8)

    with pytest.raises(SystemExit) as refused:
        main(["transfer", str(tmp_path / "transfer"), "--at", "params=1e8,tokens=x"])
    assert refused.value.code == 2
    assert capsys.readouterr().err.startswith("scalemix: error: --at point 1, column 'tokens': value 'x' is not a number")

    other = _one_target_fit(laws.get("chinchilla"), CHINCHILLA)
    other.save(tmp_path / "chinchilla")
    with pytest.raises(SystemExit) as exit_code:
        main(["transfer", str(tmp_path / "chinchilla")])
    assert exit_code.value.code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_report_shows_the_transfer_readouts(tmp_path):
    """A transfer fit's report has the matrix figure and the roles, monolingual and repetition tables, and its
    JSON the same numbers as derived.transfer_matrix."""
    import json

    from scalemix import derived
    from scalemix.report import build_report

    table = runs.read(simulate("transfer", _transfer_truth(), _transfer_points(), targets=LANGS, domains=LANGS, noise=0.01))
    fit = fit_point(table, laws.get("transfer"), max_iter=50)  # a fit with its provenance; converged or not
    out = build_report(fit, tmp_path / "report.html", runs=table)
    html = out.read_text()
    assert 'alt="transfer matrix"' in html and 'id="roles-table"' in html and 'id="repetition-table"' in html
    summary = json.loads(out.with_suffix(".json").read_text())["transfer"]
    assert summary["status"] == "computed" and len(summary["roles"]) == 3
    expected = derived.transfer_matrix(fit, levels=(0.9,))
    assert [row["median"] for row in summary["matrix"]] == pytest.approx(expected["median"].to_list())


def test_sampling_rules_by_hand():
    """Temperature sampling p ∝ n^T; UniMax from the smallest language: 1e8 (all of it, one epoch), then half
    the 1.9e9 left to each of the others (both below their inventory)."""
    from scalemix.optimize import sampling

    inventory = np.array([1e8, 1e9, 5e9])
    np.testing.assert_allclose(sampling.temperature(inventory, 0.5), np.sqrt(inventory) / np.sqrt(inventory).sum(), rtol=1e-12)
    np.testing.assert_allclose(sampling.temperature(inventory, 0.0), [1 / 3] * 3, rtol=1e-12)
    np.testing.assert_allclose(sampling.unimax(inventory, 2e9, 1.0), [0.05, 0.475, 0.475], rtol=1e-12)
    np.testing.assert_allclose(sampling.unimax(inventory, 2e9, 4.0), [0.2, 0.4, 0.4], rtol=1e-12)  # 4e8 < 6.7e8
    with pytest.raises(OptimizeError, match="inventory lacks ru"):
        sampling.heuristics(("en", "ru"), {"en": 1e9}, 2e9)
