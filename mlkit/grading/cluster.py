"""`mlkit grade --cluster ADDRESS`: grade each submission as a task on a Dask cluster.

    instructor: submissions -> one Task per learner, as for the local pool
      (mlkit.grading.grader) -> ClusterJob: the Task, the submitted file's bytes and
      the solution notebook's bytes -> client.submit(grade_on_worker, job)
    worker (mlkit.grading.cluster_worker): check its kit against the instructor's ->
      write both files into its own scratch folder -> mlkit.grading.job.grade_submission
      (the local pool's code: same sandbox, same limits) -> the result and the executed
      notebook, as data
    instructor: save the executed notebook and the record (job.save_graded), then
      gradebook.csv, results.json and feedback (grader.write_summaries)

No file system is shared: only the instructor's process writes the output folder, so a
task may run twice (its worker died) without harm, and a rerun grades only what is
missing, as locally. results.json names the worker that graded each learner.

Before anything is written the run is refused, with what to do, when:
- the scheduler is not on loopback and the connection is not TLS with certificates
  (`mlkit cluster certs DIR` makes them; check_address);
- the cluster has no worker, or none with the `docker` resource while the assignment
  needs Docker (notebook metadata mlkit.needs) or the sandbox is docker (and a run whose
  workers all left stops after NO_WORKER_GRACE instead of waiting for ever);
- a worker runs another mlkit (version and a hash of its source) or holds another copy
  of the assignment's tests (KitVersion), or has the `docker` resource but no Docker
  engine that answers (for the docker sandbox: no grading image).
A worker of another kit that joins mid-run refuses the tasks sent to it: the run says so
once, and sends those tasks again to the workers not refused (stopping only when none
is left).

Faults: a worker that dies mid-task has its submissions graded elsewhere; one that every
worker dies on ends, after the scheduler's `distributed.scheduler.allowed-failures` + 1
tries, as `worker-lost` with 0 points (graded again by the next run). A task that raises
is tried RETRIES more times, then is a `grader-error`. When the scheduler goes away the
run stops with ClusterError; finished submissions are saved and the same command resumes.
Ctrl-C cancels the run's tasks and kills the sandboxes of those being graded (stop_run).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import sys
import time
import uuid
from concurrent.futures import CancelledError
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

import mlkit
from mlkit.grading.assignment import Assignment
from mlkit.grading.cluster_worker import (
    ClusterJob,
    KitVersion,
    docker_check,
    grade_on_worker,
    mismatch,
    source_hash,
    stop_run,
    worker_kit,
)
from mlkit.grading.exceptions import ClusterError, UnreadableNotebookError
from mlkit.grading.job import Task, not_graded, save_graded
from mlkit.grading.names import file_stem
from mlkit.grading.normalise import MAX_NOTEBOOK_BYTES
from mlkit.grading.results import SubmissionResult
from mlkit.grading.submissions import open_submission

CONNECT_TIMEOUT = 15.0  # seconds to reach the scheduler
WORKERS_TIMEOUT = 10.0  # seconds to wait for a first worker
RETRIES = 1  # more tries of a task that raised (a worker's disk full, a bug): not a death
PROGRESS_EVERY = 1.0  # seconds between refreshes of the running and worker counts
NO_WORKER_GRACE = 60.0  # seconds a run waits, mid-way, for a worker that can take its tasks
DOCKER = "docker"  # the Dask resource of workers that can run containers


@dataclass(frozen=True)
class ClusterTLS:
    """The files of one side of a TLS connection to the cluster: the CA and a cert pair."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def from_folder(cls, folder: str | Path, role: str = "client") -> ClusterTLS:
        """ca.pem, ROLE.pem and ROLE-key.pem in folder (as `mlkit cluster certs` writes)."""
        folder = Path(folder)
        tls = cls(folder / "ca.pem", folder / f"{role}.pem", folder / f"{role}-key.pem")
        missing = [str(p) for p in (tls.ca, tls.cert, tls.key) if not p.is_file()]
        if missing:
            raise ClusterError(
                f"--certs {folder}: {', '.join(missing)} not found; make the files with "
                f"`mlkit cluster certs {folder}`"
            )
        return tls

    def security(self) -> Any:
        """Dask's Security for a client: mutual TLS, encryption required."""
        from distributed import Security

        return Security(
            tls_ca_file=str(self.ca),
            tls_client_cert=str(self.cert),
            tls_client_key=str(self.key),
            require_encryption=True,
        )

    def options(self, role: str) -> str:
        """The `dask scheduler` / `dask worker` options for role's files beside these."""
        folder = self.ca.parent
        protocol = "--protocol tls " if role == "scheduler" else ""  # workers follow its address
        return (
            f"{protocol}--tls-ca-file {self.ca} --tls-cert {folder / f'{role}.pem'} "
            f"--tls-key {folder / f'{role}-key.pem'}"
        )


def check_address(address: str, tls: ClusterTLS | None) -> None:
    """Refuse (ClusterError) an address that is not loopback unless it is tls:// with certs.

    Nothing is sent anywhere: the address is only read.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        host, _ = parse_host_port(location)
    except (ValueError, TypeError) as err:
        raise ClusterError(
            f"--cluster {address!r}: expected a scheduler address such as "
            f"tls://10.0.0.5:8786 or tcp://127.0.0.1:8786 ({err})"
        ) from None
    if scheme not in ("tcp", "tls"):
        raise ClusterError(f"--cluster {address}: expected a tls:// or tcp:// address")
    if scheme == "tls" and tls is None:
        raise ClusterError(
            f"--cluster {address}: a tls:// scheduler needs certificates: pass --certs DIR "
            "(made by `mlkit cluster certs DIR`)"
        )
    if scheme == "tcp" and tls is not None:
        raise ClusterError(
            f"--cluster {address}: certificates were given but the address is tcp://; "
            f"use tls://{location}"
        )
    if scheme == "tcp" and not _loopback(host):
        raise ClusterError(
            f"--cluster {address}: the scheduler is not on this machine's loopback, and a "
            "grading cluster runs learners' code and carries the hidden tests: connect over "
            f"TLS with certificates, tls://{location} --certs DIR (make them with "
            "`mlkit cluster certs DIR --host HOST`, start the scheduler and the workers with "
            'their --tls-* options; README.md, "Grading on a cluster")'
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: never resolved here, so never taken for loopback


@dataclass
class _Refused(Exception):
    """A task that a worker of another kit refused (grade_on_worker): send it elsewhere."""

    worker: str
    message: str


def cluster_job(
    task: Task, spec: Assignment, expected: KitVersion, raw: bytes, run: str = "run"
) -> ClusterJob:
    """task's ClusterJob: the submitted file's bytes read here, safely (a file that cannot be
    read, or is too large to send, becomes `unreadable` as it would locally)."""
    submission = None
    if task.path is not None:
        path = Path(task.path)
        try:
            with open_submission(path) as handle:
                submission = handle.read(MAX_NOTEBOOK_BYTES + 1)
        except UnreadableNotebookError as err:
            problem = f"the file is {err.reason}"
            task = replace(task, path=None, problem=problem, problem_status="unreadable")
        else:
            if len(submission) > MAX_NOTEBOOK_BYTES:
                size = path.stat().st_size
                problem = (
                    f"the file is too large: {size} bytes, more than the "
                    f"{MAX_NOTEBOOK_BYTES} allowed"
                )
                task = replace(task, path=None, problem=problem, problem_status="unreadable")
                submission = None
    return ClusterJob(task, spec.name, raw, submission, expected, run)


class ClusterRun:
    """A connection to a Dask scheduler that passed every check, ready to grade."""

    def __init__(
        self, address: str, spec: Assignment, sandbox: str, tls: ClusterTLS | None = None
    ) -> None:
        """Connect to address and check the cluster for spec (ClusterError saying why not)."""
        check_address(address, tls)
        from distributed import Client

        self.address = address
        self.spec = spec
        self.tls = tls
        self.sandbox = sandbox
        self.needs_docker = DOCKER in spec.needs or sandbox == "docker"
        self.expected = KitVersion(mlkit.__version__, source_hash(), spec.tests_hash)
        self.refused: dict[str, str] = {}  # worker address -> why its kit was refused
        self.kits: dict[str, KitVersion] = {}  # worker address -> its kit (check_kits)
        try:
            self.client = Client(
                address,
                security=tls.security() if tls else None,
                timeout=CONNECT_TIMEOUT,
                set_as_default=False,
            )
        except (OSError, TimeoutError) as err:
            raise ClusterError(
                f"cannot reach the scheduler at {address} ({type(err).__name__}: {err}); "
                f"start one with `dask scheduler {self._options('scheduler')}`".rstrip()
                + " on the scheduler's machine, or check the address"
            ) from None
        try:
            self._check_workers()
        except BaseException:
            self.close()
            raise

    def _options(self, role: str) -> str:
        return self.tls.options(role) if self.tls else ""

    def worker_command(self, docker: bool = False) -> str:
        """The command that starts a worker for this cluster."""
        parts = ["dask worker", self.address, self._options("worker")]
        if docker:
            parts.append(f"--resources {DOCKER}=1")
        return " ".join(part for part in parts if part)

    def _check_workers(self) -> None:
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
        except TimeoutError:
            raise ClusterError(
                f"the cluster at {self.address} has no worker; start one on each grading "
                f"machine with `{self.worker_command(self.needs_docker)}`"
            ) from None
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        if not any(self._can_take(info) for info in workers.values()):
            why = "its hidden tests build and run images" if DOCKER in self.spec.needs else (
                "--sandbox docker runs each submission in a container"
            )  # fmt: skip
            raise ClusterError(
                f"{self.spec.name} needs a Docker engine on the worker ({why}), but no worker "
                f"of the cluster at {self.address} has the `{DOCKER}` resource; start one on "
                f"a machine with Docker: `{self.worker_command(docker=True)}`"
            )
        if self.needs_docker:
            self._check_docker([a for a, info in workers.items() if self._can_take(info)])
        self.check_kits()

    def _check_docker(self, workers: list[str]) -> None:
        """Refuse the run when a worker with the `docker` resource cannot run containers:
        the hidden tests would fail on it and cost the learners points."""
        found = self.client.run(docker_check, self.sandbox, workers=workers, on_error="return")
        for worker, problem in sorted(found.items()):
            if isinstance(problem, OSError):  # it left the cluster while asked
                continue
            if problem is not None:
                raise ClusterError(
                    f"the worker {worker} has the `{DOCKER}` resource but cannot run "
                    f"containers ({problem}); start a Docker engine on its machine, or restart "
                    f"it without --resources {DOCKER}=N"
                )

    def check_kits(self) -> None:
        """Refuse the run when a worker's mlkit or copy of the assignment differs from ours."""
        found = self.client.run(worker_kit, self.spec.name, on_error="return")
        self.kits = {w: KitVersion(**kit) for w, kit in found.items() if isinstance(kit, dict)}
        for worker, kit in sorted(found.items()):
            if isinstance(kit, OSError):  # it left the cluster while asked: it grades nothing
                continue
            if isinstance(kit, BaseException):
                raise ClusterError(
                    f"the worker {worker} cannot run mlkit's grader ({type(kit).__name__}: "
                    f"{kit}); install mlkit {mlkit.__version__} on it, or stop it"
                )
            theirs = KitVersion(**kit)
            if self.expected.refuses(theirs):
                raise ClusterError(mismatch(worker, self.spec.name, self.expected, theirs))

    def describe(self) -> list[str]:
        """What `mlkit cluster check` prints: the scheduler, each worker (threads, resources,
        kit) and how many can grade this assignment."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        lines = [f"scheduler {self.address}, dashboard {self.dashboard}"]
        for address, info in sorted(workers.items()):
            resources = ", ".join(f"{k}={v:g}" for k, v in info.get("resources", {}).items())
            kit = self.kits.get(address)
            copy = "its own copy of the tests" if kit and kit.tests else "the instructor's tests"
            lines.append(
                f"  worker {info.get('name', '?')} at {address}: {info.get('nthreads', '?')} "
                f"thread(s), resources: {resources or 'none'}; grades with {copy}"
            )
        able = sum(1 for info in workers.values() if self._can_take(info))
        lines.append(
            f"ready to grade {self.spec.name} ({self.expected.describe(self.spec.name)}): "
            f"{able} of {len(workers)} worker(s) can take its submissions"
            + (f" (they need the `{DOCKER}` resource)" if self.needs_docker else "")
        )
        return lines

    @property
    def dashboard(self) -> str:
        """The address of the scheduler's dashboard (its pages need bokeh on the scheduler)."""
        return str(self.client.dashboard_link)

    def run(
        self,
        tasks: list[Task],
        results: dict[str, SubmissionResult],
        out: Path,
        progress: bool,
    ) -> None:
        """Grade tasks on the cluster; save each result under out as it arrives."""
        if not tasks:
            return
        from distributed import as_completed

        if progress:
            print(f"cluster {self.address}, dashboard: {self.dashboard}", file=sys.stderr)
        raw = self.spec.path.read_bytes()
        run = uuid.uuid4().hex[:12]
        resources = {DOCKER: 1} if self.needs_docker else None
        sent = dict.fromkeys((task.learner for task in tasks), 0)  # times each was submitted

        def submit(task: Task) -> Any:
            sent[task.learner] += 1
            again = f"-{sent[task.learner]}" if sent[task.learner] > 1 else ""
            return self.client.submit(
                grade_on_worker,
                cluster_job(task, self.spec, self.expected, raw, run),
                key=f"mlkit-grade-{run}-{file_stem(task.learner)}{again}",
                resources=resources,
                retries=RETRIES,
                pure=False,
                workers=self._trusted() if self.refused else None,
                allow_other_workers=bool(self.refused),  # a new worker may take it too
            )

        futures = {submit(task): task for task in tasks}
        bar = tqdm(
            total=len(futures), desc=f"grading {self.spec.name}", unit="notebook",
            disable=not progress,
        )  # fmt: skip
        counts = {"failed": 0}
        pending = as_completed(futures, loop=self.client.loop)
        try:
            shown, alone_since = 0.0, None  # since when no worker could take the tasks
            while not pending.is_empty():
                batch = pending.next_batch(block=False)
                for future in batch:
                    try:
                        self._collect(futures[future], future, results, out, counts)
                    except _Refused as refusal:
                        self._skip(refusal, bar)
                        task = futures.pop(future)
                        again = submit(task)
                        futures[again] = task
                        pending.add(again)
                        continue
                    bar.update(1)
                now = time.monotonic()
                if (now - shown >= PROGRESS_EVERY or batch) and self.client.status == "running":
                    line, able = self._progress(futures, bar.n, counts)
                    bar.set_postfix_str(line, refresh=True)
                    shown, alone_since = now, None if able else (alone_since or now)
                if alone_since is not None and now - alone_since > NO_WORKER_GRACE:
                    raise ClusterError(self._no_worker(pending.count()))
                if not batch:
                    time.sleep(0.1)
        except BaseException:  # an interrupt, a refusal, a lost scheduler: keep what finished
            if self.client.status == "running":
                self.client.cancel([f for f in futures if not f.done()])
                self.client.run(stop_run, run, self.sandbox, on_error="ignore")
            for future, task in futures.items():
                if task.learner not in results and future.status == "finished":
                    with contextlib.suppress(ClusterError, _Refused):
                        self._collect(task, future, results, out, counts)
            raise
        finally:
            bar.close()

    def _progress(
        self, futures: dict[Any, Task], done: int, counts: dict[str, int]
    ) -> tuple[str, int]:
        """done / running / failed counts and the workers in use, for the progress bar; and
        how many workers could take the run's tasks."""
        mine = {f.key for f in futures}
        running, workers = 0, 0
        for keys in self.client.processing().values():
            ours = sum(1 for key in keys if key in mine)
            running += ours
            workers += ours > 0
        found = self.client.scheduler_info(n_workers=-1)["workers"]
        able = sum(
            1 for address, info in found.items()
            if address not in self.refused and self._can_take(info)
        )  # fmt: skip
        line = (
            f"done {done}, running {running}, failed {counts['failed']}, "
            f"workers in use {workers}/{len(found)}"
        )
        return line, able

    def _skip(self, refusal: _Refused, bar: Any) -> None:
        """Leave out a worker whose kit refused a task (said once); ClusterError when no
        worker that could take the run's tasks is left."""
        if refusal.worker not in self.refused:
            self.refused[refusal.worker] = refusal.message
            bar.write(f"mlkit grade: leaving out a worker: {refusal.message}", file=sys.stderr)
        if not self._trusted():
            raise ClusterError(
                f"{refusal.message} (no other worker of the cluster can take the run's tasks)"
            )

    def _trusted(self) -> list[str]:
        """The workers of the cluster, now, that can take this run's tasks and did not refuse."""
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return [
            address
            for address, info in workers.items()
            if address not in self.refused and self._can_take(info)
        ]

    def _can_take(self, worker: dict[str, Any]) -> bool:
        """True when worker (as in scheduler_info) can take this run's tasks."""
        return not self.needs_docker or worker.get("resources", {}).get(DOCKER, 0) >= 1

    def _no_worker(self, left: int) -> str:
        kind = f"with the `{DOCKER}` resource " if self.needs_docker else ""
        return (
            f"no worker {kind}has been in the cluster at {self.address} for "
            f"{NO_WORKER_GRACE:g} s, so the {left} submissions left cannot be graded: finished "
            f"ones are saved; start a worker (`{self.worker_command(self.needs_docker)}`) and "
            "run the same command again"
        )

    def _collect(
        self,
        task: Task,
        future: Any,
        results: dict[str, SubmissionResult],
        out: Path,
        counts: dict[str, int],
    ) -> None:
        from distributed.scheduler import KilledWorker

        try:
            data = future.result()
        except KilledWorker as err:
            counts["failed"] += 1
            tries = err.allowed_failures + 1
            reason = (
                f"every worker that tried to grade it died while it ran ({tries} tries), so it "
                "was not graded; see the workers' logs (the next run grades it again)"
            )
            results[task.learner] = not_graded(task, self.spec, "worker-lost", reason)
            return
        except CancelledError:
            raise ClusterError(
                f"the scheduler at {self.address} went away (or cancelled the run): finished "
                "submissions are saved; start it again and run the same command to grade the rest"
            ) from None
        except Exception as err:  # the task raised RETRIES + 1 times: graded again next run
            counts["failed"] += 1
            reason = f"the grader failed on the cluster: {type(err).__name__}: {err}"
            results[task.learner] = not_graded(task, self.spec, "grader-error", reason)
            return
        if "refused" in data:
            raise _Refused(str(data["worker"]), str(data["refused"]))
        if "stopped" in data:  # the run was interrupted before this task started
            raise ClusterError(f"the run {data['stopped']} was stopped")
        result = SubmissionResult.from_dict(data["result"])
        result.submission = task.path or ""
        result.worker = str(data["worker"])
        save_graded(out, result, data["executed"])
        results[task.learner] = result

    def close(self) -> None:
        """Close the connection (the cluster keeps running)."""
        # Once the scheduler is gone, the client logs a traceback when its attempts to
        # reconnect are stopped; the run has already said what happened.
        quiet = self.client.status != "running"
        loggers = [logging.getLogger(name) for name in ("distributed.client", "distributed.utils")]
        levels = [logger.level for logger in loggers]
        try:
            if quiet:
                for logger in loggers:
                    logger.setLevel(logging.CRITICAL)
            self.client.close(timeout=5)
        except Exception:  # noqa: S110 (a scheduler that went away cannot be told goodbye)
            pass
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)
