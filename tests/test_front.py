"""optimize/front.py: the trade-off front of two pairs (Fernandes et al. 2023, Figure 7) against scipy at
each weighting and size; ``scalemix front`` and its one-line infeasibility error."""

import json

import numpy as np
import polars as pl
import pytest
from scipy.optimize import minimize_scalar

from _support import make_fit
from scalemix.optimize import front


def _multilingual_loss(theta, i, p, n):
    f = p + theta["c1"][i] * p ** theta["c2"][i] * (1 - p) ** theta["c3"][i]
    return theta["beta"][i] * (f * n) ** -theta["alpha"][i] + theta["Linf"][i]


def test_front_of_two_pairs_matches_scipy_at_each_weighting_and_size():
    # Fernandes et al. 2023, Figure 7: two pairs trained on each other, w.de = p, w.fr = 1 - p.
    theta = {"beta": [[20.0, 30.0]], "alpha": [[0.25, 0.3]], "Linf": [[1.5, 1.2]], "c1": [[0.3, 0.1]],
             "c2": [[0.8, 1.0]], "c3": [[1.0, 1.0]]}
    fit = make_fit("multilingual", theta, ["de", "fr"], ["de", "fr"], f="power")
    table = front(fit, ["de", "fr"], params=[1e7, 1e9], points=5)
    assert table.height == 2 * 5 * 2
    one = {k: np.asarray(v)[0] for k, v in fit.draws.items()}
    for row in table.filter(pl.col("target") == "de").iter_rows(named=True):
        lam = row["lambda.de"]
        scalar = lambda p: lam * _multilingual_loss(one, 0, p, row["params"]) + (1 - lam) * _multilingual_loss(one, 1, 1 - p, row["params"])  # noqa: E731
        ref = minimize_scalar(scalar, bounds=(1e-9, 1 - 1e-9), method="bounded", options={"xatol": 1e-10})
        assert row["w.de"] == pytest.approx(ref.x, abs=1e-4)
        assert row["mean"] == pytest.approx(_multilingual_loss(one, 0, row["w.de"], row["params"]), rel=1e-9)
    for size in (1e7, 1e9):  # a front: more weight on de buys lower de loss and costs fr loss
        de = table.filter((pl.col("target") == "de") & (pl.col("params") == size)).sort("lambda.de")["mean"].to_numpy()
        fr = table.filter((pl.col("target") == "fr") & (pl.col("params") == size)).sort("lambda.de")["mean"].to_numpy()
        assert np.all(np.diff(de) < 0) and np.all(np.diff(fr) > 0)


# -- command line ---------------------------------------------------------------------------------


def test_cli_front_and_infeasible_error(tmp_path, capsys):
    from typer.testing import CliRunner

    from scalemix.cli import app, main

    theta = {"beta": [[20.0, 30.0]], "alpha": [[0.25, 0.3]], "Linf": [[1.5, 1.2]], "c1": [[0.3, 0.1]],
             "c2": [[0.8, 1.0]], "c3": [[1.0, 1.0]]}
    saved = make_fit("multilingual", theta, ["de", "fr"], ["de", "fr"], f="power").save(tmp_path / "fit")
    result = CliRunner().invoke(app, ["front", str(saved), "--targets", "de,fr", "--params", "1e7,1e8", "--points", "3", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert len(records) == 2 * 3 * 2 and all(r["lo90"] <= r["mean"] <= r["hi90"] for r in records)
    with pytest.raises(SystemExit) as exit_:
        main(["optimize", str(saved), "--params", "1e8", "--min", "w.de=0.7,w.fr=0.6"])
    assert exit_.value.code == 2
    assert "the minimums sum to 1.3 > 1 (de>=0.7, fr>=0.6)" in capsys.readouterr().err
