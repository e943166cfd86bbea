"""What a bento and its image carry: their files, what must not ship, and the pins (module 03).

Everything in a bento's folder is copied into the image (`COPY . ./` in the Dockerfile
BentoML writes), so a notebook, a test-data file or a `.env` with a key that slipped
into the build folder ships to every machine that pulls the image. `unwanted_files`
flags such paths by name; `bento_files` and `image_files` list what to check;
`bento_requirements` reads the bento's pip requirements, to see that each is pinned.
"""

from __future__ import annotations

import fnmatch
import io
import subprocess
import tarfile
import uuid
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlkit._runtime.docker import docker_problem
from mlkit.containers import BuiltBento
from mlkit.errors import DockerUnavailableError

IMAGE_BENTO_PATH = "/home/bentoml/bento"
UNWANTED_PATTERNS: dict[str, tuple[str, ...]] = {
    "notebook": ("*.ipynb", ".ipynb_checkpoints"),
    "data": ("*.csv", "*.tsv", "*.parquet", "*.feather", "*.xlsx", "*.jsonl"),
    "tests": ("tests", "test_*.py", "*_test.py", "conftest.py"),
    "secret": (
        ".env",
        ".env.*",
        "*.pem",
        "*.key",
        "id_rsa*",
        "id_ed25519*",
        "*secret*",
        "*credential*",
        ".netrc",
        ".pypirc",
        ".git",
    ),
}


def unwanted_files(paths: Iterable[str]) -> dict[str, list[str]]:
    """The paths that look like notebooks, data, tests or secrets, by kind ({} when none do).

    A path matches when any of its parts matches a pattern of `UNWANTED_PATTERNS`
    (so `.git/config` counts as a secret). Matching is by name only: a key pasted into
    `service.py` is not found here (module 08 scans contents).
    """
    if isinstance(paths, str):
        raise TypeError(f"paths: got the string {paths!r}, expected a list of paths.")
    found: dict[str, list[str]] = {}
    for path in paths:
        parts = [part.lower() for part in PurePosixPath(path).parts]
        for kind, patterns in UNWANTED_PATTERNS.items():
            if any(fnmatch.fnmatchcase(part, p) for part in parts for p in patterns):
                found.setdefault(kind, []).append(path)
                break
    return found


def _check_bento(bento: BuiltBento) -> None:
    if not isinstance(bento, BuiltBento):
        raise TypeError(
            f"bento: got {type(bento).__name__}, expected the BuiltBento that build_bento returns."
        )
    if not (bento.path / "bento.yaml").is_file():
        raise FileNotFoundError(
            f"bento: {bento.tag} has no bento.yaml at {bento.path}; it was deleted or the "
            "BentoML home changed. Build it again with build_bento."
        )


def bento_files(bento: BuiltBento) -> list[str]:
    """Every file in a bento, relative to its folder (`src/service.py`, `env/docker/...`)."""
    _check_bento(bento)
    return sorted(
        path.relative_to(bento.path).as_posix() for path in bento.path.rglob("*") if path.is_file()
    )


def image_files(image: str, folder: str = IMAGE_BENTO_PATH) -> list[str]:
    """Every file under `folder` inside a local image, relative to it (the container never runs).

    Raises `DockerUnavailableError` without an engine, `ValueError` when the image or the
    folder does not exist. Introduced in module 03.
    """
    with tarfile.open(fileobj=io.BytesIO(image_folder_tar(image, folder))) as tar:
        names = [member.name for member in tar.getmembers() if member.isfile()]
    return sorted(PurePosixPath(*PurePosixPath(n).parts[1:]).as_posix() for n in names)


def image_folder_tar(image: str, folder: str = IMAGE_BENTO_PATH) -> bytes:
    """`folder` of a local image as a tar archive, copied out of a created (not started)
    container; errors as in `image_files`. Module 08 scans these files for secrets."""
    problem = docker_problem()
    if problem is not None:
        raise DockerUnavailableError(
            f"{problem}; image_files needs a Docker engine, as does every read of an image's files."
        )
    name = f"mlkit-audit-{uuid.uuid4().hex[:12]}"
    created = subprocess.run(
        ["docker", "create", "--pull", "never", "--name", name, "--network", "none", image],
        capture_output=True,
        text=True,
        check=False,
    )
    if created.returncode != 0:
        raise ValueError(f"image: cannot create a container of {image!r}: {created.stderr.strip()}")
    try:
        copied = subprocess.run(
            ["docker", "cp", f"{name}:{folder}", "-"], capture_output=True, check=False
        )
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)
    if copied.returncode != 0:
        said = copied.stderr.decode(errors="replace").strip()
        raise ValueError(f"folder: {folder!r} cannot be read from image {image!r}: {said}")
    return copied.stdout


def bento_requirements(bento: BuiltBento) -> dict[str, str | None]:
    """The bento's pip requirements: package name -> pinned version, or None if not pinned.

    A requirement is pinned when its only specifier is `==` with an exact version, as in
    `scikit-learn==1.9.1`; `scikit-learn>=1.5` or a bare `scikit-learn` give None.
    """
    _check_bento(bento)
    path = Path(bento.path, "env", "python", "requirements.txt")
    pins: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement as err:
            raise ValueError(f"{path}: cannot read requirement {text!r}: {err}") from err
        specifiers = list(requirement.specifier)
        exact = (
            len(specifiers) == 1
            and specifiers[0].operator == "=="
            and "*" not in specifiers[0].version
        )
        pins[canonicalize_name(requirement.name)] = specifiers[0].version if exact else None
    return pins
