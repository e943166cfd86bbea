"""Lab 02 grades as designed: the solution full marks, the blank lab zero, a half-right
service partial credit. Each submission really runs in the grading sandbox, where its
tests serve the notebook's service.py in a fresh process and probe it over HTTP."""

from __future__ import annotations

import pytest
from support.lab_scores import grade_solution_blank_half_right

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


# Half right: the solution without `extra="forbid"` and with a readiness check that is always True.
HALF_RIGHT = {
    "q1": ('    model_config = ConfigDict(extra="forbid")\n', ""),
    "q4": ('return not Path(__file__).with_name("draining").exists()', "return True"),
}


def test_solution_full_marks_blank_lab_zero_half_right_partial(tmp_path):
    graded = grade_solution_blank_half_right("02", tmp_path, HALF_RIGHT)
    points, results = graded.points, graded.results
    auto = {"q1": 3, "q2": 2, "q3": 3, "q4": 2, "q5": 2}
    for learner in points:
        assert points[learner]["q6"] is None, f"{learner}: q6 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses the extra-field point; q4 keeps only "draining ends and keeps serving".
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q4": 1}
    feedback = results["learners"]["half_right"]["questions"]["q1"]["message"]
    assert "extra field 'tenure': expected status 400, got 200" in feedback
