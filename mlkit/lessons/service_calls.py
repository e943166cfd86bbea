"""Exercise a service from outside: serve a fresh copy, send scripted requests, keep the replies.

Introduced in module 02's lab, whose tests check a learner's `service.py` the way a
client would: `call_service` copies the file into a new folder, serves it in a new
process (`mlkit.serving.serve_in_background`), sends the steps in order, stops it, and
returns every reply as plain data (status code, JSON body, text). Plain data is what the
grader can fetch from a learner's sandboxed kernel (mlkit.grading), and the same call
works in a learner's notebook, so they can see exactly what the tests see.

A step is one dict:

    {"get": "/readyz"}                                  an HTTP GET
    {"post": "/predict", "json": {"customer": {...}}}   an HTTP POST with a JSON body
    {"create": "draining"} / {"delete": "draining"}     a file next to the service

An HTTP step may add `"headers": {...}`, such as an API key (module 09), and a POST may send
`"content": "text"` (with its own Content-Type header) instead of `json`; `headers=` sends
some with every step, and `tls_cert=` serves and calls the service over HTTPS trusting
that certificate (module 08). `server="gunicorn"` or `"uwsgi"` serves a WSGI app (module
02's Flask app) with `mlkit.serving.serve_wsgi_in_background` instead of BentoML.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import Any, Literal

import httpx

from mlkit.serving import RunningService, serve_in_background, serve_wsgi_in_background
from mlkit.settings import scratch_dir

MAX_TEXT = 2_000
# The client lets an idle connection go after 1 s, before any of the servers does (Gunicorn
# closes one after 2 s): reusing a connection the server is closing at that moment leaves
# the request without an answer ("Server disconnected without sending a response").
KEEPALIVE_LIMITS = httpx.Limits(keepalive_expiry=1.0)
_FILE_ACTIONS = ("create", "delete")


def _check_steps(steps: list[dict[str, Any]]) -> None:
    if not isinstance(steps, list):
        raise TypeError(f"steps: expected a list of dicts, got {type(steps).__name__}.")
    for index, step in enumerate(steps):
        kinds = [k for k in ("get", "post", *_FILE_ACTIONS) if isinstance(step, dict) and k in step]
        allowed = {*kinds, "json", "content", "headers"} if kinds == ["post"] else set(kinds)
        if kinds == ["get"]:
            allowed.add("headers")
        if len(kinds) != 1 or not set(step) <= allowed:
            raise ValueError(
                f"steps[{index}]: got {step!r}, expected one of {{'get': '/path'}}, "
                "{'post': '/path', 'json': ...}, {'create': 'name'} or {'delete': 'name'} "
                "(an HTTP step may add 'headers': {'name': 'value'}; a post may send "
                "'content': 'text' instead of 'json')."
            )
        if "json" in step and "content" in step or not isinstance(step.get("content", ""), str):
            raise ValueError(
                f"steps[{index}]: a post sends either 'json' or 'content' (a str), not both."
            )
        headers = step.get("headers", {})
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ValueError(
                f"steps[{index}]: headers must map names to values, both strings, got {headers!r}."
            )
        target = step[kinds[0]]
        if kinds[0] in _FILE_ACTIONS:
            if not isinstance(target, str) or not target or Path(target).name != target:
                raise ValueError(
                    f"steps[{index}]: {kinds[0]} needs a plain file name such as 'draining', "
                    f"got {target!r}."
                )
        elif not (isinstance(target, str) and target.startswith("/")):
            raise ValueError(
                f"steps[{index}]: {kinds[0]} needs a path such as '/predict', got {target!r}."
            )


def _reply(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    return {"status": response.status_code, "json": body, "text": response.text[:MAX_TEXT]}


def _verify(tls_cert: str | os.PathLike[str] | None) -> ssl.SSLContext | bool:
    return True if tls_cert is None else ssl.create_default_context(cafile=str(tls_cert))


def call_service(
    service_file: str | os.PathLike[str],
    steps: list[dict[str, Any]],
    *,
    service: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 45.0,
    headers: dict[str, str] | None = None,
    tls_cert: str | os.PathLike[str] | None = None,
    source: str | None = None,
    server: Literal["bentoml", "gunicorn", "uwsgi"] = "bentoml",
    workers: int = 1,
    threads: int = 1,
) -> list[dict[str, Any]]:
    """Serve a copy of `service_file` in a fresh folder and process, run `steps`, stop it.

    Returns one dict per step: `{"status": int, "json": body or None, "text": str}` for
    HTTP steps and `{"status": None, "json": None, "text": ""}` for file steps. The
    server counts as started when `/livez` answers, so a service whose readiness check
    is wrong can still be tested; `timeout` bounds the start, `env` adds environment
    variables, `headers` go with every HTTP step (a step's own headers win), and
    `tls_cert` is the certificate of a service that serves HTTPS; `source`, when given, is
    served in the copy instead of the file's own text (module 09's lab checks each part of
    a service on its own; the file need not exist, its folder must). Raises
    `mlkit.serving.ServiceStartError` (with the server's log) when it does not start.
    Only the file and the Python files beside it are copied (a project's `api_guard.py`):
    data such as a model must be named in `env`. `server`: "bentoml" (the default), or
    "gunicorn" / "uwsgi" for a WSGI app named `app` in the file, with `workers` processes
    of `threads` threads (`mlkit.serving.serve_wsgi_in_background`; started once it
    answers `/readyz`).
    """
    if server not in ("bentoml", "gunicorn", "uwsgi"):
        raise ValueError(f"server: got {server!r}, expected 'bentoml', 'gunicorn' or 'uwsgi'.")
    source_file = Path(service_file).expanduser()
    if source is not None and not isinstance(source, str):
        raise TypeError(
            f"source: expected the service's Python source as a str, got {type(source).__name__}."
        )
    if source is not None and not source_file.parent.is_dir():
        raise FileNotFoundError(
            f"service_file: no folder '{source_file.parent}' to serve the source from."
        )
    if source is None and not source_file.is_file():
        raise FileNotFoundError(
            f"service_file: no file at '{source_file}'. Expected the service.py you wrote with "
            "%%writefile."
        )
    _check_steps(steps)
    if headers is not None and not (
        isinstance(headers, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    ):
        raise ValueError(
            f"headers: expected names mapped to values, both strings, got {headers!r}."
        )
    folder = Path(tempfile.mkdtemp(prefix="call-", dir=scratch_dir("services")))
    try:
        for module in source_file.parent.glob("*.py"):  # such as the api_guard.py it imports
            shutil.copy(module, folder / module.name)
        copy = folder / source_file.name
        if source is None:
            shutil.copy(source_file, copy)
        else:
            copy.write_text(source)
        replies = []
        running: RunningService
        if server == "bentoml":
            running = serve_in_background(
                copy,
                service,
                env=env,
                timeout=timeout,
                log_dir=folder,
                wait_for="/livez",
                tls_cert=tls_cert,
            )
        else:
            running = serve_wsgi_in_background(
                copy,
                server=server,
                workers=workers,
                threads=threads,
                env=env,
                timeout=timeout,
                log_dir=folder,
            )
        with (
            running,
            httpx.Client(
                base_url=running.url,
                timeout=10,
                headers=headers,
                verify=_verify(tls_cert),
                limits=KEEPALIVE_LIMITS,
            ) as client,
        ):
            for step in steps:
                sent = step.get("headers")
                if "get" in step:
                    replies.append(_reply(client.get(step["get"], headers=sent)))
                elif "post" in step:
                    reply = client.post(
                        step["post"],
                        json=step.get("json"),
                        content=step.get("content"),
                        headers=sent,
                    )
                    replies.append(_reply(reply))
                else:
                    if "create" in step:
                        (folder / step["create"]).touch()
                    else:
                        (folder / step["delete"]).unlink(missing_ok=True)
                    replies.append({"status": None, "json": None, "text": ""})
        return replies
    finally:
        shutil.rmtree(folder, ignore_errors=True)
