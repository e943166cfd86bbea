"""What a Dask worker runs for `mlkit grade --cluster` (mlkit.grading.cluster sends it).

grade_on_worker(job): compare this machine's kit (KitVersion: mlkit's version, a hash of
its source, the tests of its own copy of the assignment) with the instructor's and refuse
when they differ; write the submission and the solution notebook it carries into a
scratch folder of its own; grade with mlkit.grading.job.grade_submission, the local
pool's code (same sandbox, same limits); send back the result and the executed notebook.
It writes nothing that outlives the task: its folders are removed when it ends, and those
of a worker killed mid-task on this machine when the next task starts here.

stop_run(run) (through `client.run`, when the instructor presses Ctrl-C) kills the
sandboxes of the run's submissions being graded here, so that their tasks end at once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import threading
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil

import mlkit
from mlkit._runtime.docker import docker_problem
from mlkit.grading.assignment import find_assignment, read_assignment
from mlkit.grading.exceptions import GradingError, UnknownAssignmentError
from mlkit.grading.job import Task, grade_submission
from mlkit.grading.sandbox import check_sandbox
from mlkit.settings import scratch_dir, solutions_dir

STOP_POLL = 0.5  # seconds between a task's checks that its run was stopped
SOURCE_SUFFIXES = (".py", ".json", ".cfg")  # what makes mlkit's source, for its hash
CLUSTER_RUN = "cluster-"  # a worker's scratch folders: cluster-<pid>-<run>-<id>[-inputs]
_stopped: set[str] = set()  # runs stop_run was called for, in this worker process


@dataclass(frozen=True)
class KitVersion:
    """What grades on a machine: mlkit's version, a hash of its source, and a hash of the
    tests of that machine's copy of the assignment (None: it has no copy)."""

    mlkit: str
    source: str
    tests: str | None

    def describe(self, assignment: str) -> str:
        """e.g. `mlkit 0.1.0 (source 1a2b3c4d5e6f), 00_welcome tests 41396ef9d2a0`."""
        tests = f"tests {self.tests[:12]}" if self.tests else "no copy"
        return f"mlkit {self.mlkit} (source {self.source[:12]}), {assignment} {tests}"

    def refuses(self, other: KitVersion) -> bool:
        """True when other (a worker's) grades differently: another mlkit, or its own copy
        of the assignment has other tests."""
        return (other.mlkit, other.source) != (self.mlkit, self.source) or (
            other.tests is not None and other.tests != self.tests
        )


@functools.cache
def source_hash() -> str:
    """sha256 of mlkit's source files here (their paths and bytes), once per process."""
    root = Path(mlkit.__file__).resolve().parent
    digest = hashlib.sha256()
    files = sorted(
        path
        for path in root.rglob("*")
        if path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts and path.is_file()
    )
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def kit_version(assignment: str) -> KitVersion:
    """This machine's KitVersion for assignment (a notebook stem such as 00_welcome)."""
    tests: str | None
    try:
        tests = read_assignment(find_assignment(solutions_dir(), assignment)).tests_hash
    except UnknownAssignmentError:
        tests = None  # no copy here: the instructor's is graded with
    except (GradingError, OSError, ValueError) as err:
        tests = f"unreadable ({type(err).__name__})"  # a copy, broken: not the instructor's
    return KitVersion(mlkit.__version__, source_hash(), tests)


def worker_kit(assignment: str) -> dict[str, str | None]:
    """kit_version as plain data (what `client.run` brings back from each worker)."""
    kit = kit_version(assignment)
    return {"mlkit": kit.mlkit, "source": kit.source, "tests": kit.tests}


def docker_check(sandbox: str) -> str | None:
    """Why this worker cannot run what needs Docker (an engine that answers, and for the
    docker sandbox its image), or None (what `client.run` asks of `docker` workers)."""
    try:
        check_sandbox(sandbox)
    except (GradingError, ValueError) as err:
        return str(err)
    return None if sandbox == "docker" else docker_problem()


def mismatch(worker: str, assignment: str, mine: KitVersion, theirs: KitVersion) -> str:
    """The message that refuses worker's kit, naming both."""
    return (
        f"the worker {worker} runs {theirs.describe(assignment)}, but this grader runs "
        f"{mine.describe(assignment)}: install the same mlkit (and the same solutions/) on "
        "every worker, or stop that worker, then run the command again"
    )


@dataclass(frozen=True)
class ClusterJob:
    """One submission's task on the cluster: the local pool's Task and the files it names."""

    task: Task
    assignment_name: str
    assignment: bytes
    submission: bytes | None
    expected: KitVersion
    run: str = "run"  # the grading run's id: stop_run(run) stops its sandboxes


def grade_on_worker(job: ClusterJob) -> dict[str, Any]:
    """Grade job on this Dask worker, with the local pool's code, into a scratch folder of
    its own; return the result and the executed notebook as data, or why it refused."""
    from distributed import get_worker

    worker = get_worker().address
    mine = kit_version(job.assignment_name)
    if job.expected.refuses(mine):
        refused = mismatch(worker, job.assignment_name, job.expected, mine)
        return {"refused": refused, "worker": worker}
    if job.run in _stopped:
        return {"stopped": job.run}
    remove_stale_folders(job.task.sandbox)
    folder = f"{run_prefix(job.run)}{uuid.uuid4().hex[:12]}"
    inputs = scratch_dir("grading", f"{folder}-inputs")
    jobs = scratch_dir("grading", folder)  # the job folders, as the local pool's run-* ones
    done = threading.Event()
    watch = (job.run, folder, job.task.sandbox, done)
    threading.Thread(target=_stop_when_asked, args=watch, daemon=True).start()
    try:
        assignment = inputs / f"{job.assignment_name}.ipynb"
        assignment.write_bytes(job.assignment)
        path = None
        if job.submission is not None and job.task.path is not None:
            path = inputs / "submission" / Path(job.task.path).name
            path.parent.mkdir()
            path.write_bytes(job.submission)
        task = replace(
            job.task,
            path=None if path is None else str(path),
            assignment=str(assignment),
            out=str(inputs / "out"),  # unused: grade_submission writes nothing there
            jobs=str(jobs),
        )
        result, executed = grade_submission(task)
    finally:
        from mlkit.grading.grader import remove_leftovers

        done.set()
        remove_leftovers(jobs, job.task.sandbox)
        shutil.rmtree(inputs, ignore_errors=True)
    return {"result": result.to_dict(), "executed": executed, "worker": worker}


def run_prefix(run: str) -> str:
    """The start of the names of this worker process's scratch folders for run."""
    return f"{CLUSTER_RUN}{os.getpid()}-{run}-"


def stop_run(run: str, sandbox: str) -> int:
    """Kill the sandboxes of run's submissions being graded by this worker, so that their
    tasks end now, and those of its tasks that start later; return how many processes.

    Runs on each worker (`client.run`) when the instructor interrupts the run.
    """
    _stopped.add(run)
    return _kill_sandboxes(run_prefix(run), sandbox)


def _stop_when_asked(run: str, folder: str, sandbox: str, done: threading.Event) -> None:
    """Until done, kill the sandboxes of folder (a task's) once stop_run(run) was called:
    a task that had just started when it was called then ends as quickly."""
    while not done.wait(STOP_POLL):
        if run in _stopped:
            _kill_sandboxes(folder, sandbox)


def _kill_sandboxes(prefix: str, sandbox: str) -> int:
    """Kill this worker's child processes whose command line names a folder starting with
    prefix (a sandbox names its job folder), and for docker their containers."""
    killed = 0
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(prefix in arg for arg in child.cmdline()):
                child.kill()
                killed += 1
    if sandbox == "docker":
        from mlkit.grading.sandbox.docker import remove_containers

        for folder in scratch_dir("grading").glob(f"{prefix}*"):
            remove_containers(folder.name)
    return killed


def remove_stale_folders(sandbox: str) -> None:
    """Remove what workers killed mid-task on this machine left in the scratch folder (their
    folders name their process, which is gone), and, for docker, their containers."""
    from mlkit.grading.grader import remove_leftovers

    for folder in scratch_dir("grading").glob(f"{CLUSTER_RUN}*"):
        pid = folder.name.removeprefix(CLUSTER_RUN).split("-", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            remove_leftovers(folder, sandbox if not folder.name.endswith("-inputs") else "process")
