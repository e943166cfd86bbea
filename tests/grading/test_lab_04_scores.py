"""Lab 04 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox; the hidden
tests serve a fresh copy of its service and run its locustfile against it with Locust."""

from __future__ import annotations

import pytest
from support.lab_scores import grade_solution_blank_half_right

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


# Half right: tasks weighted 1:1 instead of 4:1, and a capacity that ignores the first broken step.
HALF_RIGHT = {
    "q1": ("    @task(4)\n", "    @task(1)\n"),
    "q3": (
        "before_first_break = meets.cumprod().astype(bool)",
        "before_first_break = meets",
    ),
}


def test_solution_full_marks_blank_lab_zero_half_right_partial(tmp_path):
    graded = grade_solution_blank_half_right("04", tmp_path, HALF_RIGHT)
    points, results = graded.points, graded.results
    auto = {"q1": 3, "q2": 2, "q3": 3, "q4": 2}
    for learner in points:
        assert points[learner]["q5"] is None, f"{learner}: q5 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses the 4:1 point; q3 loses the "stop at the first broken step" point.
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q3": 2}
    feedback = results["learners"]["half_right"]["questions"]["q1"]["message"]
    assert "expected about 4 requests to /predict per page" in feedback
