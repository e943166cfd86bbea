"""Point a submission at the grading kernel, whatever kernel the learner's file names."""

from __future__ import annotations

import nbformat

GRADING_KERNEL_NAME = "mlkit-grading"


def set_grading_kernelspec(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Replace the notebook's kernelspec with the grader's Python kernel."""
    nb.metadata["kernelspec"] = {
        "name": GRADING_KERNEL_NAME,
        "display_name": "Python 3 (mlkit grading)",
        "language": "python",
    }
    return nb
