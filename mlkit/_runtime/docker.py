"""The `docker` command line, and whether a Docker engine answers.

Every Docker use in the kit goes through `docker()`: containers, image audits, the
grading sandbox. Serving containers run with `--network host` on 127.0.0.1, grading
sandboxes with `--network none`; the engine runs with `--bridge=none --iptables=false`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

from mlkit.errors import DockerUnavailableError


def docker(
    *args: str, timeout: float = 60.0, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `docker ARGS...` and capture its output as text (no error on a non-zero exit);
    env adds variables to this process's environment (e.g. DOCKER_BUILDKIT=0)."""
    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env else None,
    )


# The class hub sets this in every learner's server (mlkit/hub/config.py).
CLASS_HUB_ENV = "MLKIT_CLASS_HUB"
ON_CLASS_HUB = (
    "this is your server on the class hub, which gives learners no Docker engine (access to "
    "the hub machine's Docker socket would make any learner root there). The grader builds "
    "and runs your image with its own engine; to run this part yourself, open the lab on "
    "your own machine with `make lab` and Docker installed (docs/class-hub.md)"
)


def docker_problem(timeout: float = 15.0) -> str | None:
    """Why no Docker engine can be used here, or None when one answers `docker info`
    (on a class hub learner's server: that the hub gives learners none, and what to do)."""
    if os.environ.get(CLASS_HUB_ENV):
        return ON_CLASS_HUB
    if shutil.which("docker") is None:
        return "the `docker` command is not installed"
    try:
        result = docker("info", "--format", "{{.ServerVersion}}", timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"`docker info` did not answer within {timeout:.0f} s"
    if result.returncode != 0 or not result.stdout.strip():
        said = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine answers `docker info` ({said})"
    return None


def require_docker(
    need: str = "",
    advice: str = "Start a Docker engine (Docker Desktop, or `sudo dockerd`; in this kit "
    "`.ci/start-dockerd.sh`) and try again.",
    error: type[Exception] = DockerUnavailableError,
) -> None:
    """Raise `error` ("NEED: why no engine answers. ADVICE") unless an engine answers."""
    problem = docker_problem()
    if problem is not None:
        raise error(f"{need}: {problem}. {advice}" if need else f"{problem}. {advice}")
