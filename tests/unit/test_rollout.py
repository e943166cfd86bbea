"""mlkit.rollout: the canary decision rule, the controller that applies it, shadow summaries."""

import numpy as np
import pytest

from mlkit.rollout import (
    CanaryController,
    CanaryFinishedError,
    CanaryPolicy,
    CanaryStats,
    compare_shadow,
    decide,
)

POLICY = CanaryPolicy(steps=(0.1, 0.5, 1.0), max_error_rate=0.02, max_p95_ms=50, min_requests=20)


def window(n: int, ms: float = 10.0, errors: int = 0) -> CanaryStats:
    return CanaryStats(np.full(n, ms), np.arange(n) < errors)


def test_good_stats_promote_to_the_next_step():
    decision = decide(POLICY, 0.1, window(20))
    assert (decision.action, decision.share) == ("promote", 0.5)
    assert "within budget" in decision.reason and "50%" in decision.reason


def test_too_few_requests_hold_at_the_same_share():
    decision = decide(POLICY, 0.5, window(19))
    assert (decision.action, decision.share) == ("hold", 0.5)
    assert "19 requests" in decision.reason and "20 needed" in decision.reason


def test_errors_over_budget_roll_back_even_before_enough_requests():
    # 20 requests at 2% allow 0.4 errors: a single failure is already over budget
    early = decide(POLICY, 0.1, window(5, errors=1))
    assert (early.action, early.share) == ("rollback", 0.0)
    assert "1 of 5 requests failed" in early.reason
    # 100 requests allow 2 errors; 2 is within budget, 3 is not
    assert decide(POLICY, 0.5, window(100, errors=2)).action == "promote"
    assert decide(POLICY, 0.5, window(100, errors=3)).action == "rollback"


def test_slow_canary_rolls_back_only_once_it_has_enough_requests():
    assert decide(POLICY, 0.1, window(10, ms=80)).action == "hold"
    decision = decide(POLICY, 0.1, window(20, ms=80))
    assert (decision.action, decision.share) == ("rollback", 0.0)
    assert "p95 latency 80 ms is over the 50 ms budget" in decision.reason


def test_p95_not_mean_is_judged():
    latencies = np.r_[np.full(90, 5.0), np.full(10, 200.0)]  # mean 24.5 ms, p95 200 ms
    stats = CanaryStats(latencies, np.zeros(100, dtype=bool))
    assert decide(POLICY, 0.1, stats).action == "rollback"


def test_the_last_step_promotes_to_everyone():
    decision = decide(POLICY, 1.0, window(20))
    assert (decision.action, decision.share) == ("promote", 1.0)
    assert "all traffic" in decision.reason


def test_decide_names_bad_arguments():
    with pytest.raises(ValueError, match=r"share must be one of the policy's steps .* got 0.3"):
        decide(POLICY, 0.3, window(20))
    with pytest.raises(TypeError, match="stats must be CanaryStats"):
        decide(POLICY, 0.1, {"requests": 20})
    with pytest.raises(TypeError, match="policy must be a CanaryPolicy"):
        decide({"steps": (1.0,)}, 1.0, window(20))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": (0.5, 0.2, 1.0)}, "steps must increase and end at 1.0"),
        ({"steps": (0.1, 0.5)}, "end at 1.0"),
        ({"steps": (0.0, 1.0)}, r"steps must be traffic shares in \(0, 1\]"),
        ({"steps": ()}, "steps must be traffic shares"),
        ({"max_error_rate": 1.5}, "max_error_rate must be in"),
        ({"max_p95_ms": 0}, "max_p95_ms must be a positive number"),
        ({"min_requests": 0}, "min_requests must be at least 1"),
        ({"min_requests": 2.5}, "min_requests must be a whole number"),
    ],
)
def test_policy_names_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CanaryPolicy(**kwargs)


def test_stats_count_and_combine():
    stats = CanaryStats([10, 20, 30, 40], [False, True, False, False])
    assert (stats.requests, stats.errors, stats.error_rate) == (4, 1, 0.25)
    assert stats.p95_ms == pytest.approx(38.5)
    both = stats + window(4, ms=5)
    assert (both.requests, both.errors) == (8, 1)
    assert CanaryStats().requests == 0 and CanaryStats().p95_ms == 0.0
    with pytest.raises(ValueError, match="one entry per request, got 2 latencies and 1"):
        CanaryStats([1, 2], [False])
    with pytest.raises(ValueError, match="failed must hold True/False"):
        CanaryStats([1, 2], [0, 1])
    with pytest.raises(ValueError, match="latencies_ms must be finite"):
        CanaryStats([-1.0], [False])


def test_controller_walks_every_step_pooling_windows_while_it_holds():
    controller = CanaryController(POLICY)
    assert controller.share == 0.1
    actions = [controller.observe(window(12)).action for _ in range(2)]
    assert actions == ["hold", "promote"]  # 12 + 12 pooled requests reach 20
    assert controller.share == 0.5
    assert controller.observe(window(25)).action == "promote"
    assert controller.observe(window(25)).action == "promote"
    assert controller.finished and controller.share == 1.0
    assert [d.share for d in controller.history] == [0.1, 0.5, 1.0, 1.0]
    with pytest.raises(CanaryFinishedError, match="create a new CanaryController"):
        controller.observe(window(25))


def test_controller_rolls_back_and_stops():
    controller = CanaryController(POLICY)
    controller.observe(window(25))
    decision = controller.observe(window(10, errors=2))
    assert decision.action == "rollback"
    assert controller.finished and controller.share == 0.0


def test_controller_starts_fresh_stats_at_each_step():
    controller = CanaryController(POLICY)
    controller.observe(window(20, ms=45))
    # the slow 20 from the first step must not count at 50%: 5 fast requests only hold
    assert controller.observe(window(5, ms=1)).action == "hold"
    with pytest.raises(TypeError, match="policy must be a CanaryPolicy or None"):
        CanaryController("fast")


def test_shadow_summary_counts_agreement_failures_and_flips():
    live = np.array([0.1, 0.6, 0.7, 0.2, 0.9])
    shadow = np.array([0.2, 0.4, 0.8, np.nan, 0.95])
    summary = compare_shadow(live, shadow, threshold=0.5, dropped=3)
    assert (summary.mirrored, summary.answered, summary.failed, summary.dropped) == (5, 4, 1, 3)
    assert summary.agreement == pytest.approx(3 / 4)
    assert summary.mean_abs_difference == pytest.approx((0.1 + 0.2 + 0.1 + 0.05) / 4)
    assert summary.max_abs_difference == pytest.approx(0.2)
    assert (summary.only_live_positive, summary.only_shadow_positive) == (1, 0)


def test_shadow_summary_with_a_threshold_for_each_model():
    live, shadow = np.array([0.3, 0.6]), np.array([0.3, 0.6])
    summary = compare_shadow(live, shadow, threshold=0.5, shadow_threshold=0.25)
    assert summary.agreement == 0.5 and summary.only_shadow_positive == 1


def test_shadow_summary_when_every_shadow_call_failed():
    summary = compare_shadow([0.2, 0.7], [np.nan, np.nan])
    assert summary.failed == 2 and np.isnan(summary.agreement)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([0.1, 0.2], [0.1]), {}, "one score per request each, got 2 live and 1 shadow"),
        (([np.nan], [0.1]), {}, "live must not contain NaN"),
        (([0.1], [0.1]), {"threshold": 1.0}, "threshold must be strictly between"),
        (([0.1], [0.1]), {"shadow_threshold": -1}, "shadow_threshold must be strictly between"),
        (([0.1], [0.1]), {"dropped": -1}, "dropped must be a whole number >= 0"),
    ],
)
def test_shadow_summary_names_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        compare_shadow(*args, **kwargs)
