"""How a load test is described: a fixed or stepped load, a latency SLO, a local target.

Everything here is checked when it is made, with errors that name the argument, so a
bad load never reaches Locust. `run_locust` hands a `StepLoad` to the Locust process as
JSON in an environment variable, read back by `mlkit.loadtest.addon`. Module 04.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from mlkit._runtime.net import LOCALHOST

MAX_USERS = 200
MAX_RUN_SECONDS = 600
MAX_REQUESTS = 500_000
LOCAL_HOSTS = (LOCALHOST, "localhost")
# How run_locust talks to mlkit.loadtest.addon inside the Locust process.
STEPS_ENV = "MLKIT_LOCUST_STEPS"
MAX_REQUESTS_ENV = "MLKIT_LOCUST_MAX_REQUESTS"
WINDOW_ENV = "MLKIT_LOCUST_WINDOW"
STARTED_ENV = "MLKIT_LOCUST_STARTED"
ERRORS_ENV = "MLKIT_LOCUST_ERRORS"
STOP_ENV = "MLKIT_LOCUST_STOP_FILE"
# Locust's "current" percentiles in the history cover the last 10 s; stepped runs need a
# window shorter than a step, so run_locust narrows it (stats setting documented by Locust).
PERCENTILE_WINDOW_S = 2


@dataclass(frozen=True)
class StepLoad:
    """A stepped load: `users[i]` users for `step_seconds` seconds each, in order.

    Users are added or removed at `spawn_rate` per second at the start of each step.
    Introduced in module 04 (finding the capacity under an SLO).
    """

    users: tuple[int, ...]
    step_seconds: int
    spawn_rate: float = 50.0

    def __post_init__(self) -> None:
        users = tuple(self.users)
        object.__setattr__(self, "users", users)
        if not users or any(bad_int(u, 1, MAX_USERS) for u in users):
            raise ValueError(
                f"users: got {self.users!r}, expected a non-empty sequence of whole numbers "
                f"of users in 1..{MAX_USERS}, e.g. (1, 2, 4, 8)."
            )
        if bad_int(self.step_seconds, 2, MAX_RUN_SECONDS):
            raise ValueError(
                f"step_seconds: got {self.step_seconds!r}, expected whole seconds in "
                f"2..{MAX_RUN_SECONDS} (Locust's run times are whole seconds)."
            )
        check_spawn_rate(self.spawn_rate)
        if self.duration > MAX_RUN_SECONDS:
            raise ValueError(
                f"StepLoad lasts {self.duration} s ({len(users)} steps of {self.step_seconds} s),"
                f" more than {MAX_RUN_SECONDS} s; use fewer or shorter steps."
            )

    @property
    def duration(self) -> int:
        """Seconds from the first step's start to the last step's end."""
        return len(self.users) * self.step_seconds

    def tick(self, elapsed_s: float) -> tuple[int, float] | None:
        """(users, spawn_rate) `elapsed_s` seconds into the run, or None once it is over."""
        step = int(elapsed_s // self.step_seconds)
        return (self.users[step], self.spawn_rate) if 0 <= step < len(self.users) else None

    def to_json(self) -> str:
        """The load as JSON (how `run_locust` hands it to the Locust process)."""
        return json.dumps(
            {"users": self.users, "step_seconds": self.step_seconds, "spawn_rate": self.spawn_rate}
        )

    @classmethod
    def from_json(cls, text: str) -> StepLoad:
        """The load `to_json` wrote."""
        values = json.loads(text)
        return cls(tuple(values["users"]), values["step_seconds"], values["spawn_rate"])


@dataclass(frozen=True)
class SLO:
    """A latency objective: the `percentile` of latency at most `latency_ms`, and at most
    `max_error_rate` of requests failing (0.0: none). Introduced in module 04."""

    latency_ms: float = 50.0
    percentile: int = 95
    max_error_rate: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.latency_ms, int | float) and self.latency_ms > 0):
            raise ValueError(f"latency_ms: got {self.latency_ms!r}, expected milliseconds > 0.")
        if self.percentile not in (50, 66, 75, 80, 90, 95, 98, 99):
            raise ValueError(
                f"percentile: got {self.percentile!r}, expected one that Locust reports: "
                "50, 66, 75, 80, 90, 95, 98 or 99."
            )
        if not (isinstance(self.max_error_rate, int | float) and 0 <= self.max_error_rate < 1):
            raise ValueError(
                f"max_error_rate: got {self.max_error_rate!r}, expected a fraction in [0, 1), "
                "e.g. 0.0 for no errors or 0.001 for one in a thousand."
            )

    def __str__(self) -> str:
        errors = "no errors" if self.max_error_rate == 0 else f"errors <= {self.max_error_rate:.2%}"
        return f"p{self.percentile} <= {self.latency_ms:g} ms, {errors}"


def bad_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high


def check_spawn_rate(spawn_rate: object) -> None:
    if isinstance(spawn_rate, bool) or not isinstance(spawn_rate, int | float) or spawn_rate <= 0:
        raise ValueError(
            f"spawn_rate: got {spawn_rate!r}, expected users started per second, a number > 0."
        )


def local_host(host: str) -> str:
    """`host` as `http://127.0.0.1:PORT`; raises ValueError for any other machine.

    The course only ever loads services on this machine (module 04).
    """
    parts = urlsplit(host) if isinstance(host, str) else None
    if parts is None or parts.scheme not in ("http", "https") or parts.hostname is None:
        raise ValueError(
            f"host: got {host!r}, expected the URL of a service on this machine, such as "
            "'http://127.0.0.1:3000' (svc.url of a running service)."
        )
    if parts.hostname not in LOCAL_HOSTS:
        raise ValueError(
            f"host: got {host!r}, which points at {parts.hostname!r}. Load tests here only run "
            f"against this machine: use http://{LOCALHOST}:PORT (another machine's service "
            "needs its owner's permission and a load generator on another machine)."
        )
    if parts.port is None:
        raise ValueError(
            f"host: got {host!r}, expected an explicit port, e.g. http://{LOCALHOST}:3000."
        )
    netloc = f"{LOCALHOST}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
