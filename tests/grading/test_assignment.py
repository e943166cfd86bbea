"""Reading a solution notebook: questions, points, tests, and authoring errors that say why."""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mlkit.grading.assignment import find_assignment, read_assignment
from mlkit.grading.exceptions import AuthoringError, UnknownAssignmentError
from mlkit.settings import repo_root


def role(question, kind, points=None):
    meta = {"question": question, "kind": kind}
    if points is not None:
        meta["points"] = points
    return {"mlkit": meta}


def write(tmp_path, cells, name="01_demo.ipynb"):
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells), path)
    return path


ANSWER = new_code_cell(
    "### BEGIN SOLUTION\ny = 2\n### END SOLUTION", metadata=role("q1", "code", 2)
)
TESTS = new_code_cell(
    "@test('q1', points=1)\ndef public(ns): pass\n\n### BEGIN HIDDEN TESTS\n"
    "@test('q1', points=1)\ndef hidden(ns): pass\n### END HIDDEN TESTS\nmlkit.check('q1')",
    metadata=role("q1", "tests"),
)


def test_the_committed_solution_declares_four_questions_and_ten_points():
    spec = read_assignment(repo_root() / "solutions" / "00_welcome.ipynb")
    assert list(spec.questions) == ["q1", "q2", "q3", "q4"]
    assert spec.max_points == 10 and spec.questions["q4"].manual
    assert any(t.hidden for t in spec.tests) and any(not t.hidden for t in spec.tests)


def test_tests_are_read_statically_with_points_and_hidden_flag(tmp_path):
    spec = read_assignment(write(tmp_path, [ANSWER, TESTS]))
    assert [(t.name, t.points, t.hidden) for t in spec.tests] == [
        ("public", 1, False),
        ("hidden", 1, True),
    ]


@pytest.mark.parametrize(
    "cells, problem",
    [
        ([ANSWER], "worth 2 points but its tests add up to 0"),
        ([ANSWER, nbformat.from_dict({**ANSWER, "id": "again"}), TESTS], "second answer cell"),
        ([new_code_cell("x", metadata=role("q1", "answer", 1))], "mlkit.kind must be one of"),
        ([new_code_cell("x", metadata=role("1st", "code", 1))], "mlkit.question must be an id"),
        ([new_code_cell("x", metadata=role("q1", "code", 0))], "points must be a positive"),
        ([new_markdown_cell("x", metadata=role("q1", "code", 1))], "must be a code cell"),
        ([TESTS], "which has no answer cell"),
        (
            [ANSWER, new_code_cell("### BEGIN HIDDEN TESTS\nx\n### END HIDDEN TESTS")],
            "hidden tests outside a test cell",
        ),
        (
            [
                ANSWER,
                new_code_cell(
                    "@test('q1', points=p)\ndef t(ns): pass", metadata=role("q1", "tests")
                ),
            ],
            "needs literal arguments",
        ),
        (
            [
                ANSWER,
                new_code_cell(
                    "@test('q2', points=2)\ndef t(ns): pass", metadata=role("q1", "tests")
                ),
            ],
            "tests 'q2'",
        ),
        ([new_code_cell("### BEGIN SOLUTION\nx", metadata=role("q1", "code", 1))], "never closed"),
    ],
)
def test_authoring_errors_name_the_problem(tmp_path, cells, problem):
    with pytest.raises(AuthoringError, match=problem):
        read_assignment(write(tmp_path, cells))


def test_an_unknown_assignment_lists_the_known_ones(tmp_path):
    write(tmp_path, [ANSWER, TESTS])
    assert find_assignment(tmp_path, "01").name == "01_demo.ipynb"
    with pytest.raises(UnknownAssignmentError, match="known assignments: 01_demo"):
        find_assignment(tmp_path, "07")


def test_labs_03_and_09_need_docker_and_the_others_nothing():
    needs = {
        path.stem[:2]: read_assignment(path).needs
        for path in sorted((repo_root() / "solutions").glob("*.ipynb"))
    }
    assert {lab for lab, need in needs.items() if need} == {"03", "09"}
    assert needs["03"] == needs["09"] == ("docker",)


@pytest.mark.parametrize("needs", ["docker", ["gpu"], [1]])
def test_an_unknown_need_is_an_authoring_error(tmp_path, needs):
    path = write(tmp_path, [ANSWER, TESTS])
    nb = nbformat.read(path, as_version=4)
    nb.metadata["mlkit"] = {"needs": needs}
    nbformat.write(nb, path)
    with pytest.raises(AuthoringError, match=r"notebook metadata mlkit.needs must be a list of"):
        read_assignment(path)


def test_the_tests_hash_changes_with_the_tests_only(tmp_path):
    first = read_assignment(write(tmp_path, [ANSWER, TESTS]))
    reworded = new_markdown_cell("Compute y.")
    same_tests = read_assignment(write(tmp_path, [reworded, ANSWER, TESTS], "02_demo.ipynb"))
    edited = nbformat.from_dict({**TESTS, "source": TESTS.source + "\n# edited"})
    other_tests = read_assignment(write(tmp_path, [ANSWER, edited], "03_demo.ipynb"))
    assert first.tests_hash == same_tests.tests_hash != other_tests.tests_hash
    assert first.fingerprint != same_tests.fingerprint
