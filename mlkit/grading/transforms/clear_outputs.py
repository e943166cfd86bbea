"""Clear outputs, execution counts and run-time metadata (so reruns give identical files)."""

from __future__ import annotations

import nbformat

VOLATILE_CELL_METADATA = ("execution", "papermill", "ExecuteTime", "collapsed", "scrolled")
VOLATILE_NOTEBOOK_METADATA = ("papermill", "widgets")


def clear_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Empty every code cell's outputs and execution count; drop run-time metadata."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    for key in VOLATILE_NOTEBOOK_METADATA:
        nb.metadata.pop(key, None)
    return nb
