"""Grade one submission, start to finish (runs in a worker process of `mlkit grade`).

read and normalise the notebook -> start its sandbox -> execute with papermill and run
the hidden tests (mlkit.grading.execute) -> save the executed notebook and the record.
A submission is the unit of work: independent of every other one, so that it can run in
any worker, or on another machine of a cluster. `grade_submission` grades and writes
nothing; a worker of the local pool saves what it returns (`grade_task`), a cluster
worker sends it back to the instructor's process, which saves it (mlkit.grading.cluster).
"""

from __future__ import annotations

import logging
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from mlkit.grading.assignment import Assignment, cell_role, read_assignment
from mlkit.grading.atomic import write_atomic
from mlkit.grading.exceptions import UnreadableNotebookError
from mlkit.grading.execute import GradingSession
from mlkit.grading.judge import load_tests, preload_imports
from mlkit.grading.limits import GradingLimits
from mlkit.grading.names import file_stem
from mlkit.grading.normalise import normalise, read_submission
from mlkit.grading.records import save_record
from mlkit.grading.results import FATAL_EVENTS, SubmissionResult, status_of, summary_of
from mlkit.grading.sandbox import JobDir, Sandbox, make_sandbox
from mlkit.grading.scoring import cannot_run

MAX_WRITTEN_CHARS = 10_000
LOCAL_WORKER = "local"  # results.json's `worker` of a submission graded by the local pool


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to grade one submission (plain, picklable data)."""

    learner: str
    path: str | None
    problem: str | None
    assignment: str
    out: str
    jobs: str
    sandbox: str
    limits: dict[str, Any]
    fingerprint: str
    problem_status: str = "missing"  # the status when path is None: missing or unreadable


_interrupted = False
_busy = False
_running: Sandbox | None = None  # the sandbox of the submission being graded


def start_worker() -> None:
    """Set up a worker process: after a Ctrl-C it grades nothing more it was queued."""
    signal.signal(signal.SIGINT, _on_interrupt)
    sys.unraisablehook = _unraisable


def _on_interrupt(signum: int, frame: Any) -> None:
    """Stop the submission being graded, and say nothing: the grader says it was interrupted.

    A running notebook is stopped by killing its sandbox: nbclient then ends as it does
    when a kernel dies, and _grade raises KeyboardInterrupt instead of saving a result.
    An exception raised into nbclient's event loop instead would leave asyncio tasks that
    end later with the kernel and print "Task exception was never retrieved".
    """
    global _interrupted
    _interrupted = True
    logging.getLogger("asyncio").disabled = True
    if _running is not None and _running.running():
        _running.kill()
    elif _busy:  # no kernel yet: stop where the submission's grading is
        raise KeyboardInterrupt


def _unraisable(hook: Any) -> None:
    """Print unraisable exceptions as Python does, except an interrupt caught in a finalizer."""
    if _interrupted and issubclass(hook.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(hook)


def grade_task(task: Task) -> dict[str, Any]:
    """Grade task's submission, save its record, return the result as plain data."""
    result, executed = grade_submission(task)
    result.worker = LOCAL_WORKER
    save_graded(Path(task.out), result, executed)
    return result.to_dict()


def grade_submission(task: Task) -> tuple[SubmissionResult, str | None]:
    """Grade task's submission; return its result and the executed notebook (JSON text,
    None when nothing ran). Nothing is written to task.out: the caller saves both."""
    global _busy
    _busy = True  # from here on, an interrupt stops this submission
    try:
        if _interrupted:
            raise KeyboardInterrupt("the grading run was interrupted")
        start = time.monotonic()
        assignment = read_assignment(Path(task.assignment))
        executed = None
        try:
            result, executed = _grade(task, assignment, GradingLimits(**task.limits))
        except Exception as err:  # the grader failed, not the learner: grade again next run
            if _interrupted:  # no: the interrupt killed the kernel while it started
                raise KeyboardInterrupt("the grading run was interrupted") from None
            detail = "".join(traceback.format_exception_only(err)).strip()
            result = not_graded(task, assignment, "grader-error", f"the grader failed: {detail}")
    finally:
        _busy = False
    result.seconds = round(time.monotonic() - start, 2)
    result.fingerprint = task.fingerprint
    return result, executed


def save_graded(out: Path, result: SubmissionResult, executed: str | None) -> None:
    """Save result's executed notebook (if any) and its record under out, atomically."""
    if executed is not None:
        write_atomic(out / "executed" / f"{file_stem(result.learner)}.ipynb", executed)
    save_record(out, result)


def _grade(
    task: Task, assignment: Assignment, limits: GradingLimits
) -> tuple[SubmissionResult, str | None]:
    global _running
    if task.path is None:
        if task.problem_status == "missing":
            reason = f"no notebook to grade ({task.problem})"
            return not_graded(task, assignment, "missing", reason), None
        return not_graded(task, assignment, task.problem_status, str(task.problem)), None
    try:
        nb = normalise(read_submission(Path(task.path)))
    except UnreadableNotebookError as err:
        return not_graded(task, assignment, "unreadable", f"the file is {err.reason}"), None
    registry = load_tests(assignment)
    preload_imports(assignment)
    job = JobDir.create(Path(task.jobs), task.learner)
    sandbox = make_sandbox(task.sandbox, limits, job)
    session = GradingSession(assignment, registry, sandbox, limits)
    _running = sandbox
    try:
        executed = session.execute(nb)
    finally:
        _running = None
        sandbox.cleanup()
    if _interrupted:  # its kernel was killed by the interrupt: nothing to save
        raise KeyboardInterrupt("the grading run was interrupted")
    run = session.run
    status = status_of(run.events)
    summary = summary_of(status, run.events)
    fatal = [e["detail"] for e in run.events if e["kind"] in FATAL_EVENTS]
    questions = {}
    for question in assignment.questions.values():
        if question.manual:
            questions[question.id] = _manual_entry(question.id, question.points)
        elif question.id in run.scores:
            questions[question.id] = run.scores[question.id].to_dict()
        else:
            reason = fatal[-1] if fatal else "the notebook did not run to its end"
            questions[question.id] = cannot_run(question.id, question.points, reason).to_dict()
    graded = SubmissionResult(
        learner=task.learner,
        submission=task.path,
        status=status,
        summary=_without_job_paths(summary, job),
        questions=_without_job_paths(questions, job),
        events=_without_job_paths(run.events, job),
        written=_written_answers(nb, assignment),
        sandbox=task.sandbox,
        isolation=sandbox.isolation,
    )
    return graded, nbformat.writes(executed)


def not_graded(task: Task, assignment: Assignment, status: str, reason: str) -> SubmissionResult:
    """The result of a submission that could not run: each auto-graded question scores 0."""
    questions = {
        q.id: _manual_entry(q.id, q.points)
        if q.manual
        else cannot_run(q.id, q.points, reason).to_dict()
        for q in assignment.questions.values()
    }
    return SubmissionResult(
        learner=task.learner,
        submission=task.path or "",
        status=status,
        summary=f"Not graded: {reason}.",
        questions=questions,
        sandbox=task.sandbox,
        reason=reason,
    )


def _without_job_paths(value: Any, job: JobDir) -> Any:
    """value with the job's folders left out of its texts: paths in the working folder become
    relative (what the notebook itself would write), the rest are named, not spelled out."""
    if isinstance(value, str):
        for folder, shown in ((job.work, ""), (job.path, "grading-job"), (job.ipc, "kernel")):
            value = value.replace(f"{folder}/", f"{shown}/" if shown else "")
            value = value.replace(str(folder), shown or ".")
        return value
    if isinstance(value, dict):
        return {key: _without_job_paths(item, job) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_job_paths(item, job) for item in value]
    return value


def _manual_entry(question: str, points: float) -> dict[str, Any]:
    return {
        "question": question,
        "points": None,
        "max_points": points,
        "passed": None,
        "message": "graded by hand: pending",
        "seconds": 0.0,
        "tests": [],
    }


def _written_answers(nb: nbformat.NotebookNode, assignment: Assignment) -> dict[str, str]:
    answers = {}
    for question in assignment.questions.values():
        if question.manual:
            cells = [c for c in nb.cells if (cell_role(c) or {}).get("question") == question.id]
            answers[question.id] = cells[0].source.strip()[:MAX_WRITTEN_CHARS] if cells else ""
    return answers
