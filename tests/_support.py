"""Plain helpers that several test files share (not a test file: pytest collects only ``test_*.py``).

Fixtures live in ``conftest.py``; what is here is ordinary code the tests call: fits with known
parameter draws, runs simulated from the multilingual law, the HTML report's tables, a sweep config."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import polars as pl

from scalemix import laws, runs
from scalemix.fitresult import Fit
from scalemix.proxy import executors

# -- Epoch's refit of Chinchilla (Besiroglu et al. 2024) --------------------------------------------------

EPOCH = {"A": 477.8, "B": 2143.4, "E": 1.8172, "alpha": 0.3473, "beta": 0.3672}
EPOCH_OBJECTIVE = 1.01828e-3

# -- fits with known draws (optimize/) ---------------------------------------------------------------


def make_fit(law, draws, targets, domains, **options):
    """A Fit with known parameter draws (no fitting): ``draws`` maps name -> array [S, ...]."""
    draws = {k: np.asarray(v, dtype=float) for k, v in draws.items()}
    count = next(iter(draws.values())).shape[0]
    return Fit(
        law=laws.get(law, **options),
        coords={"target": tuple(targets), "domain": tuple(domains)},
        draws=draws,
        method="point" if count == 1 else "bootstrap",
        noise=np.full((count, len(targets)), 0.01),
    )


def mixing_fit(t, c=1.0, k=1.0, domains="abcde"):
    """One-target-per-row ``t`` ([S, T, K] or [T, K]) of the mixing law L = c + k exp(t . w)."""
    t = np.asarray(t, dtype=float)
    t = t[None] if t.ndim == 2 else t
    shape = t.shape[:2]
    return make_fit("mixing", {"c": np.full(shape, c), "k": np.full(shape, k), "t": t},
                    [f"y{i}" for i in range(shape[1])], list(domains[: t.shape[2]]))


# -- runs simulated from the multilingual law (report/) ------------------------------------------------

MULTILINGUAL_TRUTH = {"beta": 40.0, "alpha": 0.3, "Linf": 1.5, "c1": 0.8, "c2": 0.5, "c3": 1.0}


def multilingual_runs(targets=("de", "fr"), noise=0.002, seed=0) -> runs.RunTable:
    """Two-pair runs simulated from the multilingual law with known parameters (MULTILINGUAL_TRUTH)."""
    TRUTH = MULTILINGUAL_TRUTH
    rng = np.random.default_rng(seed)
    rows = []
    for k, n in enumerate((1e7, 3e7, 1e8, 3e8, 1e9)):
        for j, p in enumerate((0.1, 0.3, 0.5, 0.7, 0.9)):
            weights = {f"w.{targets[0]}": p, f"w.{targets[1]}": 1 - p}
            for t in targets:
                own = weights[f"w.{t}"]
                f = own + TRUTH["c1"] * own ** TRUTH["c2"] * (1 - own) ** TRUTH["c3"]
                loss = TRUTH["beta"] * (f * n) ** -TRUTH["alpha"] + TRUTH["Linf"]
                rows.append({"run_id": f"r{k}{j}", "params": n, "tokens": 20 * n, "target": t,
                             "loss": loss * np.exp(noise * rng.standard_normal()), **weights})
    return runs.read(pl.DataFrame(rows))


# -- reading a written report (report/) ------------------------------------------------------------------

SECTIONS = ("data", "fit", "parameters", "diagnostics", "predictions", "extrapolation", "optimum", "front", "loop",
            "provenance")


class _Tables(HTMLParser):
    """Rows of the tables with an id, as lists of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._current, self._row, self._in_cell = {}, None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "id" in attrs:
            self._current = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr" and self._current is not None:
            self._row = []
            self._current.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._row.append("")
            self._in_cell = True

    def handle_endtag(self, tag):
        self._in_cell = self._in_cell and tag not in ("td", "th")
        if tag == "table":
            self._current, self._row = None, None

    def handle_data(self, data):
        if self._in_cell:
            self._row[-1] += data


def report_tables(path) -> dict[str, list[list[str]]]:
    """The tables with an id of the HTML report at ``path``: ``{id: rows of cell texts}``."""
    parser = _Tables()
    parser.feed(path.read_text())
    return parser.tables


def read_report(report) -> tuple[str, dict]:
    """The HTML of a report and its JSON summary."""
    return report.read_text(), json.loads(report.with_suffix(".json").read_text())


# -- a tiny proxy sweep (proxy/) ---------------------------------------------------------------------------

SWEEP_CONFIG = """
name = "test"
[corpus]
source = "synthetic"
langs = ["de", "en", "fr"]
n_segments = 400
[model]
n_layers = 1
seq_len = 32
[train]
steps = 30
[[cohort]]
name = "lm"
mode = "lm"
domains = ["de", "en", "fr"]
d_model = [16]
seeds = [0]
mixture = { design = "dirichlet", n = 2, alpha = 1.0, seed = 4 }
"""


class CountingExecutor(executors.InlineExecutor):
    def __init__(self):
        self.runs = 0

    def run(self, fn, jobs):
        for job, rows in super().run(fn, jobs):
            self.runs += len(job.runs)
            yield job, rows


# -- the command line's refusals (test_boundaries_*.py) ----------------------------------------------------


def refused(capsys, argv, *named):
    """Run ``scalemix ARGV`` through ``cli.main`` and check that it refused the input as a person should
    see it: exit code 2, exactly one line on stderr, no traceback, and each of ``named`` (the file, field
    or value at fault) in that line. Returns the line."""
    import pytest

    from scalemix.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main([str(arg) for arg in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert stopped.value.code == 2, f"exit code {stopped.value.code} for {argv}: {err}"
    assert len(lines) == 1, f"{len(lines)} stderr lines for {argv}:\n{err}"
    assert "Traceback" not in err
    for name in named:
        assert str(name) in lines[0], f"{name!r} not named in: {lines[0]}"
    return lines[0]
