"""Give cells the ids `cell-0`, `cell-1`, …: unique even when a learner duplicated cells."""

from __future__ import annotations

import nbformat


def number_cells(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Renumber every cell id by position and set nbformat 4.5, which has cell ids."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index}"
    return nb
