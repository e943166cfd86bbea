"""The root of every error mlkit raises: `except mlkit.errors.MlkitError` catches them all.

Each error keeps the built-in class it has always had as a second base (a bad argument is
still a `ValueError`, a server that did not start still a `RuntimeError`), so existing
`except` clauses go on working. Errors that carry facts keep them as attributes and say in
their message what happened and what to do next.
"""

from __future__ import annotations


class MlkitError(Exception):
    """Base class of every error raised by mlkit."""


def indented_log(log_tail: str) -> str:
    """The end of a log, indented for an error message ("(log is empty)" when it is)."""
    return "\n".join("    " + line for line in log_tail.splitlines()) or "    (log is empty)"


class DockerUnavailableError(MlkitError, RuntimeError):
    """No Docker engine answers, so an image cannot be built or run (module 03)."""


class LoggedError(MlkitError, RuntimeError):
    """A step that wrote a log failed; the message quotes the log's last lines.

    Attributes: `log_path` (a path, or a description such as "`docker logs`") and
    `log_tail`, the last lines of the log.
    """

    def __init__(self, headline: str, log_tail: str, log_path: object, advice: str) -> None:
        self.log_path = log_path
        self.log_tail = log_tail
        super().__init__(
            f"{headline}.\nLast lines of its log ({log_path}):\n{indented_log(log_tail)}\n{advice}"
        )


class ServerStartError(LoggedError):
    """A server process that mlkit started did not become ready.

    Attributes: `reason` (one line), `log_path` and `log_tail`.
    """

    def __init__(self, what: str, reason: str, log_tail: str, log_path: object, advice: str):
        self.reason = reason
        super().__init__(f"{what} did not start: {reason}", log_tail, log_path, advice)
