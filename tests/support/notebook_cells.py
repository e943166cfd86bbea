"""The source a notebook's `%%writefile` cell writes, for tests that serve a course's service."""

from __future__ import annotations

import json
from pathlib import Path

from mlkit.settings import repo_root


def writefile_source(notebook: str, target: str) -> str:
    """The text that `%%writefile <target>` in `notebook` (relative to the project) writes.

    `target` is the cell's first line after `%%writefile `, such as `{workdir}/service.py`.
    Raises AssertionError naming the notebook when no such cell exists.
    """
    path = repo_root() / notebook
    cells = json.loads(Path(path).read_text())["cells"]
    for cell in cells:
        source = "".join(cell["source"])
        first, _, rest = source.partition("\n")
        if cell["cell_type"] == "code" and first.strip() == f"%%writefile {target}":
            return rest if rest.endswith("\n") else rest + "\n"
    raise AssertionError(f"{notebook} has no `%%writefile {target}` cell")
