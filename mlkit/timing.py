"""A stopwatch for lessons that measure: run a callable N times, report median and p95 in ms.

Introduced in module 01 (save/load times and prediction latency of each model format).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Wall-clock durations of repeated calls, in milliseconds."""

    samples_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """The middle duration: what a typical call costs."""
        return float(np.median(self.samples_ms))

    @property
    def p95_ms(self) -> float:
        """95th percentile: 1 call in 20 is slower than this."""
        return float(np.percentile(self.samples_ms, 95))


def time_call(fn: Callable[[], object], repeats: int = 30, warmup: int = 1) -> Timing:
    """Call `fn()` `warmup` times untimed, then `repeats` times timed with `perf_counter`."""
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments, got {type(fn).__name__}.")
    for name, value, low in (("repeats", repeats, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}.")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1_000)
    return Timing(tuple(samples))
