"""HAProxy in front of replicas on 127.0.0.1: its config, its check, its process, its runtime API.

Introduced in module 05 (replicas behind a real load balancer). `write_config` fills in
the template `mlkit/data_files/haproxy.cfg` (health checks on `/readyz`, timeouts,
retries with redispatch), `check_config` runs `haproxy -c -f` and raises
`BalancerConfigError` with HAProxy's own message when it refuses the file, and
`start_balancer` runs HAProxy in the foreground as a `LoggedProcess` on a free port,
checks that HAProxy itself listens there, and returns a `Balancer`.

A `Balancer` talks to HAProxy's runtime API (a unix socket in the scratch folder, admin
level): `servers()` reads each replica's state, `set_state` sets one ready, drain or
maint, `set_weight` changes its share of the traffic, `set_address` points a server at
another port, `add_server`/`remove_server` add and delete replicas while HAProxy runs (an
autoscaler), `wait_healthy` waits until a given number of replicas pass their health checks.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Literal

import psutil

from mlkit._runtime.logs import tail_lines
from mlkit._runtime.net import LOCALHOST, free_port, owns_port
from mlkit._runtime.process import LoggedProcess, find_command
from mlkit.errors import MlkitError, ServerStartError, indented_log
from mlkit.settings import scratch_dir

__all__ = [
    "Balancer",
    "BalancerConfigError",
    "BalancerSettings",
    "BalancerStartError",
    "HAProxyNotFoundError",
    "ServerState",
    "check_config",
    "duration_ms",
    "haproxy_problem",
    "render_config",
    "require_haproxy",
    "start_balancer",
    "write_config",
]

TEMPLATE = "haproxy.cfg"  # in mlkit/data_files
INSTALL_HINT = "apt-get install haproxy"
BACKEND = "replicas"
_SERVER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")
_DURATION = re.compile(r"[0-9]+(us|ms|s|m)?")
_BALANCE = ("roundrobin", "leastconn", "static-rr", "first")
_START_ATTEMPTS = 3
_PORT_TAKEN = re.compile(r"cannot bind socket|Address already in use", re.IGNORECASE)
ServerAction = Literal["ready", "drain", "maint"]


class HAProxyNotFoundError(MlkitError, RuntimeError):
    """The `haproxy` command is not installed (`apt-get install haproxy`)."""


class BalancerConfigError(MlkitError, ValueError):
    """`haproxy -c` refused a config file. Attributes: `config_path`, `output` (HAProxy's
    messages) and `alerts` (its [ALERT] lines: what is wrong, with file and line)."""

    def __init__(self, config_path: Path, output: str) -> None:
        self.config_path = config_path
        self.output = output
        self.alerts = [line for line in output.splitlines() if "[ALERT]" in line]
        shown = "\n".join(self.alerts) or output.strip() or "(no output)"
        super().__init__(
            f"HAProxy refused the config {config_path} (`haproxy -c -f` failed):\n"
            f"{indented_log(shown)}\n"
            "Fix the line it names (the template is mlkit/data_files/haproxy.cfg; the values "
            "come from BalancerSettings), then start the balancer again."
        )


class BalancerStartError(ServerStartError):
    """HAProxy did not start or did not listen on its port; the message shows its log."""


def haproxy_problem() -> str | None:
    """Why HAProxy cannot be used here, or None when the `haproxy` command is installed."""
    if find_command("haproxy") is None:
        return f"the `haproxy` command is not installed (Debian/Ubuntu: `{INSTALL_HINT}`)"
    return None


def require_haproxy() -> str:
    """The path of the `haproxy` command; raises `HAProxyNotFoundError` when it is missing."""
    problem = haproxy_problem()
    if problem is not None:
        raise HAProxyNotFoundError(
            f"A load balancer needs HAProxy: {problem}. Install it (as root: `{INSTALL_HINT}`; "
            "macOS: `brew install haproxy`) and try again; `mlkit doctor` shows if it is found."
        )
    return str(find_command("haproxy"))


@dataclass(frozen=True)
class BalancerSettings:
    """How HAProxy checks and retries (durations in HAProxy's syntax: "500ms", "2s").

    - `check_interval`: how often each replica's `/readyz` is asked; `fall` failed checks
      in a row take a replica out, `rise` passed checks put it back: with 500ms and 2, a
      dead or hung replica is out within about a second;
    - `check_timeout`: a check that has no answer by then fails (a hung replica);
    - `connect_timeout`, `server_timeout`: a request that cannot connect, or has no answer
      within `server_timeout`, is retried on another replica, up to `retries` times; keep
      `server_timeout` above the slowest normal answer, or slow answers are sent twice;
    - `balance`: HAProxy's algorithm (roundrobin, leastconn, static-rr, first).
    """

    check_interval: str = "500ms"
    check_timeout: str = "500ms"
    fall: int = 2
    rise: int = 2
    connect_timeout: str = "500ms"
    server_timeout: str = "2s"
    retries: int = 3
    balance: str = "roundrobin"

    def __post_init__(self) -> None:
        for name in ("check_interval", "check_timeout", "connect_timeout", "server_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, str) and _DURATION.fullmatch(value)):
                raise ValueError(
                    f"{name}: got {value!r}, expected an HAProxy duration such as '500ms' or '2s'."
                )
        for name, low in (("fall", 1), ("rise", 1), ("retries", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 100:
                raise ValueError(f"{name}: got {value!r}, expected a whole number in {low}..100.")
        if self.balance not in _BALANCE:
            raise ValueError(f"balance: got {self.balance!r}, expected one of {_BALANCE}.")


_MAX_SOCKET_PATH = 97  # HAProxy's limit for `stats socket` paths
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, None: 1.0}


def duration_ms(duration: str) -> float:
    """An HAProxy duration in milliseconds: '500ms' -> 500.0, '2s' -> 2000.0, '250' -> 250.0
    (HAProxy reads a number without a unit as milliseconds)."""
    found = _DURATION.fullmatch(duration) if isinstance(duration, str) else None
    if found is None:
        raise ValueError(
            f"duration: got {duration!r}, expected an HAProxy duration such as '500ms' or '2s'."
        )
    return int(duration.removesuffix(found.group(1) or "")) * _UNIT_MS[found.group(1)]


def _check_servers(servers: Mapping[str, int]) -> dict[str, int]:
    if not isinstance(servers, Mapping) or not servers:
        raise ValueError(
            f"servers: got {servers!r}, expected a non-empty mapping of replica name to port "
            "on 127.0.0.1, e.g. {'replica-1': 3001}."
        )
    for name, port in servers.items():
        if not (isinstance(name, str) and _SERVER_NAME.fullmatch(name)):
            raise ValueError(
                f"servers: name {name!r} is not a valid server name; expected letters, digits, "
                "'_', '.', '-' (at most 32, starting with a letter), e.g. 'replica-1'."
            )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"servers: port of {name!r} is {port!r}, expected an int 1..65535.")
    return dict(servers)


def render_config(
    servers: Mapping[str, int],
    port: int,
    socket_path: str | os.PathLike[str],
    settings: BalancerSettings | None = None,
) -> str:
    """The HAProxy config for `servers` (name -> port on 127.0.0.1), listening on `port`."""
    settings = settings or BalancerSettings()
    checked = _check_servers(servers)
    if len(str(socket_path)) > _MAX_SOCKET_PATH:
        raise ValueError(
            f"socket_path: {len(str(socket_path))} characters, HAProxy takes at most "
            f"{_MAX_SOCKET_PATH} (a unix socket's limit); put it in a short folder, e.g. "
            "Path(tempfile.mkdtemp()) / 'admin.sock'."
        )
    lines = [f"    server {name} {LOCALHOST}:{p}" for name, p in checked.items()]
    text = resources.files("mlkit.data_files").joinpath(TEMPLATE).read_text()
    return Template(text).substitute(
        socket=str(socket_path),
        bind=f"{LOCALHOST}:{port}",
        servers="\n".join(lines),
        connect_timeout=settings.connect_timeout,
        server_timeout=settings.server_timeout,
        check_timeout=settings.check_timeout,
        check_interval=settings.check_interval,
        retries=settings.retries,
        fall=settings.fall,
        rise=settings.rise,
        balance=settings.balance,
    )


def write_config(
    path: str | os.PathLike[str],
    servers: Mapping[str, int],
    port: int,
    socket_path: str | os.PathLike[str],
    settings: BalancerSettings | None = None,
) -> Path:
    """Write `render_config(...)` to `path` and return the path (not yet checked)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_config(servers, port, socket_path, settings))
    return target


def check_config(path: str | os.PathLike[str]) -> None:
    """Run `haproxy -c -f path`; raise `BalancerConfigError` with HAProxy's message if it fails."""
    haproxy = require_haproxy()
    config = Path(path)
    if not config.is_file():
        raise FileNotFoundError(f"path: no HAProxy config file at '{config}'.")
    result = subprocess.run(
        [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30, check=False
    )
    if result.returncode != 0:
        raise BalancerConfigError(config, result.stdout + result.stderr)


@dataclass(frozen=True)
class ServerState:
    """One replica as HAProxy sees it: `status` is UP, DOWN, MAINT, DRAIN, or "UP 1/2" /
    "DOWN 1/2" (checks failing or passing, `fall` or `rise` not reached yet); `check` is
    the last health check's result (L7OK, L7STS: wrong status, L4TOUT: no answer, ...);
    `requests` were sent to it, `retries` of them were retried and `redispatches` sent
    to another replica after it failed them."""

    name: str
    address: str
    status: str
    weight: int
    check: str
    active_connections: int
    requests: int
    retries: int = 0
    redispatches: int = 0

    @property
    def healthy(self) -> bool:
        """True while HAProxy sends it new requests: UP, or UP with failed checks that have
        not reached `fall` yet ("UP 1/2"); not DOWN, MAINT or DRAIN."""
        return self.status == "UP" or self.status.startswith("UP ")

    @property
    def port(self) -> int:
        """The port of the replica this server points at (its `address` is 127.0.0.1:port)."""
        return int(self.address.rsplit(":", 1)[1])

    @property
    def passed_check(self) -> bool:
        """True when it is UP and its last health check passed (not merely assumed at start)."""
        return self.status == "UP" and self.check.startswith("L7OK")


class Balancer(LoggedProcess):
    """HAProxy started by `start_balancer`: `url` to send requests to, the runtime API to
    read and change the replicas, `stop()` (or a `with` block) to end it."""

    def __init__(
        self,
        command: list[str],
        log_path: Path,
        *,
        port: int,
        config_path: Path,
        socket_path: Path,
        settings: BalancerSettings | None = None,
    ) -> None:
        self.port = port
        self.config_path = config_path
        self.socket_path = socket_path
        self.settings = settings or BalancerSettings()
        super().__init__(command, log_path)

    @property
    def url(self) -> str:
        """Where clients send requests, e.g. http://127.0.0.1:41234."""
        return f"http://{LOCALHOST}:{self.port}"

    def command_output(self, command: str, timeout: float = 5.0) -> str:
        """Send one command to HAProxy's runtime API and return its answer as text."""
        if not (isinstance(command, str) and command.strip() and "\n" not in command):
            raise ValueError(f"command: got {command!r}, expected one runtime API command.")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(self.socket_path))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def servers(self) -> list[ServerState]:
        """Every replica with its state, from the runtime API's `show stat`."""
        text = self.command_output("show stat")
        lines = text.strip().splitlines()
        if not lines or not lines[0].startswith("# "):
            raise RuntimeError(f"HAProxy's `show stat` answered {text[:200]!r}, expected CSV.")
        header = lines[0][2:].split(",")
        states = []
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") != BACKEND or row.get("svname") in ("FRONTEND", "BACKEND"):
                continue
            states.append(
                ServerState(
                    name=row["svname"],
                    address=row.get("addr", ""),
                    status=row["status"],
                    weight=int(row.get("weight") or 0),
                    check=row.get("check_status", ""),
                    active_connections=int(row.get("scur") or 0),
                    requests=int(row.get("stot") or 0),
                    retries=int(row.get("wretr") or 0),
                    redispatches=int(row.get("wredis") or 0),
                )
            )
        return states

    def healthy_count(self) -> int:
        """How many replicas get new requests now."""
        return sum(state.healthy for state in self.servers())

    def _server(self, name: str) -> str:
        known = [state.name for state in self.servers()]
        if name not in known:
            raise ValueError(f"name: no server {name!r} behind this balancer; it has {known}.")
        return f"{BACKEND}/{name}"

    def set_state(self, name: str, state: ServerAction) -> None:
        """Set a replica `ready` (back in), `drain` (no new requests, health checks go on)
        or `maint` (out, checks stopped) through the runtime API."""
        if state not in ("ready", "drain", "maint"):
            raise ValueError(f"state: got {state!r}, expected 'ready', 'drain' or 'maint'.")
        self._expect_empty(f"set server {self._server(name)} state {state}")

    def set_weight(self, name: str, weight: int) -> None:
        """Give a replica `weight` (0..256; default 1): its share of new requests is its
        weight over the sum of the weights of healthy replicas (0 drains it)."""
        if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 256:
            raise ValueError(f"weight: got {weight!r}, expected a whole number in 0..256.")
        self._expect_empty(f"set server {self._server(name)} weight {weight}")

    def set_address(self, name: str, port: int) -> None:
        """Point the slot `name` at another replica, `127.0.0.1:port`, through the runtime API
        (a rolling update swaps the process behind a slot without reloading HAProxy)."""
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port: got {port!r}, expected a TCP port 1..65535.")
        command = f"set server {self._server(name)} addr {LOCALHOST} port {port}"
        answer = self.command_output(command).strip()
        if "changed" not in answer and "no need to change" not in answer:
            raise RuntimeError(f"HAProxy refused `{command}`: {answer}")

    def add_server(self, name: str, port: int) -> None:
        """Add a replica at `127.0.0.1:port` as server `name`, with the same health checks
        as the others, and send it traffic at once (runtime API `add server`, `enable
        health`, `enable server`: no reload, no dropped connection). Add a replica only
        once it is ready; its checks go on from there."""
        _check_servers({name: port})
        if name in {state.name for state in self.servers()}:
            raise ValueError(f"name: the balancer already has a server {name!r}.")
        s = self.settings
        checks = (
            f"check inter {s.check_interval} fastinter {s.check_interval} "
            f"downinter {s.check_interval} fall {s.fall} rise {s.rise}"
        )
        command = f"add server {BACKEND}/{name} {LOCALHOST}:{port} {checks}"
        answer = self.command_output(command).strip()
        if "New server registered" not in answer:
            raise RuntimeError(f"HAProxy refused `{command}`: {answer}")
        self._expect_empty(f"enable health {BACKEND}/{name}")
        self._expect_empty(f"enable server {BACKEND}/{name}")

    def remove_server(self, name: str, drain_timeout: float = 10.0) -> None:
        """Take server `name` out for good: drain it (no new requests), wait up to
        `drain_timeout` s for its requests in flight, put it in maintenance and delete it
        (runtime API `del server`). Stop its replica afterwards."""
        server = self._server(name)
        self.set_state(name, "drain")
        self.wait_idle(name, drain_timeout)
        self._expect_empty(f"disable server {server}")
        deadline = time.monotonic() + drain_timeout
        while True:  # HAProxy deletes a server only once no connection uses it
            answer = self.command_output(f"del server {server}").strip()
            if "Server deleted" in answer:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy refused `del server {server}`: {answer}")
            time.sleep(0.1)

    def wait_idle(self, name: str, timeout: float = 10.0) -> bool:
        """Wait until server `name` has no request in flight; False if `timeout` s passed."""
        deadline = time.monotonic() + timeout
        while True:
            state = {s.name: s for s in self.servers()}.get(name)
            if state is None or state.active_connections == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    def _expect_empty(self, command: str) -> None:
        answer = self.command_output(command).strip()
        if answer:
            raise RuntimeError(f"HAProxy refused `{command}`: {answer}")

    def wait_healthy(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until exactly `count` replicas are UP with a passed health check (the others
        out); return whether that happened within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.servers()
            passed = sum(state.passed_check for state in states)
            if passed == count and sum(state.healthy for state in states) == count:
                return True
            if not self.is_running():
                return False
            time.sleep(0.1)
        return False

    def stop(self, grace: float = 10.0) -> None:
        """Stop HAProxy and remove its runtime API socket."""
        super().stop(grace)
        self.socket_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.socket_path.parent.rmdir()  # the socket's own folder, once it is empty

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<Balancer HAProxy {self.url} ({state}), config: {self.config_path}>"


def start_balancer(
    servers: Mapping[str, int],
    *,
    settings: BalancerSettings | None = None,
    port: int | None = None,
    workdir: str | os.PathLike[str] | None = None,
    timeout: float = 15.0,
) -> Balancer:
    """Start HAProxy on 127.0.0.1 in front of `servers` (name -> port on 127.0.0.1).

    Writes the config into `workdir` (default: a new folder under `<scratch>/balancer`),
    checks it with `haproxy -c` (`BalancerConfigError` with HAProxy's message if refused),
    starts HAProxy on `port` (default: a free one; another one if a program took it
    first) and returns once HAProxy listens there and its runtime API answers. Health
    checks start then: `wait_healthy(n)` waits for them. Introduced in module 05.
    """
    haproxy = require_haproxy()
    _check_servers(servers)
    if not timeout > 0:
        raise ValueError(f"timeout: got {timeout!r}, expected seconds > 0.")
    folder = Path(workdir) if workdir is not None else scratch_dir("balancer")
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, _START_ATTEMPTS + 1):
        chosen = port if port is not None else free_port()
        # A unix socket path is limited to about 100 characters: keep it in a short folder.
        socket_path = Path(tempfile.mkdtemp(prefix="mlkit-haproxy-")) / "admin.sock"
        config_path = folder / f"haproxy-{chosen}.cfg"
        config = write_config(config_path, servers, chosen, socket_path, settings)
        try:
            check_config(config)
        except BalancerConfigError:
            socket_path.parent.rmdir()
            raise
        command = [haproxy, "-db", "-f", str(config)]
        balancer = Balancer(
            command,
            folder / f"haproxy-{chosen}.log",
            port=chosen,
            config_path=config,
            socket_path=socket_path,
            settings=settings,
        )
        if _wait_started(balancer, timeout):
            return balancer
        balancer.stop(grace=2.0)
        taken = bool(_PORT_TAKEN.search(tail_lines(balancer.log_path, 50)))
        if port is None and taken and attempt < _START_ATTEMPTS:
            continue
        reason = (
            f"port {chosen} is taken by another program"
            if taken
            else f"it did not listen on {LOCALHOST}:{chosen} with its runtime API within "
            f"{timeout:.0f} s (exit code {balancer.returncode})"
        )
        raise BalancerStartError(
            f"HAProxy with {config}",
            reason,
            tail_lines(balancer.log_path, 25),
            balancer.log_path,
            "Read HAProxy's messages above; pass port=None for a free port.",
        )
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _wait_started(balancer: Balancer, timeout: float) -> bool:
    """True once HAProxy's own process listens on its port and its runtime API answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and balancer.is_running():
        listening = balancer.port in _listening_ports(balancer)
        if listening and owns_port(balancer.family_pids(), balancer.port):
            try:
                balancer.command_output("show info")
            except OSError:
                pass
            else:
                return True
        time.sleep(0.1)
    return False


def _listening_ports(balancer: Balancer) -> set[int]:
    ports: set[int] = set()
    for proc in balancer.family():
        try:
            connections = proc.net_connections(kind="tcp")
        except psutil.Error:  # gone, or not allowed: not listening for us
            continue
        ports |= {c.laddr.port for c in connections if c.status == "LISTEN" and c.laddr}
    return ports
