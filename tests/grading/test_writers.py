"""Atomic writes, the gradebook, manual grades and feedback pages."""

import csv
import html
import os
import re

import pytest

from mlkit.grading.assignment import read_assignment
from mlkit.grading.atomic import write_atomic
from mlkit.grading.exceptions import ManualGradesError
from mlkit.grading.grader import write_summaries
from mlkit.grading.results import SubmissionResult, summary_of
from mlkit.settings import repo_root

SPEC = read_assignment(repo_root() / "solutions" / "00_welcome.ipynb")
# An absolute path in a page's text: a slash that starts a word (not "…/x", "p50/p95", "</b>").
ABSOLUTE_PATH = re.compile(r"(?<![\w.~…/<-])/[\w.-]")


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


def test_write_atomic_takes_a_long_name_and_text_utf8_cannot_hold(tmp_path):
    target = tmp_path / ("é" * 125 + ".html")  # 255 bytes: a temporary "<name>.tmp" is not
    write_atomic(target, "lone surrogate: \ud800")
    assert target.read_bytes() == b"lone surrogate: \\ud800"
    assert os.listdir(tmp_path) == [target.name]


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


def not_graded(learner, status, reason):
    questions = {
        q: {"question": q, "points": None if question.manual else 0, "max_points": question.points,
            "passed": None if question.manual else False, "message": f"not graded: {reason}",
            "seconds": 0.0, "tests": []}
        for q, question in SPEC.questions.items()
    }  # fmt: skip
    return SubmissionResult(learner, "", status, f"Not graded: {reason}.", questions, reason=reason)


def test_no_hand_grade_is_asked_where_there_is_nothing_to_grade(tmp_path):
    manual = tmp_path / "manual_grades.csv"
    manual.write_text(
        "learner,question,max,points,comment,answer\n"
        "bob,q4,2,,,old answer\n"  # asked for before, never graded: dropped
        "dave,q4,2,1,kept,\n"  # typed in for a learner who is gone: kept
    )
    results = {
        "alice": result("alice", {"q1": 2, "q2": 3, "q3": 3, "q4": None}),
        "bob": not_graded("bob", "missing", "no notebook to grade (no 00_*.ipynb)"),
        "carol": not_graded("carol", "unreadable", "the file is not valid JSON"),
    }
    learners = write_summaries(tmp_path, SPEC, results)
    with manual.open() as handle:
        rows = [(r["learner"], r["question"], r["points"]) for r in csv.DictReader(handle)]
    assert rows == [("alice", "q4", ""), ("dave", "q4", "1")]
    for learner in ("bob", "carol"):
        entry = learners[learner]
        assert (entry["pending"], entry["questions"]["q4"]["points"], entry["score"]) == ([], 0, 0)
        assert entry["questions"]["q4"]["message"].startswith("not graded: ")
    gradebook = (tmp_path / "gradebook.csv").read_text().splitlines()
    assert "bob,0,0,0,0,0,10,missing," in gradebook
    assert "carol,0,0,0,0,0,10,unreadable," in gradebook


def test_feedback_shows_no_absolute_path_and_each_reason_once(tmp_path):
    scratch = "/work/course/.scratch/grading/run-3f9c2a1b7d4e/alice-k2j4h5/work"
    ipc = "/tmp/mlkit-ipc-q8w7e6r5"
    alice = result("alice", {"q1": 0, "q2": 0, "q3": 0, "q4": None})
    alice.summary = f"Your notebook ran to the end. Note: {scratch}/.scratch/log.txt was kept."
    for test in alice.questions["q1"]["tests"]:
        test["message"] = f"your code raised FileNotFoundError: '{scratch}/model.onnx'"
        test["hint"] = f"Save it under {ipc}/kernel-1 or POST it to /predict"
    placeholder = "not answered yet: the placeholder still raises NotImplementedError"
    q2 = alice.questions["q2"]
    q2["tests"] = [{**q2["tests"][0], "description": f"check {i}", "message": placeholder}
                   for i in range(3)]  # fmt: skip
    write_summaries(tmp_path, SPEC, {"alice": alice})
    page = (tmp_path / "feedback" / "alice.html").read_text()
    text = html.unescape(re.sub(r"<[^>]*>", " ", page))
    assert "POST it to /predict" in text  # an API route is not a path on the grader's disk
    text = text.replace("POST it to /predict", "")
    assert ABSOLUTE_PATH.search(text) is None, ABSOLUTE_PATH.search(text)
    assert "…/model.onnx" in text and "…/log.txt" in text and "…/kernel-1" in text
    assert text.count(placeholder) == 1 and text.count("(the same reason as above)") == 2
    assert all(f"check {i}" in text for i in range(3))


def test_the_status_sentence_names_each_error_once():
    events = [
        {"kind": "cell-error", "cell": cell, "detail": detail}
        for cell, detail in [(4, "NotImplementedError"), (7, "NotImplementedError: x"),
                             (10, "NameError: name 'model' is not defined")]
    ]  # fmt: skip
    assert summary_of("cell-errors", events) == (
        "Your notebook ran to the end. Cells that raised an error: "
        "NotImplementedError in cells 4, 7; NameError in cell 10."
    )
