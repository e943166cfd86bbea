"""Gunicorn settings for the WSGI apps mlkit serves (`gunicorn --config python:<this module>`).

Keep-alive and unread request bodies. An app that refuses a request before reading its body
(413 from `MAX_CONTENT_LENGTH`, a 415) leaves the body on the socket. Gunicorn decides the
connection header itself: it drops an app's `Connection: close` (a hop-by-hop header, which
PEP 3333 keeps for the server) and answers `keep-alive`. Its gthread worker then discards
the unread body before the next request, but at most 64 KiB of it; past that it closes the
connection it has just announced as kept alive. A client that sends its next request on it
gets no answer ("Server disconnected without sending a response"), or, if the close arrives
first, quietly opens a new one: a race. `pre_request` removes it: a request whose body the
worker could not discard (larger than that, or chunked, whose length is unknown) is answered
with `Connection: close`, so the client knows before it reuses the connection.
"""

from __future__ import annotations

from typing import Any

try:  # the cap of gunicorn's gthread worker on discarding an unread body
    from gunicorn.http.parser import _DRAIN_MAX_BYTES as DRAIN_LIMIT
except ImportError:  # a Gunicorn without one discards the whole body
    DRAIN_LIMIT = 64 * 1024


def closes_after(headers: list[tuple[str, str]]) -> bool:
    """Whether a request with these headers (Gunicorn's upper-case names) must close the
    connection after its answer: its body may be too long to discard, unread, before the
    next request."""
    for name, value in headers:
        if name == "TRANSFER-ENCODING" and "chunked" in value.lower():
            return True
        if name == "CONTENT-LENGTH" and value.strip().isdigit() and int(value) > DRAIN_LIMIT:
            return True
    return False


def pre_request(worker: Any, req: Any) -> None:
    """Gunicorn's hook before each request: announce `Connection: close` for a body that
    could not be discarded unread (see the module docstring)."""
    if closes_after(req.headers):
        req.force_close()
