"""A pytest plugin for every collected item, course notebooks included: tests/conftest.py
registers it (a conftest's own hooks see only the items under its folder).

- A course notebook that nbval ran with every cell passing is saved as an executed copy
  (mlkit.site.save_executed_copy): the course site publishes those outputs, so CI
  executes each course notebook once.
- Tests marked `site` run last, after the course notebooks of the same session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkit.settings import repo_root

COURSE_DIR = repo_root() / "course"

_failed_notebooks: set[Path] = set()


def _course_notebook_cell(item: pytest.Item) -> Path | None:
    """The course notebook an nbval cell item belongs to, or None for any other item."""
    if not (hasattr(item, "cell") and hasattr(item, "test_outputs")):
        return None
    path = Path(str(item.path)).resolve()
    return path if path.parent == COURSE_DIR and path.suffix == ".ipynb" else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests marked `site` after everything else (after the course notebooks)."""
    items[:] = [i for i in items if i.get_closest_marker("site") is None] + [
        i for i in items if i.get_closest_marker("site") is not None
    ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    """Keep each course cell's outputs in the notebook nbval read; note a failed notebook."""
    report = yield
    notebook = _course_notebook_cell(item)
    if notebook is not None:
        if report.failed:
            _failed_notebooks.add(notebook)
        if call.when == "call":
            item.cell.outputs = list(item.test_outputs or [])  # type: ignore[attr-defined]
    return report


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a course notebook's last cell, save its executed copy if every cell passed."""
    notebook = _course_notebook_cell(item)
    if notebook is None or (nextitem is not None and nextitem.parent is item.parent):
        return
    if notebook in _failed_notebooks:
        return
    from mlkit.site import save_executed_copy

    save_executed_copy(item.parent.nb, notebook)  # type: ignore[attr-defined]
