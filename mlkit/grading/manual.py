"""Hand-graded (written) questions: `manual_grades.csv` in the output folder.

Every run (re)writes the file with a row per learner and written question, keeping the
points and comments an instructor has typed in and refreshing the learner's answer
text. Blank points mean "pending": the gradebook shows `pending` and leaves the question
out of the total until a person grades it; rerunning `mlkit grade` (which reuses every
finished submission) then folds the points in. A learner whose notebook is missing or
unreadable has no answer to grade, so no row (their written questions score 0); rows
typed for a learner the run did not see are kept if anything was typed in them.
Learners are named as in the gradebook (mlkit.grading.names.display_name).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from mlkit.grading.assignment import Assignment
from mlkit.grading.atomic import write_atomic
from mlkit.grading.exceptions import ManualGradesError
from mlkit.grading.names import display_name
from mlkit.grading.results import SubmissionResult

MANUAL_FILE = "manual_grades.csv"
NOTHING_TO_GRADE = ("missing", "unreadable")  # statuses with no notebook to read answers from
COLUMNS = ("learner", "question", "max", "points", "comment", "answer")


@dataclass(frozen=True)
class ManualGrade:
    """A person's grade of one written answer: points (None while pending) and a comment."""

    points: float | None
    comment: str


def update_manual_grades(
    out: Path, assignment: Assignment, results: dict[str, SubmissionResult]
) -> dict[tuple[str, str], ManualGrade]:
    """Merge manual_grades.csv with the learners graded; return the grades entered so far."""
    manual = [q for q in assignment.questions.values() if q.manual]
    if not manual:
        return {}
    path = Path(out) / MANUAL_FILE
    entered = _read(path)
    grades: dict[tuple[str, str], ManualGrade] = {}
    rows = []
    for learner, result in sorted(results.items(), key=lambda item: display_name(item[0])):
        if result.status in NOTHING_TO_GRADE:
            continue
        shown = display_name(learner)
        for question in manual:
            points_text, comment = entered.pop((shown, question.id), ("", ""))
            where = f"{MANUAL_FILE} ({shown}, {question.id})"
            points = _points(points_text, question.points, where)
            grades[(learner, question.id)] = ManualGrade(points, comment)
            answer = result.written.get(question.id, "")
            rows.append([shown, question.id, f"{question.points:g}", points_text, comment, answer])
    for (shown, question_id), (points_text, comment) in sorted(entered.items()):
        if points_text or comment:  # keep what was typed
            rows.append([shown, question_id, "", points_text, comment, ""])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())
    return grades


def _read(path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"learner", "question", "points"} - set(reader.fieldnames or [])
        if missing:
            raise ManualGradesError(
                f"{path}: missing column(s) {sorted(missing)}; expected {', '.join(COLUMNS)}"
            )
        return {
            (row["learner"], row["question"]): (
                (row.get("points") or "").strip(),
                row.get("comment") or "",
            )
            for row in reader
        }


def _points(text: str, maximum: float, where: str) -> float | None:
    if not text:
        return None
    try:
        points = float(text)
    except ValueError:
        raise ManualGradesError(f"{where}: points must be a number, got {text!r}") from None
    if not 0 <= points <= maximum:
        raise ManualGradesError(f"{where}: points must be between 0 and {maximum:g}, got {text}")
    return points
