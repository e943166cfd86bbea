"""Write the lab's rubric table from its solution's questions and tests.

The table is never typed by hand: each row's points are the points of the question's
`@test`s (public and hidden, read from the solution), or of the written question, and
its text is the answer cell's one-line `rubric` metadata. A question added to a solution
gets its row the next time `mlkit assign` runs.

    ## Rubric

    | question | points | what earns them |
    |---|---|---|
    | q1 | 2 (1 self-check, 1 hidden) | ... |
    | q4 | 2 (by hand) | ... |
    | **total** | **15** | 11 by tests, 4 by hand |

The table goes right after the notebook's "Before you start" cell (or after its first
cell when it has none).
"""

from __future__ import annotations

import nbformat

from mlkit.grading.assignment import Assignment
from mlkit.grading.exceptions import AuthoringError

RUBRIC_HEADING = "## Rubric"
BEFORE_YOU_START = "## Before you start"


def _points(value: float) -> str:
    return f"{value:g}"


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|")


def rubric_rows(assignment: Assignment) -> list[tuple[str, float, str, str]]:
    """(question, points, how the points are given, what earns them) per question, in
    the solution's order; points are the tests' (auto-graded) or the question's (by hand)."""
    rows = []
    for question in assignment.questions.values():
        if not question.rubric:
            raise AuthoringError(
                assignment.path.name,
                f"question {question.id!r} has no rubric line: add "
                '"rubric": "what earns the points" to its answer cell\'s mlkit metadata',
                question.cell_index,
            )
        if question.manual:
            rows.append((question.id, question.points, "by hand", question.rubric))
            continue
        tests = [t for t in assignment.tests if t.question == question.id]
        public = sum(t.points for t in tests if not t.hidden)
        hidden = sum(t.points for t in tests if t.hidden)
        parts = [f"{_points(public)} self-check"] if public else []
        parts += [f"{_points(hidden)} hidden"] if hidden else []
        rows.append((question.id, public + hidden, ", ".join(parts), question.rubric))
    return rows


def rubric_markdown(assignment: Assignment) -> str:
    """The rubric table of a lab, as a markdown cell's text."""
    rows = rubric_rows(assignment)
    auto = sum(points for _q, points, how, _t in rows if how != "by hand")
    by_hand = sum(points for _q, points, how, _t in rows if how == "by hand")
    lines = [
        RUBRIC_HEADING,
        "",
        "Points come from the checks: the self-check cell under an answer runs the public ones, "
        "the grader runs those and the hidden ones after your notebook has finished. Written "
        "answers are graded by hand.",
        "",
        "| question | points | what earns them |",
        "|---|---|---|",
    ]
    for question, points, how, text in rows:
        lines.append(f"| {question} | {_points(points)} ({how}) | {_cell_text(text)} |")
    lines.append(
        f"| **total** | **{_points(auto + by_hand)}** | "
        f"{_points(auto)} by tests, {_points(by_hand)} by hand |"
    )
    return "\n".join(lines)


def add_rubric(nb: nbformat.NotebookNode, assignment: Assignment) -> nbformat.NotebookNode:
    """Insert the rubric cell after the "Before you start" cell (else after the first cell)."""
    starts = [i for i, c in enumerate(nb.cells) if c.source.startswith(BEFORE_YOU_START)]
    at = starts[0] + 1 if starts else min(1, len(nb.cells))
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(rubric_markdown(assignment)))
    return nb
