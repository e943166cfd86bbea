"""Per-learner records in the output folder: what makes an interrupted run resumable.

Each finished submission is saved, atomically, as `records/<learner>.json` together with
a fingerprint of everything its grade depends on (the submitted file, the solution with
its tests, the limits and the sandbox). A later run skips a learner whose record has the
same fingerprint, unless forced; grader errors, submissions whose cluster workers were
lost (GRADED_AGAIN), and records that are not a valid result, are always graded again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mlkit.grading.atomic import write_json_atomic
from mlkit.grading.names import file_stem
from mlkit.grading.results import GRADED_AGAIN, SubmissionResult
from mlkit.grading.submissions import open_submission

GRADER_VERSION = "2"
MAX_RECORD_BYTES = 8 * 2**20  # a real record is well under 1 MB


def fingerprint(
    submission: Path | None, assignment: str, settings: dict[str, Any], problem: str = ""
) -> str:
    """A hash of the submitted bytes (or of why there are none), the assignment and settings.

    Raises UnreadableNotebookError when submission is not a regular file that can be read.
    """
    digest = hashlib.sha256(GRADER_VERSION.encode())
    if submission is None:
        digest.update(b"<missing>" + problem.encode(errors="surrogateescape"))
    else:
        with open_submission(submission) as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())  # type: ignore[arg-type]
    digest.update(assignment.encode())
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()


def record_path(out: Path, learner: str) -> Path:
    """Where learner's record lives under out."""
    return Path(out) / "records" / f"{file_stem(learner)}.json"


def save_record(out: Path, result: SubmissionResult) -> None:
    """Write result's record atomically."""
    write_json_atomic(record_path(out, result.learner), result.to_dict())


def reusable_record(out: Path, learner: str, expected: str) -> SubmissionResult | None:
    """learner's saved result when its fingerprint is expected and its status is not one
    that is GRADED_AGAIN.

    A record that is too large, not JSON or not a result (truncated, forged, edited) is
    no record: the learner is graded again.
    """
    path = record_path(out, learner)
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            return None
        result = SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError):
        return None
    if result.learner != learner or result.fingerprint != expected:
        return None
    return None if result.status in GRADED_AGAIN else result
