"""The docker sandbox: one container per submission, `--network none`, capped and read-only.

The container runs the course base image (MLKIT_BASE_IMAGE, default
mlkit-base:bookworm, Debian like the host) with the host's Python installation, virtual
environment and mlkit package bind-mounted read-only, so no image has to be built per
course. Its root filesystem is read-only; only the working folder and /tmp (both tmpfs)
are writable, plus the kernel's socket folder until the kernel is up. The job folder
(connection file, log) is mounted read-only. Memory, CPUs and processes are capped by
the engine; every capability is dropped and no process can gain privileges.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from mlkit._runtime.docker import docker, require_docker
from mlkit.grading.exceptions import SandboxUnavailableError
from mlkit.grading.limits import GradingLimits
from mlkit.grading.sandbox import JobDir, Sandbox
from mlkit.grading.sandbox.process import python_paths

IMAGE_ENV = "MLKIT_BASE_IMAGE"
DEFAULT_IMAGE = "mlkit-base:bookworm"
RUN_LABEL = "mlkit.grading.run"


def image() -> str:
    """The image grading containers run (MLKIT_BASE_IMAGE, else mlkit-base:bookworm)."""
    return os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE


def remove_containers(run: str) -> None:
    """Remove every container a grading run left (they carry its label)."""
    found = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--filter", f"label={RUN_LABEL}={run}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = found.stdout.split()
    if names:
        subprocess.run(["docker", "rm", "--force", *names], capture_output=True, timeout=120)


def check_docker() -> None:
    """Raise SandboxUnavailableError unless an engine answers and the image exists."""
    require_docker(
        "--sandbox docker needs a Docker engine",
        "Start one (in this kit: .ci/start-dockerd.sh) or use --sandbox process.",
        SandboxUnavailableError,
    )
    found = docker("image", "inspect", image())
    if found.returncode != 0:
        raise SandboxUnavailableError(
            f"--sandbox docker runs the image {image()!r}, which this engine does not have. "
            f"Build it with .ci/build-base-image.sh, or set {IMAGE_ENV} to a Debian bookworm "
            "image with python3."
        )


class DockerSandbox(Sandbox):
    """Runs the kernel in a locked-down container of the course base image."""

    kind = "docker"

    def __init__(self, limits: GradingLimits, job: JobDir) -> None:
        super().__init__(limits, job, separate_user=True)
        self.name = f"mlkit-grade-{uuid.uuid4().hex[:12]}"

    @property
    def isolation(self) -> str:
        return f"docker container from {image()}: --network none, read-only root, no capabilities"

    def command(self) -> list[str]:
        limits = self.limits
        size = f"size={limits.disk_mb}m"
        owner = f"uid={self.uid},gid={self.gid}"
        argv = [
            "docker", "run", "--name", self.name, "--interactive=false",
            "--network", "none",
            "--memory", f"{limits.memory_mb}m", "--memory-swap", f"{limits.memory_mb}m",
            "--cpus", f"{limits.cpus:g}", "--pids-limit", str(limits.max_processes),
            "--ulimit", f"fsize={limits.disk_mb * 2**20}", "--ulimit", "core=0",
            "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", f"{self.uid}:{self.gid}",
            "--tmpfs", f"/tmp:rw,nosuid,nodev,{size},mode=1777",  # noqa: S108 (private tmpfs)
            "--tmpfs", f"{self.job.work}:rw,nosuid,nodev,{size},{owner},mode=700",
            "--volume", f"{self.job.path}:{self.job.path}:ro",
            "--volume", f"{self.job.ipc}:{self.job.ipc}:rw",
            "--workdir", str(self.job.work),
            "--hostname", "mlkit-grading", "--log-driver", "none",
            "--label", f"{RUN_LABEL}={self.job.path.parent.name}",
        ]  # fmt: skip
        readonly = python_paths()
        under_root = [Path(p).relative_to("/root") for p in readonly if p.startswith("/root/")]
        if under_root:  # the image's /root is private (0700): stand in a traversable one
            home = self.job.path / "home"
            for relative in under_root:
                (home / relative).mkdir(parents=True, exist_ok=True)
            argv += ["--volume", f"{home}:/root:ro"]
        for path in readonly:
            argv += ["--volume", f"{path}:{path}:ro"]
        for key, value in sorted(self.kernel_env().items()):
            argv += ["--env", f"{key}={value}"]
        return [*argv, image(), *self.kernel_argv()]

    def kill(self) -> None:
        subprocess.run(["docker", "kill", self.name], capture_output=True, timeout=60)

    def diagnose(self) -> str | None:
        state = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.OOMKilled}}", self.name],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if state.stdout.strip() == "true":
            return f"killed for using more than {self.limits.memory_mb} MB of memory"
        return None

    def cleanup(self) -> None:
        subprocess.run(["docker", "rm", "--force", self.name], capture_output=True, timeout=60)
        self.job.remove()
