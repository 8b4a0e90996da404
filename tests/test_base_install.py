"""The base install (``pip install -e .``, no extras) has what every documented command needs.

A fresh virtual environment costs minutes of pip install, so the tests emulate one: a Python subprocess
in which every installed distribution outside the transitive closure of scalemix's base requirements
(``importlib.metadata.requires("scalemix")`` without extras, then each requirement's own, recursively) is
unimportable. Each top-level import name of such a distribution (``packages_distributions()``) is refused by a finder
put first on ``sys.meta_path`` before anything else runs (:data:`PRELUDE`): ``import pyarrow`` then raises
ModuleNotFoundError, as for a package that is not installed. ``test_readme.py`` runs the README's commands and Python examples in
such a subprocess (:func:`run_on_base_install`); the tests here check the emulation itself.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "scalemix"


@functools.cache
def base_closure() -> frozenset[str]:
    """Canonical names of the distributions a base install of scalemix pulls in, scalemix included: its
    requirements without extras, then theirs (with the extras each asks for), recursively; requirements
    whose markers do not hold here, or that are not installed, are left out."""
    wanted: dict[str, frozenset[str]] = {}
    todo = [(ROOT, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in wanted and extras <= wanted[key]:
            continue
        wanted[key] = wanted.get(key, frozenset()) | extras
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            del wanted[key]
            continue
        for text in requirements:
            requirement = Requirement(text)
            if _applies(requirement, wanted[key]):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return frozenset(wanted)


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether ``requirement`` holds for a distribution installed with ``extras`` (none: the base install)."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


@functools.cache
def blocked_modules() -> tuple[str, ...]:
    """Top-level import names that only distributions outside :func:`base_closure` provide."""
    closure = base_closure()
    return tuple(sorted(name for name, providers in metadata.packages_distributions().items()
                        if not any(canonicalize_name(p) in closure for p in providers)))


def prelude() -> str:
    """Python source that makes the :func:`blocked_modules` unimportable; run it before anything else."""
    return PRELUDE.replace("BLOCKED", repr(frozenset(blocked_modules())))


PRELUDE = textwrap.dedent("""
    import sys


    class _NotInBaseInstall:
        \"\"\"Finds the top-level modules of distributions outside scalemix's base install, and refuses them.\"\"\"

        blocked = BLOCKED

        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in self.blocked:
                raise ModuleNotFoundError(f"No module named {name!r} (not in scalemix's base install)", name=name)
            return None


    for _loaded in [m for m in sys.modules if m.partition(".")[0] in _NotInBaseInstall.blocked]:
        del sys.modules[_loaded]
    sys.meta_path.insert(0, _NotInBaseInstall())
""")
"""Source of the block: a finder first on ``sys.meta_path`` that raises ModuleNotFoundError for every
blocked top-level name, as importing an absent package does. (``importlib.util.find_spec`` raises it too,
where an absent package gives None; polars, which asks find_spec whether pyarrow is there, takes both to
mean "not installed".)"""


def run_on_base_install(code: str, folder: Path, *, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run Python ``code`` after :func:`prelude` in a fresh interpreter (this one's ``sys.executable``), from
    a script written to ``folder`` (so ``cwd``, default ``folder``, is not on ``sys.path``). JAX's compiled
    programs are not kept on disk (``SCALEMIX_CACHE_DIR`` empty), so every run compiles as a first one does."""
    script = folder / "on_base_install.py"
    script.write_text(prelude() + code)
    env = {**os.environ, "SCALEMIX_CACHE_DIR": "", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, str(script)], cwd=cwd or folder, env=env, capture_output=True,
                          text=True, timeout=timeout)


# -- the emulation ---------------------------------------------------------------------------------------


def test_the_closure_holds_the_declared_dependencies_and_not_the_test_extra():
    declared = {canonicalize_name(Requirement(r).name) for r in metadata.requires(ROOT) if "extra" not in r}
    assert {"jax", "numpyro", "arviz", "polars", "matplotlib", "typer"} <= declared <= base_closure()
    assert {"numpy", "xarray", "pandas"} <= base_closure()  # numpyro and ArviZ need them
    assert not {"pytest", "hypothesis", "pyarrow", "lightgbm", "nbclient"} & base_closure()
    assert {"pyarrow", "pytest", "lightgbm"} <= set(blocked_modules())
    assert not {"scalemix", "jax", "polars", "numpy", "pandas"} & set(blocked_modules())


PROBE = textwrap.dedent("""
    import json
    found = {}
    for name in ("pyarrow", "pytest", "lightgbm"):
        try:
            __import__(name)
            found[name] = "imported"
        except ImportError:
            found[name] = "ImportError"
    import pandas as pd, polars as pl
    try:  # what scalemix.evaluate.compare did with ArviZ's table (pandas 3 keeps its strings in pyarrow)
        pl.from_pandas(pd.DataFrame({"elpd_loo": [1.0]}, index=["chinchilla"]).reset_index(names="model"))
        found["pl.from_pandas"] = "worked"
    except ImportError:
        found["pl.from_pandas"] = "ImportError"
    print(json.dumps(found))
""")


def test_the_emulated_base_install_lacks_pyarrow_and_refuses_what_needed_it(tmp_path):
    """The emulation can fail a test: pyarrow (test extra only) cannot be imported, so the old compare code
    (``pl.from_pandas``) raises, while pandas and polars (base dependencies) import. That scalemix and
    every documented command work there is test_readme's part."""
    done = run_on_base_install(PROBE, tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"pyarrow": "ImportError", "pytest": "ImportError", "lightgbm": "ImportError",
                     "pl.from_pandas": "ImportError"}
