"""The replica service as a container image, built once and reused (module 05).

`replica_image(service)` builds the folder that `write_replica_service` wrote into a bento
(`service.py`, `api_guard.py` and the pinned packages of its `bentofile.yaml`; never a
model) and containerizes it as `churn-replica:<hash>`. The hash covers what goes into the
image: those files, the base image (name and id) and BentoML's version. When an image
with that tag exists it is used as it is, so a second run starts containers at once;
change the service, a pin or the base image and the next call builds a new one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from importlib.metadata import version
from pathlib import Path

from mlkit._runtime.docker import docker, require_docker
from mlkit.containers import BASE_IMAGE_ENV, build_bento, containerize, delete_bento
from mlkit.scaling.service import BENTOFILE, GUARD_FILE, SERVICE_FILE, ReplicaService
from mlkit.settings import scratch_dir

__all__ = ["IMAGE_NAME", "image_tag", "replica_image"]

IMAGE_NAME = "churn-replica"
_IMAGE_FILES = (SERVICE_FILE, GUARD_FILE, BENTOFILE)


def _service_folder(service: ReplicaService | str | os.PathLike[str]) -> Path:
    if isinstance(service, ReplicaService):
        folder = service.service_file.parent
    elif isinstance(service, str | os.PathLike):
        folder = Path(service).expanduser().resolve()
    else:
        raise TypeError(
            f"service: got {type(service).__name__}, expected the ReplicaService that "
            "write_replica_service returns, or the folder it wrote."
        )
    missing = [name for name in _IMAGE_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"service: '{folder}' has no {', '.join(missing)}. Expected the folder "
            "mlkit.scaling.write_replica_service(folder) wrote."
        )
    return folder


def image_tag(
    service: ReplicaService | str | os.PathLike[str], base_image: str | None = None
) -> str:
    """The tag `replica_image` gives the image of `service` on `base_image` (default
    `$MLKIT_BASE_IMAGE`): `churn-replica:<first 12 hex digits of the content hash>`."""
    folder = _service_folder(service)
    base = base_image or os.environ.get(BASE_IMAGE_ENV) or ""
    digest = hashlib.sha256()
    for name in _IMAGE_FILES:
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
    digest.update(f"{base}\0{_image_id(base)}\0bentoml=={version('bentoml')}".encode())
    return f"{IMAGE_NAME}:{digest.hexdigest()[:12]}"


def _image_id(image: str) -> str:
    """The id of a local image, or "" when there is none (or no Docker to ask)."""
    if not image:
        return ""
    try:
        result = docker("image", "inspect", "--format", "{{.Id}}", image)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def replica_image(
    service: ReplicaService | str | os.PathLike[str],
    *,
    base_image: str | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    timeout: float = 1800.0,
) -> str:
    """The tag of the container image of the replica service, built when missing.

    `service` is what `write_replica_service` returned (or its folder); `base_image`
    defaults to `$MLKIT_BASE_IMAGE`, else BentoML's default. The bento is deleted from
    the store once the image is built; build logs go to `log_dir` (default
    `<scratch>/bentos`). Raises `DockerUnavailableError` without an engine and
    `BuildError` with the end of the build log. Run the image with
    `ReplicaSet(..., image=tag)` or `serve_replicas(..., runtime="container")`.
    """
    folder = _service_folder(service)
    require_docker("container replicas need a Docker engine")
    tag = image_tag(folder, base_image)
    if docker("image", "inspect", tag).returncode == 0:
        return tag
    logs = Path(log_dir) if log_dir is not None else scratch_dir("bentos")
    bento = build_bento(folder, base_image=base_image, log_dir=logs)
    try:
        containerize(bento, image_tag=tag, timeout=timeout, log_dir=logs)
    finally:
        delete_bento(bento)
    return tag
