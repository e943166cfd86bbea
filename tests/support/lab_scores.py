"""What every lab's grader test does: grade copies of the solution, the blank lab and a
half-right copy in one run.

The half-right copy is the solution with a few answers broken by text replacements in their
answer cells; each `LabCase` states the points every question must get and what the
half-right copy's feedback must say. Every copy of the solution must get full automatic
marks: a port race or a flaky hidden test shows up as a lost point in one of them. All
submissions really run in the grading sandbox, two at a time
(tests/grading/test_lab_scores.py).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
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


def solution_learners(copies: int) -> list[str]:
    """The learner names of `copies` copies of the solution: solution, solution_2, ..."""
    return ["solution"] + [f"solution_{n}" for n in range(2, copies + 1)]


def grade_lab(
    assignment: str,
    tmp_path: Path,
    replacements: dict[str, tuple[str, str]],
    solution_copies: int = 1,
) -> LabGrades:
    """Grade `solution_copies` copies of the solution, `blank` and `half_right` of assignment
    in one run with two workers."""
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for learner in solution_learners(solution_copies):
        shutil.copy(notebook("solutions", assignment), submissions / f"{learner}.ipynb")
    shutil.copy(notebook("labs", assignment), submissions / "blank.ipynb")
    write_half_right(assignment, submissions / "half_right.ipynb", replacements)

    grade(submissions, assignment, tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    points = {
        learner: {q: score["points"] for q, score in record["questions"].items()}
        for learner, record in results["learners"].items()
    }
    return LabGrades(results, points)


@dataclass(frozen=True)
class LabCase:
    """One lab's expected grades.

    `half_right`: question -> (old, new) text replaced in the solution's answer cell;
    `auto`: the full points of each automatically graded question; `by_hand`: questions
    left to the instructor (no points from the grader); `half_right_points`: the points the
    half-right copy gets where they differ from `auto`; `feedback`: question -> text the
    half-right copy's feedback must contain; `solution_copies`: how many copies of the
    solution are graded in the same run, each of which must get full automatic marks.
    """

    assignment: str
    half_right: dict[str, tuple[str, str]]
    auto: dict[str, int]
    by_hand: tuple[str, ...]
    half_right_points: dict[str, int]
    feedback: dict[str, str] = field(default_factory=dict)
    needs_docker: bool = False
    solution_copies: int = 3


def check_lab_grades(case: LabCase, tmp_path: Path) -> None:
    """Grade the submissions of `case` and assert every point and feedback text."""
    graded = grade_lab(case.assignment, tmp_path, case.half_right, case.solution_copies)
    learners, points, auto = graded.results["learners"], graded.points, case.auto
    solutions = solution_learners(case.solution_copies)
    assert sorted(learners) == sorted([*solutions, "blank", "half_right"])
    for learner in points:
        for question in case.by_hand:
            assert points[learner][question] is None, f"{learner}: {question} is graded by hand"
    assert all(learners[s]["status"] == "ok" for s in solutions), {
        s: learners[s]["summary"] for s in solutions
    }
    lost = {
        s: {q: learners[s]["questions"][q]["message"] for q in auto if points[s][q] != auto[q]}
        for s in solutions
    }
    assert not any(lost.values()), lost
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    expected = {**auto, **case.half_right_points}
    questions = learners["half_right"]["questions"]
    wrong = {
        q: f"{points['half_right'][q]} points, expected {expected[q]}: {questions[q]['message']}"
        for q in auto
        if points["half_right"][q] != expected[q]
    }
    assert not wrong, wrong
    for question, text in case.feedback.items():
        assert text in questions[question]["message"], (question, questions[question]["message"])
