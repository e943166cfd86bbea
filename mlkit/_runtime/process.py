"""A command run in its own session with its output in a log file, stopped with all it started.

Servers (BentoML, uvicorn, JupyterLab) and load generators (Locust) are started the same
way: `LoggedProcess` runs the command in a new session, so that a signal to its process
group reaches its workers, sends its output to a log file, and `stop()` ends the whole
family: SIGTERM to the group and every descendant (workers may open sessions of their
own), SIGKILL to whatever is left after a grace period. Each is also stopped at
interpreter exit. `Stoppable` gives any such object its `with` block.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shlex
import shutil
import signal
import socketserver
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

from mlkit._runtime.logs import tail_lines


class Stoppable:
    """Something that runs until `stop()`: stopped at the end of a `with` block and at exit."""

    def stop(self) -> None:
        """Stop it (safe to call twice)."""
        raise NotImplementedError

    def _stop_at_exit(self) -> None:
        atexit.register(self.stop)

    def _forget_at_exit(self) -> None:
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ServerThread:
    """A socketserver served from a daemon thread of this process (module 05's flaky
    server, module 06's webhook receiver); its owner stops it."""

    def __init__(self, server: socketserver.BaseServer) -> None:
        self.server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, wait for the thread and close the socket (safe to call twice)."""
        if self._thread.is_alive():
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()


class LoggedProcess(Stoppable):
    """`command` started in its own session, stdout and stderr in `log_path`.

    `show_command` writes `$ command` as the log's first line.
    """

    def __init__(
        self,
        command: list[str],
        log_path: Path,
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        show_command: bool = False,
    ) -> None:
        self.command = command
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            if show_command:
                log.write(f"$ {shlex.join(command)}\n".encode())
                log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=cwd,
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._stop_at_exit()

    @property
    def pid(self) -> int:
        """The process id of the command (the leader of its process group)."""
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while it runs."""
        return self.process.poll()

    def is_running(self) -> bool:
        """True until the command exits."""
        return self.process.poll() is None

    def family(self) -> list[psutil.Process]:
        """The process and every descendant that is still there."""
        try:
            parent = psutil.Process(self.process.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def family_pids(self) -> set[int]:
        """Process ids of `family()`."""
        return {proc.pid for proc in self.family()}

    def log_tail(self, n: int = 20) -> str:
        """The last n lines of the log, without colour codes."""
        return tail_lines(self.log_path, n)

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group; SIGKILL it and every descendant left after `grace` s."""
        self._forget_at_exit()
        procs = self.family()
        _signal_group(self.process.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace)
        _signal_group(self.process.pid, signal.SIGKILL)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exited {self.returncode}"
        return f"<LoggedProcess {self.command[0]} pid {self.pid} ({state}), log: {self.log_path}>"


# Debian installs daemons (haproxy) in sbin, which is not on every PATH: a non-root shell,
# the grading sandbox.
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"


def find_command(name: str) -> str | None:
    """The path of the command `name` on PATH or in the sbin folders, or None."""
    return shutil.which(name) or shutil.which(name, path=SBIN_PATH)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
