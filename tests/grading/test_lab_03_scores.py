"""Lab 03 grades as designed: the solution full marks, the blank lab zero, a half-right
answer partial credit. Each submission really runs in the grading sandbox (without
Docker there, so it builds its bento and says what it skipped); the hidden tests of q1
and q3 then build a bento and an image from the submission's build configuration with
the grader's own Docker engine, run the container and ask it for predictions."""

from __future__ import annotations

import pytest
from support.lab_scores import grade_solution_blank_half_right

pytestmark = [pytest.mark.notebooks, pytest.mark.slow, pytest.mark.docker]


# Half right: the solution without the allow-list (q1, and so q3's image ships the clutter), with
# comments not stripped (q2) and with a memory limit equal to the request (q4).
HALF_RIGHT = {
    "q1": ('    "include": ["service.py", "model.skops"],\n', ""),
    "q2": ('text = line.split("#", 1)[0].strip()', "text = line.strip()"),
    "q4": ('memory_limit=f"{2 * request_mib}Mi"', 'memory_limit=f"{request_mib}Mi"'),
}


def test_solution_full_marks_blank_lab_zero_half_right_partial(docker_engine, tmp_path):
    graded = grade_solution_blank_half_right("03", tmp_path, HALF_RIGHT)
    points, results = graded.points, graded.results
    auto = {"q1": 3, "q2": 2, "q3": 2, "q4": 3}
    for learner in points:
        assert points[learner]["q5"] is None, f"{learner}: q5 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    assert {q: points["half_right"][q] for q in auto} == {"q1": 2, "q2": 1, "q3": 1, "q4": 2}
    feedback = results["learners"]["half_right"]["questions"]
    assert "the image ships {'secret': ['src/.env']" in feedback["q3"]["message"]
    assert "the limit should be" in feedback["q4"]["message"]
