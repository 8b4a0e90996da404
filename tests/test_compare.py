"""evaluate/compare.py: PSIS-LOO ranking of Bayesian fits (Vehtari et al. 2017) on the Chinchilla runs."""

import pytest

from scalemix import laws
from scalemix.evaluate import compare
from scalemix.fit import fit_svi


def test_loo_prefers_chinchilla_to_a_law_blind_to_tokens(nuts, chinchilla_table):
    power = fit_svi(chinchilla_table, laws.get("power"), steps=1500, draws=600, seed=0)
    table = compare({"chinchilla": nuts, "power": power})
    best = table.row(0, named=True)
    assert best["model"] == "chinchilla"
    assert table["elpd_diff"][1] > 4 * table["dse"][1]
    # p_loo ~ the number of free parameters (5 law + 1 noise) for a regular, well-identified model
    assert 4.0 < best["p_loo"] < 12.0


def test_compare_refuses_a_point_fit(nuts, chinchilla_fit):
    with pytest.raises(Exception, match="no posterior"):
        compare([nuts, chinchilla_fit])
