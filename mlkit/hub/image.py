"""The learner image of a class hub, built once and reused (`mlkit hub`, the tests).

`learner_image()` builds `deploy/learner-image/Dockerfile` from the project folder (its
context is what `.dockerignore` lets through: the kit's package and what installs it) on
the course base image, and tags it `mlkit-learner:<hash>`. The hash covers the
Dockerfile, pyproject.toml, every file of the mlkit package and the base image's id, so an
image with that tag is used as it is; change the kit and the next call builds again, with
the pinned packages' layer reused unless pyproject.toml changed.

`packages` builds the same Dockerfile with only those of the pinned packages (its
`PACKAGES` build argument), tagged `mlkit-learner-small:<hash>`: the class hub's browser
test needs JupyterLab and jupyterhub-singleuser, not the whole course's packages.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from mlkit._runtime.docker import docker, require_docker
from mlkit.errors import MlkitError
from mlkit.settings import repo_root, scratch_dir

IMAGE_NAME = "mlkit-learner"
BASE_IMAGE_ENV = "MLKIT_BASE_IMAGE"
DEFAULT_BASE = "mlkit-base:bookworm"
DOCKERFILE = Path("deploy") / "learner-image" / "Dockerfile"


class LearnerImageError(MlkitError, RuntimeError):
    """The learner image could not be built; the message ends with the build log's tail."""


def base_image() -> str:
    """The image the learner image is built on ($MLKIT_BASE_IMAGE, else mlkit-base:bookworm)."""
    return os.environ.get(BASE_IMAGE_ENV) or DEFAULT_BASE


def _image_id(image: str) -> str:
    found = docker("image", "inspect", "--format", "{{.Id}}", image)
    return found.stdout.strip() if found.returncode == 0 else ""


def learner_image_tag(base: str | None = None, packages: Sequence[str] = ()) -> str:
    """The tag learner_image() gives the image of this checkout on base (with only
    `packages` of the pinned packages, when given)."""
    root = repo_root()
    base = base or base_image()
    wanted = " ".join(sorted(packages))  # learner_image builds them sorted
    digest = hashlib.sha256(f"{base}\0{_image_id(base)}\0{wanted}\0".encode())
    files = [root / DOCKERFILE, root / "pyproject.toml", root / "README.md"]
    files += sorted(p for p in (root / "mlkit").rglob("*") if p.is_file() and _shipped(p))
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    name = f"{IMAGE_NAME}-small" if packages else IMAGE_NAME
    return f"{name}:{digest.hexdigest()[:12]}"


def _shipped(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}


def learner_image(
    base: str | None = None, timeout: float = 3600.0, packages: Sequence[str] = ()
) -> str:
    """The tag of the learner image, built from this checkout when no image has it; with
    `packages`, an image with only those of pyproject.toml's pinned packages.

    Raises DockerUnavailableError without an engine, LearnerImageError when the base image
    is missing or the build fails (with the log's tail; the whole log is under the scratch
    folder's hub-image/)."""
    require_docker("the class hub's learner image needs a Docker engine")
    base = base or base_image()
    if not _image_id(base):
        raise LearnerImageError(
            f"the base image {base!r} is not in this Docker engine; build it with "
            f".ci/build-base-image.sh, or set {BASE_IMAGE_ENV} to a Debian bookworm image "
            "with python3 and pip"
        )
    packages = sorted(packages)
    tag = learner_image_tag(base, packages)
    if _image_id(tag):
        return tag
    root = repo_root()
    log = scratch_dir("hub-image") / f"{tag.replace(':', '-')}.log"
    env_build = ["--network", "host", "--build-arg", f"BASE={base}"]
    env_build += ["--build-arg", f"PACKAGES={' '.join(packages)}"]
    # the classic builder: it builds with --network host where BuildKit may not be set up
    built = docker(
        "build",
        *env_build,
        "-f",
        str(root / DOCKERFILE),
        "-t",
        tag,
        str(root),
        timeout=timeout,
        env={"DOCKER_BUILDKIT": "0"},
    )
    log.write_text(built.stdout + built.stderr)
    if built.returncode != 0:
        tail = "\n".join((built.stdout + built.stderr).splitlines()[-30:])
        raise LearnerImageError(f"building {tag} from {DOCKERFILE} failed (log: {log}):\n{tail}")
    return tag
