"""Lab 06 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox; the hidden
tests call its functions with cases of their own and compare with mlkit.drift,
mlkit.monitoring and a reference bootstrap."""

from __future__ import annotations

import pytest
from support.lab_scores import grade_solution_blank_half_right

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


# Half right: pSI without the eps floor, and a challenger promoted when the interval merely reaches
# 0.
HALF_RIGHT = {
    "q1": ("    r, c = np.clip(r, eps, None), np.clip(c, eps, None)\n", ""),
    "q6": (
        "return float(low), float(high), bool(low > 0)",
        "return float(low), float(high), bool(high > 0)",
    ),
}


def test_solution_full_marks_blank_lab_zero_half_right_partial(tmp_path):
    graded = grade_solution_blank_half_right("06", tmp_path, HALF_RIGHT)
    points, results = graded.points, graded.results
    auto = {"q1": 3, "q2": 2, "q3": 2, "q4": 2, "q5": 2, "q6": 2}
    for learner in points:
        assert points[learner]["q7"] is None, f"{learner}: q7 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses the empty-bin point; q6 keeps the interval, not the decisions.
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q6": 1}
    feedback = results["learners"]["half_right"]["questions"]["q6"]["message"]
    assert "an equally good challenger was promoted" in feedback
