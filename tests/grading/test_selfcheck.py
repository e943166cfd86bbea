"""`@test`, collecting tests, and `mlkit.check` in a kernel-like namespace."""

import pytest

import mlkit
from mlkit.grading import registry
from mlkit.grading.exceptions import AuthoringError, UnknownQuestionError
from mlkit.grading.namespace import LocalNamespace
from mlkit.grading.registry import TestRegistry, collect_tests, test
from mlkit.grading.scoring import score_question
from mlkit.grading.selfcheck import check

CELL = '''
from mlkit.grading import test

@test("q9", points=1, hint="Double it.")
def doubles(ns):
    """double(2) is 4"""
    assert ns.double(2) == 4, f"double(2) should be 4, got {ns.double(2)}"

mlkit.check("q9")  # a learner's call: skipped when tests are collected
'''
HIDDEN = """
@test("q9", points=2)
def doubles_negatives(ns):
    assert ns.double(-3) == -6, "double(-3) should be -6"
"""


@pytest.fixture
def kernel_registry(monkeypatch):
    fresh = TestRegistry()
    monkeypatch.setattr(registry, "_KERNEL_REGISTRY", fresh)
    token = registry._registry.set(fresh)
    yield fresh
    registry._registry.reset(token)


@pytest.fixture
def learner_names(monkeypatch):
    names = {}
    monkeypatch.setattr("mlkit.grading.selfcheck.user_namespace", lambda: names)
    return names


def test_collect_tests_defines_tests_without_running_top_level_calls():
    collected = collect_tests([(4, CELL, HIDDEN)], "demo.ipynb")
    tests = collected.for_question("q9")
    assert [(t.name, t.points, t.hidden, t.hint) for t in tests] == [
        ("doubles", 1, False, "Double it."),
        ("doubles_negatives", 2, True, None),
    ]
    assert tests[0].description == "double(2) is 4"
    assert tests[1].description == "doubles negatives"


def test_collect_tests_names_the_cell_of_broken_test_code():
    with pytest.raises(AuthoringError, match="cell 3: test code raised ImportError"):
        collect_tests([(3, "from mlkit import no_such_module", "")], "demo.ipynb")


def test_scores_add_the_points_of_passing_tests():
    tests = collect_tests([(0, CELL, HIDDEN)]).for_question("q9")
    half_right = LocalNamespace({"double": lambda x: 4 if x == 2 else 0})
    score = score_question("q9", tests, half_right)
    assert (score.points, score.max_points, score.passed) == (1, 3, False)
    assert "double(-3) should be -6" in score.message


def test_check_prints_pass(kernel_registry, learner_names, capsys):
    exec(compile(registry.definitions_only(CELL), "<cell>", "exec"), {})
    learner_names["double"] = lambda x: 2 * x
    assert mlkit.check("q9") is True
    assert "q9 PASS: 1 of 1 checks passed." in capsys.readouterr().out


def test_check_prints_fail_with_message_and_hint(kernel_registry, learner_names, capsys):
    test("q9", hint="Double it.")(lambda ns: None)  # re-registering by name replaces
    exec(compile(registry.definitions_only(CELL), "<cell>", "exec"), {})
    learner_names["double"] = lambda x: x
    assert check("q9") is False
    out = capsys.readouterr().out
    assert "q9 FAIL" in out and "double(2) should be 4, got 2" in out and "hint: Double it." in out


def test_check_of_an_unanswered_question_says_so(kernel_registry, learner_names, capsys):
    exec(compile(registry.definitions_only(CELL), "<cell>", "exec"), {})
    assert check("q9") is False
    assert "`double` is not defined in your notebook" in capsys.readouterr().out


def test_check_names_bad_arguments(kernel_registry):
    with pytest.raises(UnknownQuestionError, match="no self-check for question 'q7'"):
        check("q7")
    with pytest.raises(TypeError, match="expected a question id such as 'q1', got 7"):
        check(7)
    with pytest.raises(ValueError, match=r"test\(points=...\): expected a number >= 0"):
        test("q1", points=-1)
