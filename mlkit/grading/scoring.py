"""Run a question's tests against a namespace and score it: points per passing test.

The same code scores `mlkit.check` (public tests, the learner's kernel) and the grader
(public and hidden tests, the learner's values fetched as data). Partial credit comes
from a question having several tests, each worth its share of the points.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from mlkit.grading.exceptions import (
    AnswerMissingError,
    CodecError,
    KernelGoneError,
    LearnerCodeError,
    ProbeTimeoutError,
)
from mlkit.grading.registry import Test

# Why a test did not pass: the answer is wrong, or the test could not be run at all.
FAILED = "failed"
CANNOT_RUN = "cannot-run"
MAX_MESSAGE_CHARS = 2000  # a message may quote the learner's values, of any size


@dataclass
class TestOutcome:
    """The result of one test: points earned and a message a learner can act on."""

    __test__ = False

    name: str
    description: str
    points: float
    max_points: float
    passed: bool
    hidden: bool
    message: str = ""
    hint: str | None = None
    reason: str | None = None


@dataclass
class QuestionScore:
    """A question's points, from its tests' outcomes."""

    question: str
    points: float
    max_points: float
    passed: bool
    message: str
    seconds: float
    tests: list[TestOutcome] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for results.json."""
        return asdict(self)


def run_test(entry: Test, ns: Any) -> TestOutcome:
    """Call entry.func(ns) and turn what happens into a TestOutcome."""
    reason: str | None = FAILED
    try:
        entry.func(ns)
    except AssertionError as err:
        message = str(err) or "a check in this test did not pass"
    except NotImplementedError:
        message = "not answered yet: the placeholder still raises NotImplementedError"
    except (AnswerMissingError, LearnerCodeError, ProbeTimeoutError, CodecError) as err:
        message = str(err)
    except KernelGoneError as err:
        message, reason = str(err), CANNOT_RUN
    except Exception as err:  # a test that breaks on an unexpected answer still scores 0
        message = f"{type(err).__name__}: {err}"
    else:
        message, reason = "", None
    passed = reason is None
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return TestOutcome(
        name=entry.name,
        description=entry.description,
        points=entry.points if passed else 0,
        max_points=entry.points,
        passed=passed,
        hidden=entry.hidden,
        message=message,
        hint=None if passed else entry.hint,
        reason=reason,
    )


def score_question(question: str, tests: list[Test], ns: Any) -> QuestionScore:
    """Run every test of question and add up the points of those that pass."""
    start = time.perf_counter()
    outcomes = [run_test(entry, ns) for entry in tests]
    failed = [o for o in outcomes if not o.passed]
    if failed:
        message = "; ".join(f"{o.description}: {o.message}" for o in failed)
    else:
        message = f"all {len(outcomes)} checks passed"
    return QuestionScore(
        question=question,
        points=sum(o.points for o in outcomes),
        max_points=sum(o.max_points for o in outcomes),
        passed=not failed,
        message=message,
        seconds=round(time.perf_counter() - start, 3),
        tests=outcomes,
    )


def cannot_run(question: str, max_points: float, reason: str) -> QuestionScore:
    """A question whose tests could not run at all: 0 points, and why."""
    return QuestionScore(
        question=question,
        points=0,
        max_points=max_points,
        passed=False,
        message=f"not graded: {reason}",
        seconds=0.0,
    )
