"""mlkit.containers: bento -> image -> container on 127.0.0.1, and the no-engine path.

One bento and one image are built per run (module-scoped) and shared by the
assertions. The base image is $MLKIT_BASE_IMAGE when set (CI: mlkit-base:bookworm,
made by .ci/build-base-image.sh), else BentoML's default.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from mlkit.containers import (
    BASE_IMAGE_ENV,
    BuildError,
    build_bento,
    containerize,
    docker_problem,
    image_size,
    remove_image,
    run_container,
)
from mlkit.errors import DockerUnavailableError
from mlkit.serving import is_listening

SERVICE = """
from pathlib import Path

import bentoml
import joblib
import numpy as np


@bentoml.service(workers=1)
class Iris:
    def __init__(self) -> None:
        self.model = joblib.load(Path(__file__).parent / "model.joblib")

    @bentoml.api
    def predict(self, rows: list[list[float]]) -> list[int]:
        return self.model.predict(np.asarray(rows)).tolist()
"""
PACKAGES = ["scikit-learn==1.9.1", "numpy==2.4.6", "joblib"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 5.1, 1.6], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture(scope="module", autouse=True)
def private_bentoml_home(tmp_path_factory):
    """Keep this module's bentos out of the kit's store."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENTOML_HOME", str(tmp_path_factory.mktemp("bentoml-home")))
        yield


@pytest.fixture(scope="module")
def iris_service(tmp_path_factory) -> tuple[Path, DecisionTreeClassifier]:
    """A service folder: service.py plus the pickled model it loads."""
    folder = tmp_path_factory.mktemp("iris-service")
    features, target = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(features, target)
    joblib.dump(model, folder / "model.joblib")
    (folder / "service.py").write_text(SERVICE)
    return folder, model


@pytest.fixture(scope="module")
def built(docker_engine, iris_service, tmp_path_factory):
    """The bento and its image, built once; the image is removed afterwards."""
    folder, _ = iris_service
    logs = tmp_path_factory.mktemp("build-logs")
    bento = build_bento(folder, "service.py:Iris", packages=PACKAGES, log_dir=logs)
    image = containerize(bento, image_tag=f"mlkit-test-{bento.tag}", log_dir=logs)
    yield bento, image
    remove_image(image.tag)


def post_json(url: str, payload: dict) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.docker
def test_bento_dockerfile_uses_the_configured_base_image(built):
    bento, _ = built
    first = next(
        line for line in bento.dockerfile.read_text().splitlines() if line.startswith("FROM")
    )
    base = os.environ.get(BASE_IMAGE_ENV)
    if base:
        assert first.split()[1] == base
    else:
        assert first.split()[1].startswith("python:")


@pytest.mark.docker
def test_image_size_and_build_time_are_reported(built):
    _, image = built
    assert image.size_bytes == image_size(image.tag) > 0
    assert image.size_mb == pytest.approx(image.size_bytes / 1e6)
    assert image.build_seconds > 0
    assert "Successfully tagged" in image.log_path.read_text()


@pytest.mark.docker
def test_container_serves_correct_predictions_on_loopback(built, iris_service):
    _, image = built
    _, model = iris_service
    expected = model.predict(np.asarray(ROWS)).tolist()
    assert len(set(expected)) > 1

    with run_container(image.tag) as container:
        network = subprocess.run(
            ["docker", "inspect", "--format", "{{.HostConfig.NetworkMode}}", container.name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert network == "host"
        assert container.cold_start_seconds is not None and container.cold_start_seconds > 0
        assert post_json(f"{container.url}/predict", {"rows": ROWS}) == expected
        assert "Iris" in container.logs(50)

    gone = subprocess.run(["docker", "inspect", container.name], capture_output=True)
    assert gone.returncode != 0
    assert not is_listening(container.port)


@pytest.mark.docker
def test_failed_image_build_raises_with_log_tail(built, iris_service, tmp_path):
    folder, _ = iris_service
    bento = build_bento(
        folder, "service.py:Iris", packages=["mlkit-no-such-package==0.0.1"], log_dir=tmp_path
    )
    with pytest.raises(BuildError) as caught:
        containerize(bento, log_dir=tmp_path)

    assert caught.value.step == "bentoml containerize"
    assert "no image" in str(caught.value)
    assert "mlkit-no-such-package" in caught.value.log_path.read_text()


def test_without_engine_the_bento_still_builds_and_the_problem_is_named(
    iris_service, monkeypatch, tmp_path
):
    folder, _ = iris_service
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")

    bento = build_bento(folder, "service.py:Iris", packages=PACKAGES)

    assert bento.dockerfile.read_text().count("FROM ") >= 1
    assert "no Docker engine answers" in (docker_problem() or "")
    with pytest.raises(DockerUnavailableError, match="Start a Docker engine"):
        containerize(bento)
