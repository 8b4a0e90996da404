"""proxy/mixtures.py: grid, Dirichlet and listed mixture designs, rows on the simplex."""

import numpy as np
import pytest

from scalemix.errors import ScalemixError
from scalemix.proxy import mixtures


def test_mixture_designs():
    np.testing.assert_allclose(mixtures.grid(["a", "b"], [0.1, 1.0]), [[0.1, 0.9], [1.0, 0.0]])
    d = mixtures.dirichlet(["a", "b", "c"], n=500, alpha=2.0, seed=0)
    np.testing.assert_allclose(d.sum(1), 1.0)
    assert abs(d[:, 0].mean() - 1 / 3) < 5 * np.sqrt(2 / 63 / 500)  # Var of a Dirichlet(2,2,2) margin: 2/63
    np.testing.assert_allclose(mixtures.from_list(["a", "b"], [[1, 3], {"b": 2.0}]), [[0.25, 0.75], [0, 1]])
    with pytest.raises(ScalemixError, match="exactly 2 domains"):
        mixtures.grid(["a", "b", "c"], [0.5])
    with pytest.raises(ScalemixError, match="unknown domains"):
        mixtures.from_list(["a"], [{"z": 1}])
