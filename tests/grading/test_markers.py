"""Region markers: split, replace, and clear errors for unbalanced markers."""

import pytest

from mlkit.grading.markers import HIDDEN_TESTS, SOLUTION, has_region, replace_regions, split_regions

SOURCE = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nf(1)"


def test_replace_keeps_the_indent_of_the_begin_marker():
    out = replace_regions(SOURCE, SOLUTION, lambda indent: [f"{indent}pass"])
    assert out == "def f(x):\n    pass\n\nf(1)"


def test_split_reports_inside_and_outside_parts():
    parts = split_regions(SOURCE, SOLUTION)
    assert [(inside, lines) for inside, lines, _ in parts] == [
        (False, ["def f(x):"]),
        (True, ["    return 2 * x"]),
        (False, ["", "f(1)"]),
    ]


def test_has_region_looks_for_either_marker():
    assert has_region(SOURCE, SOLUTION)
    assert not has_region(SOURCE, HIDDEN_TESTS)


@pytest.mark.parametrize(
    "source, problem",
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside an open region"),
    ],
)
def test_unbalanced_markers_are_named(source, problem):
    with pytest.raises(ValueError, match=problem):
        split_regions(source, SOLUTION)
