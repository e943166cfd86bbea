"""Drop the cell tags and metadata a learner could use to change how their notebook runs.

`raises-exception` excuses a failing cell, `skip-execution` skips one, and
`parameters` / `injected-parameters` steer papermill. None of them belongs in a
submission: the grader decides how a notebook runs.
"""

from __future__ import annotations

import nbformat

EXECUTION_TAGS = ("raises-exception", "skip-execution", "parameters", "injected-parameters")


def strip_execution_tags(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove EXECUTION_TAGS from every cell (and an emptied `tags` list)."""
    for cell in nb.cells:
        tags = cell.metadata.get("tags")
        if tags is None:
            continue
        kept = [t for t in tags if t not in EXECUTION_TAGS] if isinstance(tags, list) else []
        if kept:
            cell.metadata["tags"] = kept
        else:
            del cell.metadata["tags"]
    return nb
