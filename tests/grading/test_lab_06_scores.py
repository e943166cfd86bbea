"""Lab 06 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox; the hidden
tests call its functions with cases of their own and compare with mlkit.drift,
mlkit.monitoring and a reference bootstrap."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from mlkit.grading import grade
from mlkit.settings import repo_root

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

SOLUTION = repo_root() / "solutions" / "06_monitoring.ipynb"
LAB = repo_root() / "labs" / "06_monitoring.ipynb"


def answer_cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    return next(
        cell
        for cell in nb.cells
        if cell.metadata.get("mlkit", {}).get("question") == question
        and cell.metadata["mlkit"].get("kind") == "code"
    )


def half_right(path) -> None:
    """PSI without the eps floor, and a challenger promoted when the interval merely reaches 0."""
    nb = nbformat.read(SOLUTION, as_version=4)
    replacements = {
        "q1": ("    r, c = np.clip(r, eps, None), np.clip(c, eps, None)\n", ""),
        "q6": (
            "return float(low), float(high), bool(low > 0)",
            "return float(low), float(high), bool(high > 0)",
        ),
    }
    for question, (old, new) in replacements.items():
        cell = answer_cell(nb, question)
        assert old in cell.source, f"the solution's {question} cell changed; update this test"
        cell.source = cell.source.replace(old, new)
    nbformat.write(nb, path)


def test_solution_full_marks_blank_lab_zero_half_right_partial(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(SOLUTION, submissions / "solution.ipynb")
    shutil.copy(LAB, submissions / "blank.ipynb")
    half_right(submissions / "half_right.ipynb")

    grade(submissions, "06", tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    points = {
        learner: {q: score["points"] for q, score in record["questions"].items()}
        for learner, record in results["learners"].items()
    }
    auto = {"q1": 3, "q2": 2, "q3": 2, "q4": 2, "q5": 2, "q6": 2}
    for learner in points:
        assert points[learner]["q7"] is None, f"{learner}: q7 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses the empty-bin point; q6 keeps the interval, not the decisions.
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q6": 1}
    feedback = results["learners"]["half_right"]["questions"]["q6"]["message"]
    assert "an equally good challenger was promoted" in feedback
