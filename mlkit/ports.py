"""Free ports and readiness polling on 127.0.0.1 (used from module 02 on)."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request

LOCALHOST = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def is_listening(port: int, host: str = LOCALHOST) -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def http_ok(url: str, timeout: float = 2.0, cafile: str | None = None) -> bool:
    """True when a GET of url answers with a 2xx status (HTTPS: trusting `cafile` if given)."""
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:  # noqa: S310
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_for_http(
    url: str, timeout: float = 60.0, interval: float = 0.25, alive=None, cafile: str | None = None
) -> bool:
    """Poll url until it answers 2xx or timeout seconds pass; return whether it did.

    `alive`, when given, is a callable that returns False once the server process has
    died, so the wait ends early instead of running out the clock. `cafile` is the
    certificate to trust for an HTTPS url.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_ok(url, cafile=cafile):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(interval)
    return False
