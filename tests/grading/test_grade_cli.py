"""`mlkit grade` from the command line: outputs, resuming, --force, interrupts, bad input."""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from typer.testing import CliRunner

from mlkit.cli import app
from mlkit.grading import GradingLimits, grade
from mlkit.grading.assignment import read_assignment
from mlkit.grading.execute import GradingSession
from mlkit.grading.judge import load_tests
from mlkit.grading.normalise import normalise, read_submission
from mlkit.grading.sandbox import JobDir
from mlkit.grading.sandbox.process import ProcessSandbox
from mlkit.settings import repo_root

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

SOLUTION = repo_root() / "solutions" / "00_welcome.ipynb"
LAB = repo_root() / "labs" / "00_welcome.ipynb"
INTERRUPTED = (
    "mlkit grade: interrupted. Finished submissions are saved; run the same command again "
    "to grade the rest."
)
# A blank lab whose model fails with paths: one in the notebook's working folder (under
# the grader's scratch folder), one under /tmp. Neither may reach the feedback page.
FAILS_WITH_PATHS = """
import os, tempfile

class Model:
    def predict(self, X):
        open(os.path.join(os.getcwd(), "model.pkl"))

    def predict_proba(self, X):
        open(os.path.join(tempfile.gettempdir(), "grading-cache", "model.pkl"))

model = Model()
"""
ABSOLUTE_PATH = re.compile(r"(?<![\w.~…/<-])/[\w.-]")  # as in test_writers.py
runner = CliRunner()


def submissions(folder, **learners):
    for learner, source in learners.items():
        (folder / learner).mkdir(parents=True)
        shutil.copy(source, folder / learner / "00_welcome.ipynb")
    return folder


def cli(*args):
    result = runner.invoke(app, ["grade", *map(str, args), "--no-progress"])
    assert result.exit_code == 0, result.output
    return result.output


def digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_grade_writes_every_output_then_resumes_and_forces(tmp_path):
    subs = submissions(tmp_path / "subs", alice=SOLUTION, bob=LAB)
    shutil.copy(SOLUTION, subs / "alice" / "00_welcome_v2.ipynb")
    nb = nbformat.read(LAB, as_version=4)
    nb.cells.append(new_code_cell(FAILS_WITH_PATHS))
    nbformat.write(nb, subs / "bob" / "00_welcome.ipynb")
    (subs / "carol.txt").write_text("my answers, not a notebook")
    out = tmp_path / "out"
    output = cli(subs, "--assignment", "00", "--out", out, "--workers", "2")
    assert "graded 3, reused 0" in output
    assert (
        "alice     8/10  ok  (pending: q4; graded 00_welcome.ipynb; ignored 00_welcome_v2.ipynb)"
        in output
    )
    assert (
        "carol     0/10  missing  (no notebook to grade (carol.txt is not a notebook "
        "(expected carol.ipynb)))" in output
    )
    for name in ("gradebook.csv", "results.json", "manual_grades.csv", "feedback/alice.html",
                 "feedback/bob.html", "feedback/carol.html", "executed/alice.ipynb",
                 "records/bob.json", "assignment.json"):  # fmt: skip
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())["learners"]
    assert results["alice"]["ignored"] == ["00_welcome_v2.ipynb"]
    assert results["alice"]["submission"].endswith("alice/00_welcome.ipynb")
    assert results["carol"]["ignored"] == ["carol.txt"]
    with (out / "manual_grades.csv").open() as handle:
        assert [row["learner"] for row in csv.DictReader(handle)] == ["alice", "bob"]

    page = html.unescape(re.sub(r"<[^>]*>", " ", (out / "feedback" / "bob.html").read_text()))
    assert ABSOLUTE_PATH.search(page) is None, ABSOLUTE_PATH.search(page)
    assert "No such file or directory: 'model.pkl'" in page and "…/model.pkl" in page
    assert page.count("not answered yet: `churn_rate` is not defined in your notebook") == 1
    assert page.count("not answered yet: the placeholder still raises NotImplementedError") == 1
    assert "NotImplementedError in cells" in page
    assert "graded 0, reused 3" in cli(subs, "-a", "00", "-o", out)

    nb = nbformat.read(subs / "bob" / "00_welcome.ipynb", as_version=4)
    nb.cells.append(new_code_cell("churn_rate = 0.25"))
    nbformat.write(nb, subs / "bob" / "00_welcome.ipynb")
    output = cli(subs, "-a", "00", "-o", out)
    assert "graded 1, reused 2" in output and "bob       1/10  cell-errors" in output
    assert "graded 3, reused 0" in cli(subs, "-a", "00", "-o", out, "--force", "--workers", "2")


def test_an_out_folder_holds_the_grading_of_one_assignment(tmp_path):
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / "notes.txt").write_text("nothing submitted")  # nothing to run: fast
    out = tmp_path / "out"
    assert "alice     0/10  missing" in cli(subs, "-a", "00", "-o", out)
    assert json.loads((out / "assignment.json").read_text()) == {"assignment": "00_welcome"}
    before = digest(out)
    result = runner.invoke(app, ["grade", str(subs), "-a", "01", "-o", str(out), "--no-progress"])
    assert result.exit_code == 2
    assert (
        f"the output folder {out} holds the grading of assignment 00_welcome, not 01_packaging"
        in result.output
    )
    assert digest(out) == before  # the gradebook, feedback and records of lab 00 are kept
    (out / "assignment.json").unlink()  # a folder graded before the marker existed
    result = runner.invoke(app, ["grade", str(subs), "-a", "01", "-o", str(out), "--no-progress"])
    assert result.exit_code == 2 and "holds the grading of assignment 00_welcome" in result.output


@pytest.mark.parametrize(
    "layout, message",
    [
        ("absent", "does not exist"),
        ("empty", "nothing to grade in"),
        ("a file", "is not a folder"),
        ("another module", "their folders hold other modules' notebooks (alice/01_packaging"),
    ],
)
def test_a_failed_run_creates_nothing(tmp_path, monkeypatch, layout, message):
    scratch = tmp_path / "scratch"
    monkeypatch.setenv("MLKIT_SCRATCH", str(scratch))
    subs = tmp_path / "subs"
    if layout == "empty":
        subs.mkdir()
    elif layout == "a file":
        subs.write_text("")
    elif layout == "another module":
        (subs / "alice").mkdir(parents=True)
        shutil.copy(repo_root() / "labs" / "01_packaging.ipynb", subs / "alice")
    out = tmp_path / "out"
    result = runner.invoke(app, ["grade", str(subs), "-a", "00", "-o", str(out), "--no-progress"])
    assert result.exit_code == 2 and message in result.output
    assert not out.exists() and not scratch.exists()


@pytest.mark.parametrize("command", [[], ["doctor"], ["assign"], ["grade"], ["manifests"]])
def test_help_shows_flags_and_arguments_the_usual_way(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert re.search(r"<(bool|str|int|float|path)[^>]*>", result.output) is None, result.output
    assert re.search(r"\{\w+\}", result.output) is None, result.output
    assert re.search(r"--help +Show this message", result.output), result.output
    usage = {"grade": "SUBMISSIONS", "manifests": "IMAGE"}.get(command[0] if command else "")
    if usage:
        assert f"[OPTIONS] {usage}\n" in result.output and f"\n  {usage}  " in result.output
    if command == ["grade"]:
        assert re.search(r"\n  --force +Regrade", result.output)
        assert re.search(r"-o, --out TEXT +Folder", result.output)


def test_an_interrupted_run_keeps_finished_work_says_only_that_and_resumes(tmp_path):
    subs = submissions(tmp_path / "subs", a=SOLUTION, b=SOLUTION, c=SOLUTION, d=SOLUTION)
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    env = {**os.environ, "MLKIT_SCRATCH": str(scratch)}
    command = [
        sys.executable,
        "-m",
        "mlkit.cli",
        "grade",
        str(subs),
        "-a",
        "00",
        "-o",
        str(out),
        "--no-progress",
        "--workers",
        "2",
    ]
    process = subprocess.Popen(
        command, env=env, start_new_session=True, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not list((out / "records").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert stderr.strip() == INTERRUPTED  # no traceback from a worker or an event loop
    finished = sorted(p.stem for p in (out / "records").glob("*.json"))
    assert 1 <= len(finished) < 4
    with (out / "gradebook.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["learner"] for row in rows) == finished
    assert list((scratch / "grading").iterdir()) == []  # every sandbox was cleaned up

    report = grade(subs, "00", out, workers=2, progress=False)
    assert report.reused == finished
    assert report.graded == sorted(set("abcd") - set(finished))
    assert {entry["score"] for entry in report.learners.values()} == {8}


def test_without_namespaces_the_result_says_isolation_was_reduced(tmp_path):
    spec = read_assignment(SOLUTION)
    limits = GradingLimits(timeout=60, cell_timeout=30)
    sandbox = ProcessSandbox(limits, JobDir.create(tmp_path, "reduced"), namespaces=False)
    session = GradingSession(spec, load_tests(spec), sandbox, limits)
    try:
        session.execute(normalise(read_submission(SOLUTION)))
    finally:
        sandbox.cleanup()
    assert sandbox.isolation.startswith("reduced (namespaces were turned off)")
    assert {q: s.points for q, s in session.run.scores.items()} == {"q1": 2, "q2": 3, "q3": 3}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--assignment", "42"], "no solutions/42_*.ipynb"),
        (
            ["--assignment", "00", "--sandbox", "vm"],
            "expected one of ('process', 'docker'), got 'vm'",
        ),
        (
            ["--assignment", "00", "--timeout", "0"],
            "GradingLimits(timeout=...): expected a positive",
        ),
    ],
)
def test_bad_input_is_named(tmp_path, args, message):
    subs = submissions(tmp_path / "subs", alice=SOLUTION)
    result = runner.invoke(app, ["grade", str(subs), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert message in result.output
