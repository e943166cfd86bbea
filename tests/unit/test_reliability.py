"""mlkit.reliability and lessons.flaky_server: retries, circuit breaking, caching, flaky servers."""

from __future__ import annotations

import httpx
import pytest

from mlkit.lessons.flaky_server import FlakyServer
from mlkit.reliability import (
    CircuitBreaker,
    CircuitOpenError,
    LRUCache,
    RetriesExhausted,
    backoff_delay,
    customer_key,
    is_retryable,
    retry_with_backoff,
)
from mlkit.serving import is_listening


def status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:1/predict")
    return httpx.HTTPStatusError("error", request=request, response=httpx.Response(code))


class Script:
    """A call that raises the given errors in turn, then returns 'ok'; counts its calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_ceiling_doubles_up_to_the_cap():
    ceilings = [backoff_delay(n, 0.1, 0.5, rng=lambda: 1.0) for n in range(1, 6)]
    assert ceilings == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    assert backoff_delay(3, 0.1, 0.5, rng=lambda: 0.25) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="attempt: got 0"):
        backoff_delay(0)


def test_retryable_errors_are_transient_ones():
    assert is_retryable(status_error(503)) and is_retryable(status_error(429))
    assert is_retryable(httpx.ConnectError("refused"))
    assert not is_retryable(status_error(400)) and not is_retryable(status_error(404))
    assert not is_retryable(ValueError("bad input"))


def test_retry_succeeds_after_transient_failures_with_growing_waits():
    call = Script(status_error(503), httpx.ReadTimeout("slow"))
    waits: list[float] = []
    result = retry_with_backoff(call, base_delay_s=0.1, sleep=waits.append, rng=lambda: 1.0)
    assert result == "ok" and call.calls == 3
    assert waits == pytest.approx([0.1, 0.2])


def test_retry_raises_a_permanent_error_at_once():
    call = Script(status_error(400))
    with pytest.raises(httpx.HTTPStatusError):
        retry_with_backoff(call, sleep=lambda s: None)
    assert call.calls == 1


def test_retry_gives_up_after_max_attempts():
    call = Script(*[status_error(503)] * 5)
    with pytest.raises(RetriesExhausted) as caught:
        retry_with_backoff(call, max_attempts=3, sleep=lambda s: None, rng=lambda: 0.5)
    assert call.calls == 3 and caught.value.attempts == 3
    assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)
    assert len(caught.value.delays) == 2
    with pytest.raises(ValueError, match="max_attempts: got 0"):
        retry_with_backoff(call, max_attempts=0)


def test_breaker_opens_fails_fast_and_recovers_through_half_open():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout_s=5, clock=clock)
    failing = Script(*[status_error(503)] * 3)
    for _ in range(2):
        with pytest.raises(httpx.HTTPStatusError):
            breaker.call(failing)
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError) as caught:
        breaker.call(failing)
    assert failing.calls == 2 and caught.value.retry_in_s == pytest.approx(5)
    clock.now += 5
    assert breaker.state == "half_open"
    with pytest.raises(httpx.HTTPStatusError):  # the trial call fails: open again
        breaker.call(failing)
    assert breaker.state == "open" and failing.calls == 3
    clock.now += 5
    assert breaker.call(failing) == "ok" and breaker.state == "closed"
    moves = [(t.old, t.new) for t in breaker.transitions]
    assert moves == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


def test_breaker_counts_failures_in_a_row_only():
    breaker = CircuitBreaker(failure_threshold=2, clock=Clock())
    calls = Script(status_error(503), status_error(503))
    with pytest.raises(httpx.HTTPStatusError):
        breaker.call(calls)
    assert breaker.call(lambda: "fine") == "fine"
    with pytest.raises(httpx.HTTPStatusError):
        breaker.call(calls)
    assert breaker.state == "closed"
    with pytest.raises(ValueError, match="failure_threshold: got 0"):
        CircuitBreaker(failure_threshold=0)


def test_lru_cache_evicts_the_least_recently_used_and_counts_hits():
    cache = LRUCache(maxsize=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)  # evicts "b"
    assert "b" not in cache and cache.get("b") is None
    assert cache.get("c") == 3 and len(cache) == 2
    assert (cache.hits, cache.misses) == (2, 1)
    assert cache.hit_rate == pytest.approx(2 / 3)
    assert LRUCache().hit_rate == 0.0
    with pytest.raises(ValueError, match="maxsize: got 0"):
        LRUCache(0)


def test_customer_key_ignores_field_order():
    assert customer_key({"age": 30, "plan": "basic"}) == customer_key({"plan": "basic", "age": 30})
    assert customer_key({"age": 30}) != customer_key({"age": 31})
    with pytest.raises(TypeError, match="customer: got list"):
        customer_key([30, "basic"])


def test_flaky_server_follows_its_script_then_goes_down_on_request():
    with FlakyServer([503, 500], then=200) as server:
        statuses = []
        for _ in range(3):
            try:
                server.call()
                statuses.append(200)
            except httpx.HTTPStatusError as err:
                statuses.append(err.response.status_code)
        assert statuses == [503, 500, 200]
        server.down_for(60)
        with pytest.raises(httpx.HTTPStatusError):
            server.call()
        assert [status for _, status in server.log] == [503, 500, 200, 503]
        port = int(server.url.rsplit(":", 1)[1])
    assert not is_listening(port)


def test_flaky_server_random_failures_are_seeded():
    def outcomes(seed: int) -> list[int]:
        with FlakyServer(failure_rate=0.5, seed=seed) as server:
            for _ in range(20):
                try:
                    server.call()
                except httpx.HTTPStatusError:
                    pass
            return [status for _, status in server.log]

    first = outcomes(3)
    assert first == outcomes(3) and 503 in first and 200 in first
    with pytest.raises(ValueError, match="script: got \\[99\\]"):
        FlakyServer([99])


def test_retry_and_breaker_against_the_flaky_server():
    with FlakyServer([503, 503]) as server:
        assert retry_with_backoff(server.call, base_delay_s=0.001) == {"request": 3}
    with FlakyServer([500] * 10) as server:
        breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=60)
        for _ in range(5):
            with pytest.raises((httpx.HTTPStatusError, CircuitOpenError)):
                breaker.call(server.call)
        assert server.requests == 3 and breaker.state == "open"
