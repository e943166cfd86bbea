"""Learners' names and links: no name, byte or link of one submission stops the others.

Every folder or file name a file system allows is graded and gets exactly one row and one
feedback page (names shown readably, files named short and distinct). A submission that
is, or holds, a link leading out of the learner's folder (to the solution, to another
learner, to a system file, to a fifo; a hard link too) is refused as `unreadable`, and a
fifo never blocks the grader.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mlkit.grading.assignment import read_assignment
from mlkit.grading.grader import grade, write_summaries
from mlkit.grading.names import STEM_BYTES, display_name, file_stem
from mlkit.grading.results import SubmissionResult
from mlkit.grading.submissions import find_submissions
from mlkit.settings import repo_root

SOLUTION = repo_root() / "solutions" / "00_welcome.ipynb"
SPEC = read_assignment(SOLUTION)
NOTEBOOK = "00_welcome.ipynb"
NFC = unicodedata.normalize("NFC", "hélène")
NFD = unicodedata.normalize("NFD", "hélène")
LONG = "é" * 127 + "x"  # 255 bytes, the most a file name may have
NOT_UTF8 = os.fsdecode(b"caf\xe9")
NAMES = {  # learner folder -> how the gradebook shows it
    LONG: LONG,
    NOT_UTF8: "caf\\xe9",
    "new\nline": "new\\nline",
    "-rf": "-rf",
    NFC: NFC,
    NFD: "he\\u0301le\\u0300ne",
}
GRADE_GUARD = 600  # seconds before a hung grader fails the test instead of hanging it


def tiny_notebook() -> str:
    return nbformat.writes(new_notebook(cells=[new_code_cell("churn_rate = 0.25")]))


def test_display_names_are_readable_and_never_shared():
    assert {name: display_name(name) for name in NAMES} == NAMES
    assert display_name("back\\slash\tx") == "back\\\\slash\\tx"
    assert display_name("nbsp\u00a0x") == "nbsp\\u00a0x"
    assert len({display_name(n) for n in [*NAMES, "caf\\xe9", "new\\nline"]}) == len(NAMES) + 2


def test_file_stems_are_short_safe_and_distinct():
    assert file_stem("alice") == "alice" and file_stem(NFC) == NFC
    odd = [*NAMES, "alice-0123456789ab", "a" * 200, ".hidden", "x/y"]
    stems = [file_stem(name) for name in odd]
    assert len(set(stems)) == len(odd)
    for name, stem in zip(odd, stems, strict=True):
        assert len(stem.encode()) <= STEM_BYTES + 13 and "/" not in stem, name
        assert stem.isprintable() and not stem.startswith(("-", ".")), name
    assert file_stem("alice-0123456789ab") != "alice-0123456789ab"  # looks hashed: hashed


def test_hand_grades_find_a_learner_by_the_name_the_gradebook_shows(tmp_path):
    questions = {
        q: {"question": q, "points": None if question.manual else 0,
            "max_points": question.points, "passed": None if question.manual else False,
            "message": "", "seconds": 0.0, "tests": []}
        for q, question in SPEC.questions.items()
    }  # fmt: skip
    results = {
        name: SubmissionResult(name, "", "ok", "Ran.", questions, written={"q4": "é\ud800"})
        for name in (NOT_UTF8, "new\nline")
    }
    write_summaries(tmp_path, SPEC, results)
    manual = tmp_path / "manual_grades.csv"
    typed = manual.read_text(encoding="utf-8").replace("caf\\xe9,q4,2,,", "caf\\xe9,q4,2,1.5,ok")
    manual.write_text(typed, encoding="utf-8")
    learners = write_summaries(tmp_path, SPEC, results)
    assert learners["caf\\xe9"]["questions"]["q4"]["points"] == 1.5
    assert learners["new\\nline"]["pending"] == ["q4"]
    assert "é\\ud800" in manual.read_text(encoding="utf-8")  # a lone surrogate, escaped


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """One `mlkit grade` run over every odd name and every kind of link, two at a time."""
    root = tmp_path_factory.mktemp("names-links")
    subs, elsewhere = root / "subs", root / "elsewhere"
    subs.mkdir()
    elsewhere.mkdir()
    for name in NAMES:
        folder = os.path.join(os.fsencode(subs), os.fsencode(name))
        os.mkdir(folder)
        Path(os.fsdecode(os.path.join(folder, NOTEBOOK.encode()))).write_text(tiny_notebook())

    def learner(name: str) -> Path:
        (subs / name).mkdir()
        return subs / name

    (learner("link-solution") / NOTEBOOK).symlink_to(SOLUTION)
    (learner("link-other") / NOTEBOOK).symlink_to(Path("..", "-rf", NOTEBOOK))
    (learner("link-passwd") / NOTEBOOK).symlink_to("/etc/passwd")
    os.mkfifo(learner("fifo") / NOTEBOOK)
    os.mkfifo(elsewhere / "pipe")
    (learner("link-fifo") / NOTEBOOK).symlink_to(elsewhere / "pipe")
    (elsewhere / "shared.ipynb").write_text(tiny_notebook())
    os.link(elsewhere / "shared.ipynb", learner("hard-link") / NOTEBOOK)
    stray = learner("stray-link")
    (stray / NOTEBOOK).write_text(tiny_notebook())
    (stray / "data.csv").symlink_to("/etc/passwd")
    inside = learner("link-inside")
    (inside / "drafts").mkdir()
    (inside / "drafts" / "final.ipynb").write_text(tiny_notebook())
    (inside / NOTEBOOK).symlink_to(Path("drafts", "final.ipynb"))
    (elsewhere / "folder").mkdir()
    (elsewhere / "folder" / NOTEBOOK).write_text(tiny_notebook())
    (subs / "folder-link").symlink_to(elsewhere / "folder")
    (subs / "flat-link.ipynb").symlink_to(SOLUTION)
    os.mkfifo(subs / "flat-fifo.ipynb")

    out = root / "out"
    command = [str(Path(sys.executable).with_name("mlkit")), "grade", str(subs), "-a", "00",
               "-o", str(out), "--workers", "2", "--no-progress"]  # fmt: skip
    env = {**os.environ, "MLKIT_SCRATCH": str(root / "scratch")}
    try:
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=GRADE_GUARD)
    except subprocess.TimeoutExpired:
        pytest.fail(f"mlkit grade did not finish within {GRADE_GUARD} s: something blocked it")
    assert run.returncode == 0, run.stderr
    return {"out": out, "stdout": run.stdout, "subs": subs}


LINKS = {  # learner -> what the reason must say
    "link-solution": "is a link to",
    "link-other": "is a link to",
    "link-passwd": "is a link to /etc/passwd",
    "fifo": "is not a regular file but a fifo",
    "link-fifo": "is a link to",
    "hard-link": "is a hard link (2 names for one file",
    "stray-link": "data.csv is a link to /etc/passwd",
    "folder-link": "the learner's folder is a link to",
    "flat-link": "is a link to",
    "flat-fifo": "is not a regular file but a fifo",
}


def test_every_name_gets_one_row_and_one_feedback_page(graded):
    out = graded["out"]
    with (out / "gradebook.csv").open(encoding="utf-8", newline="") as handle:
        rows = [row["learner"] for row in csv.DictReader(handle)]
    expected = sorted([*NAMES.values(), *LINKS, "link-inside"])
    assert sorted(rows) == expected  # exactly one row each
    results = json.loads((out / "results.json").read_text())["learners"]
    assert sorted(results) == expected
    for shown, entry in results.items():
        page = out / entry["feedback"]
        assert page.is_file(), shown
        assert len(page.name.encode()) < 200, shown
    for name, shown in NAMES.items():
        entry = results[shown]
        assert entry["status"] == "ok", (shown, entry["summary"])
        assert (out / "executed" / f"{file_stem(name)}.ipynb").is_file(), shown
        assert (out / entry["feedback"]).read_text().count(f"feedback for {shown}") == 2
    assert results[NFC]["feedback"] != results[NAMES[NFD]]["feedback"]


def test_links_that_leave_the_learners_folder_are_refused(graded):
    results = json.loads((graded["out"] / "results.json").read_text())["learners"]
    for learner, reason in LINKS.items():
        entry = results[learner]
        assert entry["status"] == "unreadable", (learner, entry["summary"])
        assert reason in entry["reason"], (learner, entry["reason"])
        assert entry["score"] == 0 and entry["pending"] == [], learner
    assert results["link-inside"]["status"] == "ok"  # a link inside the folder is fine
    assert results["link-inside"]["submission"].endswith("link-inside/drafts/final.ipynb")
    assert not (graded["out"] / "executed" / "link-solution.ipynb").exists()
    summary = r"\n  link-passwd +0/10  unreadable  \(00_welcome.ipynb is a link to /etc/passwd"
    assert re.search(summary, graded["stdout"]), graded["stdout"]


def test_no_row_is_asked_for_by_hand_where_nothing_could_be_read(graded):
    with (graded["out"] / "manual_grades.csv").open(encoding="utf-8", newline="") as handle:
        learners = {row["learner"] for row in csv.DictReader(handle)}
    assert learners == {*NAMES.values(), "link-inside"}


def test_a_learner_folder_is_read_without_following_its_links(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / NOTEBOOK).write_text(tiny_notebook())
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / NOTEBOOK).write_text(tiny_notebook())
    (tmp_path / "b" / "loop").symlink_to(tmp_path / "b")  # inside, and a cycle: fine
    (tmp_path / "c").mkdir()
    os.mkfifo(tmp_path / "c" / "00_welcome_v2.ipynb")  # never opened: not the one graded
    (tmp_path / "c" / NOTEBOOK).write_text(tiny_notebook())
    found = {s.learner: s for s in find_submissions(tmp_path, SPEC)}
    assert found["a"].path == tmp_path / "a" / NOTEBOOK
    assert found["b"].path == tmp_path / "b" / NOTEBOOK
    assert found["c"].path == tmp_path / "c" / NOTEBOOK
    assert found["c"].ignored == ("00_welcome_v2.ipynb",)


def test_a_submission_that_turns_into_a_link_is_graded_again(tmp_path):
    (tmp_path / "subs" / "alice").mkdir(parents=True)
    (tmp_path / "subs" / "alice" / "notes.txt").write_text("nothing yet")
    first = grade(tmp_path / "subs", "00", tmp_path / "out", progress=False)
    assert first.learners["alice"]["status"] == "missing"
    (tmp_path / "subs" / "alice" / NOTEBOOK).symlink_to("/etc/passwd")
    second = grade(tmp_path / "subs", "00", tmp_path / "out", progress=False)
    assert (second.graded, second.reused) == (["alice"], [])  # not the missing record again
    assert second.learners["alice"]["status"] == "unreadable"
