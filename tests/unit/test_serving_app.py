"""mlkit.serving.serve_app_in_background: a real FastAPI app under uvicorn (or Gunicorn with
uvicorn workers), started and stopped."""

from __future__ import annotations

import asyncio
import ctypes
import http.client
import json
import os
import socket
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


def test_bad_worker_count_is_named(tmp_path):
    app_file = tmp_path / "app.py"
    app_file.write_text(APP)
    with pytest.raises(ValueError, match=r"workers: got 0, expected"):
        serve_app_in_background(app_file, workers=0, log_dir=tmp_path)
    with pytest.raises(ValueError, match=r"server: got 'hypercorn'"):
        serve_app_in_background(app_file, server="hypercorn", log_dir=tmp_path)  # type: ignore[arg-type]


_PIDFD_GETFD = 438  # the same number on every Linux architecture (Linux >= 5.6)


def _tcp_nodelay_of(pid: int, fd: int) -> int:
    """TCP_NODELAY of socket `fd` in process `pid`, read from a copy of it (pidfd_getfd)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(_PIDFD_GETFD, pidfd, fd, 0)
    finally:
        os.close(pidfd)
    if copy < 0:
        error = ctypes.get_errno()
        pytest.skip(f"cannot copy a socket from another process here: {os.strerror(error)}")
    with socket.socket(fileno=copy) as sock:
        return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def _served_connection_nodelay(running, requests: int) -> tuple[int, int]:
    """Send `requests` requests over one keep-alive connection; the server process that
    holds the other end of it, and that socket's TCP_NODELAY."""
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        for x in range(requests):
            connection.request("POST", f"/double?x={x}")
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["result"] == 2 * x
        client_port = connection.sock.getsockname()[1]
        for process in running.family():
            for conn in process.net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == client_port and conn.fd != -1:
                    return process.pid, _tcp_nodelay_of(process.pid, conn.fd)
    finally:
        connection.close()
    raise AssertionError(f"no server process holds the connection from port {client_port}")


def test_two_workers_run_under_gunicorn_with_nagle_off(tmp_path):
    app_file = tmp_path / "app.py"
    app_file.write_text(APP)
    with serve_app_in_background(app_file, workers=2, log_dir=tmp_path) as running:
        assert running.workers == 2
        master = running.family()[0]
        worker_pids = {p.pid for p in master.children()}
        assert len(worker_pids) == 2
        assert running.log_tail(400).count("Application startup complete.") == 2
        server_pid, nodelay = _served_connection_nodelay(running, requests=200)
        port = running.port
    assert server_pid in worker_pids
    assert nodelay, "Gunicorn's accepted connection has Nagle's algorithm on (no TCP_NODELAY)"
    assert "uvicorn_worker.UvicornWorker" in running.log_tail(400)
    assert not is_listening(port)


def test_uvicorn_workers_leave_nagle_on(tmp_path):
    """The cause of the 40 ms stall that serve_app_in_background avoids: `uvicorn --workers`
    serves its connections without TCP_NODELAY (one worker has it)."""
    app_file = tmp_path / "app.py"
    app_file.write_text(APP)
    nodelay = {}
    for workers in (1, 2):
        with serve_app_in_background(
            app_file, workers=workers, server="uvicorn", log_dir=tmp_path
        ) as running:
            nodelay[workers] = _served_connection_nodelay(running, requests=3)[1]
    assert nodelay[1] and not nodelay[2]


def test_asyncio_sets_nodelay_by_proto_and_accepted_sockets_inherit_it():
    """The two facts behind the stall and the fix: asyncio sets TCP_NODELAY only when the
    listening socket says `proto` IPPROTO_TCP (`socket.socket(AF_INET)` says 0), and a
    connection accepted from a listener with TCP_NODELAY has it too (what Gunicorn does)."""

    async def accepted_nodelay(listener: socket.socket) -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport):  # type: ignore[no-untyped-def]
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            result = await asyncio.wait_for(accepted, 10)
            writer.close()
        return result

    def listener(proto: int, nodelay: bool) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        return sock

    assert not asyncio.run(accepted_nodelay(listener(0, nodelay=False)))
    assert asyncio.run(accepted_nodelay(listener(socket.IPPROTO_TCP, nodelay=False)))
    assert asyncio.run(accepted_nodelay(listener(0, nodelay=True)))
