"""What a solution notebook declares: its questions, their points and their tests.

The authoring format (solutions/README.md) puts everything in cell metadata under
`mlkit`, so nothing depends on cell order or markdown text:

    {"mlkit": {"question": "q2", "points": 3, "kind": "code",
               "rubric": "what earns the points"}}                 the answer cell
    {"mlkit": {"question": "q4", "points": 2, "kind": "written",
               "rubric": "what earns the points"}}                 a written answer
    {"mlkit": {"question": "q2", "kind": "tests"}}                   public tests
    {"mlkit": {"question": "q2", "kind": "hidden-tests"}}            hidden tests

Tests are read statically (with `ast`, nothing runs) so that `mlkit assign` can check
that each question's test points add up to its points.

The notebook's own metadata may say what grading it needs besides the sandbox:

    {"mlkit": {"needs": ["docker"]}}      the hidden tests build and run images

so that `mlkit grade --cluster` sends it only to workers that have a Docker engine.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from mlkit.grading.exceptions import AuthoringError, UnknownAssignmentError
from mlkit.grading.markers import HIDDEN_TESTS, SOLUTION, has_region, split_regions

NEEDS = ("docker",)  # what a notebook's metadata mlkit.needs may list
ANSWER_KINDS = ("code", "written")
TEST_KINDS = ("tests", "hidden-tests")
QUESTION_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
NOTEBOOK_NAME = re.compile(r"^(\d\d)_[A-Za-z0-9_-]+\.ipynb$")


@dataclass(frozen=True)
class Question:
    """One question: its id, points and kind ("code" is auto-graded, "written" by hand),
    and its rubric line: what earns the points, as the lab's rubric table says it."""

    id: str
    points: float
    kind: str
    cell_index: int
    rubric: str = ""

    @property
    def manual(self) -> bool:
        """True for written answers, which a person grades."""
        return self.kind == "written"


@dataclass(frozen=True)
class TestSpec:
    """A test function as written in a test cell (read statically, not run)."""

    __test__ = False

    question: str
    name: str
    points: float
    hidden: bool
    cell_index: int


@dataclass(frozen=True)
class TestCell:
    """A test cell's code, split into what learners see and what they never see."""

    __test__ = False

    question: str
    cell_index: int
    public_source: str
    hidden_source: str


@dataclass(frozen=True)
class Assignment:
    """A parsed and validated solution notebook."""

    name: str
    path: Path
    questions: dict[str, Question]
    tests: list[TestSpec]
    test_cells: list[TestCell]
    fingerprint: str
    needs: tuple[str, ...] = ()

    @property
    def max_points(self) -> float:
        """Points of every question, auto-graded and manual."""
        return sum(q.points for q in self.questions.values())

    @property
    def tests_hash(self) -> str:
        """A hash of what grades a submission: the questions with their points, and the
        test cells' code, public and hidden (not the instructions or the model answers)."""
        graded = {
            "questions": [[q.id, q.points, q.kind] for q in self.questions.values()],
            "tests": [[c.question, c.public_source, c.hidden_source] for c in self.test_cells],
        }
        return hashlib.sha256(json.dumps(graded, sort_keys=True).encode()).hexdigest()


def cell_role(cell: nbformat.NotebookNode) -> dict[str, Any] | None:
    """The cell's `mlkit` metadata, or None for a cell that plays no grading role."""
    role = cell.get("metadata", {}).get("mlkit")
    return role if isinstance(role, dict) else None


def list_solutions(solutions_dir: Path) -> list[Path]:
    """The solution notebooks (`NN_topic.ipynb`) in solutions_dir, sorted."""
    return sorted(p for p in Path(solutions_dir).glob("*.ipynb") if NOTEBOOK_NAME.match(p.name))


def find_assignment(solutions_dir: Path, assignment: str) -> Path:
    """The solution notebook for a two-digit module number (or a notebook stem)."""
    solutions = list_solutions(solutions_dir)
    matches = [p for p in solutions if p.stem == assignment or p.name[:2] == assignment]
    if len(matches) != 1:
        raise UnknownAssignmentError(assignment, str(solutions_dir), [p.stem for p in solutions])
    return matches[0]


def read_assignment(path: Path) -> Assignment:
    """Parse and validate a solution notebook; raise AuthoringError on the first problem."""
    path = Path(path)
    raw = path.read_bytes()
    nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    questions: dict[str, Question] = {}
    tests: list[TestSpec] = []
    test_cells: list[TestCell] = []
    for index, cell in enumerate(nb.cells):
        _check_solution_markers(path.name, index, cell)
        role = cell_role(cell)
        if role is None:
            if has_region(cell.source, HIDDEN_TESTS):
                raise AuthoringError(path.name, "hidden tests outside a test cell", index)
            continue
        question, kind = _question_and_kind(path.name, index, role)
        if kind in ANSWER_KINDS:
            if question in questions:
                raise AuthoringError(
                    path.name,
                    f"question {question!r} has a second answer cell "
                    f"(the first is cell {questions[question].cell_index})",
                    index,
                )
            questions[question] = _answer(path.name, index, cell, role, question, kind)
        else:
            cell_tests, test_cell = _tests(path.name, index, cell, question, kind)
            tests.extend(cell_tests)
            test_cells.append(test_cell)
    _check_points(path.name, questions, tests)
    needs = _needs(path.name, nb.metadata)
    return Assignment(
        name=path.stem,
        path=path,
        questions=questions,
        tests=tests,
        test_cells=test_cells,
        fingerprint=hashlib.sha256(raw).hexdigest(),
        needs=needs,
    )


def _needs(notebook: str, metadata: dict[str, Any]) -> tuple[str, ...]:
    """The notebook's metadata mlkit.needs, checked: a list of names from NEEDS."""
    role = metadata.get("mlkit", {})
    needs = role.get("needs", []) if isinstance(role, dict) else None
    if not isinstance(needs, list) or not all(isinstance(n, str) and n in NEEDS for n in needs):
        raise AuthoringError(
            notebook, f"notebook metadata mlkit.needs must be a list of {NEEDS}, got {needs!r}"
        )
    return tuple(needs)


def _check_solution_markers(notebook: str, index: int, cell: nbformat.NotebookNode) -> None:
    try:
        split_regions(cell.source, SOLUTION)
        split_regions(cell.source, HIDDEN_TESTS)
    except ValueError as err:
        raise AuthoringError(notebook, str(err), index) from None


def _question_and_kind(notebook: str, index: int, role: dict[str, Any]) -> tuple[str, str]:
    question, kind = role.get("question"), role.get("kind")
    if not isinstance(question, str) or not QUESTION_ID.match(question):
        raise AuthoringError(
            notebook, f"metadata mlkit.question must be an id such as 'q1', got {question!r}", index
        )
    if kind not in ANSWER_KINDS + TEST_KINDS:
        raise AuthoringError(
            notebook,
            f"metadata mlkit.kind must be one of {ANSWER_KINDS + TEST_KINDS}, got {kind!r}",
            index,
        )
    return question, kind


def _answer(
    notebook: str,
    index: int,
    cell: nbformat.NotebookNode,
    role: dict[str, Any],
    question: str,
    kind: str,
) -> Question:
    points = role.get("points")
    if isinstance(points, bool) or not isinstance(points, int | float) or points <= 0:
        raise AuthoringError(
            notebook,
            f"question {question!r}: points must be a positive number, got {points!r}",
            index,
        )
    expected_type = "code" if kind == "code" else "markdown"
    if cell.cell_type != expected_type:
        raise AuthoringError(
            notebook,
            f"question {question!r} is kind {kind!r}, so its answer cell must be a "
            f"{expected_type} cell, not a {cell.cell_type} cell",
            index,
        )
    rubric = role.get("rubric", "")
    if not isinstance(rubric, str) or "\n" in rubric.strip():
        raise AuthoringError(
            notebook,
            f"question {question!r}: rubric must be one line of text "
            f"(what earns the points), got {rubric!r}",
            index,
        )
    return Question(id=question, points=points, kind=kind, cell_index=index, rubric=rubric.strip())


def _tests(
    notebook: str, index: int, cell: nbformat.NotebookNode, question: str, kind: str
) -> tuple[list[TestSpec], TestCell]:
    if cell.cell_type != "code":
        raise AuthoringError(notebook, f"a {kind!r} cell must be a code cell", index)
    if kind == "hidden-tests":
        public, hidden = "", cell.source
    else:
        public_lines: list[str] = []
        hidden_lines: list[str] = []
        for inside, lines, _indent in split_regions(cell.source, HIDDEN_TESTS):
            (hidden_lines if inside else public_lines).extend(lines)
        public, hidden = "\n".join(public_lines), "\n".join(hidden_lines)
    specs = [
        TestSpec(q, name, points, is_hidden, index)
        for is_hidden, source in ((False, public), (True, hidden))
        for q, name, points in _declared_tests(notebook, index, source)
    ]
    for spec in specs:
        if spec.question != question:
            raise AuthoringError(
                notebook,
                f"this is a test cell of {question!r} but {spec.name}() tests {spec.question!r}",
                index,
            )
    return specs, TestCell(question, index, public, hidden)


def _declared_tests(notebook: str, index: int, source: str) -> list[tuple[str, str, float]]:
    """(question, function name, points) of each @test(...) function in source."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise AuthoringError(notebook, f"test code does not parse: {err}", index) from None
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not (isinstance(decorator, ast.Call) and _is_test_name(decorator.func)):
                continue
            try:
                question = ast.literal_eval(decorator.args[0])
                keywords = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}
            except (IndexError, ValueError):
                raise AuthoringError(
                    notebook,
                    f"@test on {node.name}() needs literal arguments: "
                    "@test('q1', points=1, hint='...')",
                    index,
                ) from None
            points = keywords.get("points", 0)
            if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
                raise AuthoringError(
                    notebook, f"{node.name}(): points must be a number >= 0, got {points!r}", index
                )
            found.append((question, node.name, points))
    return found


def _is_test_name(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id == "test") or (
        isinstance(func, ast.Attribute) and func.attr == "test"
    )


def _check_points(notebook: str, questions: dict[str, Question], tests: list[TestSpec]) -> None:
    for spec in tests:
        if spec.question not in questions:
            raise AuthoringError(
                notebook, f"tests for {spec.question!r}, which has no answer cell", spec.cell_index
            )
    names = [(t.question, t.name) for t in tests]
    for key in {k for k in names if names.count(k) > 1}:
        raise AuthoringError(notebook, f"two tests of {key[0]!r} are both named {key[1]}()")
    for question in questions.values():
        total = sum(t.points for t in tests if t.question == question.id)
        if question.manual and total:
            raise AuthoringError(
                notebook,
                f"{question.id!r} is a written question (graded by hand) but has tests with points",
                question.cell_index,
            )
        if not question.manual and abs(total - question.points) > 1e-9:
            raise AuthoringError(
                notebook,
                f"{question.id!r} is worth {question.points:g} points but its tests add up to "
                f"{total:g}; give each @test(...) its share with points=",
                question.cell_index,
            )
