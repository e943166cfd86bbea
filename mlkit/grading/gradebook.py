"""`gradebook.csv`: a row per learner, a column per question, the total and the status."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from mlkit.grading.assignment import Assignment
from mlkit.grading.atomic import write_atomic

PENDING = "pending"


def write_gradebook(
    path: Path, assignment: Assignment, learners: dict[str, dict[str, Any]]
) -> Path:
    """Write the gradebook for learners (entries as in results.json), atomically."""
    questions = list(assignment.questions)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["learner", *questions, "total", "max", "status", "pending"])
    for learner, entry in sorted(learners.items()):
        cells = [_points(entry["questions"][q]["points"]) for q in questions]
        writer.writerow(
            [
                learner,
                *cells,
                f"{entry['score']:g}",
                f"{entry['max']:g}",
                entry["status"],
                " ".join(entry["pending"]),
            ]
        )
    return write_atomic(path, buffer.getvalue())


def _points(points: float | None) -> str:
    return PENDING if points is None else f"{points:g}"
