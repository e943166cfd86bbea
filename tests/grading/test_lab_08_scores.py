"""Lab 08 grades as designed: the solution full marks, the blank lab zero, a half-right
notebook partial credit. Each submission really runs in the grading sandbox, where its
tests serve the notebook's service.py once and attack it over HTTP (no key, wrong keys,
malformed and hostile fields, oversized payloads, a burst), tamper with its signed
model, and probe and scan its fixed report tool."""

from __future__ import annotations

import pytest
from support.lab_scores import grade_solution_blank_half_right

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]


# Half right: the solution with a key check that accepts a prefix of a key, a lax schema, and a
# loader that lets a missing signature file raise FileNotFoundError.
HALF_RIGHT = {
    "q1": (
        "matches = [hmac.compare_digest(given, key) for key in self.keys]",
        "matches = [bool(given) and key.startswith(given) for key in self.keys]",
    ),
    "q3": ('extra="forbid", strict=True, allow_inf_nan=False', 'extra="forbid"'),
    "q4": ("    if not signature_path.is_file():\n", "    if False:\n"),
}


def test_solution_full_marks_blank_lab_zero_half_right_partial(tmp_path):
    graded = grade_solution_blank_half_right("08", tmp_path, HALF_RIGHT)
    points, results = graded.points, graded.results
    auto = {"q1": 3, "q2": 3, "q3": 3, "q4": 4, "q5": 4}
    for learner in points:
        assert points[learner]["q6"] is None, f"{learner}: q6 is graded by hand"
    assert {q: points["solution"][q] for q in auto} == auto
    assert {q: points["blank"][q] for q in auto} == dict.fromkeys(auto, 0)
    # q1 loses "near-miss keys"; q3 loses "hostile values"; q4 loses "missing signature".
    assert {q: points["half_right"][q] for q in auto} == {**auto, "q1": 2, "q3": 2, "q4": 3}
    questions = results["learners"]["half_right"]["questions"]
    assert "'the key without its last character': 200" in questions["q1"]["message"]
    assert "'age as a numeric string': 200" in questions["q3"]["message"]
    assert (
        "no signature file: expected ModelSignatureError, got FileNotFoundError"
        in (questions["q4"]["message"])
    )
