"""mlkit.serving.serve_app_in_background: a real FastAPI app under uvicorn, started and stopped."""

from __future__ import annotations

import json
import textwrap
import urllib.request

import pytest

from mlkit._runtime.net import free_port, is_listening
from mlkit.serving import ServiceStartError, serve_app_in_background

APP = """
import os

from fastapi import FastAPI

app = FastAPI()


@app.get("/readyz")
def readyz() -> str:
    return "ok"


@app.post("/double")
def double(x: float) -> dict:
    return {"result": 2 * x, "greeting": os.environ.get("MLKIT_TEST_GREETING", "unset")}
"""


def test_app_answers_and_stops(tmp_path):
    app_file = tmp_path / "app.py"
    app_file.write_text(APP)
    with serve_app_in_background(
        app_file, env={"MLKIT_TEST_GREETING": "hello"}, log_dir=tmp_path
    ) as running:
        assert running.is_ready()
        request = urllib.request.Request(f"{running.url}/double?x=21", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == {"result": 42.0, "greeting": "hello"}
        port = running.port
    assert not is_listening(port)
    assert "Uvicorn running" in running.log_tail(20)


def test_failing_startup_raises_with_log_tail(tmp_path):
    app_file = tmp_path / "broken.py"
    app_file.write_text(
        textwrap.dedent(
            """
            from contextlib import asynccontextmanager

            from fastapi import FastAPI


            @asynccontextmanager
            async def lifespan(app):
                raise RuntimeError("model file missing: wombat.joblib")
                yield


            api = FastAPI(lifespan=lifespan)
            """
        )
    )
    port = free_port()
    with pytest.raises(ServiceStartError) as caught:
        serve_app_in_background(app_file, "api", port=port, timeout=30, log_dir=tmp_path)
    assert "model file missing: wombat.joblib" in str(caught.value)
    assert not is_listening(port)


def test_bad_app_name_is_named(tmp_path):
    app_file = tmp_path / "app.py"
    app_file.write_text(APP)
    with pytest.raises(ValueError, match=r"app: got 'app:app'"):
        serve_app_in_background(app_file, "app:app", log_dir=tmp_path)
