"""The saved-fit boundary (fitresult.py's ``Fit.load``): a fit directory damaged after it was saved, or
saved wrong, is refused with one line that names the file at fault, by the CLI (exit code 2, no traceback)
and by the Python API (``FitError``), never loaded into NaN or wrong predictions.

Each case damages a fresh copy of a saved fit. ``_rewrite_*`` edit the files by hand, as a person or a
broken disk would (the checksum recorded at save time no longer matches); ``_saved_with`` saves a fit
whose arrays are wrong through ``Fit.save`` itself, so the checksum matches and the check that must
refuse it is the one on shapes and values."""

import dataclasses
import json
import shutil

import numpy as np
import pytest

from _support import refused
from scalemix.errors import FitError
from scalemix.fitresult import Fit

PREDICT = ["--at", "params=1e9,tokens=2e10"]

# -- ways to damage a saved fit ------------------------------------------------------------------------


def _rewrite_meta(change):
    """Edit ``fit.json`` as a JSON object: ``change(meta)`` mutates it in place."""
    def damage(folder):
        meta = json.loads((folder / "fit.json").read_text())
        change(meta)
        (folder / "fit.json").write_text(json.dumps(meta, indent=2))
    return damage


def _rewrite_arrays(change):
    """Rewrite ``draws.npz`` with ``change(arrays)`` applied to its ``{name: array}`` (checksum left as saved)."""
    def damage(folder):
        with np.load(folder / "draws.npz") as stored:
            arrays = {name: stored[name] for name in stored.files}
        change(arrays)
        np.savez(folder / "draws.npz", **arrays)
    return damage


def _write(name, content):
    """Replace file ``name`` of the fit with ``content`` (bytes, or text)."""
    def damage(folder):
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return damage


def _truncate(name):
    def damage(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])
    return damage


def _remove(name):
    return lambda folder: (folder / name).unlink()


def _flip_a_byte_of(array_name):
    """Flip one bit inside the stored bytes of one array of ``draws.npz`` (the zip's CRC no longer matches)."""
    def damage(folder):
        data = bytearray((folder / "draws.npz").read_bytes())
        with np.load(folder / "draws.npz") as stored:
            at = bytes(data).find(stored[array_name].tobytes())
        assert at > 0
        data[at] ^= 0x01
        (folder / "draws.npz").write_bytes(bytes(data))
    return damage


def _saved_with(change):
    """Save, through ``Fit.save``, the fit with fields ``change(fit)`` replaced (checksum consistent)."""
    def damage(folder):
        fit = Fit.load(folder)
        dataclasses.replace(fit, **change(fit)).save(folder)
    return damage


def _draws(name, value):
    """``_saved_with`` draws where parameter ``name`` is ``value(draws)``."""
    return _saved_with(lambda fit: {"draws": {**fit.draws, name: value(fit.draws[name])}})


def _del(key):
    return lambda meta: meta.pop(key)


def _set(key, value):
    return lambda meta: meta.__setitem__(key, value)


def _edit_coords(name, labels):
    return lambda meta: meta["coords"].__setitem__(name, labels(meta["coords"][name]))


def _scale(name, factor):
    return lambda arrays: arrays.__setitem__(name, arrays[name] * factor)


POINT, MIXTURE = "saved_point_fit", "saved_mixture_fit"
BOTH = ("fit.json", "draws.npz")

CASES = [  # id, fixture, damage, file(s) the line must name (full paths), other words it must say
    ("fit.json-truncated", POINT, _truncate("fit.json"), ("fit.json",), ("not valid JSON",)),
    ("fit.json-binary", POINT, _write("fit.json", b"\x89PNG\r\n\x1a\n\xff\xfe"), ("fit.json",), ("UTF-8",)),
    ("fit.json-top-level-array", POINT, _write("fit.json", "[1, 2]"), ("fit.json",), ("an array at the top level",)),
    ("format-missing", POINT, _rewrite_meta(_del("format")), ("fit.json",), ("`format`",)),
    ("format-2-before-checksums", POINT, _rewrite_meta(lambda m: (m.pop("checksum"), m.update(format=2))),
     ("fit.json",), ("format 2", "refit")),
    ("key-missing", POINT, _rewrite_meta(_del("method")), ("fit.json",), ("method",)),
    ("checksum-missing", POINT, _rewrite_meta(_del("checksum")), ("fit.json",), ("checksum",)),
    ("coords-not-an-object", POINT, _rewrite_meta(_set("coords", ["loss"])), ("fit.json",), ("`coords` is an array",)),
    ("coords-label-repeated", MIXTURE, _rewrite_meta(_edit_coords("domain", lambda d: [d[0], d[0]])),
     ("fit.json",), ("coords `domain`",)),
    ("noise_df-negative", POINT, _rewrite_meta(_set("noise_df", -3)), ("fit.json",), ("noise_df",)),
    ("unknown-law", POINT, _rewrite_meta(_set("law", "chinchila")), ("fit.json",), ("chinchila", "known laws")),
    ("fitted_range-malformed", MIXTURE, _rewrite_meta(_set("fitted_range", {"log": 1})),
     ("fit.json",), ("fitted_range",)),
    ("target-renamed", POINT, _rewrite_meta(_edit_coords("target", lambda t: [t[0] + "_edited"])),
     BOTH, ("checksum", "edited")),
    ("domains-swapped", MIXTURE, _rewrite_meta(_edit_coords("domain", lambda d: d[::-1])), BOTH, ("checksum",)),
    ("draws-edited", POINT, _rewrite_arrays(_scale("param:alpha", 1.01)), BOTH, ("checksum",)),
    ("noise-edited", MIXTURE, _rewrite_arrays(_scale("noise", 2.0)), BOTH, ("checksum",)),
    ("draws.npz-missing", POINT, _remove("draws.npz"), ("draws.npz",), ("missing",)),
    ("draws.npz-truncated", POINT, _truncate("draws.npz"), ("draws.npz",), ("not an .npz archive",)),
    ("draws.npz-text", POINT, _write("draws.npz", "alpha,beta\n0.3,0.3\n"), ("draws.npz",), ("not an .npz",)),
    ("draws.npz-bit-flipped", POINT, _flip_a_byte_of("param:alpha"), ("draws.npz",), ("damaged", "CRC")),
    ("draws.npz-foreign", POINT, lambda f: np.savez(f / "draws.npz", x=np.arange(3.0)), ("draws.npz",),
     ("no array noise, param:E", "unexpected array(s) x")),
    ("noise-missing", POINT, _rewrite_arrays(lambda a: a.pop("noise")), ("draws.npz",), ("no array noise",)),
    ("parameter-missing", MIXTURE, _rewrite_arrays(lambda a: a.pop("param:c2")), ("draws.npz",), ("param:c2",)),
    ("draws-of-wrong-shape", POINT, _draws("alpha", lambda a: np.concatenate([a, a], axis=1)), ("draws.npz",),
     ("param:alpha", "(1, 2)", "target=1")),
    ("draw-counts-disagree", MIXTURE, _draws("Linf", lambda a: a[:5]), ("draws.npz",), ("param:Linf", "(5, 2)")),
    ("draws-not-numbers", POINT, _draws("E", lambda a: a.astype(str)), ("draws.npz",), ("param:E", "not real")),
    ("nan-draw", POINT, _draws("alpha", lambda a: np.full_like(a, np.nan)), ("draws.npz",), ("param:alpha", "NaN")),
    ("draw-outside-support", POINT, _draws("A", lambda a: -a), ("draws.npz",), ("param:A", "support (0, inf)")),
    ("noise-of-wrong-shape", MIXTURE, _saved_with(lambda fit: {"noise": fit.noise[:, :1]}), ("draws.npz",),
     ("noise", "targets=2")),
    ("noise-zero", MIXTURE, _saved_with(lambda fit: {"noise": 0 * fit.noise}), ("draws.npz",),
     ("noise", "zero or negative")),
    ("noise-infinite", POINT, _saved_with(lambda fit: {"noise": np.full_like(fit.noise, np.inf)}), ("draws.npz",), ("noise", "NaN or inf")),
    ("posterior.nc-stray", POINT, _write("posterior.nc", b"CDF\x01 not really"), ("posterior.nc", "fit.json"),
     ("not part of this fit", "records no posterior")),
    ("not-a-fit-directory", POINT, _remove("fit.json"), ("",), ("not a saved fit", "fit.json")),
]


@pytest.fixture
def damaged(request, tmp_path):
    """A copy of the saved fit ``request.param`` names."""
    copy = tmp_path / "fit"
    shutil.copytree(request.getfixturevalue(request.param), copy)
    return copy


@pytest.mark.parametrize(("damaged", "damage", "files", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES],
                         indirect=["damaged"])
def test_a_damaged_fit_is_refused_in_one_line_naming_the_file(damaged, damage, files, words, capsys):
    damage(damaged)
    named = [str(damaged / name) if name else str(damaged) for name in files]
    line = refused(capsys, ["predict", damaged, *PREDICT], *named, *words)
    with pytest.raises(FitError) as error:
        Fit.load(damaged)
    assert "\n" not in str(error.value) and " ".join(str(error.value).split()) in line


def test_a_fit_json_file_passed_for_its_directory_is_refused(saved_point_fit, capsys):
    refused(capsys, ["predict", saved_point_fit / "fit.json", *PREDICT], saved_point_fit / "fit.json", "is a file")
    with pytest.raises(FitError, match="pass the directory"):
        Fit.load(saved_point_fit / "fit.json")


def test_a_missing_directory_is_refused(tmp_path, capsys):
    refused(capsys, ["predict", tmp_path / "nowhere", *PREDICT], tmp_path / "nowhere", "does not exist")


def test_a_law_passed_to_load_must_be_the_saved_one(saved_point_fit):
    from scalemix import laws

    with pytest.raises(FitError, match="law 'chinchilla', not of the law 'power'"):
        Fit.load(saved_point_fit, law=laws.get("power"))


def test_every_case_leaves_the_saved_fit_itself_loadable(saved_point_fit, saved_mixture_fit):
    """The damage is done to copies: the session's saved fits still load (and the checks do not refuse
    a fit saved as it should be)."""
    for folder in (saved_point_fit, saved_mixture_fit):
        assert Fit.load(folder).n_draws >= 1
