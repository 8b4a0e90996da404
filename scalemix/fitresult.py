"""``Fit``: a law plus parameter draws. One draw for a point fit, B for a bootstrap, S for a posterior.

Everything downstream (summaries, predictions, optimal mixtures, reports) is written once over draws
with ``jax.vmap`` and never asks how the draws were made: a ``Fit`` is a
:class:`~scalemix.predictor.Predictor`.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from scalemix import intervals, laws
from scalemix._x64 import float64
from scalemix.design import SET_ASIDE_SCHEMA, design
from scalemix.errors import FitError
from scalemix.extrapolation import Discrepancy, FittedRange
from scalemix.laws import Law, Layout
from scalemix.predictor import query_frame

FORMAT_VERSION = 4
"""Format 3 records the sha256 checksum of the draws, noise and coords, format 4 also that of ``posterior.nc``;
older fits must be refitted."""
_PREDICTIVE_SAMPLES = 4000


@dataclass
class Fit:
    """A fitted law.

    Attributes:
      law: the :class:`~scalemix.laws.Law`.
      coords: coordinate labels (``target``, ``domain``, ...) the parameters are indexed by.
      draws: ``{name: array[S, *shape]}`` of constrained parameter values.
      method: ``point``, ``bootstrap``, ``nuts`` or ``svi``.
      noise: ``[S, targets]`` scale of the log-loss observation noise (for predictive intervals).
      noise_df: Student-t degrees of freedom of that noise; ``None`` for Normal.
      diagnostics: convergence facts (objective, starts in the best basin, R-hat, divergences, ...).
      provenance: scalemix and library versions, settings, seed, data fingerprint and source.
      inference_data: the ArviZ ``InferenceData`` of a Bayesian fit.
      set_aside: the rows of the fitted run table the law is undefined on (``row``, ``run_id``,
        ``target``, ``reason``); every other row was fitted.
      fitted_range: the scales (and mixtures) of the fitted rows; predictions say how far beyond it they lie.
      discrepancy: the law's own error beyond that range, learned by a backtest on the runs
        (:func:`scalemix.fit.discrepancy.learn`), or ``None``.
    """

    law: Law
    coords: dict[str, tuple[str, ...]]
    draws: dict[str, np.ndarray]
    method: str
    noise: np.ndarray
    noise_df: float | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    inference_data: Any = None
    set_aside: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SET_ASIDE_SCHEMA))
    fitted_range: FittedRange | None = None
    discrepancy: Discrepancy | None = None

    @property
    def layout(self) -> Layout:
        return self.law.layout(self.coords)

    @property
    def n_draws(self) -> int:
        return int(next(iter(self.draws.values())).shape[0])

    @property
    def targets(self) -> tuple[str, ...]:
        return self.coords["target"]

    def flat_draws(self) -> np.ndarray:
        """``[S, elements]`` constrained values in :meth:`Layout.element_names` order."""
        return np.concatenate([self.draws[s.param.name].reshape(self.n_draws, -1) for s in self.layout.slots], axis=1)

    # -- summaries -----------------------------------------------------------------------------------

    def summary(self) -> pl.DataFrame:
        """One row per scalar parameter: mean, sd, median, 2.5% and 97.5% quantiles over draws
        (``sd`` and quantiles are null for a single-draw point fit), plus R-hat, bulk/tail ESS and a
        ``warning`` (R-hat above 1.01 or ESS below 100 per chain, else null) for NUTS posteriors. Warnings
        about the whole fit (divergences) are in ``diagnostics["warnings"]``."""
        values = self.flat_draws()
        single = self.n_draws == 1
        columns: dict[str, Any] = {
            "parameter": self.layout.element_names(),
            "mean": values.mean(axis=0),
            "sd": None if single else values.std(axis=0, ddof=1),
            "median": np.median(values, axis=0),
            "q025": None if single else np.quantile(values, 0.025, axis=0),
            "q975": None if single else np.quantile(values, 0.975, axis=0),
        }
        frame = pl.DataFrame({k: v if v is not None else [None] * values.shape[1] for k, v in columns.items()},
                             schema_overrides={k: pl.Float64 for k in columns if k != "parameter"})
        extra = self.diagnostics.get("per_parameter")
        if extra:
            frame = frame.join(pl.DataFrame(extra), on="parameter", how="left")
        return frame

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape every method shares: law, method, objective, params by name, diagnostics and the
        extrapolation term (``discrepancy``, or None)."""
        params = {}
        for row in self.summary().iter_rows(named=True):
            name = row.pop("parameter")
            params[name] = {k: _json_number(v) for k, v in row.items()}
        return {
            "law": self.law.name,
            "law_options": dict(self.law.options),
            "formula": self.law.formula,
            "method": self.method,
            "draws": self.n_draws,
            "objective": _json_number(self.diagnostics.get("objective")),
            "params": params,
            "diagnostics": {k: v for k, v in self.diagnostics.items() if k != "per_parameter"},
            "discrepancy": None if self.discrepancy is None else self.discrepancy.to_dict(),
            "provenance": self.provenance,
        }

    # -- prediction ----------------------------------------------------------------------------------

    def log_loss_draws(self, query) -> tuple[pl.DataFrame, np.ndarray]:
        """Query rows (one per point and target) and their predicted log loss, ``[S, rows]``."""
        frame = query_frame(query, self.targets, self.coords.get("domain", ()))
        with float64():
            d = design(frame, self.law, self.coords, observed=False)
            values = _log_loss_over_draws(self.law, _as_jax(self.draws), _as_jax(d.inputs))
        if d.set_aside.height:
            raise FitError(f"cannot predict {d.set_aside.height} query row(s): {d.set_aside['reason'][0]}")
        return d.frame, np.asarray(values)

    def predict(self, query, levels: Sequence[float] = (0.5, 0.9), *, seed: int = 0,
                extrapolation: bool = True) -> pl.DataFrame:
        """Predicted loss at each query point and target, over draws.

        ``query`` is a polars frame, a mapping of column -> value(s), or a run table, with ``params``,
        ``tokens`` and ``w.<domain>`` as the law needs; without a ``target`` column every target of
        the fit is predicted. Returns the query columns plus, for each level ``L`` (e.g. ``lo90``), three
        layers of uncertainty: ``mean``, ``median`` and the parameter (credible) interval
        ``lo<L>``/``hi<L>``; the predictive interval ``pred_lo<L>``/``pred_hi<L>`` of a single run, which
        adds the observation noise and, where the fit has a :attr:`discrepancy` and ``extrapolation`` is
        true (the default), the law's own error at the row's distance beyond the fitted range
        (``extrapolation=False`` gives parameters and noise alone). Rows also say how far outside the
        fitted range they lie: ``beyond_params``, ``beyond_tokens``, ``beyond_compute`` (decades) and
        ``mixture_distance`` (see :mod:`scalemix.extrapolation`), and ``beyond_evidence``: whether the row
        lies farther out than the backtest behind the discrepancy scored any run (or, without one, outside
        the fitted scales at all), where even the widened interval rests on no evidence.
        """
        levels = intervals.check(levels)
        frame, log_loss, predictive, distances = self.predictive_samples(query, seed=seed, extrapolation=extrapolation)
        return predicted(frame, np.exp(log_loss), np.exp(predictive), levels, distances)

    def predictive_samples(self, query, *, seed: int = 0, extrapolation: bool = True):
        """What :meth:`predict` summarises: the query rows, their log loss over draws ``[S, rows]``, samples
        of a single run's observed log loss ``[max(S, 4000), rows]`` (noise and, with ``extrapolation``, the
        discrepancy added) and the rows' distances beyond the fitted range (``{column: [rows]}``)."""
        frame, log_loss = self.log_loss_draws(query)
        distances = self.fitted_range.distances(frame) if self.fitted_range is not None else {}
        if distances:
            distances["beyond_evidence"] = self._beyond_evidence(distances)
        discrepancy = self.discrepancy if extrapolation else None
        return frame, log_loss, self._predictive_log_loss(frame, log_loss, seed, discrepancy, distances), distances

    def usable(self, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The rows of ``frame`` the law is defined on, and the rows it sets aside with their reason."""
        d = design(frame, self.law, self.coords)
        return d.frame, d.set_aside

    def _beyond_evidence(self, distances: dict) -> np.ndarray:
        if self.discrepancy is not None:
            return distances[f"beyond_{self.discrepancy.axis}"] > self.discrepancy.evidence
        return np.any([v > 0 for k, v in distances.items() if k.startswith("beyond_")], axis=0)

    def _predictive_log_loss(self, frame: pl.DataFrame, log_loss: np.ndarray, seed: int,
                             discrepancy: Discrepancy | None, distances: dict) -> np.ndarray:
        """Samples of observed log loss: each draw's prediction plus its noise and, given a ``discrepancy``,
        a Student-t term of scale :meth:`Discrepancy.extra_scale` at each row's distance: ``[max(S, 4000), rows]``."""
        target_index = {t: i for i, t in enumerate(self.targets)}
        columns = np.array([target_index[t] for t in frame["target"].to_list()], dtype=int)
        picks = np.arange(max(self.n_draws, _PREDICTIVE_SAMPLES)) % self.n_draws
        scale = self.noise[picks][:, columns]
        rng = np.random.default_rng(seed)
        shape = (picks.size, frame.height)
        eps = rng.standard_normal(shape) if self.noise_df is None else rng.standard_t(self.noise_df, shape)
        samples = log_loss[picks] + scale * eps
        if discrepancy is None:
            return samples
        sigma = np.median(self.noise, axis=0)[columns]
        extra = discrepancy.extra_scale(distances[f"beyond_{discrepancy.axis}"], sigma, log_loss.var(axis=0))
        return samples + extra * rng.standard_t(discrepancy.df, shape)

    # -- persistence ---------------------------------------------------------------------------------

    def save(self, path) -> Path:
        """Write ``fit.json`` (law, coords, diagnostics, provenance, rows set aside, the sha256 checksum
        of the draws, noise and coords, and that of ``posterior.nc``), ``draws.npz`` and, for Bayesian fits,
        ``posterior.nc`` (ArviZ NetCDF) into directory ``path``. No pickle: safe to share."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        posterior = out / "posterior.nc"
        posterior.unlink(missing_ok=True)  # a posterior left by an earlier fit saved here is not this fit's
        if self.inference_data is not None:
            self.inference_data.to_netcdf(str(posterior))
        arrays = {"noise": np.asarray(self.noise), **{f"param:{k}": np.asarray(v) for k, v in self.draws.items()}}
        meta = {
            "format": FORMAT_VERSION,
            "law": self.law.name,
            "law_options": dict(self.law.options),
            "coords": {k: list(v) for k, v in self.coords.items()},
            "method": self.method,
            "noise_df": self.noise_df,
            "diagnostics": self.diagnostics,
            "provenance": self.provenance,
            "set_aside": self.set_aside.to_dicts(),
            "fitted_range": None if self.fitted_range is None else self.fitted_range.to_dict(),
            "discrepancy": None if self.discrepancy is None else self.discrepancy.to_dict(),
            "checksum": _checksum(arrays, self.coords),
            "posterior_checksum": None if self.inference_data is None else _file_checksum(posterior),
        }
        (out / "fit.json").write_text(json.dumps(meta, indent=2, default=_json_number) + "\n")
        np.savez(out / "draws.npz", **arrays)
        return out

    @classmethod
    def load(cls, path, law: Law | None = None) -> "Fit":
        """Read a fit written by :meth:`save`. A user-defined law must be registered
        (``scalemix.laws.register``) or passed as ``law``.

        Everything read is verified: ``fit.json`` and ``draws.npz`` parse, hold every key and array the
        law needs, match the checksum recorded at save time, and give finite draws of the shapes the law's
        layout declares (inside each parameter's support) and finite, positive noise of shape
        ``[draws, targets]``. Anything else raises a one-line :class:`FitError` naming the file."""
        folder = _fit_folder(Path(path))
        meta_path, npz_path = folder / "fit.json", folder / "draws.npz"
        meta = _read_meta(meta_path)
        law = _saved_law(meta_path, meta, law)
        coords = {k: tuple(v) for k, v in meta["coords"].items()}
        arrays = _read_arrays(npz_path, law)
        if _checksum(arrays, coords) != meta["checksum"]:
            raise FitError(f"{npz_path} or the coords in {meta_path} do not match the sha256 checksum recorded "
                           f"when the fit was saved: {_CHANGED}")
        layout = _layout(meta_path, law, coords)
        draws = _checked_draws(npz_path, layout, arrays)
        return cls(
            law=law,
            coords=coords,
            draws=draws,
            method=meta["method"],
            noise=_checked_noise(npz_path, arrays["noise"], layout, next(iter(draws.values())).shape[0]),
            noise_df=meta["noise_df"],
            diagnostics=meta["diagnostics"],
            provenance=meta["provenance"],
            inference_data=_read_posterior(folder / "posterior.nc", meta_path, meta["posterior_checksum"]),
            set_aside=_from_meta(meta_path, meta, "set_aside", lambda v: pl.DataFrame(v, schema=SET_ASIDE_SCHEMA)),
            fitted_range=_from_meta(meta_path, meta, "fitted_range", FittedRange.from_dict),
            discrepancy=_from_meta(meta_path, meta, "discrepancy", Discrepancy.from_dict),
        )


# -- reading a saved fit back: each check raises one FitError line naming the file ---------------------

_REFIT = "refit and save again with `scalemix fit ... --out DIR`"
_CHANGED = f"the file was replaced, edited or damaged after the fit was saved; {_REFIT}"
_META_KEYS: dict[str, tuple[type, ...]] = {
    "format": (int, float), "law": (str,), "law_options": (dict,), "coords": (dict,), "method": (str,),
    "noise_df": (int, float, type(None)), "diagnostics": (dict,), "provenance": (dict,), "set_aside": (list,),
    "fitted_range": (dict, type(None)), "discrepancy": (dict, type(None)), "checksum": (str,),
    "posterior_checksum": (str, type(None)),
}
"""The keys of ``fit.json`` (format 4: format 3 and the checksum of ``posterior.nc``) and the JSON types each may hold."""
_JSON_KINDS = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "true/false", type(None): "null"}


def _checksum(arrays: dict[str, np.ndarray], coords) -> str:
    """``sha256:<hex>`` of the coords (labels in order) and of every array's name, dtype, shape and bytes."""
    digest = hashlib.sha256(json.dumps({k: list(v) for k, v in coords.items()}, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, array.dtype.str, array.shape]).encode())
        digest.update(array.tobytes())
    return f"sha256:{digest.hexdigest()}"


def _fit_folder(folder: Path) -> Path:
    """``folder`` if it is a directory holding ``fit.json``."""
    if not folder.exists():
        raise FitError(f"{folder} does not exist; pass the directory a fit was saved in with `scalemix fit ... --out DIR`")
    if not folder.is_dir():
        raise FitError(f"{folder} is a file, not a saved fit; pass the directory that holds fit.json and draws.npz")
    if not (folder / "fit.json").is_file() and (folder / "stack.json").is_file():
        raise FitError(f"{folder} is a stack of laws (stack.json), which predict, evaluate and backtest take; for this, "
                       f"pass one of its fits (the sub-directories of {folder})")
    if not (folder / "fit.json").is_file():
        raise FitError(f"{folder} is not a saved fit (no fit.json); save one with `scalemix fit ... --out DIR`")
    return folder


def _read_meta(path: Path) -> dict[str, Any]:
    """``fit.json`` parsed: an object of this format, with every key of :data:`_META_KEYS` of its JSON
    type, coords that map each name to distinct label strings, and a positive ``noise_df`` or null."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise FitError(f"{path} is not UTF-8 text, so not the JSON scalemix writes; {_CHANGED}") from None
    except json.JSONDecodeError as error:
        raise FitError(f"{path} is not valid JSON ({error.msg} at line {error.lineno} column {error.colno}); "
                       f"{_CHANGED}") from None
    if not isinstance(meta, dict):
        raise FitError(f"{path} holds {_kind(meta)} at the top level, not the object scalemix writes; {_CHANGED}")
    if "format" not in meta:
        raise FitError(f"{path} has no `format` key, so it was not written by scalemix's Fit.save; {_REFIT}")
    if meta["format"] != FORMAT_VERSION:
        raise FitError(f"{path}: fit format {meta['format']!r} is not {FORMAT_VERSION}, the format this scalemix "
                       f"reads; {_REFIT}")
    missing = [key for key in _META_KEYS if key not in meta]
    if missing:
        raise FitError(f"{path} lacks the key(s) {', '.join(missing)}; {_CHANGED}")
    for key, types in _META_KEYS.items():
        if not isinstance(meta[key], types):
            wanted = " or ".join(dict.fromkeys(_JSON_KINDS[t] for t in types))
            raise FitError(f"{path}: `{key}` is {_kind(meta[key])}, not {wanted}; {_CHANGED}")
    for name, labels in meta["coords"].items():
        if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels) and len(set(labels)) == len(labels)):
            raise FitError(f"{path}: coords `{name}` is {json.dumps(labels)[:60]}, not an array of distinct label "
                           f"strings; {_CHANGED}")
    if meta["noise_df"] is not None and not meta["noise_df"] > 0:
        raise FitError(f"{path}: `noise_df` is {meta['noise_df']}, not a positive number of degrees of freedom or "
                       f"null; {_CHANGED}")
    return meta


def _kind(value) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _saved_law(path: Path, meta: dict, law: Law | None) -> Law:
    """The law ``fit.json`` names, from the registry unless the caller passed it."""
    if law is None:
        try:
            return laws.get(meta["law"], **meta["law_options"])
        except FitError as error:
            raise FitError(f"{path}: {error}") from None
    if law.name != meta["law"]:
        raise FitError(f"{path} is a fit of law {meta['law']!r}, not of the law {law.name!r} passed to Fit.load; "
                       f"pass that law, or none to take it from the registry")
    return law


def _read_arrays(path: Path, law: Law) -> dict[str, np.ndarray]:
    """Every array of ``draws.npz``: exactly ``noise`` and ``param:<name>`` for each of the law's params."""
    if not path.is_file():
        raise FitError(f"{path} is missing: a saved fit holds its draws there beside fit.json; {_CHANGED}")
    if not zipfile.is_zipfile(path):
        raise FitError(f"{path} is not an .npz archive (truncated, or another kind of file); {_CHANGED}")
    try:
        with np.load(path) as stored:
            arrays = {name: np.asarray(stored[name]) for name in stored.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as error:
        raise FitError(f"{path} is a damaged .npz archive ({' '.join(str(error).split())}); {_CHANGED}") from None
    expected = ["noise", *(f"param:{p.name}" for p in law.params)]
    missing = [name for name in expected if name not in arrays]
    extra = sorted(set(arrays) - set(expected))
    if missing or extra:
        found = "; ".join(part for part in (missing and f"no array {', '.join(missing)}",
                                             extra and f"unexpected array(s) {', '.join(extra)}") if part)
        raise FitError(f"{path}: {found} (a saved {law.name} fit holds {', '.join(expected)}); {_CHANGED}")
    return arrays


def _layout(path: Path, law: Law, coords: dict[str, tuple[str, ...]]) -> Layout:
    missing = sorted((law.dims | {"target"}) - set(coords))
    if missing:
        raise FitError(f"{path}: coords lack {', '.join(missing)}, which law {law.name!r} needs; {_CHANGED}")
    return law.layout(coords)


def _checked_draws(path: Path, layout: Layout, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{name: array[S, *shape]}``: real and finite, of the layout's shapes with one S >= 1 for every
    parameter (the first one's), and inside each parameter's support."""
    first = arrays[f"param:{layout.slots[0].param.name}"]
    count = first.shape[0] if first.ndim else 0
    if count == 0:
        raise FitError(f"{path}: param:{layout.slots[0].param.name} holds no draws (shape {first.shape}); {_REFIT}")
    draws = {}
    for slot in layout.slots:
        name, constraint = slot.param.name, slot.param.constraint
        where, array = f"{path}: param:{name}", arrays[f"param:{name}"]
        dims = "".join(f", {d}={len(layout.coords[d])}" for d in slot.param.dims)
        _check_shape(where, array, (count, *slot.shape), f"[draws={count}{dims}] by the coords in fit.json")
        inside = (array >= constraint.lower) & (array <= constraint.upper)
        _check_values(where, array, inside, f"outside the support ({constraint.lower:g}, {constraint.upper:g}) law "
                                            f"{layout.law.name!r} declares for {name}")
        draws[name] = array
    return draws


def _checked_noise(path: Path, noise: np.ndarray, layout: Layout, count: int) -> np.ndarray:
    """The ``[draws, targets]`` noise scales, finite and positive."""
    targets = len(layout.coords["target"])
    _check_shape(f"{path}: noise", noise, (count, targets), f"[draws={count}, targets={targets}]")
    _check_values(f"{path}: noise", noise, noise > 0, "zero or negative, where a noise scale is positive")
    return noise


def _check_shape(where: str, array: np.ndarray, shape: tuple[int, ...], meaning: str) -> None:
    """Refuse an ``array`` that is not of real numbers, or not of ``shape`` (which ``meaning`` explains)."""
    if array.dtype.kind not in "fiu":
        raise FitError(f"{where} holds {array.dtype} values, not real numbers; {_REFIT}")
    if array.shape != shape:
        raise FitError(f"{where} has shape {array.shape}, not {shape} ({meaning}); {_REFIT}")


def _check_values(where: str, array: np.ndarray, inside: np.ndarray, outside: str) -> None:
    """Refuse NaN or infinite values of ``array``, then values where ``inside`` is False (which ``outside`` says)."""
    for bad, what in ((~np.isfinite(array), "NaN or infinite"), (~inside, outside)):
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise FitError(f"{where} has {int(bad.sum())} of {array.size} value(s) {what} (the first, at index "
                           f"{first}, is {array[first]}); {_REFIT}")


def _file_checksum(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    return f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"


def _read_posterior(path: Path, meta_path: Path, recorded: str | None):
    """The ArviZ ``InferenceData`` of a Bayesian fit, or ``None`` where the fit has none; ``posterior.nc``
    must be there exactly when ``fit.json`` records its checksum (``recorded``), and match it."""
    if recorded is None:
        if path.is_file():
            raise FitError(f"{path} is not part of this fit: {meta_path} records no posterior (a point or bootstrap "
                           f"fit); remove the file, or {_REFIT}")
        return None
    if not path.is_file():
        raise FitError(f"{path} is missing: {meta_path} records a posterior saved beside it; {_CHANGED}")
    if _file_checksum(path) != recorded:
        raise FitError(f"{path} does not match the sha256 checksum recorded in {meta_path} when the fit was saved: "
                       f"{_CHANGED}")
    import arviz as az  # heavy; only Bayesian fits have a posterior to read

    try:
        return az.from_netcdf(str(path))
    except (OSError, ValueError, KeyError) as error:
        raise FitError(f"{path} cannot be read as an ArviZ NetCDF posterior ({' '.join(str(error).split())}); "
                       f"{_CHANGED}") from None


def _from_meta(path: Path, meta: dict, key: str, build: Callable):
    """``build(meta[key])``, or ``None`` for a null; a value it cannot build from is refused."""
    if meta[key] is None:
        return None
    try:
        return build(meta[key])
    except (KeyError, TypeError, ValueError, IndexError, pl.exceptions.PolarsError) as error:
        raise FitError(f"{path}: `{key}` cannot be read ({type(error).__name__}: {error}); {_CHANGED}") from None


def predicted(frame: pl.DataFrame, loss: np.ndarray, predictive: np.ndarray, levels: Sequence[float],
              extra: dict[str, np.ndarray]) -> pl.DataFrame:
    """The prediction table: ``frame`` with the ``extra`` columns, ``mean`` and ``median`` of ``loss``
    (``[draws, rows]``), its credible intervals and the predictive intervals of ``predictive`` at ``levels``."""
    columns = {"mean": loss.mean(axis=0), "median": np.median(loss, axis=0)}
    for level in levels:
        columns |= intervals.quantiles(loss, [level]) | intervals.quantiles(predictive, [level], predictive=True)
    return frame.with_columns(**{k: pl.Series(k, v) for k, v in {**extra, **columns}.items()})


@partial(jax.jit, static_argnames="law")
def _log_loss_over_draws(law: Law, draws, inputs):
    return jax.vmap(lambda theta: law.log_loss(theta, inputs))(draws)


def _as_jax(tree):
    return jax.tree_util.tree_map(lambda a: None if a is None else jnp.asarray(a), tree, is_leaf=lambda a: a is None)


def _json_number(value):
    if value is None:
        return None
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
