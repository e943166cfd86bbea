"""mlkit.serving.serve_wsgi_in_background: module 02's Flask app under Gunicorn (sync and
gthread workers) and uWSGI answers exactly as the same contract in FastAPI, under uvicorn
and under Gunicorn with uvicorn workers: the same probabilities, the same 4xx."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import bentoml
import httpx
import pandas as pd
import pytest
from support.notebook_cells import writefile_source

from mlkit import churn_model, contract, data, serving
from mlkit._runtime.net import free_port, is_listening
from mlkit.lessons.service_calls import KEEPALIVE_LIMITS
from mlkit.serving import (
    ServerMissingError,
    ServiceStartError,
    serve_app_in_background,
    serve_wsgi_in_background,
)

pytestmark = pytest.mark.slow

# The contract of module 02 in FastAPI: the same envelopes and 400 body as the Flask app,
# and api_guard's middleware for 415 and 413 (the BentoML service's guard).
FASTAPI_APP = """
import os
from contextlib import asynccontextmanager

import bentoml
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from mlkit.api_guard import MAX_BODY_BYTES, ApiGuard
from mlkit.contract import PredictBatchRequest, PredictRequest, invalid_input

models = {}


@asynccontextmanager
async def lifespan(app):
    models["churn"] = bentoml.sklearn.load_model(os.environ["CHURN_MODEL_TAG"])
    yield


app = FastAPI(lifespan=lifespan)
app.add_middleware(
    ApiGuard,
    routes={"/predict": "application/json", "/predict_batch": "application/json"},
    max_body_bytes=MAX_BODY_BYTES,
    document=app.openapi,
)


@app.exception_handler(ValidationError)
async def refuse(request, error):
    return JSONResponse(invalid_input(error), status_code=400)


@app.get("/readyz")
def readyz() -> str:
    return "ok"


@app.post("/predict")
async def predict(request: Request) -> float:
    customer = PredictRequest.model_validate_json(await request.body()).customer
    return float(models["churn"].predict_proba(pd.DataFrame([customer.model_dump()]))[0, 1])


@app.post("/predict_batch")
async def predict_batch(request: Request) -> list[float]:
    customers = PredictBatchRequest.model_validate_json(await request.body()).customers
    frame = pd.DataFrame([c.model_dump() for c in customers])
    return models["churn"].predict_proba(frame)[:, 1].tolist()
"""

SERVERS = {  # name: (framework, server, workers, threads)
    "Flask, Gunicorn sync, 2 workers": ("flask", "gunicorn", 2, 1),
    "Flask, Gunicorn gthread, 2 workers x 2 threads": ("flask", "gunicorn", 2, 2),
    "Flask, uWSGI, 2 workers x 2 threads": ("flask", "uwsgi", 2, 2),
    "FastAPI, Gunicorn + uvicorn workers, 2 workers": ("fastapi", "gunicorn", 2, 1),
}
REFERENCE = "FastAPI, uvicorn"


def requests_to_send(customers: list[dict]) -> dict[str, dict]:
    """Every request each server gets, by name: valid ones, each bad customer, bad shapes."""
    as_json = json.dumps({"customer": customers[0]}).encode()
    sent = {f"one {i}": {"json": {"customer": c}} for i, c in enumerate(customers[:5])}
    sent["batch of 100"] = {"url": "/predict_batch", "json": {"customers": customers[:100]}}
    for case in contract.bad_customers(customers[0]):
        sent[f"bad: {case.name}"] = {"json": {"customer": case.payload}}
    sent["unknown top-level key"] = {"json": {"customer": customers[0], "debug": True}}
    sent["empty batch"] = {"url": "/predict_batch", "json": {"customers": []}}
    sent["batch of 101"] = {"url": "/predict_batch", "json": {"customers": customers[:101]}}
    sent["not JSON"] = {"content": b"{customer", "headers": {"content-type": "application/json"}}
    sent["JSON as text/plain"] = {"content": as_json, "headers": {"content-type": "text/plain"}}
    sent["a form"] = {"files": {"customer": ("customer.json", as_json)}}
    big = b" " * 2_000_000
    sent["2 MB body"] = {"content": big, "headers": {"content-type": "application/json"}}
    sent["valid after the refusals"] = {"json": {"customer": customers[1]}}
    return sent


def answers(url: str, sent: dict[str, dict]) -> dict[str, tuple[int, object]]:
    """Status and JSON body of each request, sent in order on one keep-alive client."""
    replies = {}
    # Idle connections go after 1 s, before Gunicorn's 2 s keep-alive closes them.
    with httpx.Client(base_url=url, timeout=30, limits=KEEPALIVE_LIMITS) as client:
        for name, request in sent.items():
            request = dict(request)
            response = client.post(request.pop("url", "/predict"), **request)
            replies[name] = (response.status_code, response.json())
    return replies


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> dict[str, dict[str, tuple[int, object]]]:
    """The replies of every server to the same requests, by server."""
    folder = tmp_path_factory.mktemp("wsgi")
    (folder / "flask_app.py").write_text(
        writefile_source("course/02_serving.ipynb", "{workdir}/flask_app.py")
    )
    (folder / "fastapi_app.py").write_text(FASTAPI_APP)
    trained = churn_model.train_reference_model(seed=42, n_rows=2_000)
    saved = bentoml.sklearn.save_model("churn", trained.model, labels={"module": "test"})
    env = {"CHURN_MODEL_TAG": str(saved.tag)}
    customers = data.make_dataset(n_rows=200, seed=11)[data.FEATURES].to_dict(orient="records")
    sent = requests_to_send(customers)

    def serve_and_ask(name: str) -> dict[str, tuple[int, object]]:
        if name == REFERENCE:
            server = serve_app_in_background(folder / "fastapi_app.py", env=env, log_dir=folder)
        else:
            framework, kind, workers, threads = SERVERS[name]
            if framework == "fastapi":
                server = serve_app_in_background(
                    folder / "fastapi_app.py", server=kind, workers=workers, env=env, log_dir=folder
                )
            else:
                server = serve_wsgi_in_background(
                    folder / "flask_app.py",
                    server=kind,
                    workers=workers,
                    threads=threads,
                    env=env,
                    log_dir=folder,
                )
        with server:
            replies = answers(server.url, sent)
            port = server.port
        assert not is_listening(port), f"{name}: still listening after stop()"
        return replies

    try:
        # Two at a time: each start imports BentoML and the model, on a 2-core machine.
        with ThreadPoolExecutor(2) as pool:
            names = [REFERENCE, *SERVERS]
            results = dict(zip(names, pool.map(serve_and_ask, names), strict=True))
    finally:
        bentoml.models.delete(saved.tag)
    expected = trained.model.predict_proba(pd.DataFrame(customers[:100]))[:, 1].tolist()
    results["_model"] = {"expected": expected}
    return results


def test_reference_answers_the_model_and_the_contract(served):
    reference = served[REFERENCE]
    expected = served["_model"]["expected"]
    assert reference["batch of 100"] == (200, pytest.approx(expected, abs=1e-12))
    assert [reference[f"one {i}"] for i in range(5)] == [
        (200, pytest.approx(p, abs=1e-12)) for p in expected[:5]
    ]
    statuses = {name: status for name, (status, _) in reference.items()}
    assert {statuses[name] for name in statuses if name.startswith("bad: ")} == {400}
    assert statuses["JSON as text/plain"] == statuses["a form"] == 415
    assert statuses["2 MB body"] == 413
    assert statuses["not JSON"] == statuses["unknown top-level key"] == 400
    assert statuses["valid after the refusals"] == 200


@pytest.mark.parametrize("name", list(SERVERS))
def test_server_answers_as_fastapi(served, name):
    reference, got = served[REFERENCE], served[name]
    assert list(got) == list(reference)
    for request, (status, body) in reference.items():
        got_status, got_body = got[request]
        assert got_status == status, f"{request}: {name} answered {got_status}, FastAPI {status}"
        if status == 200 or "detail" in body:  # probabilities, or the contract's 400 body
            assert got_body == body, f"{request}: {name} answered {got_body}, FastAPI {body}"
        else:  # 413 and 415: an error sentence
            assert isinstance(got_body, dict) and set(got_body) == {"error"}, got_body


BROKEN_APP = """
raise RuntimeError("model file missing: wombat.joblib")
"""


@pytest.mark.parametrize("server", ["gunicorn", "uwsgi"])
def test_app_that_fails_to_import_stops_the_server_with_its_error(tmp_path, server):
    (tmp_path / "broken.py").write_text(BROKEN_APP)
    port = free_port()
    with pytest.raises(ServiceStartError) as caught:
        serve_wsgi_in_background(
            tmp_path / "broken.py", server=server, port=port, timeout=30, log_dir=tmp_path
        )
    assert "model file missing: wombat.joblib" in str(caught.value)
    assert not is_listening(port)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"server": "waitress"}, "server: got 'waitress', expected 'gunicorn' or 'uwsgi'"),
        ({"workers": 0}, "workers: got 0, expected a whole number, 1..64"),
        ({"threads": True}, "threads: got True, expected a whole number, 1..64"),
        ({"app": "app()"}, "app: got 'app()', expected the name of the WSGI application"),
    ],
)
def test_bad_arguments_name_the_argument(tmp_path, arguments, message):
    app_file = tmp_path / "app.py"
    app_file.write_text(textwrap.dedent("app = None\n"))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        serve_wsgi_in_background(app_file, log_dir=tmp_path, **arguments)


def test_missing_uwsgi_names_the_package(tmp_path, monkeypatch):
    app_file = tmp_path / "app.py"
    app_file.write_text("app = None\n")
    monkeypatch.setattr(serving.sys, "executable", str(tmp_path / "bin" / "python"))
    with pytest.raises(ServerMissingError, match="pip install pyuwsgi"):
        serve_wsgi_in_background(app_file, server="uwsgi", log_dir=tmp_path)


REFUSING_APP = """
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = 1_000_000


@app.get("/readyz")
def ready():
    return "ok"


@app.post("/size")
def size():
    return jsonify(len(request.get_data()))


@app.errorhandler(HTTPException)
def as_json(error):  # refused unread; Gunicorn drops this header, uWSGI keeps it
    return jsonify(error=error.description), error.code, {"Connection": "close"}
"""


def connection_after(port: int, size: int) -> tuple[int, str]:
    """Status and Connection header of the answer to a POST of `size` bytes (raw socket:
    httpx would hide the header's effect behind its pool)."""
    head = "POST /size HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {size}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sending = threading.Thread(target=sock.sendall, args=(head.encode() + b" " * size,))
        sending.start()  # the server may answer before it has read the whole body
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65_536)
            assert chunk, f"{size} bytes: the server closed without answering"
            received += chunk
        sending.join(timeout=30)
    lines = received.split(b"\r\n\r\n")[0].decode().split("\r\n")
    said = [line.split(":", 1) for line in lines[1:]]
    found = [value.strip().lower() for name, value in said if name.lower() == "connection"]
    return int(lines[0].split()[1]), found[0] if found else ""


@pytest.mark.parametrize(("server", "threads"), [("gunicorn", 2), ("uwsgi", 2)])
def test_a_body_left_unread_is_answered_with_connection_close(tmp_path, server, threads):
    # Gunicorn's gthread worker discards at most 64 KiB of an unread body before the next
    # request and closes the connection past that: the answer must say so, or a client
    # reuses the connection and its next request gets no answer.
    (tmp_path / "refusing.py").write_text(REFUSING_APP)
    with serve_wsgi_in_background(
        tmp_path / "refusing.py", server=server, threads=threads, log_dir=tmp_path
    ) as running:
        assert connection_after(running.port, 2_000_000) == (413, "close")
        assert connection_after(running.port, 200_000)[0] == 200  # read by the app
        if server == "gunicorn":
            assert connection_after(running.port, 200_000) == (200, "close")
            assert connection_after(running.port, 1_000) == (200, "keep-alive")


@pytest.mark.parametrize(("server", "threads"), [("gunicorn", 1), ("gunicorn", 2), ("uwsgi", 1)])
def test_every_client_gets_answers_when_clients_outnumber_workers(tmp_path, server, threads):
    # Six clients that keep their connections open, two workers: a worker that stayed with
    # one client's connection (uWSGI's --http11-socket) would leave the others unanswered
    # until that client left, which a load test sees as a few fast clients.
    (tmp_path / "refusing.py").write_text(REFUSING_APP)
    with serve_wsgi_in_background(
        tmp_path / "refusing.py", server=server, workers=2, threads=threads, log_dir=tmp_path
    ) as running:
        answered = [0] * 6
        errors: list[str] = []
        stop = time.monotonic() + 4

        def client(number: int) -> None:
            with httpx.Client(base_url=running.url, timeout=30) as session:
                while time.monotonic() < stop:
                    try:
                        assert session.post("/size", json={"n": number}).status_code == 200
                    except (httpx.HTTPError, AssertionError) as err:
                        errors.append(f"client {number}: {err!r}")
                        return
                    answered[number] += 1

        clients = [threading.Thread(target=client, args=(n,)) for n in range(6)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=60)
    assert not errors, errors
    assert min(answered) >= 3, f"answers per client in 4 s: {answered}"
