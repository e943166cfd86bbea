"""Graded labs: author in solutions/, self-check in labs/, grade submissions (module 00).

    from mlkit.grading import test          # the decorator test cells use
    mlkit.check("q1")                       # a learner's self-check
    mlkit.grading.assign()                  # labs/ from solutions/   (`mlkit assign`)
    mlkit.grading.grade("submissions", "00", "grading-out", workers=2)   (`mlkit grade`)

The authoring format is in solutions/README.md; how grading works, and why it can be
trusted with hostile notebooks, is in mlkit/grading/grader.py and mlkit/grading/judge.py.
Only the light pieces load eagerly, because learners' kernels import this package.
"""

from __future__ import annotations

from typing import Any

from mlkit.grading.registry import test
from mlkit.grading.selfcheck import check

__all__ = ["test", "check", "assign", "grade", "GradingLimits", "GradeReport"]

_LAZY = {
    "assign": "mlkit.grading.labs",
    "grade": "mlkit.grading.grader",
    "GradeReport": "mlkit.grading.grader",
    "GradingLimits": "mlkit.grading.limits",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlkit.grading' has no attribute {name!r}")
