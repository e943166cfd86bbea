"""How a replica runs: as a process on this machine, or as a Docker container (module 05).

A `ReplicaSet` hands the starting, the faults and the stopping of each replica to one
runtime, so that the balancer, the faults drill, the rolling update and the autoscaler
see the same replicas either way:

| fault  | `ProcessRuntime` (`serve_in_background`) | `ContainerRuntime` (`run_container`) |
|--------|------------------------------------------|--------------------------------------|
| kill   | SIGKILL to the process and its workers   | `docker kill --signal KILL`          |
| hang   | SIGSTOP to each of them                  | `docker pause` (cgroup freezer)      |
| resume | SIGCONT                                  | `docker unpause`                     |
| stop   | SIGTERM, SIGKILL after a grace period    | `docker stop`, then `docker rm`      |

Either way the replica listens on 127.0.0.1 (a container with `--network host`) and
its `/readyz` answers 503 while its drain file exists. A container sees the drain
folder, and the folder of every file its environment names (the model), through
read-only mounts under `/mlkit/host` (host folder `/a/b` at `/mlkit/host/a/b`), and each
such path in its environment is rewritten to the path inside.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, TypeVar

import psutil

from mlkit._runtime.docker import docker
from mlkit.containers import RunningContainer, run_container
from mlkit.serving import RunningService, serve_in_background

__all__ = [
    "MOUNT_ROOT",
    "RUNTIMES",
    "ContainerRuntime",
    "ProcessRuntime",
    "ReplicaRuntime",
    "ReplicaServer",
    "inside_path",
]

RUNTIMES = ("process", "container")
MOUNT_ROOT = "/mlkit/host"  # a container replica sees the host's /a/b at /mlkit/host/a/b
_T = TypeVar("_T")


class ReplicaServer(Protocol):
    """What a running replica offers, as a process (`RunningService`) or a container
    (`RunningContainer`)."""

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    def is_running(self) -> bool: ...

    def family(self) -> list[psutil.Process]: ...


class ReplicaRuntime(Protocol):
    """Starts a replica and applies the faults of `mlkit.scaling.faults` to it."""

    kind: str

    def start(
        self, name: str, env: Mapping[str, str], drain_file: Path, timeout: float
    ) -> ReplicaServer: ...

    def kill(self, server: ReplicaServer, hung: bool) -> None: ...

    def hang(self, server: ReplicaServer) -> None: ...

    def resume(self, server: ReplicaServer) -> None: ...

    def stop(self, server: ReplicaServer, name: str, hung: bool) -> None: ...

    def describe(self, server: ReplicaServer) -> str: ...


class ProcessRuntime:
    """Each replica is `serve_in_background(service_file)`: a process group on this machine,
    its log in `log_dir`."""

    kind = "process"

    def __init__(self, service_file: Path, log_dir: Path) -> None:
        self.service_file = service_file
        self.log_dir = log_dir

    def start(
        self, name: str, env: Mapping[str, str], drain_file: Path, timeout: float
    ) -> RunningService:
        """Serve the service file with `env`; return once `/readyz` answers."""
        return serve_in_background(
            self.service_file, env=dict(env), log_dir=self.log_dir, timeout=timeout
        )

    def kill(self, server: ReplicaServer, hung: bool) -> None:
        """SIGKILL every process of the replica (SIGCONT first when it is stopped)."""
        if hung:
            _signal(server, signal.SIGCONT)
        _signal(server, signal.SIGKILL)

    def hang(self, server: ReplicaServer) -> None:
        """SIGSTOP every process of the replica."""
        _signal(server, signal.SIGSTOP)

    def resume(self, server: ReplicaServer) -> None:
        """SIGCONT every process of the replica."""
        _signal(server, signal.SIGCONT)

    def stop(self, server: ReplicaServer, name: str, hung: bool) -> None:
        """SIGTERM the process group (resumed first when hung), SIGKILL after 5 s."""
        if hung:
            _signal(server, signal.SIGCONT)
        _as(server, RunningService).stop(grace=5.0)

    def describe(self, server: ReplicaServer) -> str:
        """Where to look: the replica's log file."""
        return f"log {_as(server, RunningService).log_path}"


class ContainerRuntime:
    """Each replica is a container of `image` (`run_container`, `--network host`), with
    the drain folder and the folders of the files its environment names mounted read-only
    under `MOUNT_ROOT`. `docker logs` of each is saved to `log_dir/<name>.log` when it
    stops."""

    kind = "container"

    def __init__(self, image: str, log_dir: Path) -> None:
        self.image = image
        self.log_dir = log_dir

    def start(
        self, name: str, env: Mapping[str, str], drain_file: Path, timeout: float
    ) -> RunningContainer:
        """Run the image with `env` (host paths moved inside); return once `/readyz` answers."""
        folders = {drain_file.parent.resolve(), *_folders_of_files(env)}
        mounts: dict[str | os.PathLike[str], str] = {f: inside_path(f) for f in folders}
        inside = {key: _moved(value, folders) for key, value in env.items()}
        return run_container(self.image, env=inside, mounts=mounts, timeout=timeout)

    def kill(self, server: ReplicaServer, hung: bool) -> None:
        """`docker kill --signal KILL` (unpaused first when paused)."""
        container = _as(server, RunningContainer)
        if hung:
            container.unpause()
        container.kill()

    def hang(self, server: ReplicaServer) -> None:
        """`docker pause`."""
        _as(server, RunningContainer).pause()

    def resume(self, server: ReplicaServer) -> None:
        """`docker unpause`."""
        _as(server, RunningContainer).unpause()

    def stop(self, server: ReplicaServer, name: str, hung: bool) -> None:
        """Save `docker logs`, then `docker stop` (unpaused first when paused) and `docker rm`."""
        container = _as(server, RunningContainer)
        try:
            if hung:
                container.unpause()
            if docker("container", "inspect", container.name).returncode == 0:  # not removed yet
                self.log_dir.mkdir(parents=True, exist_ok=True)
                (self.log_dir / f"{name}.log").write_text(container.logs(500) + "\n")
        finally:
            container.stop(grace=5)

    def describe(self, server: ReplicaServer) -> str:
        """Where to look: the container's name (`docker logs NAME`)."""
        return f"container {_as(server, RunningContainer).name}"


def inside_path(path: str | os.PathLike[str]) -> str:
    """Where a container replica sees the host's `path`: under `MOUNT_ROOT`."""
    return MOUNT_ROOT + str(Path(path).resolve())


def _folders_of_files(env: Mapping[str, str]) -> set[Path]:
    """The folders of the files that values of `env` name by absolute path."""
    return {
        Path(value).resolve().parent
        for value in env.values()
        if os.path.isabs(value) and Path(value).is_file()
    }


def _moved(value: str, folders: set[Path]) -> str:
    """`value` as the container sees it: a path inside one of `folders` moves under
    `MOUNT_ROOT`; anything else stays as it is."""
    if not os.path.isabs(value):
        return value
    path = Path(value).resolve()
    return inside_path(path) if any(path.is_relative_to(f) for f in folders) else value


def _as(server: ReplicaServer, kind: type[_T]) -> _T:
    if not isinstance(server, kind):
        raise TypeError(f"server: got {type(server).__name__}, expected a {kind.__name__}.")
    return server


def _signal(server: ReplicaServer, sig: signal.Signals) -> None:
    for proc in server.family():
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
