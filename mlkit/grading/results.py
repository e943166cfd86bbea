"""One submission's result, and how events during its run become a status.

A status names the most serious thing that happened, in STATUS_ORDER:

    grader-error   the grader itself failed (not the learner's doing; rerun grades it again)
    worker-lost    on a cluster, every worker that tried to grade it died (a bounded number
                   of tries); not graded, and graded again by the next run
    unreadable     the file is not a readable notebook: nothing could run
    missing        no notebook for this assignment in the learner's folder
    kernel-died    the kernel stopped before the end (e.g. os._exit): not graded; or
                   while the hidden tests called the learner's code: later tests score 0
    protocol-error the kernel sent the grader messages or replies it could not use
                   (garbage, oversized, malformed, forged): they were ignored, and a test
                   whose answer was refused scores 0; or it went silent on its channel
                   to the grader, and was stopped: not graded
    timeout        the notebook ran past its wall-clock limit (not graded), or a cell
                   ran past its limit and was interrupted (graded: the run went on)
    memory-limit   the kernel ran out of memory: a cell raised MemoryError (graded),
                   or the kernel was killed for it (not graded)
    output-limit   the notebook printed more than the cap; the rest was dropped
    cell-errors    the notebook ran to the end, but some cells raised
    ok             the notebook ran to the end without an error
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUS_ORDER = (
    "grader-error",
    "worker-lost",
    "unreadable",
    "missing",
    "kernel-died",
    "protocol-error",
    "timeout",
    "memory-limit",
    "output-limit",
    "cell-errors",
    "ok",
)
# Statuses that say nothing about the submission: a rerun grades it again.
GRADED_AGAIN = ("grader-error", "worker-lost")
STATUS_OF_EVENT = {
    "kernel-died": "kernel-died",
    "tests-kernel-died": "kernel-died",
    "protocol-error": "protocol-error",
    "channel-broken": "protocol-error",
    "notebook-timeout": "timeout",
    "interrupt-ignored": "timeout",
    "cell-timeout": "timeout",
    "kernel-oom": "memory-limit",
    "output-truncated": "output-limit",
    "cell-error": "cell-errors",
}
# Events after which the kernel was gone: the run did not reach its end.
FATAL_EVENTS = (
    "kernel-died",
    "notebook-timeout",
    "interrupt-ignored",
    "kernel-oom",
    "channel-broken",
)

NONE = type(None)
NUMBER = (int, float)
# The plain data of a result, as saved in records/<learner>.json. A dict with str as its
# key maps names to a shape; any other dict is an object with exactly those fields; a
# list is a list of one shape; a tuple lists the types a value may have.
TEST_SHAPE = {
    "name": str, "description": str, "points": NUMBER, "max_points": NUMBER,
    "passed": bool, "hidden": bool, "message": str, "hint": (str, NONE), "reason": (str, NONE),
}  # fmt: skip
QUESTION_SHAPE = {
    "question": str, "points": (int, float, NONE), "max_points": NUMBER,
    "passed": (bool, NONE), "message": str, "seconds": NUMBER, "tests": [TEST_SHAPE],
}  # fmt: skip
EVENT_SHAPE = {"kind": str, "cell": (int, NONE), "detail": str}
RESULT_SHAPE = {
    "learner": str, "submission": str, "status": str, "summary": str,
    "questions": {str: QUESTION_SHAPE}, "events": [EVENT_SHAPE],
    "written": {str: str}, "sandbox": str, "isolation": str, "seconds": NUMBER,
    "fingerprint": str, "reason": str, "ignored": [str], "worker": str,
}  # fmt: skip


def status_of(events: list[dict[str, Any]]) -> str:
    """The most serious status any event implies ("ok" when there is none)."""
    statuses = {"ok"}
    for event in events:
        status = STATUS_OF_EVENT.get(event["kind"], "ok")
        if event["kind"] == "cell-error" and event["detail"].startswith("MemoryError"):
            status = "memory-limit"
        statuses.add(status)
    return min(statuses, key=STATUS_ORDER.index)


def summary_of(status: str, events: list[dict[str, Any]]) -> str:
    """A sentence for the learner explaining status, naming cells where it helps."""
    fatal = [e["detail"] for e in events if e["kind"] in FATAL_EVENTS]
    if fatal:
        return (
            f"Your notebook did not run to the end: {fatal[-1]}. Nothing could be graded; "
            "make sure it runs top to bottom (Restart Kernel and Run All Cells)."
        )
    details = "; ".join(
        detail + (f" (and {more} more like it)" if more else "")
        for detail, more in _grouped(events)
    )
    cells_by_error: dict[str, list[str]] = {}  # each error named once, with its cells
    for event in events:
        if event["kind"] == "cell-error":
            name = event["detail"].split(":")[0]
            cells_by_error.setdefault(name, []).append(str(event["cell"]))
    parts = ["Your notebook ran to the end."]
    if details:
        parts.append(details[0].upper() + details[1:] + ".")
    if cells_by_error:
        errors = [
            f"{name} in cell{'s' if len(cells) > 1 else ''} {', '.join(cells)}"
            for name, cells in cells_by_error.items()
        ]
        parts.append("Cells that raised an error: " + "; ".join(errors) + ".")
    return " ".join(parts)


def _grouped(events: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(first detail, how many more) of each kind of event but cell errors, in order."""
    groups: dict[str, list[str]] = {}
    for event in events:
        if event["kind"] != "cell-error":
            groups.setdefault(event["kind"], []).append(event["detail"])
    return [(details[0], len(details) - 1) for details in groups.values()]


@dataclass
class SubmissionResult:
    """What the grader found for one learner (manual grades are applied later)."""

    learner: str
    submission: str
    status: str
    summary: str
    questions: dict[str, dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    sandbox: str = ""
    isolation: str = ""
    seconds: float = 0.0
    fingerprint: str = ""
    reason: str = ""  # why nothing could run (missing, unreadable, grader-error), else ""
    ignored: list[str] = field(default_factory=list)  # files found but not graded
    worker: str = ""  # who graded it: "local", or the address of a cluster's worker

    def to_dict(self) -> dict[str, Any]:
        """Plain data (records/<learner>.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> SubmissionResult:
        """The inverse of to_dict; ValueError naming the field when data is not a result."""
        if type(data) is dict and "worker" not in data:  # a record saved before the field
            data = {**data, "worker": ""}
        problem = shape_problem(data, RESULT_SHAPE, "result")
        if problem is None and data["status"] not in STATUS_ORDER:
            problem = f"result.status is not one of {', '.join(STATUS_ORDER)}"
        if problem is not None:
            raise ValueError(f"not a submission result: {problem}")
        return cls(**data)


def shape_problem(value: Any, shape: Any, where: str) -> str | None:
    """Why value (plain data) does not have shape (as in RESULT_SHAPE), or None if it does."""
    if isinstance(shape, list):
        if type(value) is not list:
            return f"{where} is not a list"
        found = (shape_problem(v, shape[0], f"{where}[{i}]") for i, v in enumerate(value))
        return next((problem for problem in found if problem), None)
    if isinstance(shape, dict):
        if type(value) is not dict:
            return f"{where} is not an object"
        if str in shape:
            pairs = [(k, shape[str]) for k in value]
            if not all(type(k) is str for k in value):
                return f"{where} has a key that is not a string"
        elif set(value) != set(shape):
            return f"{where} does not have exactly the fields {', '.join(shape)}"
        else:
            pairs = list(shape.items())
        found = (shape_problem(value[k], sub, f"{where}.{k}") for k, sub in pairs)
        return next((problem for problem in found if problem), None)
    types = shape if isinstance(shape, tuple) else (shape,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        return f"{where} is a {type(value).__name__}"
    return None
