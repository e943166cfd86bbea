"""Lab 05 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox; the hidden
tests drive its retry function and circuit breaker against a deliberately flaky local
server, and start its tuned service and load it with Locust next to the baseline."""

from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from mlkit.grading import grade
from mlkit.settings import repo_root

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

SOLUTION = repo_root() / "solutions" / "05_scaling.ipynb"
LAB = repo_root() / "labs" / "05_scaling.ipynb"


def answer_cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    return next(
        cell
        for cell in nb.cells
        if cell.metadata.get("mlkit", {}).get("question") == question
        and cell.metadata["mlkit"].get("kind") == "code"
    )


def half_right(path) -> None:
    """Backoff without jitter, and a breaker whose successes do not reset its failure count."""
    nb = nbformat.read(SOLUTION, as_version=4)
    replacements = {
        "q1": (
            "return random.uniform(0, min(max_delay_s, base_delay_s * 2 ** (attempt - 1)))",
            "return min(max_delay_s, base_delay_s * 2 ** (attempt - 1))",
        ),
        "q2": (
            '        self.state = "closed"\n        self.failures = 0\n        return result',
            '        self.state = "closed"\n        return result',
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

    grade(submissions, "05", tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    points = {
        learner: {q: score["points"] for q, score in record["questions"].items()}
        for learner, record in results["learners"].items()
    }
    auto = {"q1": 3, "q2": 3, "q3": 2, "q4": 3, "q5": 2}
    for learner in points:
        assert points[learner]["q6"] is None, f"{learner}: q6 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses the jitter point; q2 loses the "failures in a row" point.
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q2": 2}
    feedback = results["learners"]["half_right"]["questions"]["q1"]["message"]
    assert "expected random draws over" in feedback
