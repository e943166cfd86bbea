"""A `/metrics` page for numbers a monitor computes, such as a drift score (module 06).

A service exports its own request counters and latency histograms; a drift monitor runs
beside it and exports what it computes — the PSI of each input feature against the
training data — as Prometheus gauges on a page of its own. `MetricsExporter` serves a
`prometheus_client` registry on 127.0.0.1 (a thread of the caller's process) for
Prometheus to scrape; the notebook creates the gauges in `exporter.registry` and sets them.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from mlkit._runtime.net import LOCALHOST, free_port
from mlkit._runtime.process import Stoppable

__all__ = ["MetricsExporter"]

_BIND_ATTEMPTS = 5


def _serve(registry: CollectorRegistry) -> tuple[WSGIServer, threading.Thread]:
    for _ in range(_BIND_ATTEMPTS - 1):
        try:
            return start_http_server(free_port(), LOCALHOST, registry)
        except OSError:  # another program took the port first
            continue
    return start_http_server(free_port(), LOCALHOST, registry)


class MetricsExporter(Stoppable):
    """Serve `registry` (default: a new, empty one) at http://127.0.0.1:PORT/metrics.

    `.address` is the `host:port` to scrape; stop it with `.stop()` or a `with` block.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._server, self._thread = _serve(self.registry)
        self.port = int(self._server.server_address[1])
        self._stop_at_exit()

    @property
    def address(self) -> str:
        """`127.0.0.1:port`, the scrape target."""
        return f"{LOCALHOST}:{self.port}"

    @property
    def url(self) -> str:
        """http://127.0.0.1:port (its page is `url + "/metrics"`)."""
        return f"http://{self.address}"

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call twice)."""
        self._forget_at_exit()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __repr__(self) -> str:
        return f"<MetricsExporter {self.url}/metrics>"
