"""Fixtures shared across the suite: real data paths, fits and reports that several test files reuse, so
the JAX programs behind them compile (and the fits run) once per session. Plain helper functions the
tests call live in ``_support.py``."""

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


@pytest.fixture(scope="session")
def nuts(chinchilla_table, chinchilla_fit):
    """NUTS posterior of the Chinchilla law (2 chains x 300 draws), started from the point fit; read by the
    tests of fit/bayes, fitresult (save/load), evaluate/compare and derived."""
    from scalemix import laws
    from scalemix.fit import fit_nuts

    return fit_nuts(chinchilla_table, laws.get("chinchilla"), chains=2, draws=300, warmup=300, seed=0, init=chinchilla_fit)


@pytest.fixture(scope="session")
def synthetic():
    """Two-pair runs simulated from the multilingual law (``_support.MULTILINGUAL_TRUTH``)."""
    from _support import multilingual_runs

    return multilingual_runs()


@pytest.fixture(scope="session")
def bootstrap_fit(synthetic):
    from scalemix import laws
    from scalemix.fit import fit_bootstrap

    return fit_bootstrap(synthetic, laws.get("multilingual"), n_boot=24, seed=0)


@pytest.fixture(scope="session")
def point_report(chinchilla_fit, tmp_path_factory):
    """The HTML report (and JSON beside it) on the shared Chinchilla point fit."""
    from scalemix.report import build_report

    out = tmp_path_factory.mktemp("point") / "report.html"
    build_report(chinchilla_fit, out, at=[{"params": 7e10, "tokens": 1.4e12}])
    return out


@pytest.fixture(scope="session")
def bootstrap_report(bootstrap_fit, synthetic, tmp_path_factory):
    """The HTML report (and JSON beside it) on the multilingual bootstrap fit of ``synthetic``."""
    from scalemix.report import build_report

    out = tmp_path_factory.mktemp("bootstrap") / "report.html"
    build_report(bootstrap_fit, out, runs=synthetic, at=[{"params": 1e10, "w.de": 0.5, "w.fr": 0.5}])
    return out


@pytest.fixture(scope="session")
def swept(tmp_path_factory):
    """A 2-run proxy sweep (``_support.SWEEP_CONFIG``) run inline: ``(config, folder, table, executor)``."""
    from _support import SWEEP_CONFIG, CountingExecutor
    from scalemix.proxy import sweep

    path = tmp_path_factory.mktemp("sweep")
    (path / "s.toml").write_text(SWEEP_CONFIG)
    config = sweep.load_config(path / "s.toml")
    first = CountingExecutor()
    table = sweep.run_sweep(config, path / "runs.parquet", first, progress=False, say=lambda m: None)
    return config, path, table, first


@pytest.fixture(scope="session")
def saved_point_fit(chinchilla_fit, tmp_path_factory):
    """The shared Chinchilla point fit saved as a fit directory (the CLI's FIT argument)."""
    return chinchilla_fit.save(tmp_path_factory.mktemp("saved") / "chin")


@pytest.fixture(scope="session")
def saved_mixture_fit(bootstrap_fit, tmp_path_factory):
    """The shared multilingual bootstrap fit (targets de, fr; domains de, fr) saved as a fit directory."""
    return bootstrap_fit.save(tmp_path_factory.mktemp("saved") / "ml")
