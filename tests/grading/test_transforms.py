"""Each assign/normalise transform on a three-cell notebook built here."""

import copy

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mlkit.grading.transforms import (
    clear_hidden_tests,
    clear_outputs,
    clear_solutions,
    lock_cells,
    number_cells,
    set_grading_kernelspec,
    strip_execution_tags,
)
from mlkit.grading.transforms.set_kernelspec import GRADING_KERNEL_NAME


def role(question, kind, points=None):
    meta = {"question": question, "kind": kind}
    if points is not None:
        meta["points"] = points
    return {"mlkit": meta}


def three_cells():
    answer = new_code_cell(
        "x = 1\n### BEGIN SOLUTION\ny = x + 1\n### END SOLUTION\nprint(y)",
        metadata=role("q1", "code", 2),
        execution_count=3,
        outputs=[new_output("stream", name="stdout", text="2\n")],
    )
    tests = new_code_cell(
        "@test('q1')\ndef t(ns): pass\n\n### BEGIN HIDDEN TESTS\n@test('q1', points=2)\n"
        "def h(ns): assert ns.y == 2\n### END HIDDEN TESTS\n\nmlkit.check('q1')",
        metadata=role("q1", "tests"),
    )
    written = new_markdown_cell("The model answer.", metadata=role("q2", "written", 1))
    return new_notebook(cells=[answer, tests, written])


def test_clear_solutions_leaves_a_placeholder_naming_the_question():
    nb = clear_solutions(three_cells())
    assert nb.cells[0].source == (
        "x = 1\n# YOUR CODE HERE\n"
        'raise NotImplementedError("Replace this line with your answer to q1.")\nprint(y)'
    )
    assert nb.cells[2].source == "*Your answer here.*"
    assert "BEGIN HIDDEN TESTS" in nb.cells[1].source  # not this transform's job


def test_clear_solutions_replaces_an_unmarked_answer_cell_whole():
    nb = new_notebook(cells=[new_code_cell("y = 2", metadata=role("q1", "code", 1))])
    assert "y = 2" not in clear_solutions(nb).cells[0].source
    assert "NotImplementedError" in nb.cells[0].source


def test_clear_hidden_tests_cuts_regions_and_drops_hidden_cells():
    nb = three_cells()
    nb.cells.append(new_code_cell("secret = 1", metadata=role("q1", "hidden-tests")))
    nb = clear_hidden_tests(nb)
    assert len(nb.cells) == 3
    assert nb.cells[1].source == "@test('q1')\ndef t(ns): pass\n\n\nmlkit.check('q1')"
    assert "h(ns)" not in nbformat.writes(nb)


def test_clear_outputs_empties_outputs_counts_and_run_metadata():
    nb = three_cells()
    nb.cells[0].metadata["execution"] = {"iopub.status.busy": "then"}
    nb.metadata["papermill"] = {"duration": 1}
    nb = clear_outputs(nb)
    assert nb.cells[0].outputs == [] and nb.cells[0].execution_count is None
    assert "execution" not in nb.cells[0].metadata and "papermill" not in nb.metadata
    assert nb.cells[0].metadata["mlkit"]["question"] == "q1"


def test_lock_cells_locks_test_cells_only():
    nb = lock_cells(three_cells())
    assert nb.cells[1].metadata["editable"] is False and nb.cells[1].metadata["deletable"] is False
    assert "editable" not in nb.cells[0].metadata


def test_number_cells_gives_unique_ids_even_to_duplicates():
    nb = three_cells()
    nb.cells.append(copy.deepcopy(nb.cells[0]))
    nb = number_cells(nb)
    assert [c.id for c in nb.cells] == ["cell-0", "cell-1", "cell-2", "cell-3"]
    nbformat.validate(nb)


def test_strip_execution_tags_keeps_other_tags():
    nb = three_cells()
    nb.cells[0].metadata["tags"] = ["raises-exception", "mine"]
    nb.cells[1].metadata["tags"] = ["skip-execution", "parameters", "injected-parameters"]
    nb = strip_execution_tags(nb)
    assert nb.cells[0].metadata["tags"] == ["mine"]
    assert "tags" not in nb.cells[1].metadata


def test_set_grading_kernelspec_overrides_whatever_the_file_names():
    nb = three_cells()
    nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "?", "language": "r"}
    assert set_grading_kernelspec(nb).metadata["kernelspec"]["name"] == GRADING_KERNEL_NAME
