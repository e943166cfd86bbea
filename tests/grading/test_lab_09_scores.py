"""Lab 09 grades as designed: the solution full marks, the blank lab zero, a half-right
answer partial credit. Each submission really runs in the grading sandbox (without Docker
there, so it says which container steps it skipped); the hidden tests then serve its
service.py and run its locustfile inside its kernel, and q3's build an image from the
solution's build configuration with the grader's own Docker engine. The half-right
submission's build configuration fails the safety check, so only one image is built."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from mlkit.grading import grade
from mlkit.settings import repo_root

pytestmark = [pytest.mark.notebooks, pytest.mark.slow, pytest.mark.docker]

SOLUTION = repo_root() / "solutions" / "09_capstone.ipynb"
LAB = repo_root() / "labs" / "09_capstone.ipynb"


def answer_cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    return next(
        cell
        for cell in nb.cells
        if cell.metadata.get("mlkit", {}).get("question") == question
        and cell.metadata["mlkit"].get("kind") == "code"
    )


def half_right(path) -> None:
    """The solution with a model of 3 boosting rounds (q1 misses the MAE target), libraries
    left unpinned (q3 fails the safety check, before any build) and an alert rule
    without a hold (q5 pages on a one-window blip)."""
    nb = nbformat.read(SOLUTION, as_version=4)
    replacements = {
        "q1": (
            "HistGradientBoostingRegressor(max_iter=100,",
            "HistGradientBoostingRegressor(max_iter=3,",
        ),
        "q3": ('f"{name}=={version(name)}"', "name"),
        "q5": ('"n_drifted", ">", 0, hold=1)', '"n_drifted", ">", 0, hold=0)'),
    }
    for question, (old, new) in replacements.items():
        cell = answer_cell(nb, question)
        assert old in cell.source, f"the solution's {question} cell changed; update this test"
        cell.source = cell.source.replace(old, new)
    nbformat.write(nb, path)


def test_solution_full_marks_blank_lab_zero_half_right_partial(docker_engine, tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(SOLUTION, submissions / "solution.ipynb")
    shutil.copy(LAB, submissions / "blank.ipynb")
    half_right(submissions / "half_right.ipynb")

    grade(submissions, "09", tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    points = {
        learner: {q: score["points"] for q, score in record["questions"].items()}
        for learner, record in results["learners"].items()
    }
    auto = {"q1": 3, "q2": 4, "q3": 2, "q4": 3, "q5": 3}
    for learner in points:
        assert points[learner]["q6"] is None and points[learner]["q7"] is None, (
            f"{learner}: q6 and q7 are graded by hand"
        )
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    assert {q: points["half_right"][q] for q in auto} == {
        "q1": 2,
        "q2": 4,
        "q3": 0,
        "q4": 3,
        "q5": 2,
    }
    feedback = results["learners"]["half_right"]["questions"]
    assert "is not 'name==version'" in feedback["q3"]["message"]
    assert "the target is below 3.2" in feedback["q1"]["message"]
    assert "should not alert" in feedback["q5"]["message"]
