"""`mlkit.check("q1")`: run a question's public tests in the learner's kernel (module 00).

Prints PASS or FAIL with each failing check's message and hint, and returns whether
every check passed. Only tests registered in this kernel run, and a lab registers only
public ones: hidden tests are not in the lab, and the grader runs them elsewhere.
"""

from __future__ import annotations

from mlkit.grading.exceptions import UnknownQuestionError
from mlkit.grading.namespace import LocalNamespace, user_namespace
from mlkit.grading.registry import active_registry
from mlkit.grading.scoring import QuestionScore, score_question


def check(question: str) -> bool:
    """Run question's registered tests on this notebook's names; print PASS/FAIL and hints."""
    if not isinstance(question, str):
        raise TypeError(
            f"check(question): expected a question id such as 'q1', got {question!r} "
            f"({type(question).__name__})"
        )
    registry = active_registry()
    tests = registry.for_question(question)
    if not tests:
        raise UnknownQuestionError(question, registry.questions())
    score = score_question(question, tests, LocalNamespace(user_namespace()))
    print(report(score))
    return score.passed


def report(score: QuestionScore) -> str:
    """The text check() prints for one question."""
    passed = sum(o.passed for o in score.tests)
    verdict = "PASS" if score.passed else "FAIL"
    lines = [f"{score.question} {verdict}: {passed} of {len(score.tests)} checks passed."]
    for outcome in score.tests:
        mark = "ok  " if outcome.passed else "FAIL"
        lines.append(f"  {mark} {outcome.description}")
        if not outcome.passed:
            lines.append(f"       {outcome.message}")
            if outcome.hint:
                lines.append(f"       hint: {outcome.hint}")
    if score.passed:
        lines.append("  (A good sign; the grade also counts hidden tests the grader runs.)")
    return "\n".join(lines)
