"""What every lab's grader test does: grade the solution, the blank lab and a half-right copy.

The half-right copy is the solution with a few answers broken by text replacements in their
answer cells; each test then states the points every question must get. All three really
run in the grading sandbox, two at a time.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from mlkit.grading import grade
from mlkit.settings import repo_root


@dataclass(frozen=True)
class LabGrades:
    """The grader's results.json, and each learner's points per question from it."""

    results: dict
    points: dict[str, dict[str, float | None]]


def notebook(folder: str, assignment: str) -> Path:
    """The one `<folder>/<assignment>_*.ipynb` of the repository."""
    (path,) = (repo_root() / folder).glob(f"{assignment}_*.ipynb")
    return path


def answer_cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    """The code answer cell of question."""
    return next(
        cell
        for cell in nb.cells
        if cell.metadata.get("mlkit", {}).get("question") == question
        and cell.metadata["mlkit"].get("kind") == "code"
    )


def write_half_right(assignment: str, path: Path, replacements: dict[str, tuple[str, str]]) -> None:
    """Write the solution to path with `old` replaced by `new` in each question's answer."""
    nb = nbformat.read(notebook("solutions", assignment), as_version=4)
    for question, (old, new) in replacements.items():
        cell = answer_cell(nb, question)
        assert old in cell.source, f"the solution's {question} cell changed; update this test"
        cell.source = cell.source.replace(old, new)
    nbformat.write(nb, path)


def grade_solution_blank_half_right(
    assignment: str, tmp_path: Path, replacements: dict[str, tuple[str, str]]
) -> LabGrades:
    """Grade learners `solution`, `blank` and `half_right` of assignment with two workers."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(notebook("solutions", assignment), submissions / "solution.ipynb")
    shutil.copy(notebook("labs", assignment), submissions / "blank.ipynb")
    write_half_right(assignment, submissions / "half_right.ipynb", replacements)

    grade(submissions, assignment, tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    points = {
        learner: {q: score["points"] for q, score in record["questions"].items()}
        for learner, record in results["learners"].items()
    }
    return LabGrades(results, points)
