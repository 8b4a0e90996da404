"""Fixtures shared across the suite: real data paths and fits that several test files reuse, so the
JAX programs behind them compile once per session."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository (CI clones it there); skips where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real run data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def chinchilla_table():
    from scalemix import runs

    return runs.read("chinchilla")


@pytest.fixture(scope="session")
def chinchilla_fit(chinchilla_table):
    """Point fit of the Chinchilla law on Epoch's 240 points from Hoffmann's full 4,500-start grid."""
    from scalemix.fit import fit_point
    from scalemix.laws import chinchilla

    return fit_point(chinchilla_table, chinchilla())
