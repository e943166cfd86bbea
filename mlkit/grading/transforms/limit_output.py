"""Keep an executed notebook within a size; what is cut is replaced by a note.

The grader keeps an executed copy of each submission. However much the learner's code
printed or displayed, and whatever the submitted file carried (metadata, attachments,
thousands of cells), that copy is at most `max_bytes` as nbformat writes it. When the
notebook is larger, its parts share that room in this order, keeping first what helps
an instructor most:

1. cells and their sources, from the top, in at most half of the room: the cells that
   do not fit are replaced by one markdown note (the submitted file still has them);
2. each cell's metadata, then its attachments: what does not fit becomes a note in the
   cell's metadata (key NOTE_KEY);
3. outputs, in order: from the first output that does not fit, the rest are replaced
   by one note in that cell;
4. the notebook's metadata, except its kernelspec (the grader's): what does not fit is
   replaced by a note under NOTE_KEY.

Sizes are measured as nbformat writes them (indented, strings split into lines), so a
megabyte of newlines counts for what it takes on disk; each part's size is an upper
bound, so the parts kept never add up to more than the room.
"""

from __future__ import annotations

import json
from typing import Any

import nbformat

NOTE_KEY = "mlkit_grade"
NOTE_ROOM = 4096  # bytes kept free for the notes themselves
CELL_DEPTH, OUTPUT_DEPTH = 2, 4  # how deep cells and outputs sit in the file's JSON


def limit_output(
    nb: nbformat.NotebookNode, max_bytes: int
) -> tuple[nbformat.NotebookNode, list[str]]:
    """nb cut to at most max_bytes as written, and a list of what was cut (empty: nothing)."""
    if len(nbformat.v4.writes(nb).encode("utf-8", "replace")) <= max_bytes:
        return nb, []
    kb = max_bytes // 1024
    base = {"kernelspec": nb.metadata.get("kernelspec", {})}
    budget = _Budget(max_bytes - NOTE_ROOM - written_size({**nb, "cells": [], "metadata": base}, 0))
    sources = _Budget(budget.left // 2)
    cut = _cut_cells(nb, sources, kb)
    budget.left -= sources.spent
    cut += _cut_cell_extras(nb, budget, kb)
    cut += _cut_outputs(nb, budget, kb)
    cut += _cut_notebook_metadata(nb, budget, kb)
    return nb, cut


def dropped_output_note(kb: int) -> nbformat.NotebookNode:
    """The output that stands for output dropped past the kb KB cap."""
    note: nbformat.NotebookNode = nbformat.v4.new_output(
        "stream", name="stderr", text=f"[mlkit grade: output past {kb} KB dropped]\n"
    )
    return note


def written_size(value: Any, depth: int) -> int:
    """Bytes value takes in a notebook file when nested depth levels deep (an upper bound)."""
    text = json.dumps(_as_lines(value), indent=1, ensure_ascii=False, separators=(",", ": "))
    return len(text.encode("utf-8", "replace")) + text.count("\n") * depth + depth + 2


def _as_lines(value: Any) -> Any:
    """value with every string as a list of lines, the way nbformat writes sources and text.

    (nbformat splits only some fields; splitting all of them can only overestimate.)
    """
    if isinstance(value, str):
        return value.splitlines(True)
    if isinstance(value, list):
        return [_as_lines(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_lines(v) for k, v in value.items()}
    return value


class _Budget:
    def __init__(self, left: int) -> None:
        self.left = left
        self.spent = 0

    def take(self, size: int) -> bool:
        """Spend size bytes if that many are left."""
        if size > self.left:
            return False
        self.left -= size
        self.spent += size
        return True


def _cut_cells(nb: nbformat.NotebookNode, budget: _Budget, kb: int) -> list[str]:
    for index, cell in enumerate(nb.cells):
        bare = {k: v for k, v in cell.items() if k not in ("outputs", "metadata", "attachments")}
        if not budget.take(written_size({**bare, "outputs": [], "metadata": {}}, CELL_DEPTH)):
            what = f"cells {index + 1} to {len(nb.cells)}"
            note = nbformat.v4.new_markdown_cell(
                f"[mlkit grade: {what} dropped: the executed copy keeps {kb} KB; "
                "the submitted notebook has them]"
            )
            note.id = "mlkit-grade-dropped-cells"
            nb.cells[index:] = [note]
            return [what]
    return []


def _cut_outputs(nb: nbformat.NotebookNode, budget: _Budget, kb: int) -> list[str]:
    for number, cell in enumerate(nb.cells, 1):
        outputs = cell.get("outputs", [])
        for position, output in enumerate(outputs):
            closing = OUTPUT_DEPTH + 2 if position == 0 else 0  # `[]` becomes `[\n ... ]`
            if not budget.take(written_size(output, OUTPUT_DEPTH) + closing):
                cell.outputs = [*outputs[:position], dropped_output_note(kb)]
                for later in nb.cells[number:]:
                    if later.get("outputs"):
                        later.outputs = []
                return [f"outputs from cell {number} on"]
    return []


def _cut_cell_extras(nb: nbformat.NotebookNode, budget: _Budget, kb: int) -> list[str]:
    dropped: dict[str, list[int]] = {"metadata": [], "attachments": []}
    for number, cell in enumerate(nb.cells, 1):
        lost = []
        for key in dropped:
            if cell.get(key) and not budget.take(written_size({key: cell[key]}, CELL_DEPTH)):
                lost.append(key)
                dropped[key].append(number)
        if not lost:
            continue
        if "attachments" in lost:
            del cell["attachments"]
        if "metadata" in lost:
            cell.metadata = nbformat.NotebookNode()
        note = f"[mlkit grade: {' and '.join(lost)} dropped: the executed copy keeps {kb} KB]"
        if budget.take(written_size({NOTE_KEY: note}, CELL_DEPTH + 1)):
            cell.metadata[NOTE_KEY] = note
    return [f"{key} of {_cells(numbers)}" for key, numbers in dropped.items() if numbers]


def _cut_notebook_metadata(nb: nbformat.NotebookNode, budget: _Budget, kb: int) -> list[str]:
    dropped = 0
    for key in [key for key in nb.metadata if key != "kernelspec"]:
        if not budget.take(written_size({key: nb.metadata[key]}, 1)):
            del nb.metadata[key]
            dropped += 1
    if not dropped:
        return []
    what = f"notebook metadata ({dropped} {'entry' if dropped == 1 else 'entries'})"
    nb.metadata[NOTE_KEY] = f"[mlkit grade: {what} dropped: the executed copy keeps {kb} KB]"
    return [what]


def _cells(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"cell {numbers[0]}"
    return f"{len(numbers)} cells ({numbers[0]} to {numbers[-1]})"
