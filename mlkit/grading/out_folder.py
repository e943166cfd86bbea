"""The output folder of `mlkit grade` holds the grading of one assignment, and says which.

The first run into a folder writes MARKER (`assignment.json`) naming the assignment. A
run for another assignment into the same folder is refused before anything is written,
so that one lab's gradebook, results, feedback and hand grades are never replaced by
another's. A folder graded before the marker existed is recognised by its results.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlkit.grading.assignment import Assignment
from mlkit.grading.atomic import write_json_atomic
from mlkit.grading.exceptions import OutFolderError

MARKER = "assignment.json"
RECORDED_IN = (MARKER, "results.json")


def check_out_folder(out: Path, assignment: Assignment) -> None:
    """Raise OutFolderError unless out is absent, or a folder free for assignment (no writes)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutFolderError(str(out), "is a file, not a folder; pass a folder for the results")
    recorded = recorded_assignment(out)
    if recorded is not None and recorded != assignment.name:
        other = out.with_name(f"{out.name}-{assignment.name[:2]}")
        raise OutFolderError(
            str(out),
            f"holds the grading of assignment {recorded}, not {assignment.name}: grade each "
            f"assignment into a folder of its own (e.g. {other}); nothing was written",
        )


def claim_out_folder(out: Path, assignment: Assignment) -> None:
    """Create out if needed and record that it holds assignment's grading."""
    Path(out).mkdir(parents=True, exist_ok=True)
    write_json_atomic(Path(out) / MARKER, {"assignment": assignment.name})


def recorded_assignment(out: Path) -> str | None:
    """The assignment out holds the grading of, or None when it holds none (or is new)."""
    for name in RECORDED_IN:
        try:
            recorded = json.loads((Path(out) / name).read_text(encoding="utf-8"))["assignment"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(recorded, str):
            return recorded
    return None
