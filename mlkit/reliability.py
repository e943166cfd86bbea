"""Client-side reliability: retries with backoff, a circuit breaker, a prediction cache (module 05).

- `retry_with_backoff(call)` calls again after a failure that may pass (a timeout, a
  refused connection, 429/5xx), waiting `backoff_delay(attempt)` between tries: an
  exponential ceiling with full jitter, so that clients that failed together do not all
  retry at the same moment.
- `CircuitBreaker` stops calling a service that keeps failing: after `failure_threshold`
  failures in a row it opens and fails fast with `CircuitOpenError` for `reset_timeout_s`,
  then lets one trial call through (half-open) and closes again if it succeeds.
- `LRUCache` keeps the most recently used predictions and counts hits and misses;
  `customer_key(customer)` turns a customer dict into a key.

Module 05's lab asks you to write these yourself; the course notebook uses these.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from mlkit.errors import MlkitError

T = TypeVar("T")
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def is_retryable(error: BaseException) -> bool:
    """True for failures that may pass if tried again: transport errors (refused, reset,
    timed out) and HTTP 429/500/502/503/504; False for everything else (a 400 stays a 400)."""
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code in RETRYABLE_STATUS
    return isinstance(error, httpx.TransportError)


def backoff_delay(
    attempt: int,
    base_delay_s: float = 0.05,
    max_delay_s: float = 2.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2, ...): a uniform draw
    from [0, min(max_delay_s, base_delay_s * 2**(attempt - 1))] ("full jitter")."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt: got {attempt!r}, expected a whole number >= 1.")
    ceiling = min(max_delay_s, base_delay_s * 2 ** (attempt - 1))
    return rng() * ceiling


class RetriesExhausted(MlkitError, RuntimeError):
    """Every attempt failed with a retryable error. Attributes: `attempts`, `last_error`,
    `delays` (the seconds waited between attempts)."""

    def __init__(self, attempts: int, last_error: BaseException, delays: list[float]) -> None:
        self.attempts = attempts
        self.last_error = last_error
        self.delays = delays
        super().__init__(
            f"gave up after {attempts} attempts ({sum(delays):.2f} s of backoff); the last "
            f"error was {type(last_error).__name__}: {last_error}. The service may be down "
            "or overloaded: use a fallback, or try again later."
        )


def retry_with_backoff(
    call: Callable[[], T],
    *,
    max_attempts: int = 4,
    base_delay_s: float = 0.05,
    max_delay_s: float = 2.0,
    retryable: Callable[[BaseException], bool] = is_retryable,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    """Return `call()`, calling it up to `max_attempts` times while it raises a retryable
    error, with `backoff_delay` seconds between attempts.

    A non-retryable error is raised at once; when every attempt fails, raises
    `RetriesExhausted` (from the last error). Introduced in module 05.
    """
    if not callable(call):
        raise TypeError(f"call: got {type(call).__name__}, expected a function with no arguments.")
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValueError(f"max_attempts: got {max_attempts!r}, expected a whole number >= 1.")
    if not 0 <= base_delay_s <= max_delay_s:
        raise ValueError(
            f"base_delay_s, max_delay_s: got {base_delay_s!r} and {max_delay_s!r}, expected "
            "0 <= base_delay_s <= max_delay_s (seconds)."
        )
    delays: list[float] = []
    for attempt in range(1, max_attempts + 1):
        try:
            return call()
        except Exception as error:
            if not retryable(error):
                raise
            if attempt == max_attempts:
                raise RetriesExhausted(attempt, error, delays) from error
            delay = backoff_delay(attempt, base_delay_s, max_delay_s, rng)
            delays.append(delay)
            sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


class CircuitOpenError(MlkitError, RuntimeError):
    """The circuit breaker is open: the call was not made. Attribute: `retry_in_s`."""

    def __init__(self, name: str, retry_in_s: float) -> None:
        self.retry_in_s = retry_in_s
        super().__init__(
            f"circuit '{name}' is open after repeated failures; not calling the service for "
            f"another {retry_in_s:.2f} s. Use a fallback meanwhile."
        )


@dataclass(frozen=True)
class Transition:
    """The breaker changed state at `time_s` (its clock), e.g. closed -> open."""

    time_s: float
    old: str
    new: str


class CircuitBreaker:
    """Fail fast while a service keeps failing; try it again after a pause.

    closed: calls go through; `failure_threshold` failures in a row open the circuit.
    open: calls fail at once with `CircuitOpenError` until `reset_timeout_s` have passed.
    half_open: one trial call goes through; success closes the circuit, failure opens it
    again. Every change is kept in `transitions`. Introduced in module 05.
    """

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_s: float = 5.0,
        *,
        name: str = "service",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (
            isinstance(failure_threshold, bool)
            or not isinstance(failure_threshold, int)
            or failure_threshold < 1
        ):
            raise ValueError(
                f"failure_threshold: got {failure_threshold!r}, expected a whole number >= 1."
            )
        if not (isinstance(reset_timeout_s, int | float) and reset_timeout_s > 0):
            raise ValueError(f"reset_timeout_s: got {reset_timeout_s!r}, expected seconds > 0.")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = float(reset_timeout_s)
        self.name = name
        self.clock = clock
        self.failures = 0
        self.opened_at = 0.0
        self.transitions: list[Transition] = []
        self._state = self.CLOSED
        self._trial_running = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """'closed', 'open' or 'half_open' (an open circuit turns half-open once it may retry)."""
        with self._lock:
            self._half_open_if_due()
            return self._state

    def _move(self, new: str) -> None:
        if new != self._state:
            self.transitions.append(Transition(self.clock(), self._state, new))
            self._state = new

    def _half_open_if_due(self) -> None:
        if self._state == self.OPEN and self.clock() - self.opened_at >= self.reset_timeout_s:
            self._move(self.HALF_OPEN)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` through the breaker; raises CircuitOpenError when open."""
        with self._lock:
            self._half_open_if_due()
            if self._state == self.OPEN or (self._state == self.HALF_OPEN and self._trial_running):
                wait = max(0.0, self.reset_timeout_s - (self.clock() - self.opened_at))
                raise CircuitOpenError(self.name, wait)
            trial = self._state == self.HALF_OPEN
            self._trial_running = trial
        try:
            result = fn(*args, **kwargs)
        except Exception:
            with self._lock:
                self._trial_running = False
                self.failures += 1
                if trial or self.failures >= self.failure_threshold:
                    self.opened_at = self.clock()
                    self._move(self.OPEN)
            raise
        with self._lock:
            self._trial_running = False
            self.failures = 0
            self._move(self.CLOSED)
        return result


def customer_key(customer: Mapping[str, Any]) -> tuple:
    """A hashable cache key for one customer: its (field, value) pairs, sorted by field."""
    if not isinstance(customer, Mapping):
        raise TypeError(f"customer: got {type(customer).__name__}, expected a dict of features.")
    return tuple(sorted(customer.items()))


class LRUCache:
    """At most `maxsize` values; when full, the least recently used one is dropped.

    `get` counts a hit or a miss; `hit_rate` is hits / (hits + misses). Introduced in
    module 05 (caching predictions).
    """

    def __init__(self, maxsize: int = 1_024) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"maxsize: got {maxsize!r}, expected a whole number >= 1.")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value stored under `key` (now the most recently used), else `default`."""
        with self._lock:
            if key in self._items:
                self.hits += 1
                self._items.move_to_end(key)
                return self._items[key]
            self.misses += 1
            return default

    def put(self, key: Hashable, value: Any) -> None:
        """Store `value` under `key`, dropping the least recently used entry when full."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            if len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def hit_rate(self) -> float:
        """The share of `get` calls that found their key (0.0 before any call)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
