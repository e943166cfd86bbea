"""N replicas of one BentoML service on 127.0.0.1, and the faults one of them can suffer.

Introduced in module 05. A `ReplicaSet` starts each replica with
`mlkit.serving.serve_in_background` (own process group, free port, ready on `/readyz`,
its own log), or, given an `image`, as a container of it (`mlkit.containers.run_container`,
`--network host`; see `mlkit.scaling.runtime`), and can take one away the ways a real
one goes: `stop` (SIGTERM, a planned stop), `kill` (SIGKILL: the process and its
workers vanish mid-request), `hang` (SIGSTOP, or `docker pause`: the replica is still
there and its port still accepts connections, but nothing answers) and `resume`.
`drain` makes a replica's `/readyz` answer 503 (the replica service of
`mlkit.scaling.service` reads its drain file), so a balancer's health check takes it
out while it still answers what it gets.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mlkit._runtime.process import Stoppable
from mlkit.scaling.runtime import ContainerRuntime, ProcessRuntime, ReplicaRuntime, ReplicaServer
from mlkit.settings import scratch_dir

__all__ = ["Replica", "ReplicaSet"]

DRAIN_ENV = "CHURN_DRAIN_FILE"
NAME_ENV = "MLKIT_REPLICA"


@dataclass
class Replica:
    """One replica: its `name`, its running `service` (a `RunningService`, or a
    `RunningContainer` for a set with an image) and its `state` (running, hung, killed,
    stopped). `drain_file`: while it exists, `/readyz` answers 503. `started_at`: when
    it was ready (time.monotonic()). `reaped`: its processes (or container) are cleaned
    up; a killed replica is reaped by the set's `stop_one` or `stop`."""

    name: str
    service: ReplicaServer
    drain_file: Path
    state: str = "running"
    started_at: float = field(default_factory=time.monotonic)
    reaped: bool = False

    @property
    def port(self) -> int:
        """The port it listens on (127.0.0.1)."""
        return self.service.port

    @property
    def url(self) -> str:
        """Its own address, bypassing the balancer."""
        return self.service.url


class ReplicaSet(Stoppable):
    """Replicas of the BentoML service in `service_file`, each started with `env` plus its
    name (`MLKIT_REPLICA`) and drain file (`CHURN_DRAIN_FILE`). With `image` (the service
    built into an image, `mlkit.scaling.replica_image`), each replica is a container of
    it instead of a process. Stop them all with `stop()` or a `with` block."""

    def __init__(
        self,
        service_file: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        timeout: float = 120.0,
        image: str | None = None,
    ) -> None:
        self.service_file = Path(service_file).expanduser().resolve()
        if not self.service_file.is_file():
            raise FileNotFoundError(
                f"service_file: no file at '{self.service_file}'. Expected a BentoML service "
                "file, e.g. mlkit.scaling.write_replica_service(folder).service_file."
            )
        if image is not None and not (isinstance(image, str) and image.strip()):
            raise ValueError(
                f"image: got {image!r}, expected None (processes) or the tag of the service's "
                "image, e.g. mlkit.scaling.replica_image(service)."
            )
        self.env = dict(env or {})
        self.log_dir = Path(log_dir) if log_dir is not None else scratch_dir("replicas")
        self.timeout = timeout
        self.image = image
        self.runtime: ReplicaRuntime = (
            ProcessRuntime(self.service_file, self.log_dir)
            if image is None
            else ContainerRuntime(image, self.log_dir)
        )
        self.replicas: dict[str, Replica] = {}
        self._counter = 0
        self._stop_at_exit()

    def start(self, count: int, env: Mapping[str, str] | None = None) -> list[Replica]:
        """Start `count` new replicas at the same time; return them once all are ready.

        `env` goes on top of the set's own environment for these replicas only (a new
        model version, for a rolling update)."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 16:
            raise ValueError(f"count: got {count!r}, expected a whole number of replicas 1..16.")
        extra = dict(env or {})
        names = [self._next_name() for _ in range(count)]
        with ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(self._start_one, name, extra) for name in names]
            errors = [f.exception() for f in futures]
        started = [f.result() for f in futures if f.exception() is None]
        failed = next((error for error in errors if error is not None), None)
        if failed is not None:
            for replica in started:
                self._end(replica, "stopped")
            raise failed
        return started

    def add(self, env: Mapping[str, str] | None = None) -> Replica:
        """Start one more replica (with `env` on top of the set's) and return it once it is
        ready."""
        return self.start(1, env)[0]

    def _next_name(self) -> str:
        self._counter += 1
        return f"replica-{self._counter}"

    def _start_one(self, name: str, extra: Mapping[str, str]) -> Replica:
        drain_file = self.log_dir / f"{name}.draining"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        drain_file.unlink(missing_ok=True)
        env = {**self.env, **extra, NAME_ENV: name, DRAIN_ENV: str(drain_file)}
        service = self.runtime.start(name, env, drain_file, self.timeout)
        replica = Replica(name, service, drain_file)
        self.replicas[name] = replica
        return replica

    @property
    def ports(self) -> dict[str, int]:
        """Name -> port of every replica started and not stopped or killed (a hung one counts)."""
        return {r.name: r.port for r in self.replicas.values() if r.state in ("running", "hung")}

    def by_port(self, port: int) -> Replica:
        """The live replica listening on `port`."""
        for replica in self.replicas.values():
            if replica.state in ("running", "hung") and replica.port == port:
                return replica
        raise ValueError(f"port: no live replica of this set listens on {port}; {self.ports}.")

    def get(self, name: str) -> Replica:
        """The replica called `name`."""
        if name not in self.replicas:
            raise ValueError(f"name: no replica {name!r}; this set has {sorted(self.replicas)}.")
        return self.replicas[name]

    def kill(self, name: str) -> None:
        """SIGKILL the replica and every process it started (`docker kill --signal KILL` for
        a container): gone at once, mid-request."""
        replica = self._live(name)
        self.runtime.kill(replica.service, hung=replica.state == "hung")
        replica.state = "killed"  # reaped by stop()

    def hang(self, name: str) -> None:
        """SIGSTOP the replica's processes (`docker pause` for a container): alive, port open,
        no answers (resume with `resume`)."""
        replica = self._live(name)
        if replica.state == "hung":
            raise ValueError(f"name: replica {name!r} is hung already.")
        self.runtime.hang(replica.service)
        replica.state = "hung"

    def resume(self, name: str) -> None:
        """SIGCONT a hung replica (`docker unpause`): it answers again (the balancer puts it
        back after `rise`)."""
        replica = self.get(name)
        if replica.state != "hung":
            raise ValueError(f"name: replica {name!r} is {replica.state}, not hung.")
        self.runtime.resume(replica.service)
        replica.state = "running"

    def drain(self, name: str, draining: bool = True) -> None:
        """Make the replica's `/readyz` answer 503 (`draining=False`: 200 again)."""
        replica = self._live(name)
        if draining:
            replica.drain_file.touch()
        else:
            replica.drain_file.unlink(missing_ok=True)

    def stop_one(self, name: str) -> None:
        """Stop one replica the planned way (SIGTERM, then SIGKILL after a grace period; a
        container is removed too)."""
        self._end(self.get(name), "stopped")

    def stop(self) -> None:
        """Stop every replica (a hung one is resumed first so that SIGTERM reaches it)."""
        self._forget_at_exit()
        for replica in list(self.replicas.values()):
            self._end(replica, "stopped")

    def _live(self, name: str) -> Replica:
        replica = self.get(name)
        if replica.state not in ("running", "hung"):
            raise ValueError(f"name: replica {name!r} is {replica.state}; start another one.")
        return replica

    def _end(self, replica: Replica, state: str) -> None:
        if replica.reaped:
            return
        try:
            self.runtime.stop(replica.service, replica.name, hung=replica.state == "hung")
        finally:
            replica.reaped = True
            replica.drain_file.unlink(missing_ok=True)
            if replica.state != "killed":
                replica.state = state

    def __repr__(self) -> str:
        states = ", ".join(f"{r.name} {r.state} :{r.port}" for r in self.replicas.values())
        runs = f"image {self.image}" if self.image else self.service_file.name
        return f"<ReplicaSet {runs}: {states or 'none'}>"
