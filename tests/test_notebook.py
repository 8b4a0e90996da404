"""``notebooks/quickstart.ipynb`` runs top to bottom on the venv's ``python3`` kernel (nbclient), so it
cannot rot, and is stored without outputs. About 40 s."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def executed():
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return notebook


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_notebook_runs_and_finds_the_chinchilla_optimum(executed):
    text = "".join(out.get("text", "") for cell in executed.cells for out in cell.get("outputs", []))
    # Hoffmann et al. 2022 trained Chinchilla (70B, 1.4T tokens: 20 tokens per parameter) at this budget;
    # Epoch's refit (Besiroglu et al. 2024) puts the optimum at about the same size and ratio
    size = float(re.search(r"N\* median ([0-9.e+]+)", text).group(1))
    ratio = float(re.search(r"tokens per parameter ([0-9.]+)", text).group(1))
    assert 3e10 < size < 1.5e11 and 10 < ratio < 40
    images = [out for cell in executed.cells for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
    assert len(images) == 1
