"""Atomic writes, the gradebook, manual grades and feedback pages."""

import csv
import os

import pytest

from mlkit.grading.assignment import read_assignment
from mlkit.grading.atomic import write_atomic
from mlkit.grading.exceptions import ManualGradesError
from mlkit.grading.grader import write_summaries
from mlkit.grading.results import SubmissionResult
from mlkit.settings import repo_root

SPEC = read_assignment(repo_root() / "solutions" / "00_welcome.ipynb")


def result(learner, points, status="ok"):
    questions = {
        q: {
            "question": q,
            "points": p,
            "max_points": SPEC.questions[q].points,
            "passed": None if p is None else p == SPEC.questions[q].points,
            "message": "m",
            "seconds": 0.1,
            "tests": [
                {
                    "name": "secret_test_name",
                    "description": f"{q} check <b>",
                    "points": p or 0,
                    "max_points": SPEC.questions[q].points,
                    "passed": bool(p),
                    "hidden": True,
                    "message": "<script>alert(1)</script>",
                    "hint": "a hint",
                    "reason": None if p else "failed",
                }
            ]
            if p is not None
            else [],
        }
        for q, p in points.items()
    }
    return SubmissionResult(
        learner, f"{learner}.ipynb", status, "Summary.", questions, written={"q4": "my answer"}
    )


def test_write_atomic_replaces_whole_files_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    write_atomic(target, "first")
    write_atomic(target, b"second")
    assert target.read_text() == "second"
    assert os.listdir(target.parent) == ["file.txt"]


def test_write_atomic_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "file.txt"
    write_atomic(target, "old")
    with pytest.raises(TypeError):
        write_atomic(target, object())
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["file.txt"]


def test_summaries_pending_manual_grades_then_entered_ones(tmp_path):
    results = {
        "alice": result("alice", {"q1": 2, "q2": 1, "q3": 3, "q4": None}),
        "bob": result("bob", {"q1": 0, "q2": 0, "q3": 0, "q4": None}, "cell-errors"),
    }
    learners = write_summaries(tmp_path, SPEC, results)
    with (tmp_path / "gradebook.csv").open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["learner", "q1", "q2", "q3", "q4", "total", "max", "status", "pending"]
    assert rows[1] == ["alice", "2", "1", "3", "pending", "6", "10", "ok", "q4"]
    assert learners["bob"]["status"] == "cell-errors"

    manual = tmp_path / "manual_grades.csv"
    with manual.open() as handle:
        entries = list(csv.DictReader(handle))
    assert [(e["learner"], e["question"], e["answer"]) for e in entries] == [
        ("alice", "q4", "my answer"),
        ("bob", "q4", "my answer"),
    ]
    manual.write_text(manual.read_text().replace("alice,q4,2,,", "alice,q4,2,1.5,clear"))
    learners = write_summaries(tmp_path, SPEC, results)
    assert learners["alice"]["score"] == 7.5 and learners["alice"]["pending"] == []
    assert learners["alice"]["questions"]["q4"]["message"] == "clear"
    assert "alice,q4,2,1.5,clear" in manual.read_text()  # kept on rewrite


def test_feedback_escapes_learner_text_and_shows_no_test_code(tmp_path):
    write_summaries(
        tmp_path, SPEC, {"alice": result("alice", {"q1": 0, "q2": 1, "q3": 3, "q4": None})}
    )
    page = (tmp_path / "feedback" / "alice.html").read_text()
    assert "&lt;script&gt;" in page and "<script>" not in page
    assert "secret_test_name" not in page and "def " not in page
    assert "Score: 4 / 10" in page and "(hidden)" in page and "Hint: a hint" in page


def test_bad_manual_points_are_named(tmp_path):
    write_summaries(
        tmp_path, SPEC, {"alice": result("alice", {"q1": 2, "q2": 3, "q3": 3, "q4": None})}
    )
    manual = tmp_path / "manual_grades.csv"
    manual.write_text(manual.read_text().replace("alice,q4,2,,", "alice,q4,2,5,"))
    with pytest.raises(ManualGradesError, match=r"\(alice, q4\): points must be between 0 and 2"):
        write_summaries(
            tmp_path, SPEC, {"alice": result("alice", {"q1": 2, "q2": 3, "q3": 3, "q4": None})}
        )
