"""The package's imports point one way: no cycle between files or between parts, every import goes to the
same or a lower layer (the README's layout table), and the report and laws never load NumPyro.

The import graph is read from the source with ``ast``: imports at module level and inside functions alike."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scalemix"

LAYERS = {  # part -> layer; a part may import parts of its own layer or below
    "errors": 0, "_x64": 0,
    "laws": 1,
    "datasets": 2, "runs": 2, "splits": 2, "proxy": 2, "sources": 2,  # proxy generates runs: it stands beside them
    "design": 3,
    "intervals": 4, "diagnostics": 4, "predictor": 4, "extrapolation": 4, "fitresult": 4, "stack": 4,
    "fit": 5, "simulate": 5,
    "derived": 6, "optimize": 6, "evaluate": 6, "baseline": 6, "active": 6,
    "report": 7,
    "demo": 8, "cli": 8,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The scalemix modules ``path`` imports anywhere in its body (resolved to modules, not attributes)."""
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from package import module`` depends on that module; ``from module import name`` on the module
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names]
        else:
            continue
        found |= {name for name in names if name in modules and name.startswith("scalemix.")}
    return found


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        if "data" in path.relative_to(PACKAGE).parts:  # scripts shipped beside datasets, not the package
            continue
        name = _module_name(path)
        if name != "scalemix":  # the package root loads its API lazily, by name
            graph[name] = _imports(path) - {name}
    return graph


def _part(module: str) -> str:
    return module.split(".")[1]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path, or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_files():
    assert _cycle(_graph()) is None


def test_no_import_cycle_between_parts():
    parts: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        parts.setdefault(_part(module), set()).update(_part(t) for t in targets if _part(t) != _part(module))
    assert _cycle(parts) is None


def test_every_import_goes_to_the_same_or_a_lower_layer():
    upward = [f"{module} -> {target}" for module, targets in _graph().items() for target in targets
              if LAYERS[_part(target)] > LAYERS[_part(module)]]
    assert upward == []


def test_every_part_has_a_layer():
    assert {_part(m) for m in _graph()} <= set(LAYERS)


@pytest.mark.parametrize("module", ["scalemix.report", "scalemix.laws", "scalemix.optimize", "scalemix.derived"])
def test_importing_does_not_load_numpyro(module):
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'numpyro'))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
