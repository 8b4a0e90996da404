"""evaluate/compare.py: PSIS-LOO ranking of Bayesian fits (Vehtari et al. 2017) on the Chinchilla runs, and
the table as ArviZ's own (built without pyarrow, which the base install lacks: test_readme runs
``scalemix compare`` there)."""

import pytest

from scalemix import laws
from scalemix.evaluate import compare
from scalemix.fit import fit_svi


@pytest.fixture(scope="module")
def power(chinchilla_table):
    """SVI posterior of the power law, blind to tokens (test_report's SVI report uses the same settings)."""
    return fit_svi(chinchilla_table, laws.get("power"), steps=1500, draws=600, seed=0)


def test_loo_prefers_chinchilla_to_a_law_blind_to_tokens(nuts, power):
    table = compare({"chinchilla": nuts, "power": power})
    best = table.row(0, named=True)
    assert best["model"] == "chinchilla"
    assert table["elpd_diff"][1] > 4 * table["dse"][1]
    # p_loo ~ the number of free parameters (5 law + 1 noise) for a regular, well-identified model
    assert 4.0 < best["p_loo"] < 12.0


def test_the_table_holds_arvizs_numbers(nuts, power):
    import arviz as az

    table = compare({"chinchilla": nuts, "power": power})
    expected = az.compare({"chinchilla": nuts.inference_data, "power": power.inference_data}, ic="loo")
    assert table.columns == ["model", "rank", "elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight", "pareto_k_bad"]
    assert table["model"].to_list() == list(expected.index)
    for column in ("rank", "elpd_loo", "se", "p_loo", "elpd_diff", "dse", "weight"):
        assert table[column].to_list() == pytest.approx(expected[column].tolist(), rel=1e-12), column


def test_compare_refuses_a_point_fit(nuts, chinchilla_fit):
    with pytest.raises(Exception, match="no posterior"):
        compare([nuts, chinchilla_fit])
