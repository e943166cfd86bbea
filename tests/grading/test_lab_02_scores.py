"""Lab 02 grades as designed: the solution full marks, the blank lab zero, a half-right
service partial credit. Each submission really runs in the grading sandbox, where its
tests serve the notebook's service.py in a fresh process and probe it over HTTP."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from mlkit.grading import grade
from mlkit.settings import repo_root

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

SOLUTION = repo_root() / "solutions" / "02_serving.ipynb"
LAB = repo_root() / "labs" / "02_serving.ipynb"


def answer_cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    return next(
        cell
        for cell in nb.cells
        if cell.metadata.get("mlkit", {}).get("question") == question
        and cell.metadata["mlkit"].get("kind") == "code"
    )


def half_right(path) -> None:
    """The solution without `extra="forbid"` and with a readiness check that is always True."""
    nb = nbformat.read(SOLUTION, as_version=4)
    replacements = {
        "q1": ('    model_config = ConfigDict(extra="forbid")\n', ""),
        "q4": ('return not Path(__file__).with_name("draining").exists()', "return True"),
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

    grade(submissions, "02", tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    points = {
        learner: {q: score["points"] for q, score in record["questions"].items()}
        for learner, record in results["learners"].items()
    }
    auto = {"q1": 3, "q2": 2, "q3": 3, "q4": 2, "q5": 2}
    for learner in points:
        assert points[learner]["q6"] is None, f"{learner}: q6 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses the extra-field point; q4 keeps only "draining ends and keeps serving".
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q4": 1}
    feedback = results["learners"]["half_right"]["questions"]["q1"]["message"]
    assert "extra field 'tenure': expected status 400, got 200" in feedback
