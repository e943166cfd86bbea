"""A private PostgreSQL for the exchange: Debian's server in a throwaway cluster on 127.0.0.1.

The exchange keeps its rows in SQLite by default; a class that outgrows one file, or a
hub on Kubernetes, keeps them in PostgreSQL (`mlkit exchange --db-url postgresql+psycopg://...`).
`start_postgres()` gives the tests and the benchmark a real server without touching the
machine's own clusters:

- `initdb` writes a new cluster into a fresh temporary folder (superuser `mlkit`, a random
  password, password login only over TCP), then `postgres` runs on it as a
  `LoggedProcess`, listening on 127.0.0.1 at a free port, its socket inside the folder;
- PostgreSQL refuses to run as root, so as root both run as the `postgres` account that
  Debian's package creates (through `setpriv`), and the folder belongs to that account;
- `PostgresServer.create_database(name)` makes an empty database and returns its
  SQLAlchemy URL; `stop()` shuts the server down and deletes the folder.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import psycopg

from mlkit._runtime.net import LOCALHOST, free_port, owns_port
from mlkit._runtime.process import LoggedProcess, find_command
from mlkit.errors import MlkitError, ServerStartError
from mlkit.settings import scratch_dir

POSTGRES_PACKAGE = "postgresql"  # Debian's package (the server, initdb, psql)
INSTALL_HINT = (
    f"install Debian's `{POSTGRES_PACKAGE}` package (`apt-get install {POSTGRES_PACKAGE}`)"
)
RUN_AS = "postgres"  # the account Debian's package creates; PostgreSQL refuses root
SUPERUSER = "mlkit"
_DEBIAN_BINS = Path("/usr/lib/postgresql")
_START_ATTEMPTS = 3
_PORT_TAKEN = re.compile(r"could not bind|Address already in use", re.IGNORECASE)
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresUnavailableError(MlkitError, RuntimeError):
    """PostgreSQL's server is not installed (or cannot run) here; the message says why."""


def postgres_bin() -> Path | None:
    """The folder with `initdb` and `postgres`: Debian's newest version, or PATH's."""
    versions = sorted(
        (p for p in _DEBIAN_BINS.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    initdb = find_command("initdb")
    return Path(initdb).parent if initdb and (Path(initdb).parent / "postgres").exists() else None


def probe_postgres() -> tuple[str | None, str]:
    """(why PostgreSQL cannot run here or None, the version `postgres --version` reports)."""
    folder = postgres_bin()
    if folder is None:
        return f"no `initdb` and `postgres` in {_DEBIAN_BINS}/*/bin or on PATH", ""
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            return f"running as root, PostgreSQL needs the `{RUN_AS}` account, which is missing", ""
        if find_command("setpriv") is None:
            return "running as root, `setpriv` (util-linux) is needed to start PostgreSQL", ""
    try:
        found = subprocess.run(
            [str(folder / "postgres"), "--version"], capture_output=True, text=True, timeout=15
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"`{folder / 'postgres'} --version` failed: {err}", ""
    if found.returncode != 0:
        return f"`{folder / 'postgres'} --version` exited with code {found.returncode}", ""
    return None, found.stdout.strip()


def _require_postgres() -> Path:
    problem, _ = probe_postgres()
    binaries = postgres_bin()
    if problem is not None or binaries is None:
        raise PostgresUnavailableError(
            f"the exchange's PostgreSQL store needs a PostgreSQL server, but {problem}. "
            f"To run it, {INSTALL_HINT}, then check with `mlkit doctor`."
        )
    return binaries


def _as_server_user(command: list[str]) -> list[str]:
    """command run as `RUN_AS` when we are root (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", f"--reuid={RUN_AS}", f"--regid={RUN_AS}", "--init-groups", *command]


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        account = pwd.getpwnam(RUN_AS)
        os.chown(path, account.pw_uid, account.pw_gid)


class PostgresServer(LoggedProcess):
    """A throwaway PostgreSQL cluster started by `start_postgres` on 127.0.0.1."""

    def __init__(
        self, command: list[str], log_path: Path, *, folder: Path, port: int, password: str
    ) -> None:
        self.folder, self.port, self._password = folder, port, password
        super().__init__(command, log_path, cwd=folder)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of database on this server (psycopg 3 driver)."""
        return (
            f"postgresql+psycopg://{SUPERUSER}:{self._password}@{LOCALHOST}:{self.port}/{database}"
        )

    def connect(self, database: str = "postgres", timeout: float = 2.0) -> psycopg.Connection:
        """A new psycopg connection to database, in autocommit mode; close it when done."""
        return psycopg.connect(
            host=LOCALHOST,
            port=self.port,
            user=SUPERUSER,
            password=self._password,
            dbname=database,
            connect_timeout=max(1, int(timeout)),
            autocommit=True,
        )

    def answers(self) -> bool:
        """True when the server accepts a login and runs a query."""
        try:
            with self.connect(timeout=1) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)
        except psycopg.Error:
            return False

    def create_database(self, name: str) -> str:
        """Create an empty database called name; return its SQLAlchemy URL."""
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(
                f"name: got {name!r}, expected a database name of lower-case letters, digits "
                "and _ (at most 63, not starting with a digit)"
            )
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # the name is checked above
        return self.url(name)

    def stop(self, grace: float = 10.0) -> None:
        """Shut down at once, then delete the cluster (nothing in it is kept, so the
        server's "immediate" shutdown, which skips the final checkpoint, is enough)."""
        with contextlib.suppress(psutil.Error):
            if self.is_running():
                os.kill(self.pid, signal.SIGQUIT)
                psutil.Process(self.pid).wait(timeout=grace)
        super().stop(grace=2.0)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<PostgresServer 127.0.0.1:{self.port} ({state}), log: {self.log_path}>"


def start_postgres(
    *, durable: bool = True, timeout: float = 60.0, log_dir: Path | None = None
) -> PostgresServer:
    """Start a new PostgreSQL cluster on 127.0.0.1 at a free port; return once it answers.

    The cluster lives in a new temporary folder that `stop()` deletes; its log goes to
    `log_dir` (default `<scratch>/services`). `durable=False` turns off the server's
    fsync: for tests that kill its clients, never the server itself, on a busy disk.
    Raises `PostgresUnavailableError` when the server is not installed and
    `ServerStartError` when it does not start.
    """
    binaries = _require_postgres()
    logs = Path(log_dir) if log_dir is not None else scratch_dir("services")
    logs.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="mlkit-postgres-"))
    _give_to_server_user(folder)
    password = secrets.token_urlsafe(24)
    pwfile = folder / "password"
    pwfile.write_text(password + "\n")
    _give_to_server_user(pwfile)
    data = folder / "data"
    initdb = [str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, "-E", "UTF8"]
    initdb += ["--auth-local=scram-sha-256", "--auth-host=scram-sha-256"]
    initdb += [f"--pwfile={pwfile}", "--no-sync", "--no-instructions"]
    done = subprocess.run(
        _as_server_user(initdb), capture_output=True, text=True, timeout=120, cwd=folder
    )
    pwfile.unlink()
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise ServerStartError(
            "PostgreSQL",
            f"initdb exited with code {done.returncode}",
            (done.stdout + done.stderr)[-3000:],
            "initdb's output",
            f"Check that {RUN_AS} may write to {tempfile.gettempdir()} and that `mlkit doctor` "
            "finds PostgreSQL.",
        )
    for attempt in range(1, _START_ATTEMPTS + 1):
        port = free_port()
        command = [str(binaries / "postgres"), "-D", str(data), "-p", str(port)]
        command += ["-c", f"listen_addresses={LOCALHOST}", "-k", str(folder)]
        command += [] if durable else ["-c", "fsync=off", "-c", "full_page_writes=off"]
        server = PostgresServer(
            _as_server_user(command),
            logs / f"postgres-{port}.log",
            folder=folder,
            port=port,
            password=password,
        )
        answered = _wait_until_it_answers(server, timeout)
        owned = owns_port(server.family_pids(), port)
        if answered and owned:
            return server
        tail, code = server.log_tail(30), server.returncode
        LoggedProcess.stop(server, grace=2.0)  # keeps the folder for the next try
        if attempt < _START_ATTEMPTS and (not owned or _PORT_TAKEN.search(tail)):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        reason = (
            f"postgres exited with code {code}"
            if code is not None
            else f"no answer within {timeout:.0f} s"
            if owned
            else f"another program holds port {port}"
        )
        raise ServerStartError(
            "PostgreSQL", reason, tail, server.log_path, "Read the log; `mlkit doctor` checks it."
        )
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _wait_until_it_answers(server: PostgresServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.is_running():
        if server.answers():
            return True
        time.sleep(0.1)
    return False
