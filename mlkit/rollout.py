"""Canary rollout and shadow comparison (introduced in module 07).

A canary sends a growing share of traffic to a new model version, in steps, and judges
each step against an error budget and a latency budget: `decide` is the rule (promote,
hold or roll back, with the reason), `CanaryController` applies it step after step.
`compare_shadow` summarises a shadow deployment, where the new version sees mirrored
traffic but its answers are only logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mlkit.errors import MlkitError


class CanaryFinishedError(MlkitError, RuntimeError):
    """The canary was already promoted to all traffic or rolled back; start a new controller."""


@dataclass(frozen=True)
class CanaryPolicy:
    """The steps of traffic share a canary climbs, and the budgets each step must meet.

    `steps`: increasing shares in (0, 1], the last one 1.0 (all traffic).
    `max_error_rate`: the largest share of failed canary requests allowed.
    `max_p95_ms`: the largest 95th-percentile latency allowed, in milliseconds.
    `min_requests`: canary requests needed at a step before it can be promoted.
    """

    steps: tuple[float, ...] = (0.05, 0.25, 0.5, 1.0)
    max_error_rate: float = 0.01
    max_p95_ms: float = 100.0
    min_requests: int = 50

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        numbers = all(isinstance(s, int | float) and not isinstance(s, bool) for s in steps)
        if not steps or not numbers or any(not 0 < s <= 1 for s in steps):
            raise ValueError(f"steps must be traffic shares in (0, 1], got {self.steps!r}.")
        if any(b <= a for a, b in zip(steps, steps[1:], strict=False)) or steps[-1] != 1:
            raise ValueError(f"steps must increase and end at 1.0 (all traffic), got {steps!r}.")
        if not 0 <= self.max_error_rate < 1:
            raise ValueError(f"max_error_rate must be in [0, 1), got {self.max_error_rate!r}.")
        if not self.max_p95_ms > 0:
            raise ValueError(f"max_p95_ms must be a positive number, got {self.max_p95_ms!r}.")
        if isinstance(self.min_requests, bool) or not isinstance(self.min_requests, int):
            raise ValueError(f"min_requests must be a whole number, got {self.min_requests!r}.")
        if self.min_requests < 1:
            raise ValueError(f"min_requests must be at least 1, got {self.min_requests!r}.")
        object.__setattr__(self, "steps", tuple(float(s) for s in steps))


@dataclass(frozen=True)
class CanaryStats:
    """What the canary's requests did: one latency (ms) and one failed flag per request."""

    latencies_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    failed: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))

    def __post_init__(self) -> None:
        latencies = np.asarray(self.latencies_ms, dtype=float).ravel()
        failed = np.asarray(self.failed).ravel()
        if latencies.shape != failed.shape:
            raise ValueError(
                "latencies_ms and failed must have one entry per request, got "
                f"{latencies.size} latencies and {failed.size} failed flags."
            )
        if failed.size and failed.dtype != bool:
            raise ValueError(f"failed must hold True/False per request, got dtype {failed.dtype}.")
        if np.any(~np.isfinite(latencies)) or np.any(latencies < 0):
            raise ValueError("latencies_ms must be finite numbers >= 0 (milliseconds).")
        object.__setattr__(self, "latencies_ms", latencies)
        object.__setattr__(self, "failed", failed.astype(bool))

    @property
    def requests(self) -> int:
        """Number of canary requests."""
        return int(self.latencies_ms.size)

    @property
    def errors(self) -> int:
        """Number of failed canary requests."""
        return int(self.failed.sum())

    @property
    def error_rate(self) -> float:
        """Share of failed requests (0 when there were none)."""
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p95_ms(self) -> float:
        """95th-percentile latency in ms (0 when there were no requests)."""
        return float(np.percentile(self.latencies_ms, 95)) if self.requests else 0.0

    def __add__(self, other: CanaryStats) -> CanaryStats:
        return CanaryStats(
            np.concatenate([self.latencies_ms, other.latencies_ms]),
            np.concatenate([self.failed, other.failed]),
        )


@dataclass(frozen=True)
class Decision:
    """What to do with the canary: `action` is promote, hold or rollback; `share` is the
    canary's traffic share after acting on it; `reason` says why in one sentence."""

    action: str
    reason: str
    share: float


def decide(policy: CanaryPolicy, share: float, stats: CanaryStats) -> Decision:
    """Judge the canary at traffic `share` from everything it did at that step (module 07).

    - rollback when it failed more requests than the error budget allows: already more
      than `max_error_rate * min_requests` failures is enough, however few requests;
    - hold while it has served fewer than `min_requests` requests;
    - rollback when its p95 latency is over `max_p95_ms`;
    - otherwise promote to the next step (from the last step: done, it serves everyone).
    """
    if not isinstance(policy, CanaryPolicy):
        raise TypeError(f"policy must be a CanaryPolicy, got {type(policy).__name__}.")
    if share not in policy.steps:
        raise ValueError(f"share must be one of the policy's steps {policy.steps}, got {share!r}.")
    if not isinstance(stats, CanaryStats):
        raise TypeError(f"stats must be CanaryStats, got {type(stats).__name__}.")
    allowed_errors = policy.max_error_rate * max(stats.requests, policy.min_requests)
    if stats.errors > allowed_errors:
        return Decision(
            "rollback",
            f"{stats.errors} of {stats.requests} requests failed; the error budget "
            f"({policy.max_error_rate:.1%}) allows {allowed_errors:g}",
            0.0,
        )
    if stats.requests < policy.min_requests:
        return Decision(
            "hold",
            f"{stats.requests} requests so far at {share:.0%}; {policy.min_requests} needed "
            "to judge",
            share,
        )
    if stats.p95_ms > policy.max_p95_ms:
        return Decision(
            "rollback",
            f"p95 latency {stats.p95_ms:.0f} ms is over the {policy.max_p95_ms:g} ms budget",
            0.0,
        )
    within = (
        f"{stats.errors} errors in {stats.requests} requests, p95 {stats.p95_ms:.0f} ms: "
        "within budget"
    )
    if share == policy.steps[-1]:
        return Decision("promote", f"{within}; the new version serves all traffic", share)
    following = policy.steps[policy.steps.index(share) + 1]
    return Decision("promote", f"{within}; raise traffic to {following:.0%}", following)


class CanaryController:
    """Walks a canary up `policy.steps`, pooling the stats of every window at one step.

    Call `observe(stats)` after each window of traffic; route `share` of the traffic to
    the canary. `finished` becomes True once it is rolled back or serves all traffic.
    """

    def __init__(self, policy: CanaryPolicy | None = None) -> None:
        self.policy = policy if policy is not None else CanaryPolicy()
        if not isinstance(self.policy, CanaryPolicy):
            raise TypeError(f"policy must be a CanaryPolicy or None, got {type(policy).__name__}.")
        self.share = self.policy.steps[0]
        self.history: list[Decision] = []
        self.finished = False
        self._at_step = CanaryStats()

    def observe(self, stats: CanaryStats) -> Decision:
        """Add one window of canary stats, decide, and move to the decided share."""
        if self.finished:
            raise CanaryFinishedError(
                f"the canary already finished ({self.history[-1].action}: "
                f"{self.history[-1].reason}); create a new CanaryController for a new version."
            )
        self._at_step = self._at_step + stats
        decision = decide(self.policy, self.share, self._at_step)
        self.history.append(decision)
        if decision.action != "hold":
            self._at_step = CanaryStats()
        self.finished = decision.action == "rollback" or (
            decision.action == "promote" and self.share == self.policy.steps[-1]
        )
        self.share = decision.share
        return decision


@dataclass(frozen=True)
class ShadowSummary:
    """How a shadow model's answers compare with the live model's on mirrored requests."""

    mirrored: int
    answered: int
    failed: int
    dropped: int
    agreement: float
    mean_abs_difference: float
    max_abs_difference: float
    only_live_positive: int
    only_shadow_positive: int


def compare_shadow(
    live: np.ndarray,
    shadow: np.ndarray,
    *,
    threshold: float = 0.5,
    shadow_threshold: float | None = None,
    dropped: int = 0,
) -> ShadowSummary:
    """Compare live and shadow scores for the same requests (module 07).

    `live` and `shadow` hold one score per mirrored request, NaN where the shadow
    failed; `dropped` counts requests never mirrored (the shadow's queue was full).
    A score at or above `threshold` (`shadow_threshold` for the shadow, default the
    same) is a positive decision; agreement is the share of answered requests where
    both sides decide the same.
    """
    live = np.asarray(live, dtype=float).ravel()
    shadow = np.asarray(shadow, dtype=float).ravel()
    if live.shape != shadow.shape:
        raise ValueError(
            f"live and shadow must have one score per request each, got {live.size} live "
            f"and {shadow.size} shadow scores."
        )
    if np.any(np.isnan(live)):
        raise ValueError("live must not contain NaN: only the shadow may fail.")
    shadow_threshold = threshold if shadow_threshold is None else shadow_threshold
    for name, value in (("threshold", threshold), ("shadow_threshold", shadow_threshold)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}.")
    if isinstance(dropped, bool) or not isinstance(dropped, int | np.integer) or dropped < 0:
        raise ValueError(f"dropped must be a whole number >= 0, got {dropped!r}.")
    ok = ~np.isnan(shadow)
    live_yes, shadow_yes = live[ok] >= threshold, shadow[ok] >= shadow_threshold
    diff = np.abs(live[ok] - shadow[ok])
    return ShadowSummary(
        mirrored=int(live.size),
        answered=int(ok.sum()),
        failed=int((~ok).sum()),
        dropped=int(dropped),
        agreement=float(np.mean(live_yes == shadow_yes)) if ok.any() else float("nan"),
        mean_abs_difference=float(diff.mean()) if ok.any() else float("nan"),
        max_abs_difference=float(diff.max()) if ok.any() else float("nan"),
        only_live_positive=int(np.sum(live_yes & ~shadow_yes)),
        only_shadow_positive=int(np.sum(shadow_yes & ~live_yes)),
    )
