"""Remove hidden tests: whole `hidden-tests` cells and `### BEGIN/END HIDDEN TESTS` regions."""

from __future__ import annotations

import re

import nbformat

from mlkit.grading.assignment import cell_role
from mlkit.grading.markers import HIDDEN_TESTS, has_region, replace_regions

_MANY_BLANK_LINES = re.compile(r"\n{4,}")


def clear_hidden_tests(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop hidden-test cells and cut hidden regions out of the remaining cells."""
    nb.cells = [c for c in nb.cells if (cell_role(c) or {}).get("kind") != "hidden-tests"]
    for cell in nb.cells:
        if has_region(cell.source, HIDDEN_TESTS):
            source = replace_regions(cell.source, HIDDEN_TESTS, lambda indent: [])
            cell.source = _MANY_BLANK_LINES.sub("\n\n\n", source).strip("\n")
    return nb
