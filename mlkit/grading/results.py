"""One submission's result, and how events during its run become a status.

A status names the most serious thing that happened, in STATUS_ORDER:

    grader-error   the grader itself failed (not the learner's doing; rerun grades it again)
    unreadable     the file is not a readable notebook: nothing could run
    missing        no notebook for this assignment in the learner's folder
    kernel-died    the kernel stopped before the end (e.g. os._exit): not graded; or
                   while the hidden tests called the learner's code: later tests score 0
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
    "unreadable",
    "missing",
    "kernel-died",
    "timeout",
    "memory-limit",
    "output-limit",
    "cell-errors",
    "ok",
)
STATUS_OF_EVENT = {
    "kernel-died": "kernel-died",
    "tests-kernel-died": "kernel-died",
    "notebook-timeout": "timeout",
    "interrupt-ignored": "timeout",
    "cell-timeout": "timeout",
    "kernel-oom": "memory-limit",
    "output-truncated": "output-limit",
    "cell-error": "cell-errors",
}
# Events after which the kernel was gone: the run did not reach its end.
FATAL_EVENTS = ("kernel-died", "notebook-timeout", "interrupt-ignored", "kernel-oom")


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
    details = "; ".join(e["detail"] for e in events if e["kind"] != "cell-error")
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

    def to_dict(self) -> dict[str, Any]:
        """Plain data (records/<learner>.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionResult:
        """The inverse of to_dict."""
        return cls(**data)
