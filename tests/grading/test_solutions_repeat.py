"""A correct submission never loses points by chance: the solution of every lab whose hidden
tests start a server is graded five times in one run with two workers, and gets full
automatic marks every time. Servers started at the same time, kernels and learner services
all take ports; a port race or a flaky hidden test shows up here as a lost point."""

from __future__ import annotations

import json
import shutil

import pytest
from support.lab_scores import notebook

from mlkit.grading import grade

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

REPEATS = 5
SERVER_LABS = ["02", "04", "05", "08", "09"]  # 09 builds and runs a container too


@pytest.mark.parametrize(
    "assignment",
    [pytest.param(a, marks=[pytest.mark.docker] * (a == "09")) for a in SERVER_LABS],
)
def test_the_solution_gets_full_marks_every_time(assignment, tmp_path, request):
    if assignment == "09":
        request.getfixturevalue("docker_engine")
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    for copy in range(1, REPEATS + 1):
        shutil.copy(notebook("solutions", assignment), submissions / f"copy{copy}.ipynb")

    grade(submissions, assignment, tmp_path / "out", workers=2, progress=False)

    results = json.loads((tmp_path / "out" / "results.json").read_text())
    auto = {q: spec["max"] for q, spec in results["questions"].items() if spec["kind"] == "code"}
    assert auto, "the lab has automatically graded questions"
    lost = {
        learner: {
            q: entry["questions"][q]["message"]
            for q in auto
            if entry["questions"][q]["points"] != auto[q]
        }
        for learner, entry in results["learners"].items()
    }
    assert len(results["learners"]) == REPEATS
    assert all(entry["status"] == "ok" for entry in results["learners"].values()), {
        learner: entry["summary"] for learner, entry in results["learners"].items()
    }
    assert not any(lost.values()), lost
