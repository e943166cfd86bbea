"""Run a BentoML service in the background on 127.0.0.1 (introduced in module 02).

BentoML imports a service from a file, so a service written in a notebook cell
cannot be served: lessons write it with `%%writefile service.py` and start it here.
`serve_in_background` runs `bentoml serve` in its own process group on a free port,
waits for `/readyz`, checks that its own process is the one listening on that port
(another program that took the port first means a new port and a new start), keeps the
server's log in a file, and stops everything it started when the `with` block ends (or
at interpreter exit). Each server gets a BentoML
home of its own that links to the shared model store, so that servers running at the
same time keep separate `/metrics`.
`serve_app_in_background` does the same for a plain FastAPI app run by uvicorn, or,
with several workers, by Gunicorn with uvicorn workers (see `serve_app_in_background`
for why not `uvicorn --workers`). `serve_wsgi_in_background` runs a WSGI app (Flask)
under Gunicorn (sync or threaded workers) or uWSGI, for the comparison of module 02.
"""

from __future__ import annotations

import functools
import os
import re
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlkit._runtime import gunicorn_config
from mlkit._runtime.logs import tail_lines
from mlkit._runtime.net import LOCALHOST, free_port, http_ok, is_listening, owns_port, wait_for_http
from mlkit._runtime.process import LoggedProcess
from mlkit.errors import MlkitError, ServerStartError
from mlkit.settings import bentoml_home, scratch_dir

if TYPE_CHECKING:
    import bentoml

__all__ = [
    "RunningService",
    "ServerMissingError",
    "ServiceStartError",
    "bentoml_env",
    "is_listening",
    "serve_app_in_background",
    "serve_in_background",
    "serve_wsgi_in_background",
]

# Written by the service worker when the service class fails to initialise; the
# BentoML supervisor stays up and retries, so the exit code alone cannot tell.
STARTUP_FAILED_MARKER = "Application startup failed"
_SERVICE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# What a server logs when another program holds its port: start again on another one.
_PORT_TAKEN = re.compile(r"address already in use|\[Errno 98\]", re.IGNORECASE)
_START_ATTEMPTS = 3
# What uvicorn logs once a worker's application has started (under Gunicorn too).
_WORKER_STARTED = "Application startup complete."
# What Gunicorn and uWSGI log for each worker they fork; with the app loaded before the
# fork (`--preload`, uWSGI's default), a forked worker is ready to serve.
_WSGI_WORKER_FORKED = {"gunicorn": "Booting worker with pid", "uwsgi": "spawned uWSGI worker"}


def bentoml_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a `bentoml` subprocess: this one, plus the kit's BentoML home,
    usage tracking off, unbuffered output, and `extra` on top."""
    env = dict(os.environ)
    env.update(
        BENTOML_HOME=str(bentoml_home()),
        BENTOML_DO_NOT_TRACK="True",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


class ServerMissingError(MlkitError, FileNotFoundError):
    """The server program asked for is not installed in this environment (module 02)."""


class ServiceStartError(ServerStartError):
    """A BentoML service did not become ready; the message shows the end of its log.

    Attributes: `service_file`, `reason` (one line), `log_path`, `log_tail`.
    """

    def __init__(
        self, service_file: Path, reason: str, log_path: Path, log_tail: str, *, timed_out: bool
    ) -> None:
        self.service_file = service_file
        if timed_out:
            advice = (
                "If the log shows it still loading, pass a larger `timeout=`; if it shows "
                "an error, fix it and start the service again."
            )
        else:
            advice = (
                f"Fix the error shown in the log (running `python {service_file.name}` in "
                "its folder shows import errors directly), then start the service again."
            )
        super().__init__(f"The service in {service_file}", reason, log_tail, log_path, advice)


class RunningService(LoggedProcess):
    """A server started by `serve_in_background` (or `serve_app_in_background`); stop it
    with `.stop()` or use it as a context manager. `.process` is its `subprocess.Popen`."""

    def __init__(
        self,
        command: list[str],
        log_path: Path,
        *,
        port: int,
        cwd: Path,
        env: dict[str, str],
        tls_cert: Path | None = None,
        workers: int = 1,
    ) -> None:
        self.port = port
        self.tls_cert = tls_cert
        self.workers = workers
        super().__init__(command, log_path, cwd=cwd, env=env)

    @property
    def url(self) -> str:
        """Base URL of the service, e.g. http://127.0.0.1:41234 (https:// with `tls_cert`)."""
        scheme = "http" if self.tls_cert is None else "https"
        return f"{scheme}://{LOCALHOST}:{self.port}"

    def is_ready(self) -> bool:
        """True when the service answers `/readyz` with 2xx."""
        return http_ok(f"{self.url}/readyz", cafile=self._cafile)

    @property
    def _cafile(self) -> str | None:
        return None if self.tls_cert is None else str(self.tls_cert)

    def client(
        self, *, headers: Mapping[str, str] | None = None, timeout: float = 30.0
    ) -> bentoml.SyncHTTPClient:
        """A BentoML HTTP client for this service (close it, or use it in `with`).

        `headers` go with every call, the schema request included (an API key such as
        `{"X-API-Key": key}`, module 08); over HTTPS the client trusts the service's
        certificate (`tls_cert`), as the readiness check does. Note that BentoML's client
        sends only the fields the schema names: test a contract with raw HTTP (module 02).
        """
        extra = dict(headers or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
            raise ValueError(f"headers: expected names and values as strings, got {headers!r}.")
        verify: ssl.SSLContext | bool = (
            True if self._cafile is None else ssl.create_default_context(cafile=self._cafile)
        )
        client: bentoml.SyncHTTPClient = _client_class()(
            self.url, headers=extra, verify=verify, timeout=timeout
        )
        return client

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<RunningService {self.url} ({state}), log: {self.log_path}>"


@functools.cache
def _client_class() -> type[bentoml.SyncHTTPClient]:
    """`bentoml.SyncHTTPClient` whose HTTP connection adds headers and trusts a given CA.

    BentoML's client takes neither: it builds its httpx client from the URL, a bearer
    token and a timeout, so a service behind an X-API-Key check or a self-signed
    certificate could not be reached (its readiness wait failed after 30 s).
    """
    import bentoml
    import httpx

    class KitClient(bentoml.SyncHTTPClient):
        def __init__(
            self, url: str, *, headers: dict[str, str], verify: Any, timeout: float
        ) -> None:
            self._kit_headers = headers
            self._kit_verify = verify
            super().__init__(url, timeout=timeout)

        @functools.cached_property
        def client(self) -> httpx.Client:
            return httpx.Client(
                base_url=self.url,
                headers={**self.default_headers, **self._kit_headers},
                timeout=self.timeout,
                verify=self._kit_verify,
                follow_redirects=True,
            )

    return KitClient


def _check_arguments(
    service_file: Path, service: str | None, port: int | None, timeout: float
) -> None:
    if not service_file.is_file():
        raise FileNotFoundError(
            f"service_file: no file at '{service_file}'. Expected the path of a .py file "
            "that defines a @bentoml.service class (write it with %%writefile service.py)."
        )
    if service_file.suffix != ".py":
        raise ValueError(
            f"service_file: got '{service_file.name}', expected a Python file ending in .py."
        )
    if service is not None and not _SERVICE_NAME.fullmatch(service):
        raise ValueError(
            f"service: got {service!r}, expected the name of the service class in "
            f"{service_file.name} (a Python identifier such as 'IrisClassifier'), or None."
        )
    if port is not None and not (isinstance(port, int) and 0 < port < 65536):
        raise ValueError(f"port: got {port!r}, expected an int in 1..65535 or None (free port).")
    if port is not None and is_listening(port):
        raise ValueError(f"port: {port} is already in use on {LOCALHOST}; pass port=None.")
    if not timeout > 0:
        raise ValueError(f"timeout: got {timeout!r}, expected a number of seconds > 0.")


def _check_app(app: str, path: Path, what: str) -> None:
    """`app` must name an object in `path` (a Python identifier)."""
    if not _SERVICE_NAME.fullmatch(app):
        raise ValueError(
            f"app: got {app!r}, expected the name of the {what} in "
            f"{path.name} (a Python identifier such as 'app')."
        )


def _check_count(name: str, value: object, expected: str) -> None:
    """`value` must be an int from 1 to 64 (workers, threads)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise ValueError(f"{name}: got {value!r}, expected {expected}, 1..64.")


def serve_in_background(
    service_file: str | os.PathLike[str],
    service: str | None = None,
    *,
    port: int | None = None,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    wait_for: str = "/readyz",
    tls_cert: str | os.PathLike[str] | None = None,
) -> RunningService:
    """Start `bentoml serve service_file[:service]` on 127.0.0.1 and wait until it is ready.

    `service` names the service class (needed when the file defines more than one);
    `port` defaults to a free one; `env` adds environment variables for the server;
    the log goes to `log_dir` (default `<scratch>/services`). Raises `ServiceStartError`
    with the end of the log when the server exits, fails to start, or is not ready
    within `timeout` seconds. `wait_for="/livez"` waits only until the server answers,
    for tests of a service's own readiness check. `tls_cert`: the service serves HTTPS
    (its `@bentoml.service(ssl=...)` configuration) with this certificate, which the
    readiness check trusts; `.url` is then https:// (module 08). Introduced in module 02.
    """
    path = Path(service_file).expanduser().resolve()
    _check_arguments(path, service, port, timeout)
    if not (isinstance(wait_for, str) and wait_for.startswith("/")):
        raise ValueError(f"wait_for: got {wait_for!r}, expected a path such as '/readyz'.")
    cert = None if tls_cert is None else Path(tls_cert).resolve()
    if cert is not None and not cert.is_file():
        raise FileNotFoundError(f"tls_cert: no certificate file at '{cert}'.")
    target = path.name if service is None else f"{path.name}:{service}"
    log_folder = _log_folder(log_dir)
    server_env = bentoml_env(env)

    def start(chosen: int) -> RunningService:
        command = [sys.executable, "-m", "bentoml", "serve", target, "--host", LOCALHOST]
        command += ["--port", str(chosen), "--working-dir", str(path.parent)]
        home = Path(tempfile.mkdtemp(prefix=f"{path.stem}-{chosen}-home-", dir=log_folder))
        own_env = dict(server_env)
        own_env["BENTOML_HOME"] = str(_private_home(Path(server_env["BENTOML_HOME"]), home))
        log_path = log_folder / f"{path.stem}-{chosen}.log"
        return RunningService(
            command, log_path, port=chosen, cwd=path.parent, env=own_env, tls_cert=cert
        )

    return _start_and_wait(start, path, port, timeout, wait_for)


def _private_home(shared: Path, home: Path) -> Path:
    """A BentoML home for one server: the shared model and bento stores, its own metrics.

    `bentoml serve` empties `<home>/prometheus_multiproc_dir` when it starts, and /metrics
    reports every file in it, so servers sharing a home would wipe and mix their metrics.
    """
    for store in ("models", "bentos"):
        (shared / store).mkdir(parents=True, exist_ok=True)
        (home / store).symlink_to(shared / store, target_is_directory=True)
    return home


def _log_folder(log_dir: str | os.PathLike[str] | None) -> Path:
    folder = Path(log_dir) if log_dir is not None else scratch_dir("services")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def serve_app_in_background(
    app_file: str | os.PathLike[str],
    app: str = "app",
    *,
    workers: int = 1,
    server: Literal["uvicorn", "gunicorn"] | None = None,
    port: int | None = None,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> RunningService:
    """Start a plain ASGI app (FastAPI, Starlette) on 127.0.0.1 with `workers` processes.

    Like `serve_in_background`, for the FastAPI comparison of module 02: `app` names
    the application object in `app_file`, which must answer GET /readyz with 2xx once
    it can serve; with several workers, the call returns once every worker has started
    its application (`.workers` says how many). Same arguments, errors and clean-up
    (`.client()` is BentoML-only).

    `server` defaults to `uvicorn file:app` for one worker and to Gunicorn with uvicorn
    workers (`gunicorn -k uvicorn_worker.UvicornWorker -w N`) for more. Not `uvicorn
    --workers N`: it binds the listening socket itself with `socket.socket(AF_INET)`, whose
    `proto` is 0, and asyncio sets TCP_NODELAY only on sockets whose `proto` is
    IPPROTO_TCP, so its workers' connections keep Nagle's algorithm on. uvicorn sends a
    response's headers and body in two writes; Nagle holds the body back until the
    client acknowledges the headers, and the client delays that acknowledgement (up to
    40 ms on Linux) while it waits for the rest: about 40 ms per request, with the server
    idle. Gunicorn sets TCP_NODELAY on its listening socket, and accepted connections
    inherit it. `server="uvicorn"` with several workers is there to show that stall
    (module 05).
    """
    path = Path(app_file).expanduser().resolve()
    _check_arguments(path, None, port, timeout)
    _check_app(app, path, "application object")
    _check_count("workers", workers, "a whole number of processes")
    if server not in (None, "uvicorn", "gunicorn"):
        raise ValueError(f"server: got {server!r}, expected 'uvicorn', 'gunicorn' or None.")
    chosen_server = server or ("uvicorn" if workers == 1 else "gunicorn")
    log_folder = _log_folder(log_dir)
    server_env = bentoml_env(env)

    def start(chosen: int) -> RunningService:
        if chosen_server == "gunicorn":
            command = [sys.executable, "-m", "gunicorn", f"{path.stem}:{app}"]
            command += ["--chdir", str(path.parent), "--bind", f"{LOCALHOST}:{chosen}"]
            command += ["--workers", str(workers), "--worker-class", "uvicorn_worker.UvicornWorker"]
            command += ["--graceful-timeout", "5", "--no-control-socket"]
        else:
            command = [sys.executable, "-m", "uvicorn", f"{path.stem}:{app}"]
            command += ["--app-dir", str(path.parent), "--host", LOCALHOST, "--port", str(chosen)]
            command += ["--workers", str(workers), "--no-access-log"]
        log_path = log_folder / f"{path.stem}-{chosen}.log"
        return RunningService(
            command, log_path, port=chosen, cwd=path.parent, env=server_env, workers=workers
        )

    running = _start_and_wait(start, path, port, timeout, "/readyz")
    if workers > 1:
        _wait_for_workers(running, path, _WORKER_STARTED, timeout)
    return running


def _wait_for_workers(running: RunningService, path: Path, marker: str, timeout: float) -> None:
    """Wait until the log shows `marker` once per worker; stop the server and raise if not."""
    deadline = time.monotonic() + timeout
    while running.log_tail(400).count(marker) < running.workers:
        if not running.is_running() or time.monotonic() > deadline:
            running.stop(grace=2.0)
            started = running.log_tail(400).count(marker)
            reason = f"{started} of {running.workers} workers started"
            log_tail = tail_lines(running.log_path, 25)
            raise ServiceStartError(path, reason, running.log_path, log_tail, timed_out=True)
        time.sleep(0.1)


def serve_wsgi_in_background(
    app_file: str | os.PathLike[str],
    app: str = "app",
    *,
    server: Literal["gunicorn", "uwsgi"] = "gunicorn",
    workers: int = 1,
    threads: int = 1,
    port: int | None = None,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> RunningService:
    """Start a WSGI app (Flask, Django) on 127.0.0.1 under Gunicorn or uWSGI (module 02).

    `app` names the application object in `app_file`, which must answer GET /readyz with
    2xx once it can serve. `workers` processes each run `threads` requests at a time:
    Gunicorn uses its `sync` worker for one thread (one request, then the connection is
    closed: no keep-alive) and its `gthread` worker for more (keep-alive, a thread pool),
    with `mlkit._runtime.gunicorn_config`: a request whose body is too long for Gunicorn to
    discard unread is answered `Connection: close` (Gunicorn drops an app's own `Connection`
    header; without this it would announce keep-alive and then close, and the client's next
    request on that connection would get no answer); uWSGI (`pyuwsgi` from PyPI) serves
    HTTP in its workers (`--http-socket`, no router process in front), `--threads` each,
    and closes the connection after every answer, saying so (`Connection: close`), as
    Gunicorn's sync worker does. Its keep-alive socket (`--http11-socket`) would tie each
    worker thread to one client's connection for as long as that client keeps it open: with
    more clients than threads, the others wait unanswered (head-of-line blocking), which a
    load test sees as a few fast clients and requests that never finish. Both load the app once,
    before forking the workers (Gunicorn's `--preload`, uWSGI's default), so the call
    returns once every worker has been forked, and an app that fails to import stops the
    server with its error in the log. Same arguments, errors and clean-up as
    `serve_app_in_background`; `.workers` says how many processes serve.
    """
    path = Path(app_file).expanduser().resolve()
    _check_arguments(path, None, port, timeout)
    _check_app(app, path, "WSGI application object")
    if server not in _WSGI_WORKER_FORKED:
        raise ValueError(f"server: got {server!r}, expected 'gunicorn' or 'uwsgi'.")
    _check_count("workers", workers, "a whole number")
    _check_count("threads", threads, "a whole number")
    uwsgi = Path(sys.executable).with_name("uwsgi")
    if server == "uwsgi" and not uwsgi.is_file():
        raise ServerMissingError(
            f"server='uwsgi' needs the `uwsgi` command next to {sys.executable}, and there is "
            "none. Install PyPI's `pyuwsgi` into this environment (`make setup` does, or "
            "`pip install pyuwsgi`), then check with `mlkit doctor`."
        )
    log_folder = _log_folder(log_dir)
    server_env = bentoml_env(env)

    def start(chosen: int) -> RunningService:
        if server == "gunicorn":
            command = [sys.executable, "-m", "gunicorn", f"{path.stem}:{app}", "--preload"]
            command += ["--chdir", str(path.parent), "--bind", f"{LOCALHOST}:{chosen}"]
            command += ["--workers", str(workers), "--threads", str(threads)]
            command += ["--worker-class", "sync" if threads == 1 else "gthread"]
            command += ["--graceful-timeout", "5", "--no-control-socket"]
            command += ["--config", f"python:{gunicorn_config.__name__}"]
        else:
            command = [str(uwsgi), "--http-socket", f"{LOCALHOST}:{chosen}", "--master"]
            command += ["--add-header", "Connection: close"]
            command += ["--module", f"{path.stem}:{app}", "--chdir", str(path.parent)]
            command += ["--processes", str(workers), "--threads", str(threads)]
            command += ["--need-app", "--die-on-term", "--strict", "--disable-logging"]
            command += ["--enable-threads", "--single-interpreter"]
        log_path = log_folder / f"{path.stem}-{server}-{chosen}.log"
        return RunningService(
            command, log_path, port=chosen, cwd=path.parent, env=server_env, workers=workers
        )

    running = _start_and_wait(start, path, port, timeout, "/readyz")
    _wait_for_workers(running, path, _WSGI_WORKER_FORKED[server], timeout)
    return running


def _start_and_wait(
    start: Callable[[int], RunningService],
    path: Path,
    port: int | None,
    timeout: float,
    wait_for: str,
) -> RunningService:
    """Start a server on `port` (default: a free one) and wait until `wait_for` answers.

    The server is ready only when its own process family listens on the port; when
    another program took a free port first, the server starts again on another one.
    """
    for attempt in range(1, _START_ATTEMPTS + 1):
        running = start(port if port is not None else free_port())

        def alive(running: RunningService = running) -> bool:
            return running.is_running() and STARTUP_FAILED_MARKER not in running.log_tail(200)

        started = time.monotonic()
        ready_url = f"{running.url}{wait_for}"
        ready = wait_for_http(
            ready_url, timeout=timeout, interval=0.2, alive=alive, cafile=running._cafile
        )
        owned = owns_port(running.family_pids(), running.port)
        if ready and owned:
            return running
        port_taken = not owned or bool(_PORT_TAKEN.search(running.log_tail(200)))
        if port is None and port_taken and attempt < _START_ATTEMPTS:
            running.stop(grace=2.0)
            continue
        code = running.returncode
        timed_out = False
        if ready:
            reason = f"another program answers on port {running.port}"
        elif code is not None:
            reason = f"the server exited with code {code}"
        elif STARTUP_FAILED_MARKER in running.log_tail(200):
            reason = "the service raised an error while starting"
        else:
            timed_out = True
            reason = f"{wait_for} did not answer within {time.monotonic() - started:.0f} s"
        running.stop(grace=2.0)  # nothing to shut down gracefully in a server that never started
        log_tail = tail_lines(running.log_path, 25)
        raise ServiceStartError(path, reason, running.log_path, log_tail, timed_out=timed_out)
    raise AssertionError("unreachable")  # the last attempt returns or raises
