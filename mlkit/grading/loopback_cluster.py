"""A Dask cluster of real processes on 127.0.0.1: `dask scheduler` and `dask worker`.

For trying `mlkit grade --cluster` on one machine (`mlkit cluster local`), for the
grading benchmark's cluster mode (bench/grading.py) and for the cluster tests
(tests/grading/test_grade_cluster.py). Each process is a LoggedProcess with its own log,
on ports from free_port. The scheduler is used once it listens on its port and its own
process owns the port; a worker once the scheduler lists it by name. With `certs` (a
folder written by `mlkit cluster certs`) every connection is TLS with those certificates,
as on a real cluster (README.md, "Grading on a cluster"). Workers run without a nanny, so
that killing a worker's process kills the worker, as when its machine dies.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from distributed import Client

from mlkit._runtime.net import LOCALHOST, free_port, is_listening, owns_port
from mlkit._runtime.process import LoggedProcess
from mlkit.grading.cluster import ClusterTLS
from mlkit.grading.exceptions import ClusterError

START_TIMEOUT = 60.0
START_ATTEMPTS = 3


class ClusterStartError(ClusterError):
    """A scheduler or worker did not come up; carries its log's tail."""


def _tls_options(certs: Path | None, role: str) -> list[str]:
    if certs is None:
        return []
    protocol = ["--protocol", "tls"] if role == "scheduler" else []  # workers follow its address
    files = ["--tls-ca-file", str(certs / "ca.pem"), "--tls-cert", str(certs / f"{role}.pem")]
    return [*protocol, *files, "--tls-key", str(certs / f"{role}-key.pem")]


@dataclass
class LoopbackCluster:
    """A scheduler and named workers on 127.0.0.1; stop() ends them all."""

    folder: Path
    certs: Path | None
    worker_env: dict[str, str] = field(default_factory=dict)  # every worker's, over os.environ
    port: int = 0
    scheduler: LoggedProcess | None = None
    workers: dict[str, LoggedProcess] = field(default_factory=dict)
    _client: Client | None = None

    @property
    def address(self) -> str:
        """The scheduler's address, tls:// with certificates, else tcp://."""
        return f"{'tls' if self.certs else 'tcp'}://{LOCALHOST}:{self.port}"

    @property
    def tls(self) -> ClusterTLS | None:
        """The client's certificates (None without TLS)."""
        return ClusterTLS.from_folder(self.certs) if self.certs else None

    def start_scheduler(self, port: int | None = None) -> None:
        """Start the scheduler (on port, or a free one) and wait until it owns its port."""
        for attempt in range(1, START_ATTEMPTS + 1):
            chosen = port or free_port()
            command = [
                sys.executable, "-m", "dask", "scheduler", "--host", LOCALHOST,
                "--port", str(chosen), "--dashboard-address", f"{LOCALHOST}:{free_port()}",
                *_tls_options(self.certs, "scheduler"),
            ]  # fmt: skip
            process = LoggedProcess(command, self.folder / f"scheduler-{chosen}.log")
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and process.is_running():
                if is_listening(chosen) and owns_port(process.family_pids(), chosen):
                    self.scheduler, self.port = process, chosen
                    return
                time.sleep(0.2)
            process.stop(grace=2.0)
            if attempt == START_ATTEMPTS or port:
                raise ClusterStartError(f"dask scheduler did not start:\n{process.log_tail(30)}")

    def is_running(self) -> bool:
        """True while the scheduler's process runs."""
        return self.scheduler is not None and self.scheduler.is_running()

    def client(self) -> Client:
        """A client of this cluster (one per scheduler, closed by stop())."""
        if self._client is None or self._client.status != "running":
            security = self.tls.security() if self.tls else None
            self._client = Client(self.address, security=security, set_as_default=False)
        return self._client

    def start_workers(
        self,
        *names: str,
        env: Mapping[str, str] | None = None,
        resources: str | None = None,
    ) -> None:
        """Start workers called names (at once) and wait until the scheduler lists them."""
        for name in names:
            command = [
                sys.executable, "-m", "dask", "worker", self.address, "--name", name,
                "--host", LOCALHOST, "--worker-port", str(free_port()), "--nthreads", "1",
                "--no-nanny", "--dashboard-address", f"{LOCALHOST}:{free_port()}",
                *_tls_options(self.certs, "worker"),
            ]  # fmt: skip
            if resources:
                command += ["--resources", resources]
            log = self.folder / f"worker-{name}-{time.monotonic_ns()}.log"
            environment = {**os.environ, **self.worker_env, **(env or {})}
            self.workers[name] = LoggedProcess(command, log, env=environment)
        deadline = time.monotonic() + START_TIMEOUT
        while set(names) - set(self.worker_addresses()):
            dead = [name for name in names if not self.workers[name].is_running()]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(self.workers[name].log_tail(30) for name in dead or names)
                raise ClusterStartError(f"dask worker {', '.join(names)} did not join:\n{logs}")
            time.sleep(0.2)

    def worker_addresses(self) -> dict[str, str]:
        """Worker name -> address, as the scheduler lists them now."""
        workers = self.client().scheduler_info(n_workers=-1)["workers"]
        return {str(info["name"]): address for address, info in workers.items()}

    def kill_worker(self, name: str) -> int:
        """SIGKILL the worker's process, as when its machine dies; return its pid."""
        process = self.workers.pop(name)
        os.kill(process.pid, signal.SIGKILL)
        process.process.wait(timeout=10)
        process.stop(grace=1.0)  # anything it started
        return process.pid

    def stop_worker(self, name: str) -> None:
        """Stop a worker and everything it started, and wait until the scheduler drops it."""
        self.workers.pop(name).stop(grace=5.0)
        deadline = time.monotonic() + 30
        while name in self.worker_addresses() and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop every worker, the client and the scheduler."""
        for name in list(self.workers):
            self.workers.pop(name).stop(grace=5.0)
        if self._client is not None:
            self._client.close(timeout=5)
            self._client = None
        if self.scheduler is not None:
            self.scheduler.stop(grace=5.0)
            self.scheduler = None
