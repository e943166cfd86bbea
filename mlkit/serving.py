"""Run a BentoML service in the background on 127.0.0.1 (introduced in module 02).

BentoML imports a service from a file, so a service written in a notebook cell
cannot be served: lessons write it with `%%writefile service.py` and start it here.
`serve_in_background` runs `bentoml serve` in its own process group on a free port,
waits for `/readyz`, keeps the server's log in a file, and stops everything it
started when the `with` block ends (or at interpreter exit). Each server gets a BentoML
home of its own that links to the shared model store, so that servers running at the
same time keep separate `/metrics`.
`serve_app_in_background` does the same for a plain FastAPI app run by uvicorn.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

import psutil

from mlkit.ports import LOCALHOST, free_port, http_ok, is_listening, wait_for_http
from mlkit.settings import bentoml_home, scratch_dir

if TYPE_CHECKING:
    import bentoml

# Written by the service worker when the service class fails to initialise; the
# BentoML supervisor stays up and retries, so the exit code alone cannot tell.
STARTUP_FAILED_MARKER = "Application startup failed"
_SERVICE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COLOUR_CODE = re.compile(r"\x1b\[[0-9;]*m")


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


def tail_lines(path: Path, n: int = 20) -> str:
    """The last n lines of a log file without terminal colour codes ('' if it is missing)."""
    if not path.exists():
        return ""
    lines = _COLOUR_CODE.sub("", path.read_text(errors="replace")).splitlines()
    return "\n".join(lines[-n:])


class ServiceStartError(RuntimeError):
    """A BentoML service did not become ready; the message shows the end of its log.

    Attributes: `service_file`, `reason` (one line), `log_path`, `log_tail`.
    """

    def __init__(
        self, service_file: Path, reason: str, log_path: Path, log_tail: str, *, timed_out: bool
    ) -> None:
        self.service_file = service_file
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        shown = "\n".join("    " + line for line in log_tail.splitlines()) or "    (log is empty)"
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
        super().__init__(
            f"The service in {service_file} did not start: {reason}.\n"
            f"Last lines of its log ({log_path}):\n{shown}\n{advice}"
        )


class RunningService:
    """A `bentoml serve` process started by `serve_in_background`; stop it with `.stop()`
    or use it as a context manager."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        port: int,
        log_path: Path,
        log_file: IO[bytes],
        tls_cert: Path | None = None,
    ) -> None:
        self.process = process
        self.port = port
        self.tls_cert = tls_cert
        self.log_path = log_path
        self._log_file = log_file
        atexit.register(self.stop)

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

    def log_tail(self, n: int = 20) -> str:
        """The last n lines of the server's log."""
        return tail_lines(self.log_path, n)

    def client(self) -> bentoml.SyncHTTPClient:
        """A BentoML HTTP client for this service (close it, or use it in `with`)."""
        import bentoml

        return bentoml.SyncHTTPClient(self.url)

    def stop(self, grace: float = 10.0) -> None:
        """Stop the server and its workers; SIGKILL whatever is left after `grace` seconds.

        The supervisor runs in its own process group and each worker in its own
        session, so both the group and every descendant are signalled.
        """
        atexit.unregister(self.stop)
        try:
            parent = psutil.Process(self.process.pid)
            procs = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            procs = []
        _signal_group(self.process.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace)
        _signal_group(self.process.pid, signal.SIGKILL)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        self.process.wait(timeout=5)
        self._log_file.close()

    def __enter__(self) -> RunningService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process.poll() is None else "stopped"
        return f"<RunningService {self.url} ({state}), log: {self.log_path}>"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


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
    port = port if port is not None else free_port()
    target = path.name if service is None else f"{path.name}:{service}"
    command = [sys.executable, "-m", "bentoml", "serve", target, "--host", LOCALHOST]
    command += ["--port", str(port), "--working-dir", str(path.parent)]
    log_folder = _log_folder(log_dir)
    server_env = bentoml_env(env)
    home = Path(tempfile.mkdtemp(prefix=f"{path.stem}-{port}-home-", dir=log_folder))
    server_env["BENTOML_HOME"] = str(_private_home(Path(server_env["BENTOML_HOME"]), home))
    cert = None if tls_cert is None else Path(tls_cert).resolve()
    if cert is not None and not cert.is_file():
        raise FileNotFoundError(f"tls_cert: no certificate file at '{cert}'.")
    return _start_and_wait(command, path, port, timeout, server_env, log_folder, wait_for, cert)


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
    port: int | None = None,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
) -> RunningService:
    """Start a plain ASGI app (FastAPI, Starlette) with `uvicorn file:app` on 127.0.0.1.

    Like `serve_in_background`, for the FastAPI comparison of module 02: `app` names
    the application object in `app_file`, which must answer GET /readyz with 2xx once
    it can serve. Same arguments, errors and clean-up (`.client()` is BentoML-only).
    """
    path = Path(app_file).expanduser().resolve()
    _check_arguments(path, None, port, timeout)
    if not _SERVICE_NAME.fullmatch(app):
        raise ValueError(
            f"app: got {app!r}, expected the name of the application object in "
            f"{path.name} (a Python identifier such as 'app')."
        )
    port = port if port is not None else free_port()
    command = [sys.executable, "-m", "uvicorn", f"{path.stem}:{app}", "--app-dir", str(path.parent)]
    command += ["--host", LOCALHOST, "--port", str(port), "--no-access-log"]
    return _start_and_wait(
        command, path, port, timeout, bentoml_env(env), _log_folder(log_dir), "/readyz"
    )


def _start_and_wait(
    command: list[str],
    path: Path,
    port: int,
    timeout: float,
    env: dict[str, str],
    log_folder: Path,
    wait_for: str,
    tls_cert: Path | None = None,
) -> RunningService:
    """Run `command` in its own session with its output in a log file; wait for `wait_for`."""
    log_path = log_folder / f"{path.stem}-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=path.parent,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    running = RunningService(process, port, log_path, log_file, tls_cert)

    def alive() -> bool:
        return process.poll() is None and STARTUP_FAILED_MARKER not in running.log_tail(200)

    started = time.monotonic()
    ready_url = f"{running.url}{wait_for}"
    if wait_for_http(ready_url, timeout=timeout, interval=0.2, alive=alive, cafile=running._cafile):
        return running
    code = process.poll()
    timed_out = False
    if code is not None:
        reason = f"the server exited with code {code}"
    elif STARTUP_FAILED_MARKER in running.log_tail(200):
        reason = "the service raised an error while starting"
    else:
        timed_out = True
        reason = f"{wait_for} did not answer within {time.monotonic() - started:.0f} s"
    running.stop(grace=2.0)  # nothing to shut down gracefully in a server that never started
    log_tail = tail_lines(log_path, 25)
    raise ServiceStartError(path, reason, log_path, log_tail, timed_out=timed_out)
