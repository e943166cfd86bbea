"""Make test cells read-only in JupyterLab (nbgrader's LockCells): learners run, not edit, them."""

from __future__ import annotations

import nbformat

from mlkit.grading.assignment import cell_role


def lock_cells(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Mark each test cell `editable: false, deletable: false`."""
    for cell in nb.cells:
        if (cell_role(cell) or {}).get("kind") == "tests":
            cell.metadata["editable"] = False
            cell.metadata["deletable"] = False
    return nb
