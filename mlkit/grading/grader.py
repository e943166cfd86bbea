"""`mlkit grade`: grade a folder of submissions in parallel, resumably, into one folder.

    submissions/ -> find_submissions -> one Task per learner -> worker processes
    (mlkit.grading.job.grade_task: normalise -> sandbox -> papermill -> hidden tests)
    -> records/<learner>.json -> gradebook.csv, results.json, feedback/<learner>.html,
       manual_grades.csv, executed/<learner>.ipynb, assignment.json

Everything that can be refused is checked before anything is written: the assignment
and its tests, the submissions folder, and the output folder, which holds the grading
of one assignment only (mlkit.grading.out_folder). A failed run leaves no trace. Every
learner gets a row, whatever their folder or file is called or holds
(mlkit.grading.submissions); file names derived from a learner's name stay short and
distinct (mlkit.grading.names).

Learners whose record matches the current submission, solution, limits and sandbox are
not graded again (unless force=True), so an interrupted run resumes where it stopped.
Every file is written atomically, and the summary files are rewritten from the records
even when the run is interrupted. Introduced in module 00; usable from Python:

    from mlkit.grading import grade
    report = grade("submissions", "00", "grading-out", workers=2)

Worker processes are started with multiprocessing's "spawn", so a script that calls
grade() needs the usual `if __name__ == "__main__":` guard (a notebook does not).

With cluster="tls://host:8786" the same Tasks are graded on a Dask cluster instead of the
local pool (mlkit.grading.cluster); everything else here is the same for both.
"""

from __future__ import annotations

import multiprocessing
import shutil
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from mlkit.grading.assignment import Assignment, find_assignment, read_assignment
from mlkit.grading.atomic import write_atomic, write_json_atomic
from mlkit.grading.exceptions import UnreadableNotebookError
from mlkit.grading.feedback import feedback_html
from mlkit.grading.gradebook import write_gradebook
from mlkit.grading.job import Task, grade_task, not_graded, start_worker
from mlkit.grading.judge import load_tests
from mlkit.grading.limits import GradingLimits
from mlkit.grading.manual import NOTHING_TO_GRADE, ManualGrade, update_manual_grades
from mlkit.grading.names import display_name, file_stem
from mlkit.grading.out_folder import check_out_folder, claim_out_folder
from mlkit.grading.records import fingerprint, reusable_record
from mlkit.grading.results import SubmissionResult
from mlkit.grading.sandbox import check_sandbox
from mlkit.grading.submissions import Submission, find_submissions
from mlkit.settings import scratch_dir, solutions_dir

if TYPE_CHECKING:
    from mlkit.grading.cluster import ClusterRun, ClusterTLS

STOP_GRACE = 20.0
NAME_COLUMN = 24  # widest learner column in the summary; longer names overflow it


@dataclass
class GradeReport:
    """What a grading run produced, and where."""

    out: Path
    assignment: str
    learners: dict[str, dict[str, Any]]
    graded: list[str]
    reused: list[str]
    cluster: str | None = None  # the scheduler's address, when graded on a cluster

    @property
    def gradebook(self) -> Path:
        """gradebook.csv."""
        return self.out / "gradebook.csv"

    @property
    def results_json(self) -> Path:
        """results.json."""
        return self.out / "results.json"

    def summary(self) -> str:
        """A few lines for the terminal: one per learner, then where the files are."""
        width = min(max((len(name) for name in self.learners), default=7), NAME_COLUMN)
        lines = [f"{self.assignment}: graded {len(self.graded)}, reused {len(self.reused)}"]
        for learner, entry in sorted(self.learners.items()):
            notes = [entry["reason"]] if entry["reason"] else []
            if entry["pending"]:
                notes.append(f"pending: {', '.join(entry['pending'])}")
            if entry["ignored"] and not entry["reason"]:
                graded = Path(entry["submission"]).name
                notes.append(f"graded {graded}; ignored {', '.join(entry['ignored'])}")
            note = f"  ({'; '.join(notes)})" if notes else ""
            score = f"{entry['score']:g}/{entry['max']:g}"
            lines.append(f"  {learner:<{width}}  {score:>7}  {entry['status']}{note}")
        lines.append(f"gradebook: {self.gradebook}")
        lines.append(f"results:   {self.results_json}")
        lines.append(f"feedback:  {self.out / 'feedback'}")
        if self.cluster:
            lines.append(f"cluster:   {self.cluster}")
        text = "\n".join(lines)  # a grader error may quote a path that is not UTF-8:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def grade(
    submissions: str | Path,
    assignment: str,
    out: str | Path,
    *,
    workers: int = 1,
    sandbox: str = "process",
    limits: GradingLimits | None = None,
    force: bool = False,
    solutions: str | Path | None = None,
    progress: bool = True,
    cluster: str | None = None,
    tls: ClusterTLS | None = None,
) -> GradeReport:
    """Grade every submission of assignment under submissions into out; see the module doc.

    cluster: a Dask scheduler's address to grade on instead of `workers` local processes;
    tls: its certificates (required unless the address is loopback).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"grade(workers=...): expected a whole number >= 1, got {workers!r}")
    if cluster is not None and workers != 1:
        raise ValueError(
            f"grade(workers={workers}, cluster=...): workers is the local pool's size; on a "
            "cluster each Dask worker grades as many submissions at once as it has threads"
        )
    limits = limits or GradingLimits()
    check_sandbox(sandbox, here=cluster is None)
    spec = read_assignment(find_assignment(Path(solutions or solutions_dir()), assignment))
    out = Path(out)
    check_out_folder(out, spec)
    found = find_submissions(Path(submissions), spec)
    load_tests(spec)  # broken test code fails here, before any submission runs
    settings = {"limits": limits.to_dict(), "sandbox": sandbox}
    results: dict[str, SubmissionResult] = {}
    to_grade: list[tuple[Submission, str]] = []
    for submission in found:
        submission, key = _fingerprinted(submission, spec, settings)
        reused = None if force else reusable_record(out, submission.learner, key)
        if reused is not None:
            results[submission.learner] = reused
        else:
            to_grade.append((submission, key))
    connection = _connect(cluster, spec, sandbox, tls) if cluster is not None else None
    try:
        claim_out_folder(out, spec)  # nothing above wrote a file; from here on the run writes
        jobs = scratch_dir("grading", f"run-{uuid.uuid4().hex[:12]}")  # this run's sandboxes
    except BaseException:
        if connection is not None:
            connection.close()
        raise
    tasks = [
        _task(submission, key, spec, out, jobs, sandbox, limits) for submission, key in to_grade
    ]
    reused_names = sorted(results)
    try:
        if connection is None:
            _run(tasks, results, workers, progress, spec)
        else:
            connection.run(tasks, results, out, progress)
    finally:
        if connection is not None:
            connection.close()
        # On a cluster the sandboxes ran on the workers, which clean up after themselves.
        remove_leftovers(jobs, sandbox if connection is None else "process")
        ignored = {s.learner: list(s.ignored) for s in found}
        for learner, result in results.items():
            result.ignored = ignored.get(learner, [])
        learners = write_summaries(out, spec, results)
    return GradeReport(
        out=out,
        assignment=spec.name,
        learners=learners,
        graded=sorted(display_name(t.learner) for t in tasks),
        reused=sorted(display_name(learner) for learner in reused_names),
        cluster=cluster,
    )


def _connect(cluster: str, spec: Assignment, sandbox: str, tls: ClusterTLS | None) -> ClusterRun:
    """A checked connection to the cluster (ClusterError, before anything is written)."""
    from mlkit.grading.cluster import ClusterRun

    return ClusterRun(cluster, spec, sandbox, tls)


def _fingerprinted(
    submission: Submission, spec: Assignment, settings: dict[str, Any]
) -> tuple[Submission, str]:
    """submission and its fingerprint; a file that cannot be read becomes `unreadable`."""
    if submission.path is not None:
        try:
            return submission, fingerprint(submission.path, spec.fingerprint, settings)
        except UnreadableNotebookError as err:
            problem = f"the file is {err.reason}"
            submission = replace(submission, path=None, problem=problem, status="unreadable")
    why = f"{submission.status}: {submission.problem}"  # a new reason is graded anew
    return submission, fingerprint(None, spec.fingerprint, settings, why)


def _task(
    submission: Submission,
    key: str,
    spec: Assignment,
    out: Path,
    jobs: Path,
    sandbox: str,
    limits: GradingLimits,
) -> Task:
    return Task(
        learner=submission.learner,
        path=str(submission.path) if submission.path else None,
        problem=submission.problem,
        problem_status=submission.status,
        assignment=str(spec.path),
        out=str(out),
        jobs=str(jobs),
        sandbox=sandbox,
        limits=limits.to_dict(),
        fingerprint=key,
    )


def _run(
    tasks: list[Task],
    results: dict[str, SubmissionResult],
    workers: int,
    progress: bool,
    spec: Assignment,
) -> None:
    if not tasks:
        return
    # Fresh interpreters (not forks): nothing the grader started (threads, ZeroMQ
    # contexts, event loops) is shared with a worker.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)), mp_context=context, initializer=start_worker
    )
    futures = {pool.submit(grade_task, task): task for task in tasks}
    try:
        bar = tqdm(
            as_completed(futures), total=len(futures), desc=f"grading {spec.name}",
            unit="notebook", disable=not progress,
        )  # fmt: skip
        for future in bar:
            _collect(futures[future], future, results)
    except BaseException:  # an interrupt: keep every finished submission, stop the rest
        _stop(pool)
        for future, task in futures.items():
            if task.learner not in results and future.done() and not future.cancelled():
                if future.exception() is None:
                    _collect(task, future, results)
        raise
    pool.shutdown(wait=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel queued submissions; give running ones STOP_GRACE s to clean up, then kill."""
    processes = list(pool._processes.values())  # Python 3.11 has no public way to reach them
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()


def remove_leftovers(jobs: Path, sandbox: str) -> None:
    """Remove what killed workers could not: job folders and, for docker, containers."""
    if sandbox == "docker":
        from mlkit.grading.sandbox.docker import remove_containers

        remove_containers(jobs.name)
    shutil.rmtree(jobs, ignore_errors=True)


def _collect(
    task: Task, future: Future[dict[str, Any]], results: dict[str, SubmissionResult]
) -> None:
    try:
        results[task.learner] = SubmissionResult.from_dict(future.result())
    except Exception as err:  # a worker died; the learner is graded again next run
        reason = f"the grader failed: {type(err).__name__}: {err}"
        spec = read_assignment(Path(task.assignment))
        results[task.learner] = not_graded(task, spec, "grader-error", reason)


def write_summaries(
    out: Path, spec: Assignment, results: dict[str, SubmissionResult]
) -> dict[str, dict[str, Any]]:
    """Write gradebook.csv, results.json and feedback pages from results; return the entries."""
    manual = update_manual_grades(out, spec, results)
    learners = {}
    for learner, result in sorted(results.items()):
        entry = _entry(spec, result, manual)
        shown = display_name(learner)
        write_atomic(out / entry["feedback"], feedback_html(spec, shown, entry))
        learners[shown] = entry
    write_gradebook(out / "gradebook.csv", spec, learners)
    write_json_atomic(
        out / "results.json",
        {
            "assignment": spec.name,
            "max": spec.max_points,
            "questions": {q.id: {"max": q.points, "kind": q.kind} for q in spec.questions.values()},
            "learners": learners,
        },
    )
    return learners


def _entry(
    spec: Assignment, result: SubmissionResult, manual: dict[tuple[str, str], ManualGrade]
) -> dict[str, Any]:
    questions = {}
    pending = []
    for question in spec.questions.values():
        found = result.questions[question.id]
        entry = {
            "points": found["points"],
            "max": question.points,
            "passed": found["passed"],
            "message": found["message"],
            "seconds": found["seconds"],
            "tests": found["tests"],
        }
        if question.manual and result.status in NOTHING_TO_GRADE:
            entry["points"], entry["passed"] = 0, False  # no answer to grade by hand
            entry["message"] = f"not graded: {result.reason}"
        elif question.manual:
            grade = manual.get((result.learner, question.id), ManualGrade(None, ""))
            entry["points"] = grade.points
            entry["passed"] = None if grade.points is None else grade.points == question.points
            entry["message"] = grade.comment or (
                "graded by hand: pending" if grade.points is None else "graded by hand"
            )
            if grade.points is None:
                pending.append(question.id)
        questions[question.id] = entry
    return {
        "status": result.status,
        "summary": result.summary,
        "score": sum(q["points"] or 0 for q in questions.values()),
        "max": spec.max_points,
        "pending": pending,
        "questions": questions,
        "events": result.events,
        "submission": display_name(result.submission),
        "ignored": [display_name(name) for name in result.ignored],
        "reason": result.reason,
        "feedback": f"feedback/{file_stem(result.learner)}.html",
        "sandbox": result.sandbox,
        "isolation": result.isolation,
        "seconds": result.seconds,
        "worker": result.worker,
    }
