"""Lab 05 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox; the hidden
tests drive its retry function and circuit breaker against a deliberately flaky local
server, and start its tuned service and load it with Locust next to the baseline."""

from __future__ import annotations

import pytest
from support.lab_scores import grade_solution_blank_half_right

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


# Half right: backoff without jitter, and a breaker whose successes do not reset its failure count.
HALF_RIGHT = {
    "q1": (
        "return random.uniform(0, min(max_delay_s, base_delay_s * 2 ** (attempt - 1)))",
        "return min(max_delay_s, base_delay_s * 2 ** (attempt - 1))",
    ),
    "q2": (
        '        self.state = "closed"\n        self.failures = 0\n        return result',
        '        self.state = "closed"\n        return result',
    ),
}


def test_solution_full_marks_blank_lab_zero_half_right_partial(tmp_path):
    graded = grade_solution_blank_half_right("05", tmp_path, HALF_RIGHT)
    points, results = graded.points, graded.results
    auto = {"q1": 3, "q2": 3, "q3": 2, "q4": 3, "q5": 2}
    for learner in points:
        assert points[learner]["q6"] is None, f"{learner}: q6 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses the jitter point; q2 loses the "failures in a row" point.
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q2": 2}
    feedback = results["learners"]["half_right"]["questions"]["q1"]["message"]
    assert "expected random draws over" in feedback
