"""Build a bento, turn it into a container image, run it, measure it (module 03).

Docker is optional on a learner's laptop: without an engine (`docker_problem()` says
why), a lesson still builds the bento, shows the Dockerfile BentoML wrote, and says what
it skipped. Every container runs with `--network host` and listens on 127.0.0.1 only.
The base image comes from `MLKIT_BASE_IMAGE` when set (for machines that cannot
pull BentoML's default `python:3.x-slim`; see `.ci/build-base-image.sh`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psutil
import yaml

from mlkit._runtime.docker import docker as _docker
from mlkit._runtime.docker import docker_problem, require_docker
from mlkit._runtime.logs import tail_lines
from mlkit._runtime.net import LOCALHOST, free_port, is_listening, listener_pids, wait_for_http
from mlkit._runtime.process import Stoppable
from mlkit.errors import DockerUnavailableError, LoggedError, ServerStartError
from mlkit.serving import bentoml_env
from mlkit.settings import bentoml_home, scratch_dir

__all__ = [
    "BuildError",
    "BuiltBento",
    "ContainerImage",
    "ContainerStartError",
    "DockerUnavailableError",
    "ProjectRun",
    "RunningContainer",
    "build_bento",
    "build_image",
    "containerize",
    "delete_bento",
    "docker_problem",
    "image_size",
    "project_container",
    "remove_image",
    "run_container",
]

BASE_IMAGE_ENV = "MLKIT_BASE_IMAGE"
_SERVICE_REF = re.compile(r"[\w./-]+(\.py)?:[A-Za-z_]\w*")
_BENTO_TAG_LINE = re.compile(r"__tag__:(\S+)")
# Rich may colour parts of the tag line (it takes "e:a1" in "delivery_time:a1..." for an
# IPv6 address), so colour codes are removed before the tag is read.
_ANSI_CODE = re.compile(r"\x1b\[[0-9;]*m")
_LAYER_LINE = re.compile(r" ---> ([0-9a-f]{12})$", re.MULTILINE)
_MEMORY_USAGE = re.compile(r"([\d.]+)\s*([KMGT]?i?B)\b")
_MEMORY_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_MEMORY_UNITS.update(kB=10**3, KB=10**3, MB=10**6, GB=10**9, TB=10**12)
_START_ATTEMPTS = 3


class BuildError(LoggedError):
    """An image or bento build failed; the message shows its log's end.

    Attributes: `step` ('bentoml build', 'bentoml containerize' or 'docker build'),
    `log_path`, `log_tail`.
    """

    def __init__(self, step: str, detail: str, log_path: Path, log_tail: str) -> None:
        self.step = step
        advice = (
            "Fix the problem the log names (a missing package, a wrong service name, an "
            "unreachable package index or base image), then run the step again."
        )
        super().__init__(f"{step} failed: {detail}", log_tail, log_path, advice)


class ContainerStartError(ServerStartError):
    """A container did not become ready; the message shows the end of `docker logs`.

    Attributes: `image`, `reason`, `log_tail`.
    """

    def __init__(self, image: str, reason: str, log_tail: str) -> None:
        self.image = image
        advice = (
            "Fix the error the log shows (often the service itself: serve it with "
            "mlkit.serving.serve_in_background first), rebuild the image and run it again."
        )
        super().__init__(f"The container of {image}", reason, log_tail, "`docker logs`", advice)


@dataclass(frozen=True)
class BuiltBento:
    """A bento in the kit's BentoML store."""

    tag: str
    path: Path

    @property
    def dockerfile(self) -> Path:
        """The Dockerfile BentoML generated for this bento (what containerize builds)."""
        return self.path / "env" / "docker" / "Dockerfile"


def _build_config(
    service_dir: Path, service: str | None, packages: list[str] | None, base_image: str | None
) -> dict:
    bentofile = service_dir / "bentofile.yaml"
    config = yaml.safe_load(bentofile.read_text()) if bentofile.is_file() else {}
    if service is not None:
        if not _SERVICE_REF.fullmatch(service):
            raise ValueError(
                f"service: got {service!r}, expected 'file.py:ClassName' (e.g. 'service.py:Iris')."
            )
        config["service"] = service
    if "service" not in config:
        raise ValueError(
            f"service: got None and {service_dir} has no bentofile.yaml naming one; "
            "expected 'file.py:ClassName' (e.g. 'service.py:Iris')."
        )
    python = config.setdefault("python", {})
    if packages is not None:
        python["packages"] = list(packages)
    # Pins come from the caller; locking would re-resolve every dependency at build time.
    python.setdefault("lock_packages", False)
    if base_image:
        config.setdefault("docker", {})["base_image"] = base_image
    return config


def build_bento(
    service_dir: str | os.PathLike[str],
    service: str | None = None,
    *,
    packages: list[str] | None = None,
    base_image: str | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> BuiltBento:
    """Build a bento from the service in `service_dir` (`bentoml build`), in the kit's store.

    `service` is 'file.py:ClassName'; `packages` are pinned pip requirements; both
    override a `bentofile.yaml` in `service_dir`, if there is one. The base image is
    `base_image`, else `$MLKIT_BASE_IMAGE`, else BentoML's default. Raises `BuildError`
    with the end of the build log on failure. Introduced in module 03.
    """
    folder = Path(service_dir).expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"service_dir: no folder at '{folder}'. Expected the folder that holds the "
            "service file (and optionally a bentofile.yaml)."
        )
    chosen_base = base_image or os.environ.get(BASE_IMAGE_ENV) or None
    config = _build_config(folder, service, packages, chosen_base)
    work = Path(log_dir) if log_dir is not None else scratch_dir("bentos")
    work.mkdir(parents=True, exist_ok=True)
    # One name per process: builds of same-named folders may run at once (parallel grading).
    stem = f"{folder.name}-{os.getpid()}"
    bentofile = work / f"{stem}.bentofile.yaml"
    bentofile.write_text(yaml.safe_dump(config, sort_keys=False))
    log_path = work / f"{stem}.build.log"
    command = [sys.executable, "-m", "bentoml", "build", str(folder), "-f", str(bentofile)]
    command += ["--output", "tag"]
    with log_path.open("w") as log:
        result = subprocess.run(
            command,
            cwd=folder,
            env=bentoml_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    found = _BENTO_TAG_LINE.search(_ANSI_CODE.sub("", log_path.read_text(errors="replace")))
    if result.returncode != 0 or found is None:
        detail = f"exit code {result.returncode}, config {bentofile}"
        raise BuildError("bentoml build", detail, log_path, tail_lines(log_path, 25))
    tag = found.group(1)
    name, version = tag.split(":")
    return BuiltBento(tag=tag, path=bentoml_home() / "bentos" / name / version)


@dataclass(frozen=True)
class ContainerImage:
    """A container image built from a bento, with its size and build time."""

    tag: str
    size_bytes: int
    build_seconds: float
    log_path: Path

    @property
    def size_mb(self) -> float:
        """Image size in megabytes (10**6 bytes, as `docker images` counts)."""
        return self.size_bytes / 1e6


def image_size(image: str) -> int:
    """Size in bytes of a local image, as `docker image inspect` reports it."""
    result = _docker("image", "inspect", "--format", "{{.Size}}", image)
    if result.returncode != 0:
        raise ValueError(f"image: no local image {image!r} ({result.stderr.strip()}).")
    return int(result.stdout.strip())


def containerize(
    bento: BuiltBento,
    *,
    image_tag: str | None = None,
    timeout: float = 1800.0,
    log_dir: str | os.PathLike[str] | None = None,
) -> ContainerImage:
    """Build the container image of a bento (`bentoml containerize`) and measure it.

    Uses the classic builder (`DOCKER_BUILDKIT=0`) with `--network host`, so the
    build reaches the package index without a Docker bridge. The image tag defaults
    to the bento tag. Raises `DockerUnavailableError` without an engine and
    `BuildError` (with the end of the build log) when the build fails.
    Introduced in module 03.
    """
    if not isinstance(bento, BuiltBento):
        raise TypeError(
            f"bento: got {type(bento).__name__}, expected the BuiltBento that build_bento returns."
        )
    require_docker()
    tag = (image_tag or bento.tag).lower()
    command = [sys.executable, "-m", "bentoml", "containerize", bento.tag, "--backend", "docker"]
    command += ["--image-tag", tag, "--opt", "network=host", "--opt", "force-rm"]
    return _logged_build("bentoml containerize", command, tag, timeout, log_dir)


def build_image(
    context_dir: str | os.PathLike[str],
    tag: str,
    *,
    build_args: dict[str, str] | None = None,
    timeout: float = 1800.0,
    log_dir: str | os.PathLike[str] | None = None,
) -> ContainerImage:
    """Build an image from the hand-written Dockerfile in `context_dir` (`docker build`).

    For images that are not bentos (module 03's ONNX-only edge image); builder,
    measurements and errors as in `containerize`. `build_args` set the Dockerfile's
    `ARG`s. Introduced in module 03.
    """
    folder = Path(context_dir).expanduser().resolve()
    if not (folder / "Dockerfile").is_file():
        raise FileNotFoundError(
            f"context_dir: no Dockerfile in '{folder}'. Expected the folder that holds the "
            "Dockerfile and every file it copies."
        )
    require_docker()
    tag = tag.lower()
    args = [arg for k, v in (build_args or {}).items() for arg in ("--build-arg", f"{k}={v}")]
    command = ["docker", "build", "--network", "host", "--force-rm", "--tag", tag, *args]
    return _logged_build("docker build", [*command, str(folder)], tag, timeout, log_dir)


def _logged_build(
    step: str,
    command: list[str],
    tag: str,
    timeout: float,
    log_dir: str | os.PathLike[str] | None,
) -> ContainerImage:
    """Run an image build with the classic builder, its output in a log file; measure it."""
    folder = Path(log_dir) if log_dir is not None else scratch_dir("bentos")
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{tag.replace(':', '-').replace('/', '-')}.{step.split()[-1]}.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        try:
            result = subprocess.run(
                command,
                env=bentoml_env({"DOCKER_BUILDKIT": "0"}),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
            detail = f"exit code {result.returncode}"
        except subprocess.TimeoutExpired:
            detail = f"no result within {timeout:.0f} s"
    seconds = time.monotonic() - started
    # Judge by the image, not the exit code: bentoml.container.build logs a failed
    # docker build and returns None instead of raising.
    if _docker("image", "inspect", tag).returncode != 0:
        _remove_untagged_layer(log_path.read_text(errors="replace"))
        detail = f"{detail}, and no image {tag!r} was made"
        raise BuildError(step, detail, log_path, tail_lines(log_path, 25))
    return ContainerImage(tag, image_size(tag), seconds, log_path)


def _remove_untagged_layer(build_log: str) -> None:
    """Delete the last layer a failed classic `docker build` committed (its log prints
    ` ---> <id>` per step); tagged images and parent layers are left alone (see
    remove_image)."""
    layers = _LAYER_LINE.findall(build_log)
    if (
        layers
        and _docker("image", "inspect", "--format", "{{len .RepoTags}}", layers[-1]).stdout.strip()
        == "0"
    ):
        _docker("image", "rm", "--no-prune", layers[-1])


def remove_image(image: str) -> None:
    """Delete a local image (no error when it is already gone), but not its parent layers.

    The classic builder shares identical steps between images as untagged parent layers
    (the base image, the pip install of the pinned packages). Pruning them with the image
    would pull them from under a build running at the same time ("failed to get
    destination image ... No such image"), and the next build would redo them; kept, they
    are the build cache.
    """
    _docker("image", "rm", "--force", "--no-prune", image)


def delete_bento(bento: BuiltBento) -> None:
    """Delete a bento from the kit's BentoML store (`bentoml delete`; no error if gone)."""
    command = [sys.executable, "-m", "bentoml", "delete", "--yes", bento.tag]
    subprocess.run(command, env=bentoml_env(), capture_output=True, check=False)


class RunningContainer(Stoppable):
    """A bento container started by `run_container`; stop it with `.stop()` or `with`."""

    def __init__(self, name: str, image: str, port: int) -> None:
        self.name = name
        self.image = image
        self.port = port
        self.cold_start_seconds: float | None = None
        self._stop_at_exit()

    @property
    def url(self) -> str:
        """Base URL of the service in the container, e.g. http://127.0.0.1:41234."""
        return f"http://{LOCALHOST}:{self.port}"

    def is_running(self) -> bool:
        """True while Docker reports the container running."""
        result = _docker("inspect", "--format", "{{.State.Running}}", self.name)
        return result.stdout.strip() == "true"

    def memory_bytes(self) -> int:
        """Memory the container's processes use now, as `docker stats` reports it."""
        result = _docker("stats", "--no-stream", "--format", "{{.MemUsage}}", self.name)
        found = _MEMORY_USAGE.match(result.stdout.strip())
        if result.returncode != 0 or found is None:
            said = (result.stderr or result.stdout).strip() or "no output"
            raise RuntimeError(f"`docker stats` gave no memory use for {self.name} ({said}).")
        return round(float(found.group(1)) * _MEMORY_UNITS[found.group(2)])

    @property
    def pid(self) -> int | None:
        """The host's process id of the container's first process, or None once it exited."""
        found = _docker("inspect", "--format", "{{.State.Pid}}", self.name).stdout.strip()
        return int(found) if found.isdigit() and found != "0" else None

    def family(self) -> list[psutil.Process]:
        """The container's processes as the host sees them (empty once it exited)."""
        pid = self.pid
        if pid is None:
            return []
        try:
            first = psutil.Process(pid)
            return [first, *first.children(recursive=True)]
        except psutil.Error:
            return []

    def kill(self) -> None:
        """`docker kill --signal KILL`: every process of the container ends at once, mid-request."""
        self._run_or_raise("kill", "--signal", "KILL", self.name)

    def pause(self, attempts: int = 5) -> None:
        """`docker pause`: the cgroup freezer stops every process; the port still accepts
        connections (the kernel answers them), nothing else does.

        Under cgroup v1 a busy container may not freeze at once ("unable to freeze":
        runc gives up and thaws it); it is asked again, up to `attempts` times."""
        for attempt in range(1, attempts + 1):
            result = _docker("pause", self.name)
            if result.returncode == 0:
                return
            if "unable to freeze" not in result.stderr or attempt == attempts:
                _docker_failed(["pause", self.name], result)
            time.sleep(0.2)

    def unpause(self) -> None:
        """`docker unpause`: a paused container runs on from where it was frozen."""
        self._run_or_raise("unpause", self.name)

    def _run_or_raise(self, *args: str) -> None:
        result = _docker(*args)
        if result.returncode != 0:
            _docker_failed(list(args), result)

    def logs(self, n: int = 20) -> str:
        """The last n lines of the container's output."""
        result = _docker("logs", "--tail", str(n), self.name)
        return (result.stdout + result.stderr).strip()

    def serves_its_port(self) -> bool:
        """False when a process outside this container holds its port (a lost port race)."""
        listeners = listener_pids(self.port)
        if None in listeners or not listeners:
            return True
        ours = {proc.pid for proc in self.family()}
        return not ours or bool(listeners & ours)

    def stop(self, grace: int = 10) -> None:
        """Stop the container (SIGTERM, SIGKILL after `grace` s) and remove it."""
        self._forget_at_exit()
        _docker("stop", "--time", str(grace), self.name, timeout=grace + 30)
        _docker("rm", "--force", self.name)

    def __repr__(self) -> str:
        return f"<RunningContainer {self.name} of {self.image} at {self.url}>"


def _docker_failed(args: list[str], result: subprocess.CompletedProcess[str]) -> NoReturn:
    said = (result.stderr or result.stdout).strip() or "no output"
    raise RuntimeError(f"`docker {' '.join(args)}` failed: {said}")


def run_container(
    image: str,
    *,
    port: int | None = None,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    mounts: Mapping[str | os.PathLike[str], str] | None = None,
    args: Sequence[str] = (),
    port_variable: str | None = "BENTOML_PORT",
    ready_path: str = "/readyz",
) -> RunningContainer:
    """Run a bento image with `--network host`, serving on 127.0.0.1:`port`, until ready.

    `env` is set inside; `mounts` maps host folders to paths inside, each mounted
    read-only; `args` follow the image name (the command, e.g. SageMaker's `serve`). The
    port is handed over in the variable `port_variable` (Vertex AI's is `AIP_HTTP_PORT`;
    None: the image listens on its own fixed `port`, as SageMaker's 8080). `cold_start_seconds`
    on the result is the time from `docker run` to the first 2xx from `ready_path`. When
    `port` is None and another program takes the free port first, the container starts
    again on another one. Raises `ContainerStartError` with the end of `docker logs` when
    the container exits or is not ready within `timeout` s. Introduced in module 03.
    """
    volumes = _volume_flags(mounts or {})
    if port is None and port_variable is None:
        raise ValueError(
            "port: got None with port_variable=None; an image that picks its own port "
            "needs that port here (e.g. port=8080 for SageMaker's contract)."
        )
    if not ready_path.startswith("/"):
        raise ValueError(f"ready_path: got {ready_path!r}, expected a path such as '/readyz'.")
    require_docker()
    if port is not None and is_listening(port):
        raise ValueError(f"port: {port} is already in use on {LOCALHOST}; pass port=None.")
    for attempt in range(1, _START_ATTEMPTS + 1):
        chosen = port if port is not None else free_port()
        container = _start_container(image, chosen, env, volumes, list(args), port_variable)
        started = time.monotonic()
        ready = wait_for_http(f"{container.url}{ready_path}", timeout, alive=container.is_running)
        owned = container.serves_its_port()
        if ready and owned:
            container.cold_start_seconds = time.monotonic() - started
            return container
        running = container.is_running()
        logs = container.logs(25)
        container.stop(grace=2)
        if port is None and (not owned or "address already in use" in logs.lower()):
            if attempt < _START_ATTEMPTS:
                continue
        if ready:
            reason = f"another program answers on port {container.port}"
        elif running:
            reason = f"{ready_path} did not answer within {timeout:.0f} s"
        else:
            reason = "it exited"
        raise ContainerStartError(image, reason, logs)
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _volume_flags(mounts: Mapping[str | os.PathLike[str], str]) -> list[str]:
    """`--volume HOST:INSIDE:ro` for each mount, after checking both sides."""
    if not isinstance(mounts, Mapping):
        raise TypeError(
            f"mounts: got {type(mounts).__name__}, expected a dict of host folder -> path "
            "inside the container, e.g. {'/srv/models': '/models'}."
        )
    flags = []
    for host, inside in mounts.items():
        folder = Path(host).expanduser().resolve()
        if not folder.is_dir():
            raise FileNotFoundError(f"mounts: no folder at '{folder}' on this machine.")
        if not (isinstance(inside, str) and inside.startswith("/") and ":" not in inside):
            raise ValueError(
                f"mounts[{str(host)!r}]: got {inside!r}, expected an absolute path inside the "
                "container without ':', e.g. '/models'."
            )
        if ":" in str(folder):
            raise ValueError(f"mounts: the host folder '{folder}' has a ':', which Docker refuses.")
        flags += ["--volume", f"{folder}:{inside}:ro"]
    return flags


def _start_container(
    image: str,
    port: int,
    env: dict[str, str] | None,
    volumes: list[str],
    args: list[str],
    port_variable: str | None,
) -> RunningContainer:
    name = f"mlkit-{re.sub(r'[^a-zA-Z0-9_.-]', '-', image)}-{port}"
    settings = {"BENTOML_HOST": LOCALHOST}
    if port_variable is not None:
        settings[port_variable] = str(port)
    settings.update(BENTOML_DO_NOT_TRACK="True", **(env or {}))
    flags = [arg for key, value in settings.items() for arg in ("--env", f"{key}={value}")]
    # --pull never: a missing image is an error here, never a download from a registry.
    run = ["run", "--detach", "--pull", "never", "--name", name, "--network", "host"]
    result = _docker(*run, *volumes, *flags, image, *args)
    if result.returncode != 0:
        _docker("rm", "--force", name)
        raise ContainerStartError(image, "`docker run` failed", result.stderr.strip())
    return RunningContainer(name, image, port)


@dataclass(frozen=True)
class ProjectRun:
    """A project's bento, its image and the container running it (`project_container`)."""

    bento: BuiltBento
    image: ContainerImage
    container: RunningContainer


@contextmanager
def project_container(
    project: str | os.PathLike[str],
    *,
    env: dict[str, str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> Iterator[ProjectRun]:
    """Build a project's bento and image (tag `mlkit-check-<bento>`) and run it with `env`;
    on exit stop the container and delete the image and the bento, also after an error.

    The project needs its `bentofile.yaml`; build logs go to `log_dir` (default
    `<scratch>/bentos`). Needs a Docker engine. The grading checks of labs 03 and 09.
    """
    bento = build_bento(project, log_dir=log_dir)
    try:
        image = containerize(bento, image_tag=f"mlkit-check-{bento.tag}", log_dir=log_dir)
        try:
            with run_container(image.tag, env=env) as running:
                yield ProjectRun(bento, image, running)
        finally:
            remove_image(image.tag)
    finally:
        delete_bento(bento)
