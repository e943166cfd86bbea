"""mlkit.timing: the stopwatch counts calls right and reports median and p95 of what it saw."""

import pytest

from mlkit import timing


def test_median_and_p95_of_known_samples():
    t = timing.Timing(tuple(float(i) for i in range(1, 21)))
    assert t.median_ms == 10.5
    assert t.p95_ms == pytest.approx(19.05)


def test_warmup_is_not_timed_and_each_repeat_is(monkeypatch):
    ticks = iter([0.0, 0.002, 1.0, 1.005])  # two timed calls: 2 ms and 5 ms
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(ticks))
    calls = []
    result = timing.time_call(lambda: calls.append(1), repeats=2, warmup=3)
    assert len(calls) == 5
    assert result.samples_ms == pytest.approx((2.0, 5.0))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fn": 3}, TypeError, "fn must be a callable"),
        ({"fn": print, "repeats": 0}, ValueError, "repeats must be .* got 0"),
        ({"fn": print, "warmup": -1}, ValueError, "warmup must be .* got -1"),
        ({"fn": print, "repeats": 2.5}, ValueError, "repeats"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        timing.time_call(**kwargs)
