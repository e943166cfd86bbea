"""A local HTTP server on 127.0.0.1 that fails on purpose, to try retries on (module 05).

`FlakyServer(script=[503, 503, 200])` answers its first requests with the statuses in
`script` and every later one with `then` (200 by default); `failure_rate` makes each
later request fail with `failure_status` at random (seeded) instead; `down_for(seconds)`
makes it answer `failure_status` to everything for a while, like a service that crashed
and came back; `delay_s` slows every answer down. It runs in a thread of this process,
records every request in `log`, and `call()` sends one request to it the way a client
of the churn service would (raising `httpx.HTTPStatusError` for an error status).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from mlkit._runtime.net import LOCALHOST
from mlkit._runtime.process import ServerThread, Stoppable


def _bad_status(status: object) -> bool:
    return isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599


class FlakyServer(Stoppable):
    """A local HTTP server that answers with scripted or random failures; see the module doc."""

    def __init__(
        self,
        script: Iterable[int] = (),
        *,
        then: int = 200,
        failure_rate: float = 0.0,
        failure_status: int = 503,
        delay_s: float = 0.0,
        seed: int = 0,
    ) -> None:
        statuses = list(script)
        checks = (("script", statuses), ("then", [then]), ("failure_status", [failure_status]))
        for name, values in checks:
            if any(_bad_status(status) for status in values):
                raise ValueError(f"{name}: got {values!r}, expected HTTP status codes in 200..599.")
        if not 0 <= failure_rate <= 1:
            raise ValueError(f"failure_rate: got {failure_rate!r}, expected a fraction in [0, 1].")
        if not (isinstance(delay_s, int | float) and 0 <= delay_s <= 30):
            raise ValueError(f"delay_s: got {delay_s!r}, expected seconds in [0, 30].")
        self.then = then
        self.failure_rate = failure_rate
        self.failure_status = failure_status
        self.delay_s = float(delay_s)
        self.log: list[tuple[float, int]] = []  # (seconds since start, status answered)
        self._script = deque(statuses)
        self._rng = random.Random(seed)  # noqa: S311 (a repeatable failure pattern, no secret)
        self._down_until = 0.0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._server = ThreadingHTTPServer((LOCALHOST, 0), self._handler())
        self._server.daemon_threads = True
        self._serving = ServerThread(self._server)
        self._client = httpx.Client(base_url=self.url, timeout=10.0)
        self._stop_at_exit()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:41234."""
        return f"http://{LOCALHOST}:{self._server.server_address[1]}"

    @property
    def requests(self) -> int:
        """How many requests the server has answered."""
        return len(self.log)

    def down_for(self, seconds: float) -> None:
        """Answer `failure_status` to every request for the next `seconds`."""
        with self._lock:
            self._down_until = time.monotonic() + seconds

    def _next_status(self) -> int:
        with self._lock:
            if time.monotonic() < self._down_until:
                return self.failure_status
            if self._script:
                return self._script.popleft()
            if self.failure_rate and self._rng.random() < self.failure_rate:
                return self.failure_status
            return self.then

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                status = server._next_status()
                if server.delay_s:
                    time.sleep(server.delay_s)
                with server._lock:
                    server.log.append((time.monotonic() - server._started, status))
                    number = len(server.log)
                body = {"request": number} if status < 400 else {"error": f"flaky: {status}"}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:  # keep notebooks quiet
                pass

        return Handler

    def call(self, path: str = "/predict", payload: Any = None) -> Any:
        """POST `payload` to `path`; the JSON answer, or `httpx.HTTPStatusError` on 4xx/5xx."""
        response = self._client.post(path, json=payload or {})
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        """Stop serving and close the port (safe to call twice)."""
        self._forget_at_exit()
        self._client.close()
        self._serving.stop()

    def __repr__(self) -> str:
        return f"<FlakyServer {self.url}, {self.requests} requests answered>"
