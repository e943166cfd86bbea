"""Lab 01 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox, and the
hidden tests read the files and the model store it left behind through its kernel."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from mlkit.grading import grade
from mlkit.settings import repo_root

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

SOLUTION = repo_root() / "solutions" / "01_packaging.ipynb"
LAB = repo_root() / "labs" / "01_packaging.ipynb"


def answer_cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    return next(
        cell
        for cell in nb.cells
        if cell.metadata.get("mlkit", {}).get("question") == question
        and cell.metadata["mlkit"].get("kind") == "code"
    )


def half_right(path) -> None:
    """The solution trusting one type too many, and a load_bundle that never checks the hash."""
    nb = nbformat.read(SOLUTION, as_version=4)
    replacements = {
        "q1": (
            'TRUSTED = ["sklearn.tree._tree.Tree"]',
            'TRUSTED = ["sklearn.tree._tree.Tree", "builtins.exec"]',
        ),
        "q2": ("    if found != expected:\n", "    if False:\n"),
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

    grade(submissions, "01", tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    points = {
        learner: {q: score["points"] for q, score in record["questions"].items()}
        for learner, record in results["learners"].items()
    }
    auto = {"q1": 2, "q2": 4, "q3": 3, "q4": 3}
    for learner in points:
        assert points[learner]["q5"] is None, f"{learner}: q5 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses "exactly the types needed"; q2 keeps the round trip and the manifest only.
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 1, "q2": 2}
    feedback = results["learners"]["half_right"]["questions"]["q2"]["message"]
    assert "raised UntrustedTypesFoundException, not TamperedBundleError" in feedback
