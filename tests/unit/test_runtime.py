"""mlkit._runtime: ports no port-0 binder can take, port ownership, and servers that lose a
port race start again elsewhere instead of talking to whoever holds the port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlkit import serving
from mlkit._runtime import net
from mlkit._runtime.process import LoggedProcess

APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/readyz")
def readyz() -> str:
    return "ours"
"""


def test_free_port_is_below_the_ephemeral_range_and_free():
    low, _ = net._ephemeral_range()
    ports = {net.free_port() for _ in range(20)}
    assert len(ports) == 20, "a port is handed out once per process"
    for port in ports:
        assert net._LOWEST_PORT <= port < low
        with socket.socket() as sock:
            sock.bind((net.LOCALHOST, port))


def test_free_port_ignores_the_seeded_global_random_generator():
    import random

    random.seed(0)
    first = net.free_port()
    random.seed(0)
    assert net.free_port() != first


def test_owns_port_tells_our_listener_from_another_processs(tmp_path):
    with socket.socket() as sock:
        sock.bind((net.LOCALHOST, 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert net.owns_port({os.getpid()}, port)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert not net.owns_port({other.pid}, port)
        finally:
            other.kill()
            other.wait()
    assert net.owns_port({os.getpid()}, port), "a port nobody listens on is nobody else's"


@pytest.fixture
def squatter():
    """An HTTP server of someone else's that answers 200 on every path, like a kernel or
    another service that took the port a server of ours was handed."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"not yours")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((net.LOCALHOST, 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_server_that_loses_its_port_starts_again_elsewhere(tmp_path, monkeypatch, squatter):
    ports = iter([squatter, net.free_port()])
    monkeypatch.setattr(serving, "free_port", lambda: next(ports))
    app_file = tmp_path / "app.py"
    app_file.write_text(APP)
    with serving.serve_app_in_background(app_file, log_dir=tmp_path) as running:
        assert running.port != squatter
        assert net.owns_port(running.family_pids(), running.port)
        assert net.http_ok(f"{running.url}/readyz")
    assert (tmp_path / f"app-{squatter}.log").exists(), "the first start was on the taken port"


def test_a_server_that_keeps_losing_its_port_says_so(tmp_path, monkeypatch, squatter):
    monkeypatch.setattr(serving, "free_port", lambda: squatter)
    app_file = tmp_path / "app.py"
    app_file.write_text(APP)
    with pytest.raises(
        serving.ServiceStartError, match=f"another program answers on port {squatter}"
    ):
        serving.serve_app_in_background(app_file, log_dir=tmp_path, timeout=20)


def test_a_server_given_a_taken_port_is_refused_before_it_starts(tmp_path, squatter):
    app_file = tmp_path / "app.py"
    app_file.write_text(APP)
    with pytest.raises(ValueError, match=f"port: {squatter} is already in use"):
        serving.serve_app_in_background(app_file, port=squatter, log_dir=tmp_path)


def test_logged_process_stops_its_whole_family(tmp_path):
    script = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    with LoggedProcess([sys.executable, "-c", script], tmp_path / "p.log") as proc:
        for _ in range(100):
            if "started" in proc.log_tail() and len(proc.family()) == 2:
                break
            threading.Event().wait(0.05)
        family = proc.family()
        assert len(family) == 2
        # The child left the group (its own session), so the group's SIGTERM misses it:
        # it is killed once the grace has passed. A short grace keeps the wait short.
        proc.stop(grace=1.0)
    assert not proc.is_running()
    assert not any(p.is_running() for p in family)
