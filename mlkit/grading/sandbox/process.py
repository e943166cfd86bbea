"""The process sandbox: Linux namespaces, a private root filesystem, rlimits, its own user.

`setpriv --pdeathsig KILL unshare --mount --net --pid --ipc --uts --fork --kill-child`
starts launch.py, which mounts a root filesystem holding only read-only system folders,
the Python installation and the mlkit package, plus size-capped tmpfs folders; then it
sets rlimits (address space, CPU time, file size, processes), becomes a fresh uid with
no capabilities and execs the kernel. The kernel is pid 1 of its own pid namespace, so
killing it (or the unshare process, through the parent-death signals) ends everything
the submission started.

Without root or util-linux's unshare the sandbox falls back to rlimits and a fresh
working folder, and says so: `isolation` then starts with "reduced".
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import mlkit
from mlkit.grading.limits import GradingLimits
from mlkit.grading.sandbox import JobDir, Sandbox

LAUNCHER = Path(__file__).with_name("launch.py")
SYSTEM_READONLY = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/sys")
NAMESPACES = ("--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child")


@functools.cache
def namespaces_problem() -> str | None:
    """Why the namespace sandbox cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the grader is not running as root"
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"`{tool}` (util-linux) is not installed"
    trial = subprocess.run(
        ["unshare", *NAMESPACES, "--", "true"], capture_output=True, text=True, timeout=30
    )
    if trial.returncode != 0:
        return f"unshare failed: {trial.stderr.strip() or trial.returncode}"
    return None


def python_paths() -> list[str]:
    """Folders the kernel's Python needs: the environment, the interpreter, mlkit."""
    candidates = [sys.prefix, sys.base_prefix, str(Path(mlkit.__file__).resolve().parent)]
    paths: list[str] = []
    for path in sorted(set(candidates), key=len):
        if not any(path == p or path.startswith(p.rstrip("/") + "/") for p in paths):
            paths.append(path)
    return paths


class ProcessSandbox(Sandbox):
    """Runs the kernel under namespaces and rlimits (or rlimits only, reduced)."""

    kind = "process"

    def __init__(self, limits: GradingLimits, job: JobDir, *, namespaces: bool = True) -> None:
        problem = namespaces_problem() if namespaces else "namespaces were turned off"
        self.reduced_because = problem
        super().__init__(limits, job, separate_user=problem is None)

    @property
    def isolation(self) -> str:
        if self.reduced_because is None:
            return "namespaces: private filesystem, no network, own pid space and user"
        return (
            f"reduced ({self.reduced_because}): rlimits and a fresh working folder only; "
            "the notebook could read files this user can read and use the network"
        )

    def kernel_env(self) -> dict[str, str]:
        env = super().kernel_env()
        if self.reduced_because is not None:
            env["TMPDIR"] = str(self.job.work)
        return env

    def command(self) -> list[str]:
        namespaces = self.reduced_because is None
        limits: GradingLimits = self.limits
        rlimits = {
            "RLIMIT_AS": limits.memory_mb * 2**20,
            "RLIMIT_CPU": int(2 * limits.timeout * max(1.0, limits.cpus)) + 60,
            "RLIMIT_FSIZE": limits.disk_mb * 2**20,
            "RLIMIT_CORE": 0,
        }
        if namespaces:  # counted per user, so only meaningful for the sandbox's own uid
            rlimits["RLIMIT_NPROC"] = limits.max_processes
        spec = {
            "mode": "namespaces" if namespaces else "rlimits",
            "root": str(self.job.path / "root"),
            "readonly": [*SYSTEM_READONLY, *python_paths()],
            "job": str(self.job.path),
            "ipc": str(self.job.ipc),
            "work": str(self.job.work),
            "uid": self.uid,
            "gid": self.gid,
            "disk_mb": limits.disk_mb,
            "rlimits": rlimits,
            "argv": self.kernel_argv(),
            "env": self.kernel_env(),
        }
        spec_path = self.job.path / "sandbox.json"
        spec_path.write_text(json.dumps(spec, indent=1))
        launcher = [sys.executable, "-I", "-S", str(LAUNCHER), str(spec_path)]
        if not namespaces:
            return launcher
        return ["setpriv", "--pdeathsig", "KILL", "--", "unshare", *NAMESPACES, "--", *launcher]

    def kill(self) -> None:
        if not self.running():
            return
        assert self.process is not None  # noqa: S101 (types only: running() checked it)
        pid = self.process.pid
        for child in _children(pid):  # the namespace's pid 1: killing it ends the namespace
            _signal(child)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _signal(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
