"""Images from hand-written Dockerfiles (`build_image`), listing an image's files, and
running an image that is not a bento.

One small image (no package installs: a few files on the base image and Python's own
HTTP server as its command) is built per run and shared; the base is $MLKIT_BASE_IMAGE
when set, else python:3.11-slim.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import httpx
import pytest

from mlkit.containers import (
    BASE_IMAGE_ENV,
    BuildError,
    ContainerStartError,
    DockerUnavailableError,
    build_image,
    image_size,
    remove_image,
    run_container,
)
from mlkit.image_audit import image_files, unwanted_files

DOCKERFILE = """\
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY . ./
RUN echo built > /app/built.txt && touch /app/readyz
CMD ["sh", "-c", \
     "trap 'exit 0' TERM; python3 -m http.server --bind $BENTOML_HOST $BENTOML_PORT & wait"]
"""


def base_image() -> str:
    return os.environ.get(BASE_IMAGE_ENV) or "python:3.11-slim"


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """A build folder that carries what a careless `COPY . ./` ships: a key and a notebook."""
    folder = tmp_path_factory.mktemp("context")
    (folder / "Dockerfile").write_text(DOCKERFILE)
    (folder / "app.py").write_text("print('hello')\n")
    (folder / ".env").write_text("API_KEY=not-a-real-key\n")
    (folder / "notebooks").mkdir()
    (folder / "notebooks" / "explore.ipynb").write_text("{}")
    return folder


@pytest.fixture(scope="module")
def image(docker_engine, context, tmp_path_factory):
    tag = f"mlkit-test-build-image:{uuid.uuid4().hex[:8]}"
    built = build_image(
        context,
        tag,
        build_args={"BASE_IMAGE": base_image()},
        log_dir=tmp_path_factory.mktemp("logs"),
    )
    yield built
    remove_image(built.tag)


@pytest.mark.docker
def test_build_image_builds_tags_and_measures(image):
    assert image.tag.startswith("mlkit-test-build-image:")
    assert image.size_bytes == image_size(image.tag) > image_size(base_image())
    assert image.build_seconds > 0
    log = image.log_path.read_text()
    assert "Successfully tagged " + image.tag in log and image.log_path.name.endswith(".build.log")


@pytest.mark.docker
def test_image_files_lists_what_copy_shipped_and_flags_it(image):
    files = image_files(image.tag, "/app")
    assert files == [
        ".env",
        "Dockerfile",
        "app.py",
        "built.txt",
        "notebooks/explore.ipynb",
        "readyz",
    ]
    assert unwanted_files(files) == {"secret": [".env"], "notebook": ["notebooks/explore.ipynb"]}
    leftover = subprocess.run(
        ["docker", "ps", "--all", "--quiet", "--filter", "name=mlkit-audit-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert leftover.stdout.strip() == ""


@pytest.mark.docker
def test_any_image_that_answers_readyz_runs_and_reports_its_memory(image):
    with run_container(image.tag) as running:
        assert httpx.get(f"{running.url}/app.py").text == "print('hello')\n"
        used = running.memory_bytes()
    assert 1_000_000 < used < 500_000_000
    with pytest.raises(RuntimeError, match="gave no memory use"):
        running.memory_bytes()


@pytest.mark.docker
def test_image_files_names_a_missing_folder(image):
    with pytest.raises(ValueError, match="folder: '/no/such/folder'"):
        image_files(image.tag, "/no/such/folder")


@pytest.mark.docker
def test_failed_build_raises_with_the_log_and_leaves_no_image(docker_engine, tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image()}\nRUN echo step-failed && exit 3\n")
    tag = f"mlkit-test-failed-build:{uuid.uuid4().hex[:8]}"
    with pytest.raises(BuildError) as caught:
        build_image(tmp_path, tag, log_dir=tmp_path)
    assert caught.value.step == "docker build"
    assert "no image" in str(caught.value) and "step-failed" in caught.value.log_tail
    inspect = subprocess.run(["docker", "image", "inspect", tag], capture_output=True)
    assert inspect.returncode != 0


@pytest.mark.docker
def test_a_missing_image_is_an_error_not_a_download(docker_engine):
    missing = f"mlkit-test-no-such-image:{uuid.uuid4().hex[:8]}"
    with pytest.raises(ContainerStartError, match="No such image"):
        run_container(missing)
    with pytest.raises(ValueError, match="No such image"):
        image_files(missing)


def test_build_image_needs_a_dockerfile(tmp_path):
    with pytest.raises(FileNotFoundError, match="context_dir: no Dockerfile"):
        build_image(tmp_path, "mlkit-test-nothing:0")


def test_without_engine_listing_an_image_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(DockerUnavailableError, match="image_files needs a Docker engine"):
        image_files("anything:0")
