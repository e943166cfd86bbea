"""The root of every error mlkit raises: `except mlkit.errors.MlkitError` catches them all.

Each error keeps the built-in class it has always had as a second base (a bad argument is
still a `ValueError`, a server that did not start still a `RuntimeError`), so existing
`except` clauses go on working. Errors that carry facts keep them as attributes and say in
their message what happened and what to do next.
"""

from __future__ import annotations


class MlkitError(Exception):
    """Base class of every error raised by mlkit."""


class DockerUnavailableError(MlkitError, RuntimeError):
    """No Docker engine answers, so an image cannot be built or run (module 03)."""


class ServerStartError(MlkitError, RuntimeError):
    """A server process that mlkit started did not become ready.

    Attributes: `reason` (one line), `log_path` (None when the log is not a file) and
    `log_tail`, the last lines of the server's output.
    """

    def __init__(self, what: str, reason: str, log_tail: str, log_path: object, advice: str):
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        shown = "\n".join("    " + line for line in log_tail.splitlines()) or "    (log is empty)"
        where = f" ({log_path})" if log_path is not None else ""
        super().__init__(
            f"{what} did not start: {reason}.\nLast lines of its log{where}:\n{shown}\n{advice}"
        )
