"""Module 03's edge image: its lesson's Dockerfile builds an image within the size budget
that runs as an unprivileged user, has no shell, and answers what the model says.

The server and the Dockerfile are the `%%writefile` cells of `course/03_containers.ipynb`,
so this tests the lesson's own files. The image is built once per run; its first stage
(the pip install) is cached by the engine and shared with the notebook's build.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import httpx
import numpy as np
import pytest
from support.notebook_cells import writefile_source

from mlkit import churn_model, containers, contract, edge
from mlkit.image_audit import image_files

NOTEBOOK = "course/03_containers.ipynb"


@pytest.fixture(scope="module")
def edge_image(docker_engine, tmp_path_factory):
    """The edge image of a small churn model, and that model."""
    folder = tmp_path_factory.mktemp("churn_edge")
    trained = churn_model.train_reference_model(seed=7, n_rows=1_000)
    edge.export_onnx(trained.model, folder / "model.onnx")
    schema = contract.Customer.model_json_schema()
    (folder / "customer.schema.json").write_text(json.dumps(schema))
    for name in ("edge_server.py", "Dockerfile"):
        (folder / name).write_text(writefile_source(NOTEBOOK, f"{{edge_dir}}/{name}"))
    base = os.environ.get(containers.BASE_IMAGE_ENV) or "python:3.11-slim"
    image = containers.build_image(
        folder,
        f"mlkit-test-edge:{uuid.uuid4().hex[:8]}",
        build_args={"BASE_IMAGE": base},
        log_dir=tmp_path_factory.mktemp("logs"),
    )
    yield image, trained
    containers.remove_image(image.tag)


@pytest.mark.docker
def test_edge_image_is_within_its_budget(edge_image):
    image, _ = edge_image
    print(f"edge image: {image.size_mb:.0f} MB (budget {edge.IMAGE_BUDGET_MB} MB)")
    assert image.size_bytes == containers.image_size(image.tag)
    assert image.size_mb <= edge.IMAGE_BUDGET_MB
    assert "Step 1/" in image.log_path.read_text() and "AS build" in image.log_path.read_text()


@pytest.mark.docker
def test_edge_image_holds_no_shell_and_only_the_app(edge_image):
    image, _ = edge_image
    assert image_files(image.tag, "/app") == [
        "customer.schema.json",
        "edge_server.py",
        "model.onnx",
    ]
    with pytest.raises(ValueError, match="folder: '/usr/lib/apt'"):
        image_files(image.tag, "/usr/lib/apt")
    shell = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", image.tag],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shell.returncode != 0 and "no such file" in shell.stderr.lower()


@pytest.mark.docker
def test_edge_container_runs_unprivileged_and_answers_like_the_model(edge_image):
    image, trained = edge_image
    customers = trained.X_test.head(20).to_dict("records")
    expected = trained.model.predict_proba(trained.X_test.head(20))[:, 1]
    with containers.run_container(image.tag) as running:
        users = {proc.uids().real for proc in running.family()}
        reply = httpx.post(f"{running.url}/predict", json={"customers": customers}, timeout=30)
        refused = httpx.post(f"{running.url}/predict", json={"customers": []}, timeout=30)
    assert users == {10001}
    assert reply.status_code == 200
    np.testing.assert_allclose(reply.json(), expected, atol=1e-4)
    assert refused.status_code == 400
