"""mlkit.serving: real BentoML services written to tmp_path, started and stopped."""

from __future__ import annotations

import json
import textwrap
import urllib.request
from pathlib import Path

import joblib
import numpy as np
import psutil
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from mlkit._runtime.net import free_port, is_listening
from mlkit.serving import ServiceStartError, serve_in_background

IRIS_SERVICE = """
import os
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

    @bentoml.api
    def greeting(self) -> str:
        return os.environ.get("MLKIT_TEST_GREETING", "unset")
"""


def write_service(folder: Path, body: str, name: str = "service.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def post_json(url: str, payload: dict) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def iris_model(tmp_path_factory) -> tuple[Path, LogisticRegression]:
    folder = tmp_path_factory.mktemp("iris")
    features, target = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, target)
    joblib.dump(model, folder / "model.joblib")
    return write_service(folder, IRIS_SERVICE), model


def test_prediction_round_trip_over_http_and_client(iris_model, tmp_path):
    service_file, model = iris_model
    rows = [[5.1, 3.5, 1.4, 0.2], [6.0, 2.7, 5.1, 1.6], [6.7, 3.0, 5.2, 2.3]]
    expected = model.predict(np.asarray(rows)).tolist()
    assert len(set(expected)) > 1  # the rows cover more than one class

    with serve_in_background(
        service_file, "Iris", env={"MLKIT_TEST_GREETING": "hello"}, log_dir=tmp_path
    ) as running:
        assert running.is_ready()
        assert running.url == f"http://127.0.0.1:{running.port}"
        assert post_json(f"{running.url}/predict", {"rows": rows}) == expected
        with running.client() as client:
            assert client.predict(rows=rows) == expected
            assert client.greeting() == "hello"
        assert running.log_path.parent == tmp_path
        assert "Iris" in running.log_tail(50)


def test_stop_leaves_nothing_running_or_listening(iris_model, tmp_path):
    service_file, _ = iris_model
    running = serve_in_background(service_file, log_dir=tmp_path)
    supervisor = psutil.Process(running.process.pid)
    family = [supervisor, *supervisor.children(recursive=True)]
    assert len(family) >= 2  # the supervisor and at least one worker
    assert is_listening(running.port)

    running.stop()

    assert not is_listening(running.port)
    assert not [proc for proc in family if proc.is_running() and proc.status() != "zombie"]
    assert not running.is_ready()


def test_error_while_starting_raises_with_log_tail(tmp_path):
    service_file = write_service(
        tmp_path,
        """
        import bentoml

        @bentoml.service
        class Broken:
            def __init__(self) -> None:
                raise RuntimeError("model file missing: quokka.joblib")

            @bentoml.api
            def predict(self, x: float) -> float:
                return x
        """,
    )
    port = free_port()
    with pytest.raises(ServiceStartError) as caught:
        serve_in_background(service_file, port=port, timeout=60, log_dir=tmp_path)

    error = caught.value
    assert "raised an error while starting" in str(error)
    assert "RuntimeError: model file missing: quokka.joblib" in str(error)
    assert "Fix the error" in str(error)
    assert error.log_path.is_file() and error.log_path.parent == tmp_path
    assert not is_listening(port)


def test_import_error_raises_with_log_tail(tmp_path):
    service_file = write_service(tmp_path, "import bentoml\nimport no_such_module_xyz\n")
    with pytest.raises(ServiceStartError) as caught:
        serve_in_background(service_file, timeout=60, log_dir=tmp_path)

    assert "exited with code" in caught.value.reason
    assert "no_such_module_xyz" in str(caught.value)


def test_not_ready_in_time_raises_and_cleans_up(tmp_path):
    service_file = write_service(
        tmp_path,
        """
        import time

        import bentoml

        @bentoml.service
        class Slow:
            def __init__(self) -> None:
                time.sleep(120)

            @bentoml.api
            def predict(self, x: float) -> float:
                return x
        """,
    )
    port = free_port()
    with pytest.raises(ServiceStartError) as caught:
        serve_in_background(service_file, port=port, timeout=2, log_dir=tmp_path)

    assert "did not answer within" in caught.value.reason
    assert "timeout=" in str(caught.value)
    assert not is_listening(port)


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"service_file": "missing/service.py"}, FileNotFoundError, ["service_file", "no file"]),
        ({"service_file": "notes.txt"}, ValueError, ["service_file", ".py"]),
        ({"service": "Iris:predict"}, ValueError, ["service", "'Iris:predict'"]),
        ({"port": 70000}, ValueError, ["port", "70000"]),
        ({"timeout": 0}, ValueError, ["timeout", "> 0"]),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, arguments, error, words):
    (tmp_path / "notes.txt").write_text("not a service")
    write_service(tmp_path, IRIS_SERVICE)
    call = {"service_file": "service.py", **arguments}
    call["service_file"] = tmp_path / call["service_file"]

    with pytest.raises(error) as caught:
        serve_in_background(**call, log_dir=tmp_path)

    for word in words:
        assert word in str(caught.value)
