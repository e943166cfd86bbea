"""Module 03's image under the cloud platforms' container contracts, run as each runs it.

One image of the churn service (`mlkit.lessons.churn_project`, the same service as
`course/03_containers.ipynb`) is built per run and shared. SageMaker starts it with the
argument `serve` and calls GET /ping and POST /invocations on port 8080, a port the
contract fixes: that test needs 8080 free on 127.0.0.1 and fails saying so otherwise.
Vertex AI hands the port and both routes over in AIP_* variables; a free port is used.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import httpx
import pytest

from mlkit import containers
from mlkit._runtime.net import LOCALHOST, is_listening
from mlkit.lessons import churn_project

SAGEMAKER_PORT = 8080
VERTEX_ROUTES = {
    "AIP_HEALTH_ROUTE": "/v1/endpoints/7001/deployedModels/42",
    "AIP_PREDICT_ROUTE": "/v1/endpoints/7001/deployedModels/42:predict",
}


@pytest.fixture(scope="module", autouse=True)
def private_bentoml_home(tmp_path_factory):
    """Keep this module's bento out of the kit's store."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENTOML_HOME", str(tmp_path_factory.mktemp("bentoml-home")))
        yield


@pytest.fixture(scope="module")
def churn_image(docker_engine, tmp_path_factory):
    """The churn service's image, built once, and five customers with the model's answers."""
    folder = tmp_path_factory.mktemp("cloud")
    project = folder / "project"
    trained = churn_project.write_project(project)
    config = {
        "service": churn_project.SERVICE,
        "include": ["service.py", churn_project.GUARD_FILE, "model.skops"],
        "python": {"packages": churn_project.installed_pins(), "lock_packages": False},
    }
    churn_project.write_build_config(project, config)
    bento = containers.build_bento(project, log_dir=folder)
    image = containers.containerize(
        bento, image_tag=f"mlkit-test-cloud:{uuid.uuid4().hex[:8]}", log_dir=folder
    )
    customers = trained.X_test.head(5).to_dict("records")
    expected = trained.model.predict_proba(trained.X_test.head(5))[:, 1].round(6).tolist()
    yield image.tag, customers, expected
    containers.remove_image(image.tag)
    containers.delete_bento(bento)


def container_args(name: str) -> list[str]:
    found = subprocess.run(
        ["docker", "inspect", "--format", "{{json .Args}}", name],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(found.stdout)


@pytest.mark.docker
def test_sagemaker_runs_serve_and_calls_ping_and_invocations_on_8080(churn_image):
    image, customers, expected = churn_image
    if is_listening(SAGEMAKER_PORT):
        pytest.fail(
            f"SageMaker's contract fixes port {SAGEMAKER_PORT}, and another program listens on "
            f"{LOCALHOST}:{SAGEMAKER_PORT}; stop it and run this test again."
        )
    # As SageMaker does: `docker run IMAGE serve`, no port variable, the image picks 8080.
    with containers.run_container(
        image, port=SAGEMAKER_PORT, args=["serve"], port_variable=None, ready_path="/ping"
    ) as running:
        assert container_args(running.name) == ["serve"]
        assert httpx.get(f"{running.url}/ping", timeout=10).status_code == 200
        reply = httpx.post(
            f"{running.url}/invocations",
            content=json.dumps({"instances": customers}),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"predictions": expected}
        bad = httpx.post(
            f"{running.url}/invocations", json={"instances": [{**customers[0], "age": 7}]}
        )
        assert bad.status_code == 400, bad.text
        assert [error["loc"] for error in bad.json()["detail"]] == [["instances", 0, "age"]]
    assert not is_listening(SAGEMAKER_PORT)


@pytest.mark.docker
def test_vertex_ai_sets_the_port_and_both_routes_in_aip_variables(churn_image):
    image, customers, expected = churn_image
    health, predict = VERTEX_ROUTES["AIP_HEALTH_ROUTE"], VERTEX_ROUTES["AIP_PREDICT_ROUTE"]
    with containers.run_container(
        image, env=VERTEX_ROUTES, port_variable="AIP_HTTP_PORT", ready_path=health
    ) as running:
        assert running.port != SAGEMAKER_PORT
        assert httpx.get(f"{running.url}{health}", timeout=10).status_code == 200
        reply = httpx.post(f"{running.url}{predict}", json={"instances": customers}, timeout=30)
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"predictions": expected}
        # The routes moved: SageMaker's are not served under Vertex AI's variables.
        assert httpx.get(f"{running.url}/ping", timeout=10).status_code == 404
        moved = httpx.post(f"{running.url}/invocations", json={"instances": customers})
        assert moved.status_code == 404


def test_an_image_that_picks_its_own_port_needs_that_port():
    with pytest.raises(ValueError, match="port: got None with port_variable=None"):
        containers.run_container("any:0", port_variable=None)
    with pytest.raises(ValueError, match="ready_path: got 'ping'"):
        containers.run_container("any:0", ready_path="ping")
