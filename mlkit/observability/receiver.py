"""A webhook receiver that records Alertmanager's notifications (module 06).

Alertmanager delivers each notification as a JSON POST to a receiver's URL: the group's
`status` (firing or resolved), `receiver`, `groupLabels`, and the list of `alerts` with
their labels, annotations and start and end times. `WebhookReceiver` is a small HTTP
server on 127.0.0.1 (a thread of the caller's process) that keeps every notification it
gets, so a notebook can show them as a table and a test can wait for one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd

from mlkit._runtime.net import LOCALHOST, free_port
from mlkit._runtime.process import ServerThread, Stoppable

__all__ = ["Notification", "WebhookReceiver"]

Notification = dict[str, Any]
_MAX_BODY = 1_000_000
_BIND_ATTEMPTS = 5


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= _MAX_BODY:
            self.send_error(413 if length else 411)
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_error(400, "expected a JSON body")
            return
        self.server.record(self.path, payload)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the notifications themselves are the record."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__((LOCALHOST, port), _Handler)
        self.received: list[Notification] = []
        self.changed = threading.Condition()

    def record(self, path: str, payload: Any) -> None:
        with self.changed:
            self.received.append({"received_at": time.time(), "path": path, "payload": payload})
            self.changed.notify_all()


class WebhookReceiver(Stoppable):
    """An HTTP server on 127.0.0.1 that keeps every JSON POST (Alertmanager's webhooks).

    `url(path)` is the address to give Alertmanager (one path per receiver, e.g. "/team"
    and "/oncall"); `notifications` is what arrived; `table()` has one row per alert in
    each notification; `wait_for(...)` waits for a matching alert. Stop it with `.stop()`
    or a `with` block.
    """

    def __init__(self) -> None:
        for attempt in range(_BIND_ATTEMPTS):
            try:
                self._server = _Server(free_port())
                break
            except OSError:  # another program took the port first
                if attempt == _BIND_ATTEMPTS - 1:
                    raise
        self.port = int(self._server.server_address[1])
        self._serving = ServerThread(self._server)
        self._stop_at_exit()

    def url(self, path: str = "/") -> str:
        """The webhook address for `path`, e.g. http://127.0.0.1:12345/team."""
        if not (isinstance(path, str) and path.startswith("/")):
            raise ValueError(f"path: got {path!r}, expected a path such as '/team'.")
        return f"http://{LOCALHOST}:{self.port}{path}"

    @property
    def notifications(self) -> list[Notification]:
        """Every notification so far: `received_at` (epoch s), `path`, `payload` (the JSON)."""
        with self._server.changed:
            return list(self._server.received)

    def table(self) -> pd.DataFrame:
        """One row per alert per notification: when, path, receiver, group status, the
        alert's name, status, severity, service and summary."""
        rows = [
            {
                "received_at": n["received_at"],
                "path": n["path"],
                "receiver": n["payload"].get("receiver"),
                "group_status": n["payload"].get("status"),
                "alerts_in_group": len(n["payload"].get("alerts", [])),
                "alertname": alert.get("labels", {}).get("alertname"),
                "status": alert.get("status"),
                "severity": alert.get("labels", {}).get("severity"),
                "service": alert.get("labels", {}).get("service"),
                "summary": alert.get("annotations", {}).get("summary"),
            }
            for n in self.notifications
            if isinstance(n["payload"], dict)
            for alert in n["payload"].get("alerts", [])
        ]
        return pd.DataFrame(rows, columns=None if rows else ["received_at", "alertname", "status"])

    def wait_for(
        self,
        alertname: str,
        status: str = "firing",
        timeout: float = 60.0,
        after: float = 0.0,
        where: Callable[[pd.Series], bool] | None = None,
    ) -> pd.Series:
        """Wait until an alert `alertname` with `status` ("firing" or "resolved") arrives
        at or after the epoch time `after`; return its row of `table()`.

        Raises TimeoutError, listing what did arrive, after `timeout` seconds.
        """
        if status not in ("firing", "resolved"):
            raise ValueError(f"status: got {status!r}, expected 'firing' or 'resolved'.")
        deadline = time.monotonic() + timeout
        with self._server.changed:
            while True:
                table = self.table()
                if len(table):
                    hits = table[
                        (table.alertname == alertname)
                        & (table.status == status)
                        & (table.received_at >= after)
                    ]
                    if where is not None:
                        hits = hits[hits.apply(where, axis=1)] if len(hits) else hits
                    if len(hits):
                        return hits.iloc[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no {status} {alertname} notification within {timeout:.0f} s; "
                        f"received:\n{table.to_string() if len(table) else '(nothing)'}"
                    )
                self._server.changed.wait(min(left, 0.5))

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call twice)."""
        self._forget_at_exit()
        self._serving.stop()

    def __repr__(self) -> str:
        return f"<WebhookReceiver {self.url()} ({len(self.notifications)} notifications)>"
