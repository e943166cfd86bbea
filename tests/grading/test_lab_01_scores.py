"""Lab 01 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox, and the
hidden tests read the files and the model store it left behind through its kernel."""

from __future__ import annotations

import pytest
from support.lab_scores import grade_solution_blank_half_right

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


# Half right: the solution trusting one type too many, and a load_bundle that never checks the hash.
HALF_RIGHT = {
    "q1": (
        'TRUSTED = ["sklearn.tree._tree.Tree"]',
        'TRUSTED = ["sklearn.tree._tree.Tree", "builtins.exec"]',
    ),
    "q2": ("    if found != expected:\n", "    if False:\n"),
}


def test_solution_full_marks_blank_lab_zero_half_right_partial(tmp_path):
    graded = grade_solution_blank_half_right("01", tmp_path, HALF_RIGHT)
    points, results = graded.points, graded.results
    auto = {"q1": 2, "q2": 4, "q3": 3, "q4": 3}
    for learner in points:
        assert points[learner]["q5"] is None, f"{learner}: q5 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses "exactly the types needed"; q2 keeps the round trip and the manifest only.
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 1, "q2": 2}
    feedback = results["learners"]["half_right"]["questions"]["q2"]["message"]
    assert "raised UntrustedTypesFoundException, not TamperedBundleError" in feedback
