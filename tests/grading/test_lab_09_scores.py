"""Lab 09 grades as designed: the solution full marks, the blank lab zero, a half-right
answer partial credit. Each submission really runs in the grading sandbox (without Docker
there, so it says which container steps it skipped); the hidden tests then serve its
service.py and run its locustfile inside its kernel, and q3's build an image from the
solution's build configuration with the grader's own Docker engine. The half-right
submission's build configuration fails the safety check, so only one image is built."""

from __future__ import annotations

import pytest
from support.lab_scores import grade_solution_blank_half_right

pytestmark = [pytest.mark.notebooks, pytest.mark.slow, pytest.mark.docker]


# Half right: the solution with a model of 3 boosting rounds (q1 misses the MAE target), libraries
# left unpinned (q3 fails the safety check, before any build) and an alert rule without a hold (q5
# pages on a one-window blip).
HALF_RIGHT = {
    "q1": (
        "HistGradientBoostingRegressor(max_iter=100,",
        "HistGradientBoostingRegressor(max_iter=3,",
    ),
    "q3": ('f"{name}=={version(name)}"', "name"),
    "q5": ('"n_drifted", ">", 0, hold=1)', '"n_drifted", ">", 0, hold=0)'),
}


def test_solution_full_marks_blank_lab_zero_half_right_partial(docker_engine, tmp_path):
    graded = grade_solution_blank_half_right("09", tmp_path, HALF_RIGHT)
    points, results = graded.points, graded.results
    auto = {"q1": 3, "q2": 4, "q3": 2, "q4": 3, "q5": 3}
    for learner in points:
        assert points[learner]["q6"] is None and points[learner]["q7"] is None, (
            f"{learner}: q6 and q7 are graded by hand"
        )
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    assert {q: points["half_right"][q] for q in auto} == {
        "q1": 2,
        "q2": 4,
        "q3": 0,
        "q4": 3,
        "q5": 2,
    }
    feedback = results["learners"]["half_right"]["questions"]
    assert "is not 'name==version'" in feedback["q3"]["message"]
    assert "the target is below 3.2" in feedback["q1"]["message"]
    assert "should not alert" in feedback["q5"]["message"]
