"""Where a submission's kernel runs: a process sandbox (default) or a Docker container.

Both give the kernel a fresh, size-capped working folder, no network, limits on memory,
processes and file size, and a view of the filesystem without solutions/, hidden tests,
other submissions or the grader's output; both are killed as a whole by the grader's
watchdog. `make_sandbox` picks one; `check_sandbox` says early when one cannot run.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mlkit.grading.exceptions import SandboxUnavailableError
from mlkit.grading.limits import GradingLimits
from mlkit.settings import GRADING_ENV, QUICK_ENV, quick_mode

SANDBOX_KINDS = ("process", "docker")


@dataclass(frozen=True)
class JobDir:
    """A submission's private folders on the host.

    `path` (under the grading run's scratch folder) holds the connection file, the kernel's
    log and the mount points of the working folder and the sandbox root; `ipc` holds the
    kernel's unix sockets. It lives in /tmp with a short name because a socket's path may
    not exceed 107 bytes, which a scratch folder deep in a project easily would.
    """

    path: Path
    ipc: Path

    @classmethod
    def create(cls, base: Path, learner: str) -> JobDir:
        """New, empty job folders (world-readable, writable by the grader only)."""
        base.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in learner)[:40]
        path = Path(tempfile.mkdtemp(prefix=f"{safe}-", dir=base))
        ipc = Path(tempfile.mkdtemp(prefix="mlkit-ipc-", dir="/tmp"))
        for folder in (path, ipc):
            folder.chmod(0o755)
        for name in ("work", "root"):
            (path / name).mkdir()
        return cls(path, ipc)

    @property
    def connection_file(self) -> Path:
        """The kernel's connection file (its "ports" are the unix sockets in `ipc`)."""
        return self.path / "kernel.json"

    @property
    def ipc_prefix(self) -> Path:
        """Prefix of the kernel's unix sockets (kernel-1 … kernel-5 in `ipc`)."""
        return self.ipc / "kernel"

    @property
    def work(self) -> Path:
        """The kernel's working folder (a tmpfs inside the sandbox)."""
        return self.path / "work"

    @property
    def log(self) -> Path:
        """What the kernel process itself writes to stdout and stderr."""
        return self.path / "kernel.log"

    def remove(self) -> None:
        """Delete both folders and everything in them."""
        shutil.rmtree(self.path, ignore_errors=True)
        shutil.rmtree(self.ipc, ignore_errors=True)


class Sandbox(ABC):
    """Runs one kernel under the limits; subclasses say how."""

    kind: ClassVar[str]

    def __init__(self, limits: GradingLimits, job: JobDir, *, separate_user: bool) -> None:
        self.limits = limits
        self.job = job
        # A user of its own (root can pick any uid): file permissions and the per-user
        # process limit then keep submissions apart from the grader and from each other.
        self.separate_user = separate_user and os.geteuid() == 0
        self.uid = self.gid = 200_000 + secrets.randbelow(800_000)
        if not self.separate_user:
            self.uid, self.gid = os.getuid(), os.getgid()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    @abstractmethod
    def isolation(self) -> str:
        """How isolated the kernel is, in words, for results.json."""

    @abstractmethod
    def command(self) -> list[str]:
        """The command that starts the kernel (its connection file is in the job folder)."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the kernel and everything it started, now."""

    def kernel_argv(self) -> list[str]:
        """The kernel's own command line, run inside the sandbox."""
        return [sys.executable, "-m", "ipykernel_launcher", "-f", str(self.job.connection_file)]

    def prepare(self) -> None:
        """Hand the connection file and the socket folder to the kernel's user."""
        if self.separate_user:
            os.chown(self.job.connection_file, self.uid, self.gid)
            os.chown(self.job.ipc, self.uid, self.gid)

    def started(self, process: subprocess.Popen[bytes]) -> None:
        """Remember the process that runs the sandbox."""
        self.process = process

    def running(self) -> bool:
        """True while the process that runs the sandbox has not exited."""
        return self.process is not None and self.process.poll() is None

    def seal(self) -> None:
        """Once the kernel is up, take back its connection file and its socket folder."""
        if self.separate_user:
            os.chown(self.job.connection_file, 0, 0)
            os.chown(self.job.ipc, 0, 0)
            self.job.ipc.chmod(0o755)

    def diagnose(self) -> str | None:
        """Why the kernel died, when the sandbox knows (e.g. out of memory), else None."""
        return None

    def cleanup(self) -> None:
        """Kill whatever is left and delete the job folder."""
        self.kill()
        self.job.remove()

    def kernel_env(self) -> dict[str, str]:
        """The kernel's whole environment: nothing leaks in from the grader's."""
        work = str(self.job.work)
        threads = str(max(1, int(self.limits.cpus)))
        env = {
            "HOME": work,
            "TMPDIR": "/tmp",  # noqa: S108 (the sandbox's own private tmpfs)
            "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
            "VIRTUAL_ENV": sys.prefix,
            "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": f"{work}/.config/matplotlib",
            "IPYTHONDIR": f"{work}/.ipython",
            "MLKIT_SCRATCH": f"{work}/.scratch",
            GRADING_ENV: "1",  # mlkit.submit() in the notebook sends nothing
            "BENTOML_HOME": f"{work}/.scratch/bentoml",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "OMP_NUM_THREADS": threads,
            "OPENBLAS_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        }
        if quick_mode():
            env[QUICK_ENV] = "1"
        return env


def check_sandbox(kind: str, here: bool = True) -> None:
    """Raise SandboxUnavailableError (or ValueError for an unknown kind) before grading.

    here=False checks the kind only: the sandboxes run on other machines (a cluster).
    """
    if kind not in SANDBOX_KINDS:
        raise ValueError(f"sandbox: expected one of {SANDBOX_KINDS}, got {kind!r}")
    if kind == "docker" and here:
        from mlkit.grading.sandbox.docker import check_docker

        check_docker()


def make_sandbox(kind: str, limits: GradingLimits, job: JobDir) -> Sandbox:
    """A new sandbox of kind ("process" or "docker") for one job."""
    if kind == "process":
        from mlkit.grading.sandbox.process import ProcessSandbox

        return ProcessSandbox(limits, job)
    if kind == "docker":
        from mlkit.grading.sandbox.docker import DockerSandbox

        return DockerSandbox(limits, job)
    raise SandboxUnavailableError(f"sandbox: expected one of {SANDBOX_KINDS}, got {kind!r}")
