"""lessons.service_calls.call_service: scripted requests to a fresh copy of a real service."""

from __future__ import annotations

import textwrap

import pytest

from mlkit.lessons.service_calls import call_service
from mlkit.serving import ServiceStartError, serve_in_background
from mlkit.settings import scratch_dir

ECHO_SERVICE = """
from pathlib import Path

import bentoml
from pydantic import Field


@bentoml.service
class Echo:
    def __is_ready__(self) -> bool:
        return not Path(__file__).with_name("draining").exists()

    @bentoml.api
    def double(self, x: float = Field(ge=0)) -> float:
        return 2 * x
"""


def copies() -> set:
    return set(scratch_dir("services").glob("call-*"))


def write(folder, body: str):
    path = folder / "service.py"
    path.write_text(textwrap.dedent(body))
    return path


FLASK_ECHO = """
import sys

from flask import Flask, request

app = Flask(__name__)
# uWSGI gives the apps it runs a module named uwsgi; Gunicorn does not.
SERVER = "uwsgi" if "uwsgi" in sys.modules else "gunicorn"


@app.get("/readyz")
def ready():
    return "ok"


@app.post("/echo")
def echo():
    return {"type": request.mimetype, "body": request.get_data(as_text=True), "server": SERVER}
"""


def test_steps_run_in_order_on_a_fresh_copy(tmp_path):
    service_file = write(tmp_path, ECHO_SERVICE)
    (tmp_path / "draining").touch()  # must not reach the copy that is served
    before = copies()

    replies = call_service(
        service_file,
        [
            {"get": "/readyz"},
            {"post": "/double", "json": {"x": 21}},
            {"post": "/double", "json": {"x": -1}},
            {"create": "draining"},
            {"get": "/readyz"},
            {"delete": "draining"},
            {"get": "/readyz"},
        ],
    )

    assert [r["status"] for r in replies] == [200, 200, 400, None, 503, None, 200]
    assert replies[1]["json"] == 42.0
    assert replies[2]["json"]["detail"][0]["loc"] == ["x"]
    assert "__is_ready__" in replies[4]["text"]
    assert copies() == before  # the served copy's folder is gone


def test_a_service_that_is_never_ready_is_still_called(tmp_path):
    service_file = write(tmp_path, ECHO_SERVICE.replace("return not", "return False and"))

    replies = call_service(service_file, [{"get": "/readyz"}, {"get": "/livez"}])

    assert [r["status"] for r in replies] == [503, 200]


def test_a_broken_service_raises_with_its_log(tmp_path):
    service_file = write(tmp_path, "import bentoml\nraise RuntimeError('no model tag given')\n")
    with pytest.raises(ServiceStartError, match="no model tag given"):
        call_service(service_file, [{"get": "/livez"}], timeout=30)


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ([{"get": "readyz"}], ["steps[0]", "'/predict'"]),
        ([{"get": "/livez"}, {"post": "/x", "body": 1}], ["steps[1]", "'json'"]),
        ([{"create": "../escape"}], ["steps[0]", "plain file name"]),
        (["/livez"], ["steps[0]", "expected one of"]),
        ([{"post": "/x", "json": {}, "content": "{}"}], ["steps[0]", "either 'json' or 'content'"]),
        ([{"post": "/x", "content": b"{}"}], ["steps[0]", "'content' (a str)"]),
    ],
)
def test_bad_steps_are_named(tmp_path, steps, words):
    service_file = write(tmp_path, ECHO_SERVICE)
    with pytest.raises(ValueError) as caught:
        call_service(service_file, steps)
    for word in words:
        assert word in str(caught.value)


def test_source_is_served_instead_of_the_file_beside_its_modules(tmp_path):
    (tmp_path / "doubling.py").write_text("FACTOR = 3\n")
    source = ECHO_SERVICE.replace("return 2 * x", "return FACTOR * x")
    source = "from doubling import FACTOR\n" + textwrap.dedent(source)

    step = {"post": "/double", "json": {"x": 2}}
    replies = call_service(tmp_path / "service.py", [step], source=source)

    assert replies[0]["json"] == 6.0
    assert not (tmp_path / "service.py").exists()  # the file need not exist; its folder must
    with pytest.raises(FileNotFoundError, match="no folder"):
        call_service(tmp_path / "gone" / "service.py", [], source=source)
    with pytest.raises(TypeError, match="source"):
        call_service(tmp_path / "service.py", [], source=b"import bentoml")


def test_missing_file_and_bad_wait_for_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="service_file"):
        call_service(tmp_path / "service.py", [])
    with pytest.raises(ValueError, match="wait_for: got 'livez'"):
        serve_in_background(write(tmp_path, ECHO_SERVICE), wait_for="livez")


KEYED_TLS_SERVICE = """
import os

import bentoml

TLS = {"enabled": True, "certfile": os.environ["CERT"], "keyfile": os.environ["KEY"]}


class NeedsKey:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] != "/livez":
            if dict(scope["headers"]).get(b"x-api-key") != os.environ["API_KEY"].encode():
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"{}"})
                return
        await self.app(scope, receive, send)


@bentoml.service(ssl=TLS)
class Keyed:
    @bentoml.api
    def double(self, x: float) -> float:
        return 2 * x


Keyed.add_asgi_middleware(NeedsKey)
"""


def test_headers_go_with_every_step_over_https(tmp_path):
    from mlkit.crypto import make_self_signed_cert

    tls = make_self_signed_cert(tmp_path / "tls")
    env = {"CERT": str(tls.cert), "KEY": str(tls.key), "API_KEY": "right"}
    replies = call_service(
        write(tmp_path, KEYED_TLS_SERVICE),
        [
            {"get": "/readyz"},
            {"post": "/double", "json": {"x": 2}},
            {"post": "/double", "json": {"x": 2}, "headers": {"X-API-Key": "wrong"}},
        ],
        env=env,
        headers={"X-API-Key": "right"},
        tls_cert=tls.cert,
    )
    assert [r["status"] for r in replies] == [200, 200, 401]
    assert replies[1]["json"] == 4.0


def test_headers_must_be_strings(tmp_path):
    with pytest.raises(ValueError, match="headers: expected names mapped to values"):
        call_service(write(tmp_path, ECHO_SERVICE), [], headers={"X-API-Key": 1})


def test_a_wsgi_app_is_served_by_the_server_asked_for(tmp_path):
    app_file = write(tmp_path, FLASK_ECHO)
    steps = [
        {"post": "/echo", "json": {"x": 1}},
        {"post": "/echo", "content": "plain words", "headers": {"content-type": "text/plain"}},
    ]
    for server in ("gunicorn", "uwsgi"):
        replies = call_service(app_file, steps, server=server, workers=2, timeout=30)
        assert [reply["json"] for reply in replies] == [
            {"type": "application/json", "body": '{"x":1}', "server": server},
            {"type": "text/plain", "body": "plain words", "server": server},
        ]


def test_an_unknown_server_is_named(tmp_path):
    app_file = write(tmp_path, FLASK_ECHO)
    with pytest.raises(ValueError, match="server: got 'waitress'"):
        call_service(app_file, [{"get": "/readyz"}], server="waitress")
