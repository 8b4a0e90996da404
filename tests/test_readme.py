"""README.md runs as written: every ``$ scalemix ...`` line of its ``console`` blocks, every line of its
``bash`` blocks and every ``python`` block, in README order, from the root of a clone (the data files it
names are the repository's), on the base install (:mod:`test_base_install`'s emulation, no extras).

The Python blocks continue one session, as the README says. An example that is not run says so in the
README: a block whose first line is ``# not run by the tests: <reason>``, or a command whose comment holds
``(not run by the tests: <reason>)``. The ``toml`` blocks are checked against what reads them: the spec
file against the shipped RegMix spec, the sweep config by the sweep's config reader.

Everything runs in one subprocess (one JAX import; programs compiled once are reused by later examples),
which records each example's outcome; each example is then one test here.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shlex
import subprocess
import textwrap
import tomllib
from pathlib import Path

import pytest

from test_base_install import run_on_base_install

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

_BLOCK_SKIP = re.compile(r"^#\s*not run by the tests:\s*(.+)$")
_LINE_SKIP = re.compile(r"\(not run by the tests:\s*([^)]+)\)")
_FENCE = re.compile(r"^```(\w*)\s*$")
_HEADING = re.compile(r"^(#{2,3}) (.+)$")


@dataclasses.dataclass(frozen=True)
class Example:
    """One runnable piece of the README: a ``python`` block, a ``command`` line or a ``toml`` block, at
    ``line`` (1-based) under ``section``; ``skipped`` is the README's reason for not running it."""

    kind: str
    line: int
    section: str
    text: str
    skipped: str | None = None

    @property
    def id(self) -> str:
        return f"README.md:{self.line}"


def examples(text: str) -> list[Example]:
    """The README's examples in order (see the module docstring for what counts and what is skipped)."""
    found, section, fence, start, body = [], "", None, 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence, start, body = opening.group(1), number, []
        elif fence is not None and line.strip() == "```":
            found += _block(fence, start, section, body)
            fence = None
        elif fence is not None:
            body.append(line)
        elif heading := _HEADING.match(line):
            section = heading.group(2)
    return found


def _block(language: str, start: int, section: str, body: list[str]) -> list[Example]:
    skipped = _BLOCK_SKIP.match(body[0].strip()) if body else None
    reason = skipped.group(1) if skipped else None
    if language == "python":
        return [Example("python", start + 1, section, "\n".join(body), reason)]
    if language == "toml":
        return [Example("toml", start + 1, section, "\n".join(body), reason)]
    if language not in ("bash", "console"):
        return []
    commands = []
    for offset, line in enumerate(body, start=start + 1):
        stripped = line.strip()
        if language == "console":
            if not stripped.startswith("$ "):
                continue
            stripped = stripped[2:]
        if not stripped or stripped.startswith("#"):
            continue
        own = _LINE_SKIP.search(line)
        commands.append(Example("command", offset, section, stripped, reason or (own.group(1) if own else None)))
    return commands


ALL = examples(README.read_text())
RUN = [e for e in ALL if e.skipped is None and e.kind in ("python", "command")]

DRIVER = textwrap.dedent("""
    import contextlib, io, json, shlex, time, traceback, warnings
    from pathlib import Path

    warnings.simplefilter("ignore")
    items = json.loads(Path(ITEMS).read_text())
    results, session = {}, {"__name__": "__readme__"}
    for item in items:
        out, err, error = io.StringIO(), io.StringIO(), None
        started = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                if item["kind"] == "python":
                    exec(compile(item["text"], item["id"], "exec"), session)
                else:
                    from scalemix.cli import main
                    try:
                        main(shlex.split(item["text"], comments=True)[1:])
                    except SystemExit as stopped:
                        if stopped.code not in (0, None):
                            error = f"exit code {stopped.code}"
            except BaseException:
                error = traceback.format_exc()
        results[item["id"]] = {"error": error, "stdout": out.getvalue()[-200000:], "stderr": err.getvalue()[-4000:],
                               "seconds": time.perf_counter() - started}
        Path(RESULTS).write_text(json.dumps(results))
""")


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """Run every example of :data:`RUN` in one base-install subprocess, from a folder that looks like a
    clone's root (``scalemix/`` there is the repository's, for the data files the README names); returns
    ``(results by example id, that folder)``."""
    base = tmp_path_factory.mktemp("readme")
    work = base / "clone"
    work.mkdir()
    (work / "scalemix").symlink_to(ROOT / "scalemix", target_is_directory=True)
    items, results = base / "items.json", base / "results.json"
    items.write_text(json.dumps([{"id": e.id, "kind": e.kind, "text": e.text} for e in RUN]))
    code = DRIVER.replace("ITEMS", repr(str(items))).replace("RESULTS", repr(str(results)))
    try:
        done = run_on_base_install(code, base, cwd=work, timeout=900)
        crashed = done.stderr[-3000:] if done.returncode else ""
    except subprocess.TimeoutExpired:
        crashed = "the README run took more than 900 s"
    found = json.loads(results.read_text()) if results.exists() else {}
    return {"results": found, "crashed": crashed, "folder": work}


@pytest.mark.parametrize("example", RUN, ids=[e.id for e in RUN])
def test_readme_example_runs(example, readme_run):
    outcome = readme_run["results"].get(example.id)
    assert outcome is not None, f"{example.id} was not reached: {readme_run['crashed']}"
    assert outcome["error"] is None, f"{example.id} ({example.section}):\n{example.text}\n{outcome['error']}\n{outcome['stderr']}"


def test_json_commands_print_only_json(readme_run):
    """``--json`` prints JSON and nothing else on stdout (what a script piping it reads)."""
    asked = [e for e in RUN if e.kind == "command" and "--json" in shlex.split(e.text, comments=True)]
    assert len(asked) >= 4
    for example in asked:
        outcome = readme_run["results"][example.id]
        assert outcome["error"] is None
        json.loads(outcome["stdout"])


def test_every_command_is_a_scalemix_command_or_says_why_not():
    for example in (e for e in ALL if e.kind == "command"):
        if example.skipped is None:
            assert example.text.startswith("scalemix "), f"{example.id}: {example.text}"
        else:
            assert len(example.skipped.strip()) > 10, f"{example.id}: say why it is not run"
    skipped = [e for e in ALL if e.skipped is not None]
    # the set-up lines (they install packages), the sweeps and the closed loop (minutes of training;
    # tests/test_active_loop.py runs a tiny loop) and the tracking tools (an extra each;
    # tests/test_sources_*.py and test_proxy_tracking.py run the same steps), nothing else
    assert {e.section for e in skipped} == {"Set-up", "Proxy models", "Which run next: active design", *_NEEDS_AN_EXTRA}, \
        [e.id for e in skipped]


_NEEDS_AN_EXTRA = {"MLflow", "TensorBoard", "Weights & Biases", "Sweeps that log to MLflow"}
"""README sections whose examples need an optional extra (mlflow, tensorboard, wandb), which the README's
base-install run cannot import."""


def test_the_parser_finds_blocks_lines_and_skips():
    text = textwrap.dedent("""\
        ## One
        ```console
        $ scalemix --version      # prints it
        output line
        $ scalemix sweep --preset gpu-mnmt   # 180 runs (not run by the tests: needs a GPU)
        ```
        ```python
        x = 1
        ```
        ### Two
        ```bash
        # not run by the tests: installs packages
        pip install -e .
        ```
        """)
    found = examples(text)
    assert [(e.kind, e.line, e.section, e.skipped) for e in found] == [
        ("command", 3, "One", None), ("command", 5, "One", "needs a GPU"), ("python", 8, "One", None),
        ("command", 13, "Two", "installs packages")]
    assert found[0].text == "scalemix --version      # prints it"


def test_the_spec_block_is_the_shipped_regmix_spec():
    (spec,) = [e for e in ALL if e.kind == "toml" and "[runs]" in e.text and e.section == "Spec files"]
    shipped = tomllib.loads((ROOT / "scalemix/datasets/data/regmix/regmix-1m-train.toml").read_text())
    assert tomllib.loads(spec.text) == shipped


def test_the_sweep_config_block_reads(tmp_path):
    from scalemix.proxy import sweep

    (config,) = [e for e in ALL if e.kind == "toml" and "[[cohort]]" in e.text]
    (tmp_path / "my-sweep.toml").write_text(config.text)
    read = sweep.load_config(tmp_path / "my-sweep.toml")
    assert read["name"] == "my-sweep"


def test_the_readme_report_shows_the_fits_warnings(readme_run):
    """``scalemix report fits/ml`` (a README command) shows every warning the saved fit carries."""
    folder = readme_run["folder"]
    assert readme_run["results"], readme_run["crashed"]
    warnings = json.loads((folder / "fits/ml/fit.json").read_text())["diagnostics"]["warnings"]
    shown = [html.unescape(w) for w in re.findall(r'<p class="warning">(.*?)</p>', (folder / "report.html").read_text(), re.S)]
    assert warnings and set(warnings) <= set(shown)
