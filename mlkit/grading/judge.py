"""The hidden-test runner: score each auto-graded question against the learner's kernel.

Why the tests run here, and how that defeats hostile notebooks:

nbgrader and otter-grader run hidden tests inside the learner's kernel, where the
learner's code has run first and may still be running: it can read the tests, patch
`assert` helpers or numpy, print a fake score, define answers whose `__eq__` is always
True, or end the run early so that no test fails. mlkit runs every test (public and
hidden, taken from the *solution* notebook, never from the submission) in the grader's
own process, after the learner's notebook has finished in its sandbox. The tests reach
the learner's work only through `ns` (mlkit.grading.remote.RemoteNamespace): each
access is a request executed in the learner's kernel whose reply is plain data, decoded
without pickle (mlkit.grading.codec). So:

- the tests never exist where learner code runs: the sandbox does not mount solutions/,
  and no test source or expected value is ever sent to the kernel, only the inputs a
  test passes to the learner's own functions;
- results are computed here and never parsed from the learner's output, so printing a
  score, publishing a fake reply earlier, or editing files changes nothing;
- patching mlkit, numpy or the reply channel inside the kernel can only change the
  values the notebook reports, which is what answering is; it cannot change a verdict;
- a run that did not reach its end (the kernel died, ignored an interrupt or ran out of
  time) is not judged at all: every auto-graded question scores 0 with the reason.
"""

from __future__ import annotations

import ast
import importlib
import threading

from mlkit.grading.assignment import Assignment
from mlkit.grading.exceptions import AuthoringError
from mlkit.grading.registry import TestRegistry, collect_tests
from mlkit.grading.remote import KernelProbe, RemoteNamespace
from mlkit.grading.scoring import QuestionScore, score_question

_collected: dict[str, TestRegistry] = {}
_preloading: set[str] = set()


def test_imports(assignment: Assignment) -> list[str]:
    """The modules assignment's test cells import (to load them before the first test runs)."""
    names: set[str] = set()
    for cell in assignment.test_cells:
        for node in ast.walk(ast.parse(cell.public_source + "\n" + cell.hidden_source)):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return sorted(names)


def preload_imports(assignment: Assignment) -> None:
    """Import test_imports(assignment) in a background thread, once per process.

    Otherwise the first submission a process grades pays for them (pandas, sklearn …)
    when its tests start; in the background they load while its notebook runs.
    """
    if assignment.fingerprint in _preloading:
        return
    _preloading.add(assignment.fingerprint)
    threading.Thread(target=_import_all, args=(test_imports(assignment),), daemon=True).start()


def _import_all(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S110 (the hidden tests report a failed import when they run)
            pass


def load_tests(assignment: Assignment) -> TestRegistry:
    """The public and hidden tests of assignment, collected in this process (cached)."""
    if assignment.fingerprint not in _collected:
        _collected[assignment.fingerprint] = _collect(assignment)
    return _collected[assignment.fingerprint]


def _collect(assignment: Assignment) -> TestRegistry:
    cells = [(c.cell_index, c.public_source, c.hidden_source) for c in assignment.test_cells]
    registry = collect_tests(cells, assignment.path.name)
    declared = {(t.question, t.name, t.points, t.hidden) for t in assignment.tests}
    found = {(t.question, t.name, t.points, t.hidden) for t in registry.all()}
    if declared != found:
        raise AuthoringError(
            assignment.path.name,
            "the test cells register different tests when run than they declare "
            f"(declared {sorted(declared - found)}, registered {sorted(found - declared)}); "
            "define each @test function at the top level of its cell",
        )
    return registry


def run_hidden_tests(
    assignment: Assignment, registry: TestRegistry, probe: KernelProbe
) -> dict[str, QuestionScore]:
    """Score every auto-graded question of assignment through probe."""
    ns = RemoteNamespace(probe)
    return {
        q.id: score_question(q.id, registry.for_question(q.id), ns)
        for q in assignment.questions.values()
        if not q.manual
    }
