"""Loopback ports, readiness polling and port ownership on 127.0.0.1.

`free_port` picks a port below the kernel's ephemeral range: programs that bind port 0
(Jupyter kernels, ZeroMQ sockets, test servers) are handed ports from that range, so they
cannot take a port `free_port` chose between the call and the moment the server binds it.
Two callers of `free_port` can still pick the same number by chance, so a server started
by mlkit is not trusted until `listener_pids` shows that it is the one listening.
"""

from __future__ import annotations

import random
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

LOCALHOST = "127.0.0.1"
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_PORT = 10_000  # below this, well-known services (databases, dev servers) live
_random = random.SystemRandom()  # not the global generator: notebooks seed that one
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999  # Linux's default
    return low, high


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, chosen outside the range the
    kernel hands to programs that bind port 0 (see the module docstring)."""
    low, _ = _ephemeral_range()
    if low - 1 > _LOWEST_PORT:
        candidates = _random.sample(range(_LOWEST_PORT, low), k=min(200, low - _LOWEST_PORT))
        for port in candidates:
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # no room below the range
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def is_listening(port: int, host: str = LOCALHOST) -> bool:
    """True when something accepts TCP connections on host:port (module 02)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def listener_pids(port: int) -> set[int | None]:
    """The processes listening on TCP `port` on this machine (None: one this user cannot see)."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):  # not allowed, or no /proc/net here: nobody known
        return {None}
    return {
        conn.pid
        for conn in connections
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
    }


def owns_port(pids: Iterable[int], port: int) -> bool:
    """False when `port` is held by a process outside `pids` and none of `pids` listens on it.

    A listener this user cannot see is given the benefit of the doubt (True).
    """
    listeners = listener_pids(port)
    ours = set(pids)
    if listeners & ours or None in listeners:
        return True
    return not listeners


def http_ok(url: str, timeout: float = 2.0, cafile: str | None = None) -> bool:
    """True when a GET of url answers with a 2xx status (HTTPS: trusting `cafile` if given)."""
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    try:
        # The kit polls only its own servers on 127.0.0.1, over http or https.
        with urllib.request.urlopen(url, timeout=timeout, context=context) as resp:  # noqa: S310
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_for_http(
    url: str,
    timeout: float = 60.0,
    interval: float = 0.25,
    alive: Callable[[], bool] | None = None,
    cafile: str | None = None,
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
