"""The output cap, path by path: what a run counts as it streams, and the executed copy."""

import base64

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mlkit.grading.execute import message_size
from mlkit.grading.transforms.limit_output import NOTE_KEY, limit_output, written_size

CAP = 64 * 1024
BIG = 4 * CAP


@pytest.mark.parametrize(
    "content",
    [
        {"name": "stdout", "text": "x" * BIG},
        {"data": {"image/png": base64.b64encode(b"\0" * BIG).decode()}, "metadata": {}},
        {"data": {"text/html": ["<p>", "x" * BIG]}, "metadata": {}},
        {"data": {"text/plain": "small"}, "metadata": {"junk": ["x" * 1000] * (BIG // 1000)}},
        {"data": {"application/json": {"k": "x" * BIG}}, "metadata": {}, "execution_count": 1},
        {"ename": "E", "evalue": "x" * BIG, "traceback": []},
        {"ename": "E", "evalue": "v", "traceback": ["x" * 1000] * (BIG // 1000)},
        {"data": {"text/plain": "y" * BIG}, "metadata": {}, "transient": {"display_id": "d"}},
    ],
    ids=[
        "stream",
        "image",
        "html-lines",
        "display-metadata",
        "json-result",
        "error-value",
        "traceback",
        "display-update",
    ],
)
def test_every_kind_of_output_counts_its_whole_content(content):
    assert message_size({"content": content}) >= BIG


def notebook(*cells, **metadata):
    nb = new_notebook(cells=list(cells), metadata=metadata)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    for number, cell in enumerate(nb.cells):
        cell.id = f"cell-{number}"
    return nb


def code(source="x = 1", *outputs, **metadata):
    return new_code_cell(source, outputs=list(outputs), metadata=metadata, execution_count=1)


def stream(text):
    return new_output("stream", name="stdout", text=text)


def written(nb):
    return len(nbformat.writes(nb).encode("utf-8"))


def limited(nb):
    nb, cut = limit_output(nb, CAP)
    assert written(nb) <= CAP
    nbformat.validate(nb)
    return nb, cut


def test_a_notebook_within_the_cap_is_left_alone():
    nb = notebook(code("print(1)", stream("1\n")), new_markdown_cell("text"))
    before = nbformat.writes(nb)
    after, cut = limit_output(nb, CAP)
    assert cut == [] and nbformat.writes(after) == before


@pytest.mark.parametrize(
    "output",
    [
        stream("x" * BIG),
        stream("\n" * BIG),  # as lines, each newline takes several bytes in the file
        new_output("display_data", data={"image/png": "A" * BIG}),
        new_output("display_data", data={"text/html": "<p>" * BIG}),
        new_output("display_data", data={"text/plain": "s"}, metadata={"junk": "m" * BIG}),
        new_output("execute_result", data={"text/plain": "r" * BIG}, execution_count=1),
        new_output("error", ename="E", evalue="v", traceback=["t" * 100] * (BIG // 100)),
    ],
    ids=["stream", "newlines", "image", "html", "display-metadata", "result", "traceback"],
)
def test_outputs_past_the_cap_become_a_note(output):
    nb, cut = limited(notebook(code("first", stream("kept\n")), code("second", output)))
    assert nb.cells[0].outputs == [stream("kept\n")]
    assert nb.cells[1].outputs[-1].text == "[mlkit grade: output past 64 KB dropped]\n"
    assert cut == ["outputs from cell 2 on"]


def test_later_outputs_go_with_the_first_that_does_not_fit():
    nb, cut = limited(notebook(code("a", stream("x" * BIG)), code("b", stream("small\n"))))
    assert nb.cells[1].outputs == [] and "dropped" in nb.cells[0].outputs[-1].text


def test_cell_metadata_and_attachments_past_the_cap_become_notes():
    picture = new_markdown_cell("![p](attachment:p.png)")
    picture.attachments = {"p.png": {"image/png": "A" * BIG}}
    nb, cut = limited(notebook(code(junk=["m" * 100] * (BIG // 100), mlkit={"q": 1}), picture))
    assert nb.cells[0].metadata == {NOTE_KEY: nb.cells[0].metadata[NOTE_KEY]}
    assert "metadata dropped" in nb.cells[0].metadata[NOTE_KEY]
    assert (
        "attachments" not in nb.cells[1] and "attachments dropped" in nb.cells[1].metadata[NOTE_KEY]
    )
    assert cut == ["metadata of cell 1", "attachments of cell 2"]


def test_notebook_metadata_and_widget_state_past_the_cap_are_dropped_but_the_kernelspec_stays():
    state = {"application/vnd.jupyter.widget-state+json": {"state": {"w": {"junk": "w" * BIG}}}}
    nb, cut = limited(notebook(code(), widgets=state, junk="j" * BIG, author="me"))
    assert set(nb.metadata) == {"kernelspec", "author", NOTE_KEY}
    assert cut == ["notebook metadata (2 entries)"]


def test_cells_past_half_the_cap_become_one_note_and_outputs_still_fit():
    nb = notebook(
        code("print(1)", stream("1\n")), *[new_markdown_cell("n" * 200) for _ in range(2000)]
    )
    nb, cut = limited(nb)
    assert nb.cells[0].outputs == [stream("1\n")]
    assert nb.cells[-1].source.startswith("[mlkit grade: cells ")
    assert cut == [f"cells {len(nb.cells)} to 2001"]


def test_a_huge_source_is_cut_with_its_cell():
    nb, cut = limited(notebook(code("kept"), code("x = '" + "\\n" * BIG + "'")))
    assert nb.cells[0].source == "kept" and cut == ["cells 2 to 2"]


def test_the_size_estimate_is_never_below_what_nbformat_writes():
    picture = new_markdown_cell("line\n" * 50)
    picture.attachments = {"p.png": {"image/png": "A\nB\n" * 50}}
    nb = notebook(
        code("a\nb\n", stream("é\n" * 100), junk={"deep": [{"x": "y\n"}] * 20}),
        code("c", new_output("error", ename="E", evalue="ü", traceback=["t\n"] * 30)),
        picture,
        note="m\n" * 40,
    )
    assert written_size(nb, 0) >= written(nb)


def test_thousands_of_small_cells_with_outputs_stay_within_the_cap():
    cells = [code(f"print({n})", stream(f"{n} " + "x" * 100 + "\n")) for n in range(4000)]
    nb = notebook(*cells, language_info={"name": "python", "junk": "j" * BIG})
    nb, cut = limit_output(nb, 4 * CAP)
    assert written(nb) <= 4 * CAP
    assert nb.cells[0].outputs == [stream("0 " + "x" * 100 + "\n")]
    assert "language_info" not in nb.metadata
    assert [part.split(" ")[0] for part in cut] == ["cells", "outputs", "notebook"]
