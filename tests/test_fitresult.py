"""fitresult.py: a Fit saved and loaded back (JSON + npz, NetCDF for a posterior; no pickle) is the same
fit, draw for draw."""

import dataclasses
import json

import numpy as np
import pytest

from _support import mixing_fit
from scalemix import laws
from scalemix.errors import FitError
from scalemix.fitresult import Fit


def test_save_load_round_trip_is_exact(chinchilla_fit, tmp_path):
    loaded = Fit.load(chinchilla_fit.save(tmp_path / "fit"))
    assert loaded.law is laws.get("chinchilla")
    assert loaded.coords == chinchilla_fit.coords and loaded.method == "point"
    for name, value in chinchilla_fit.draws.items():
        np.testing.assert_array_equal(loaded.draws[name], value)
    np.testing.assert_array_equal(loaded.noise, chinchilla_fit.noise)
    assert loaded.to_dict()["params"] == chinchilla_fit.to_dict()["params"]
    query = {"params": [7e10, 1e9], "tokens": [1.4e12, 2e10]}
    assert loaded.predict(query).equals(chinchilla_fit.predict(query))


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_save_load_round_trips_every_field_bit_for_bit(bootstrap_fit, tmp_path):
    """A bootstrap fit over two targets and two domains: draws, noise, coords, diagnostics and the rest."""
    loaded = Fit.load(bootstrap_fit.save(tmp_path / "fit"))
    assert loaded.draws.keys() == bootstrap_fit.draws.keys()
    assert all(_same_bits(loaded.draws[k], v) for k, v in bootstrap_fit.draws.items())
    assert _same_bits(loaded.noise, bootstrap_fit.noise)
    assert loaded.coords == bootstrap_fit.coords == {"target": ("de", "fr"), "domain": ("de", "fr")}
    assert loaded.diagnostics == bootstrap_fit.diagnostics and loaded.provenance == bootstrap_fit.provenance
    assert (loaded.law.name, loaded.law.options) == (bootstrap_fit.law.name, bootstrap_fit.law.options)
    assert (loaded.method, loaded.noise_df) == ("bootstrap", bootstrap_fit.noise_df)
    assert loaded.set_aside.equals(bootstrap_fit.set_aside) and loaded.discrepancy == bootstrap_fit.discrepancy
    assert loaded.fitted_range.to_dict() == bootstrap_fit.fitted_range.to_dict()


def _checksum(folder) -> str:
    return json.loads((folder / "fit.json").read_text())["checksum"]


def test_the_checksum_is_stable_and_changes_with_one_ulp_of_one_draw_or_one_label(bootstrap_fit, tmp_path):
    first = _checksum(bootstrap_fit.save(tmp_path / "a"))
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64
    assert _checksum(bootstrap_fit.save(tmp_path / "b")) == first
    assert _checksum(Fit.load(tmp_path / "a").save(tmp_path / "resaved")) == first
    alpha = bootstrap_fit.draws["alpha"].copy()
    alpha[3, 1] = np.nextafter(alpha[3, 1], np.inf)
    nudged = dataclasses.replace(bootstrap_fit, draws={**bootstrap_fit.draws, "alpha": alpha})
    relabelled = dataclasses.replace(bootstrap_fit, coords={**bootstrap_fit.coords, "domain": ("fr", "de")})
    noisier = dataclasses.replace(bootstrap_fit, noise=bootstrap_fit.noise * (1 + 1e-15))
    others = [_checksum(fit.save(tmp_path / name)) for name, fit in
              {"nudged": nudged, "relabelled": relabelled, "noisier": noisier}.items()]
    assert len({first, *others}) == 4


def test_save_load_round_trips_the_inference_data(nuts, tmp_path):
    loaded = Fit.load(nuts.save(tmp_path / "fit"))
    for group in ("posterior", "log_likelihood", "sample_stats", "observed_data"):
        original, back = getattr(nuts.inference_data, group), getattr(loaded.inference_data, group)
        for name in original.data_vars:
            np.testing.assert_array_equal(original[name].values, back[name].values)
    assert list(loaded.inference_data.posterior["alpha"].dims) == ["chain", "draw", "target"]
    assert loaded.summary().equals(nuts.summary())


def test_the_posterior_is_checksummed_with_the_fit(nuts, chinchilla_fit, tmp_path):
    """posterior.nc must be the one saved with the fit: edited, missing, or left over from another fit
    saved in the same directory, it is refused in one line naming the files."""
    folder = nuts.save(tmp_path / "fit")
    other = nuts.inference_data.copy()
    other.posterior["alpha"] = other.posterior["alpha"] * 1.01
    other.to_netcdf(str(folder / "posterior.nc"))
    with pytest.raises(FitError, match=r"posterior.nc does not match the sha256 checksum recorded in .*fit.json"):
        Fit.load(folder)
    (folder / "posterior.nc").unlink()
    with pytest.raises(FitError, match=r"posterior.nc is missing: .*fit.json records a posterior"):
        Fit.load(folder)
    nuts.save(folder)
    assert Fit.load(chinchilla_fit.save(folder)).inference_data is None  # the point fit's save removed the posterior
    assert not (folder / "posterior.nc").exists()


def test_predict_over_known_draws_is_the_law_in_closed_form():
    """Mixing law L = c + k exp(t . w) (Ye et al. 2024) over 3 known draws: mean and median over draws."""
    t = np.array([[[-1.0, 0.5]], [[-2.0, 0.0]], [[0.5, -0.5]]])
    fit = mixing_fit(t, c=1.0, k=2.0)
    w = np.array([0.4, 0.6])
    predicted = fit.predict({"w.a": [w[0]], "w.b": [w[1]]}, levels=(0.9,))
    by_draw = 1.0 + 2.0 * np.exp(t[:, 0, :] @ w)
    assert predicted["target"].to_list() == ["y0"]
    assert predicted["mean"][0] == pytest.approx(by_draw.mean(), rel=1e-9)
    assert predicted["median"][0] == pytest.approx(np.median(by_draw), rel=1e-9)
    assert predicted["lo90"][0] == pytest.approx(np.quantile(by_draw, 0.05), rel=1e-9)
