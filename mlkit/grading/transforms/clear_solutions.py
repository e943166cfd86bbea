"""Replace model answers with placeholders (nbgrader's ClearSolutions, mlkit flavour).

Code between `### BEGIN SOLUTION` and `### END SOLUTION` becomes a line that raises
NotImplementedError; an answer cell without markers is replaced whole. A written
answer becomes "*Your answer here.*".
"""

from __future__ import annotations

from functools import partial

import nbformat

from mlkit.grading.assignment import cell_role
from mlkit.grading.markers import SOLUTION, has_region, replace_regions

WRITTEN_PLACEHOLDER = "*Your answer here.*"


def code_placeholder(question: str | None, indent: str = "") -> list[str]:
    """The lines a learner replaces with their answer."""
    target = f"your answer to {question}" if question else "your code"
    return [
        f"{indent}# YOUR CODE HERE",
        f'{indent}raise NotImplementedError("Replace this line with {target}.")',
    ]


def clear_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Swap every solution region (and every unmarked answer cell) for a placeholder."""
    for cell in nb.cells:
        role = cell_role(cell) or {}
        question = role.get("question")
        kind = role.get("kind")
        if cell.cell_type == "code":
            if has_region(cell.source, SOLUTION):
                cell.source = replace_regions(
                    cell.source, SOLUTION, partial(code_placeholder, question)
                )
            elif kind == "code":
                cell.source = "\n".join(code_placeholder(question))
        elif cell.cell_type == "markdown" and kind == "written":
            if has_region(cell.source, SOLUTION):
                cell.source = replace_regions(
                    cell.source, SOLUTION, lambda indent: [WRITTEN_PLACEHOLDER]
                )
            else:
                cell.source = WRITTEN_PLACEHOLDER
    return nb
