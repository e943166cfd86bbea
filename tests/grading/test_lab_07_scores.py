"""Lab 07 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox; the hidden
tests call its functions with cases of their own and compare with mlkit.experiments and
mlkit.rollout."""

from __future__ import annotations

import pytest
from support.lab_scores import grade_solution_blank_half_right

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


# Half right: a one-sided p-value, and a canary that waits for MIN_REQUESTS before counting errors.
HALF_RIGHT = {
    "q1": (
        "p_value = 2 * (1 - NormalDist().cdf(abs(z)))",
        "p_value = 1 - NormalDist().cdf(abs(z))",
    ),
    "q4": (
        "    if errors > allowed:\n",
        "    if errors > allowed and requests >= MIN_REQUESTS:\n",
    ),
}


def test_solution_full_marks_blank_lab_zero_half_right_partial(tmp_path):
    graded = grade_solution_blank_half_right("07", tmp_path, HALF_RIGHT)
    points, results = graded.points, graded.results
    auto = {"q1": 3, "q2": 2, "q3": 2, "q4": 3, "q5": 2}
    for learner in points:
        assert points[learner]["q6"] is None, f"{learner}: q6 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses the two-sided p-value; q4 keeps holding and promoting, not the early rollback.
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q4": 2}
    feedback = results["learners"]["half_right"]["questions"]["q4"]["message"]
    assert "decide(0.05, 10, 1, 5.0): expected ('rollback', 0.0)" in feedback
