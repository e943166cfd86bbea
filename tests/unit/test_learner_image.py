"""The learner image's Dockerfile: its PACKAGES build argument picks pinned packages.

The step that writes the image's requirements is run here as the build runs it (the same
`python3 -c` text, read from the Dockerfile), on the project's pyproject.toml.
"""

import re
import subprocess
import sys
import tomllib

import pytest

from mlkit.hub.image import DOCKERFILE, IMAGE_NAME, learner_image_tag
from mlkit.settings import repo_root


def requirements_script() -> str:
    """The `python3 -c "..."` program of the Dockerfile's requirements step."""
    text = (repo_root() / DOCKERFILE).read_text().replace("\\\n", "")
    (script,) = re.findall(r'RUN python3 -c "(.*?)"\s+\$\{PACKAGES\} > /tmp/requirements', text)
    return script


def requirements(*packages: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", requirements_script(), *packages],
        cwd=repo_root(),
        capture_output=True,
        text=True,
        check=False,
    )


def test_without_packages_every_pinned_package_is_installed():
    pins = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]["dependencies"]
    done = requirements()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == pins


def test_packages_installs_only_those_at_their_pins():
    done = requirements("jupyterlab", "psycopg")
    assert done.returncode == 0, done.stderr
    assert [line.split("==")[0] for line in done.stdout.split()] == [
        "jupyterlab",
        "psycopg[binary]",
    ]


@pytest.mark.parametrize("name", ["jupyterlabs", "requests"])
def test_a_name_that_is_not_a_dependency_stops_the_build(name):
    done = requirements("jupyterlab", name)
    assert done.returncode != 0
    assert f"PACKAGES: ['{name}'] are not dependencies in pyproject.toml" in done.stderr


def test_a_small_image_has_a_tag_of_its_own():
    full, small = learner_image_tag("base:x"), learner_image_tag("base:x", ["jupyterlab"])
    assert full.startswith(f"{IMAGE_NAME}:") and small.startswith(f"{IMAGE_NAME}-small:")
    assert small != learner_image_tag("base:x", ["jupyterlab", "typer"])
