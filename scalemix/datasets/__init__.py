"""Embedded real run logs from published scaling-law and data-mixture studies, with licence and provenance.

    >>> from scalemix import datasets, runs
    >>> datasets.names()
    ['chinchilla', 'chinchilla-all', 'olmix-dclm', 'proxy-mnmt', 'regmix-1m-test', 'regmix-1m-train', 'regmix-60m-test']
    >>> len(runs.read("chinchilla"))
    240

Each folder under ``data/`` holds the source files copied unchanged, their LICENSE and a PROVENANCE.md
(source repository @ commit, what a row is, units, rows dropped). This module only says what each dataset
is and how to read it (:func:`recipe`: a file or frame, reader options, rows its curators set aside);
:func:`scalemix.runs.read` reads it, with the same machinery users read their own logs with (the RegMix
and Olmix datasets are TOML spec files shipped beside their CSVs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from scalemix.errors import RunTableError

_DATA = Path(__file__).parent / "data"

CHINCHILLA_OUTLIERS = 5
"""Epoch AI (Besiroglu et al. 2024) fits the 240 Chinchilla points left after dropping the 5 highest losses."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How :func:`scalemix.runs.read` reads an embedded dataset: ``data`` (a file or a polars frame) with
    reader ``options``, then sets aside the runs listed in ``set_aside`` (rejected-row records: ``source,
    row, run_id, column, value, reason``) with a ``note`` saying why."""

    data: Path | pl.DataFrame
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    set_aside: pl.DataFrame | None = None
    note: str | None = None


@dataclasses.dataclass(frozen=True)
class _Dataset:
    """What users are told about one embedded dataset, and how to read it."""

    folder: str  # under data/, with the files, LICENSE and PROVENANCE.md
    description: str
    source: str
    licence: str
    row: str
    units: str
    recipe: Callable[[], Recipe]


def _chinchilla(drop_outliers: bool) -> Recipe:
    """Epoch's digitisation of Hoffmann et al. 2022 Fig. 4: N = Model Size, D = Training FLOP / (6 N)."""
    path = _DATA / "chinchilla" / "svg_extracted_data.csv"
    frame = pl.read_csv(path).select(
        run_id=pl.format("chinchilla-{}", pl.int_range(pl.len()).cast(pl.Utf8).str.zfill(3)),
        params=pl.col("Model Size"),
        tokens=pl.col("Training FLOP") / (6 * pl.col("Model Size")),
        loss=pl.col("loss"),
        flops=pl.col("Training FLOP"),
    )
    if not drop_outliers:
        return Recipe(frame, {"target": "massivetext"})
    outliers = frame.with_row_index("row", offset=1).top_k(CHINCHILLA_OUTLIERS, by="loss")
    reason = f"Epoch AI outlier (one of the {CHINCHILLA_OUTLIERS} highest losses)"
    set_aside = outliers.sort("row").select(
        source=pl.lit(path.name),
        row=pl.col("row").cast(pl.Int64),
        run_id=pl.col("run_id"),
        column=pl.lit("loss"),
        value=pl.col("loss").cast(pl.Utf8),
        reason=pl.lit(reason),
    )
    note = (
        f"set aside the {CHINCHILLA_OUTLIERS} highest-loss rows (loss {outliers['loss'].min():.3f} to "
        f"{outliers['loss'].max():.3f}), the outliers Epoch AI leaves out of its fit (Besiroglu et al. 2024); "
        "'chinchilla-all' keeps them"
    )
    return Recipe(frame, {"target": "massivetext"}, set_aside, note)


def _file(folder: str, name: str) -> Callable[[], Recipe]:
    """A recipe reading the file ``data/<folder>/<name>`` (a spec ``.toml`` or a run log)."""
    return lambda: Recipe(_DATA / folder / name)


_CHINCHILLA_SOURCE = (
    "Besiroglu et al. 2024 (Epoch AI), digitisation of Hoffmann et al. 2022 Fig. 4: "
    "epoch-research/analyzing-chinchilla @ 9225883, byte-identical to IBM/ColPret raw_data/chinchila_extracted.csv"
)
_CHINCHILLA_UNITS = (
    "params: N, parameters including embeddings; tokens: D = C / (6 N) from the training FLOPs C (extra column "
    "'flops'); loss: nats, MassiveText final loss read off a colour bar (99 distinct values)"
)
_REGMIX_SOURCE = "Liu et al. 2024, RegMix: sail-sg/regmix data/ (see PROVENANCE.md for commits)"
_REGMIX_ROW = "one (run, Pile validation domain) pair: run = one proxy model trained on one mixture"
_REGMIX_UNITS = (
    "params: nominal model size as RegMix names it; tokens: 1e9; loss: validation cross-entropy in nats; "
    "w.<domain>: share of each of 17 Pile domains, rounded to 3 decimals by RegMix (renormalised here)"
)


def _regmix(name: str, what: str) -> _Dataset:
    """One of RegMix's three run logs, read through its shipped spec file."""
    return _Dataset(
        folder="regmix",
        description=f"RegMix (Liu et al. 2024): {what}",
        source=_REGMIX_SOURCE,
        licence="MIT",
        row=_REGMIX_ROW,
        units=_REGMIX_UNITS,
        recipe=_file("regmix", f"{name}.toml"),
    )


_DATASETS: dict[str, _Dataset] = {
    "chinchilla": _Dataset(
        folder="chinchilla",
        description="Chinchilla (Hoffmann et al. 2022) final losses as Epoch AI digitised them: the 240 points "
        "Epoch fits (5 highest-loss outliers set aside)",
        source=_CHINCHILLA_SOURCE,
        licence="MIT (IBM/ColPret copy)",
        row="one final training run (one model size and token budget), target 'massivetext'",
        units=_CHINCHILLA_UNITS,
        recipe=lambda: _chinchilla(drop_outliers=True),
    ),
    "chinchilla-all": _Dataset(
        folder="chinchilla",
        description="Chinchilla (Hoffmann et al. 2022) final losses as Epoch AI digitised them: all 245 points",
        source=_CHINCHILLA_SOURCE,
        licence="MIT (IBM/ColPret copy)",
        row="one final training run (one model size and token budget), target 'massivetext'",
        units=_CHINCHILLA_UNITS,
        recipe=lambda: _chinchilla(drop_outliers=False),
    ),
    "regmix-1m-train": _regmix("regmix-1m-train", "512 runs of 1M-param models, 1B tokens, 17 Pile domain weights, 13 validation losses"),
    "regmix-1m-test": _regmix("regmix-1m-test", "256 unseen mixtures trained at 1M params, 1B tokens, 13 validation losses"),
    "regmix-60m-test": _regmix("regmix-60m-test", "the same 256 unseen mixtures trained at 60M params, 1B tokens, 13 validation losses"),
    "olmix-dclm": _Dataset(
        folder="olmix",
        description="Olmix (Chen et al. 2026): 127 runs of 30M-param proxies over 24 DCLM topic domains (sparse "
        "mixtures), 110 task losses in bits per byte",
        source="Chen et al. 2026, Olmix: allenai/olmix dclm_ratios.csv @ dec5cb9, dclm_metrics.csv @ dd2900f",
        licence="Apache-2.0",
        row="one (run, evaluation task) pair: run = one 30M-param proxy trained on one mixture",
        units="params: 3e7, the nominal size of the olmo2_30m proxy; tokens: 3e9 ('5xC' = 5 x 20 tokens per "
        "parameter); loss: BITS PER BYTE on each task (lower is better), not nats",
        recipe=_file("olmix", "olmix-dclm.toml"),
    ),
    "proxy-mnmt": _Dataset(
        folder="proxy_mnmt",
        description="scalemix proxy sweep: byte-level translation models (14k-100k params) on the Debian gettext "
        "catalogs, En->{De,Fr} and {De,Ru}->En at 4 sizes x 7/5 weightings (fixed budget, under-trained)",
        source="measured by scalemix's own `scalemix sweep --preset proxy-mnmt` on 2 CPU cores (see PROVENANCE.md)",
        licence="MIT (our measured numbers; no corpus text)",
        row="one (run, language pair) pair: run = one model trained on a two-pair mixture",
        units="params: non-embedding N; tokens: byte positions processed (steps x batch x 128); loss: held-out nats "
        "per target byte; w.<pair>: sampling weight of each pair (pairs a cohort does not train are 0)",
        recipe=_file("proxy_mnmt", "runs.csv"),
    ),
}


def names() -> list[str]:
    """Names of the embedded datasets, sorted."""
    return sorted(_DATASETS)


def _dataset(name: str) -> _Dataset:
    if name not in _DATASETS:
        raise RunTableError(f"unknown dataset {name!r}; known datasets: {', '.join(names())}")
    return _DATASETS[name]


def describe(name: str) -> str:
    """One line saying what the dataset is."""
    return _dataset(name).description


def recipe(name: str) -> Recipe:
    """How to read dataset ``name`` (see :class:`Recipe`); read it with ``scalemix.runs.read(name)``."""
    return _dataset(name).recipe()


def info(name: str) -> dict[str, Any]:
    """Source, licence, what a row is, units and files of dataset ``name`` (JSON-serialisable); the counts
    of rows, runs, targets and domains come from reading it (``scalemix.runs.read(name).summary()``)."""
    dataset = _dataset(name)
    return {
        "name": name,
        "description": dataset.description,
        "source": dataset.source,
        "licence": dataset.licence,
        "row": dataset.row,
        "units": dataset.units,
        "files": sorted(str(p.relative_to(_DATA)) for p in (_DATA / dataset.folder).iterdir()),
    }
