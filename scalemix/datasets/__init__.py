"""Embedded real run logs from published scaling-law and data-mixture studies, with licence and provenance.

    >>> from scalemix import datasets, runs
    >>> datasets.names()
    ['chinchilla', 'chinchilla-all', 'olmix-dclm', 'olmix-s2pdf', 'proxy-mnmt', 'proxy-transfer', 'regmix-1m-test', 'regmix-1m-train', 'regmix-60m-test']
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
import tomllib
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
    """What users are told about one embedded dataset (an entry of ``data/datasets.toml``), and how to read it."""

    folder: str  # under data/, with the files, LICENSE and PROVENANCE.md
    description: str
    source: str
    licence: str
    row: str
    units: str
    file: str | None = None  # read from the folder: a spec .toml or a run log
    build: str | None = None  # or built by code: "chinchilla"
    drop_outliers: bool = False

    def recipe(self) -> Recipe:
        if self.build == "chinchilla":
            return _chinchilla(self.drop_outliers)
        return Recipe(_DATA / self.folder / self.file)


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


_DATASETS: dict[str, _Dataset] = {
    name: _Dataset(**entry) for name, entry in tomllib.loads((_DATA / "datasets.toml").read_text()).items()
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
