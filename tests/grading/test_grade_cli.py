"""`mlkit grade` from the command line: outputs, resuming, --force, interrupts, bad input."""

from __future__ import annotations

import csv
import os
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


def test_grade_writes_every_output_then_resumes_and_forces(tmp_path):
    subs = submissions(tmp_path / "subs", alice=SOLUTION, bob=LAB)
    out = tmp_path / "out"
    output = cli(subs, "--assignment", "00", "--out", out, "--workers", "2")
    assert "graded 2, reused 0" in output and "alice     8/10  ok  (pending: q4)" in output
    for name in ("gradebook.csv", "results.json", "manual_grades.csv", "feedback/alice.html",
                 "feedback/bob.html", "executed/alice.ipynb", "records/bob.json"):  # fmt: skip
        assert (out / name).exists(), name
    assert "graded 0, reused 2" in cli(subs, "-a", "00", "-o", out)

    nb = nbformat.read(subs / "bob" / "00_welcome.ipynb", as_version=4)
    nb.cells.append(new_code_cell("churn_rate = 0.25"))
    nbformat.write(nb, subs / "bob" / "00_welcome.ipynb")
    output = cli(subs, "-a", "00", "-o", out)
    assert "graded 1, reused 1" in output and "bob       1/10  cell-errors" in output
    assert "graded 2, reused 0" in cli(subs, "-a", "00", "-o", out, "--force", "--workers", "2")


def test_an_interrupted_run_keeps_finished_work_and_resumes(tmp_path):
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
    assert "interrupted" in stderr
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
