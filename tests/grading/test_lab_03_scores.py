"""Lab 03 grades as designed: the solution full marks, the blank lab zero, a half-right
answer partial credit. Each submission really runs in the grading sandbox (without
Docker there, so it builds its bento and says what it skipped); the hidden tests of q1
and q3 then build a bento and an image from the submission's build configuration with
the grader's own Docker engine, run the container and ask it for predictions."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from mlkit.grading import grade
from mlkit.settings import repo_root

pytestmark = [pytest.mark.notebooks, pytest.mark.slow, pytest.mark.docker]

SOLUTION = repo_root() / "solutions" / "03_containers.ipynb"
LAB = repo_root() / "labs" / "03_containers.ipynb"


def answer_cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    return next(
        cell
        for cell in nb.cells
        if cell.metadata.get("mlkit", {}).get("question") == question
        and cell.metadata["mlkit"].get("kind") == "code"
    )


def half_right(path) -> None:
    """The solution without the allow-list (q1, and so q3's image ships the clutter), with
    comments not stripped (q2) and with a memory limit equal to the request (q4)."""
    nb = nbformat.read(SOLUTION, as_version=4)
    replacements = {
        "q1": ('    "include": ["service.py", "model.skops"],\n', ""),
        "q2": ('text = line.split("#", 1)[0].strip()', "text = line.strip()"),
        "q4": ('memory_limit=f"{2 * request_mib}Mi"', 'memory_limit=f"{request_mib}Mi"'),
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

    grade(submissions, "03", tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    points = {
        learner: {q: score["points"] for q, score in record["questions"].items()}
        for learner, record in results["learners"].items()
    }
    auto = {"q1": 3, "q2": 2, "q3": 2, "q4": 3}
    for learner in points:
        assert points[learner]["q5"] is None, f"{learner}: q5 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    assert {q: points["half_right"][q] for q in auto} == {"q1": 2, "q2": 1, "q3": 1, "q4": 2}
    feedback = results["learners"]["half_right"]["questions"]
    assert "the image ships {'secret': ['src/.env']" in feedback["q3"]["message"]
    assert "the limit should be" in feedback["q4"]["message"]
