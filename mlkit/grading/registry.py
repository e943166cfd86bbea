"""The `@test` decorator and the registry of tests it fills.

In a lab, running a test cell registers that question's public tests in the kernel, and
`mlkit.check("q1")` runs them. The grader collects the same cells (public and hidden)
from the solution notebook in its own process, with `collect_tests`, and never runs them
in the learner's kernel.

    from mlkit.grading import test

    @test("q1", points=1, hint="Divide the number of churned customers by all customers.")
    def churn_rate_is_a_share(ns):
        assert 0 <= ns.churn_rate <= 1, "churn_rate should be between 0 and 1"

A test takes `ns`, the learner's notebook namespace: `ns.churn_rate` is the learner's
variable. Introduced in module 00 (labs).
"""

from __future__ import annotations

import ast
import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mlkit.grading.exceptions import AuthoringError

TestFunction = Callable[[Any], None]


@dataclass(frozen=True)
class Test:
    """One registered test of one question."""

    __test__ = False  # not a pytest test class

    question: str
    name: str
    func: TestFunction
    points: float = 0
    hint: str | None = None
    hidden: bool = False

    @property
    def description(self) -> str:
        """The first line of the docstring, else the function name in words."""
        doc = (self.func.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else self.name.replace("_", " ")


class TestRegistry:
    """Tests by question; registering a test again (a re-run cell) replaces it."""

    __test__ = False

    def __init__(self) -> None:
        self._tests: dict[tuple[str, str], Test] = {}

    def add(self, entry: Test) -> None:
        """Register entry, replacing a test of the same question and name."""
        self._tests[(entry.question, entry.name)] = entry

    def for_question(self, question: str) -> list[Test]:
        """The tests of question, in registration order."""
        return [t for (q, _), t in self._tests.items() if q == question]

    def questions(self) -> list[str]:
        """Questions that have at least one test, in registration order."""
        return list(dict.fromkeys(q for q, _ in self._tests))

    def all(self) -> list[Test]:
        """Every registered test."""
        return list(self._tests.values())


_KERNEL_REGISTRY = TestRegistry()
_registry: contextvars.ContextVar[TestRegistry] = contextvars.ContextVar(
    "mlkit_test_registry", default=_KERNEL_REGISTRY
)
_hidden: contextvars.ContextVar[bool] = contextvars.ContextVar("mlkit_hidden", default=False)


def active_registry() -> TestRegistry:
    """The registry `@test` adds to: the kernel's own, unless collect_tests is running."""
    return _registry.get()


def test(
    question: str, *, points: float = 0, hint: str | None = None
) -> Callable[[TestFunction], TestFunction]:
    """Register the decorated function `f(ns)` as a test of question, worth points."""
    if not isinstance(question, str) or not question:
        raise TypeError(f"test(question): expected a question id such as 'q1', got {question!r}")
    if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
        raise ValueError(f"test(points=...): expected a number >= 0, got {points!r}")
    if hint is not None and not isinstance(hint, str):
        raise TypeError(f"test(hint=...): expected a string or None, got {type(hint).__name__}")

    def register(func: TestFunction) -> TestFunction:
        entry = Test(question, func.__name__, func, points, hint, _hidden.get())
        active_registry().add(entry)
        return func

    return register


test.__test__ = False  # type: ignore[attr-defined]  # pytest would collect the decorator


@contextmanager
def _collecting(registry: TestRegistry, hidden: bool) -> Iterator[None]:
    registry_token = _registry.set(registry)
    hidden_token = _hidden.set(hidden)
    try:
        yield
    finally:
        _hidden.reset(hidden_token)
        _registry.reset(registry_token)


def definitions_only(source: str) -> ast.Module:
    """source without its top-level expression statements (such as `mlkit.check("q1")`)."""
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if not isinstance(node, ast.Expr)]
    return tree


def collect_tests(cells: list[tuple[int, str, str]], notebook: str = "solution") -> TestRegistry:
    """Register the tests defined by test cells given as (cell_index, public, hidden) code.

    Cells run in order in one shared namespace, like a notebook, except that top-level
    expressions are skipped: collecting defines tests, it does not run them.
    """
    registry = TestRegistry()
    namespace: dict[str, Any] = {"__name__": "mlkit_collected_tests"}
    for index, public, hidden in cells:
        for is_hidden, source in ((False, public), (True, hidden)):
            if not source.strip():
                continue
            code = compile(definitions_only(source), f"<{notebook} cell {index}>", "exec")
            with _collecting(registry, is_hidden):
                try:
                    exec(code, namespace)  # noqa: S102 (instructor-authored test code)
                except Exception as err:
                    raise AuthoringError(
                        notebook, f"test code raised {type(err).__name__}: {err}", index
                    ) from err
    return registry
