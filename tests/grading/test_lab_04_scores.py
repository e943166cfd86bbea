"""Lab 04 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox; the hidden
tests serve a fresh copy of its service and run its locustfile against it with Locust."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from mlkit.grading import grade
from mlkit.settings import repo_root

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

SOLUTION = repo_root() / "solutions" / "04_load_testing.ipynb"
LAB = repo_root() / "labs" / "04_load_testing.ipynb"


def answer_cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    return next(
        cell
        for cell in nb.cells
        if cell.metadata.get("mlkit", {}).get("question") == question
        and cell.metadata["mlkit"].get("kind") == "code"
    )


def half_right(path) -> None:
    """Tasks weighted 1:1 instead of 4:1, and a capacity that ignores the first broken step."""
    nb = nbformat.read(SOLUTION, as_version=4)
    replacements = {
        "q1": ("    @task(4)\n", "    @task(1)\n"),
        "q3": (
            "before_first_break = meets.cumprod().astype(bool)",
            "before_first_break = meets",
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

    grade(submissions, "04", tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    points = {
        learner: {q: score["points"] for q, score in record["questions"].items()}
        for learner, record in results["learners"].items()
    }
    auto = {"q1": 3, "q2": 2, "q3": 3, "q4": 2}
    for learner in points:
        assert points[learner]["q5"] is None, f"{learner}: q5 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses the 4:1 point; q3 loses the "stop at the first broken step" point.
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q3": 2}
    feedback = results["learners"]["half_right"]["questions"]["q1"]["message"]
    assert "expected about 4 requests to /predict per page" in feedback
