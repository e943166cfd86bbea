"""Reading and normalising submissions: any nbformat, broken files, learner-set tags."""

import json

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

from mlkit.grading.exceptions import UnreadableNotebookError
from mlkit.grading.normalise import normalise, read_submission
from mlkit.grading.transforms.set_kernelspec import GRADING_KERNEL_NAME
from mlkit.settings import repo_root

SOLUTION = repo_root() / "solutions" / "00_welcome.ipynb"


def test_a_v3_notebook_is_read_as_v4_with_its_cells_and_metadata(tmp_path):
    v3 = tmp_path / "old.ipynb"
    v3.write_text(nbformat.writes(nbformat.convert(nbformat.read(SOLUTION, 4), 3)))
    assert json.loads(v3.read_text())["nbformat"] == 3
    nb = normalise(read_submission(v3))
    assert isinstance(nb, nbformat.NotebookNode) and (nb.nbformat, nb.nbformat_minor) == (4, 5)
    original = nbformat.read(SOLUTION, 4)
    assert [c.source for c in nb.cells] == [c.source for c in original.cells]
    assert [c.metadata.get("mlkit") for c in nb.cells] == [
        c.metadata.get("mlkit") for c in original.cells
    ]


def test_normalise_strips_tags_outputs_and_sets_the_grading_kernel(tmp_path):
    nb = nbformat.read(SOLUTION, 4)
    nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "x", "language": "x"}
    for cell in nb.cells:
        cell.metadata["tags"] = ["raises-exception", "skip-execution", "parameters"]
    nb.cells.append(nbformat.from_dict(dict(nb.cells[1])))  # a duplicate, same id
    nb = normalise(nb)
    assert nb.metadata["kernelspec"]["name"] == GRADING_KERNEL_NAME
    assert all("tags" not in cell.metadata for cell in nb.cells)
    assert len({cell.id for cell in nb.cells}) == len(nb.cells)
    nbformat.validate(nb)


@pytest.mark.parametrize(
    "content, reason",
    [
        ('{"cells": [', "not valid JSON"),
        ("[1, 2]", "not"),
        (
            '{"nbformat": 4, "nbformat_minor": 5, "cells": "x", "metadata": {}}',
            "not a valid notebook",
        ),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        ('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply to read"),
    ],
    ids=["truncated-json", "json-list", "cells-not-a-list", "binary", "deep"],
)
def test_unreadable_files_say_why(tmp_path, content, reason):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UnreadableNotebookError, match=reason):
        read_submission(path)


def test_lone_surrogates_are_replaced_so_the_notebook_can_be_written(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell("answer")], metadata={"note": "x"})
    path = tmp_path / "surrogates.ipynb"
    text = nbformat.writes(nb).replace('"answer"', '"an \\ud800 answer"')
    path.write_text(text.replace('"x"', '"\\udfff"'))
    read = read_submission(path)
    assert read.cells[0].source == "an \ufffd answer" and read.metadata["note"] == "\ufffd"
    nbformat.writes(read).encode("utf-8")
