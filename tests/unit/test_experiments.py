"""mlkit.experiments against hand computations (statistics.NormalDist) and simulation."""

import math
from statistics import NormalDist

import numpy as np
import pytest

from mlkit import experiments as ex

PHI = NormalDist().cdf


def hand_ztest(sa: int, na: int, sb: int, nb: int) -> tuple[float, float]:
    pooled = (sa + sb) / (na + nb)
    z = (sb / nb - sa / na) / math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    return z, 2 * (1 - PHI(abs(z)))


def test_assignment_is_stable_uniform_and_split_by_share():
    users = [f"user-{i}" for i in range(10_000)]
    buckets = np.array([ex.assignment_bucket(u, "exp-1") for u in users])
    assert np.all((buckets >= 0) & (buckets < 1))
    assert ex.assignment_bucket("user-7", "exp-1") == buckets[7]
    counts, _ = np.histogram(buckets, bins=10, range=(0, 1))
    assert counts.min() > 900 and counts.max() < 1100  # about 1,000 a tenth
    treated = [ex.assign_variant(u, "exp-1", 0.2) for u in users].count("treatment")
    assert 1900 < treated < 2100


def test_raising_the_share_only_moves_users_into_treatment():
    users = [f"u{i}" for i in range(2_000)]
    at_5 = {u for u in users if ex.assign_variant(u, "canary", 0.05) == "treatment"}
    at_25 = {u for u in users if ex.assign_variant(u, "canary", 0.25) == "treatment"}
    assert at_5 and at_5 < at_25
    assert all(ex.assign_variant(u, "canary", 1.0) == "treatment" for u in users[:50])
    assert all(ex.assign_variant(u, "canary", 0.0) == "control" for u in users[:50])


def test_experiments_assign_independently():
    users = range(8_000)
    first = np.array([ex.assign_variant(u, "exp-a") == "treatment" for u in users])
    second = np.array([ex.assign_variant(u, "exp-b") == "treatment" for u in users])
    both = np.mean(first & second)
    assert 0.22 < both < 0.28  # 25% if independent, 50% if the same split
    assert ex.assign_variant(1, "e", names=("champion", "challenger")) in {
        "champion",
        "challenger",
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"user_id": "", "experiment": "e"}, "user_id must be a non-empty"),
        ({"user_id": 3.5, "experiment": "e"}, "user_id must be"),
        ({"user_id": "u", "experiment": ""}, "experiment must be"),
        ({"user_id": "u", "experiment": "e", "treatment_share": 1.5}, r"treatment_share .* 1\.5"),
        ({"user_id": "u", "experiment": "e", "treatment_share": "half"}, "treatment_share"),
        ({"user_id": "u", "experiment": "e", "names": ("a",)}, "names must be two"),
    ],
)
def test_assignment_names_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ex.assign_variant(**kwargs)


def test_ztest_matches_the_hand_computation():
    result = ex.two_proportion_ztest(200, 1_000, 250, 1_000)
    z, p = hand_ztest(200, 1_000, 250, 1_000)
    assert result.z == pytest.approx(z) and result.z == pytest.approx(2.6774, abs=1e-4)
    assert result.p_value == pytest.approx(p) and result.p_value == pytest.approx(0.00742, abs=1e-5)
    assert result.difference == pytest.approx(0.05)
    half = NormalDist().inv_cdf(0.975) * math.sqrt(0.2 * 0.8 / 1_000 + 0.25 * 0.75 / 1_000)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.05 - half, 0.05 + half))
    assert result.significant(0.01) and not result.significant(0.005)


def test_one_sided_alternatives_split_the_two_sided_p_value():
    two = ex.two_proportion_ztest(200, 1_000, 250, 1_000).p_value
    larger = ex.two_proportion_ztest(200, 1_000, 250, 1_000, alternative="larger").p_value
    smaller = ex.two_proportion_ztest(200, 1_000, 250, 1_000, alternative="smaller").p_value
    assert larger == pytest.approx(two / 2)
    assert smaller == pytest.approx(1 - two / 2)


def test_vectorised_p_values_equal_the_scalar_test_and_handle_no_variation():
    sa, sb = np.array([10, 200, 0]), np.array([15, 250, 0])
    n = np.array([100, 1_000, 50])
    expected = [
        ex.two_proportion_ztest(a, m, b, m).p_value for a, b, m in zip(sa, sb, n, strict=True)
    ]
    np.testing.assert_allclose(ex.p_values(sa, n, sb, n), expected)
    assert expected[2] == 1.0  # nobody converted in either arm: no evidence of a difference


def test_under_no_difference_the_test_rejects_alpha_of_the_time():
    rng = np.random.default_rng(1)
    a = rng.binomial(2_000, 0.2, size=4_000)
    b = rng.binomial(2_000, 0.2, size=4_000)
    rejected = np.mean(ex.p_values(a, 2_000, b, 2_000) < 0.05)
    assert 0.04 < rejected < 0.06  # 4,000 tests: 5% +- 3 standard errors


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((300, 200, 10, 100), "successes_a cannot exceed n_a"),
        ((-1, 200, 10, 100), "successes_a must be whole numbers >= 0"),
        ((10, 0, 10, 100), "n_a must be at least 1"),
        ((10, 100, 10.5, 100), "successes_b must be whole numbers"),
        ((10, 100, 10, "many"), "n_b must be whole numbers"),
        (([1, 2], 100, 10, 100), "successes_a must be a single count"),
    ],
)
def test_ztest_names_bad_counts(args, match):
    with pytest.raises(ValueError, match=match):
        ex.two_proportion_ztest(*args)


def test_ztest_names_bad_options():
    with pytest.raises(ValueError, match="alternative must be one of"):
        ex.two_proportion_ztest(1, 10, 2, 10, alternative="greater")
    with pytest.raises(ValueError, match="confidence must be .* got 95"):
        ex.two_proportion_ztest(1, 10, 2, 10, confidence=95)


def test_sample_size_matches_the_textbook_formula_and_inverts_power():
    # (1.95996 * sqrt(2 * 0.11 * 0.89) + 0.84162 * sqrt(0.1 * 0.9 + 0.12 * 0.88))^2 / 0.02^2
    n = ex.sample_size_per_arm(0.10, 0.02)
    assert n == 3_841
    assert ex.sample_size_per_arm(0.12, -0.02) == n  # the formula is symmetric in the rates
    assert ex.power(0.10, 0.12, n) >= 0.8 > ex.power(0.10, 0.12, n - 1)
    assert ex.sample_size_per_arm(0.10, 0.02, power=0.9) > n
    assert ex.sample_size_per_arm(0.10, 0.04) < n / 3  # twice the effect, a quarter the users
    curve = ex.power(0.10, 0.12, np.array([100, 1_000, 10_000]))
    assert np.all(np.diff(curve) > 0)


def test_power_matches_simulation():
    rng = np.random.default_rng(2)
    n = ex.sample_size_per_arm(0.10, 0.02)
    a = rng.binomial(n, 0.10, size=2_000)
    b = rng.binomial(n, 0.12, size=2_000)
    assert np.mean(ex.p_values(a, n, b, n) < 0.05) == pytest.approx(0.8, abs=0.03)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((0.0, 0.02), {}, "baseline_rate must be .* strictly between 0 and 1, got 0.0"),
        ((0.1, 0.0), {}, "minimum_effect must be non-zero"),
        ((0.9, 0.2), {}, "keep baseline_rate \\+ minimum_effect strictly between"),
        ((0.1, 0.02), {"power": 80}, "power must be .* got 80"),
        ((0.1, 0.02), {"alpha": 0}, "alpha must be"),
    ],
)
def test_sample_size_names_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ex.sample_size_per_arm(*args, **kwargs)


def test_power_names_bad_arguments():
    with pytest.raises(ValueError, match="n_per_arm must be whole numbers >= 1"):
        ex.power(0.1, 0.12, 0)
    with pytest.raises(ValueError, match="treatment_rate must be"):
        ex.power(0.1, 1.2, 100)


def test_bootstrap_interval_agrees_with_the_normal_interval_for_rates():
    a = np.r_[np.ones(200), np.zeros(800)]
    b = np.r_[np.ones(250), np.zeros(750)]
    boot = ex.bootstrap_difference(a, b, n_resamples=4_000, seed=3)
    wald = ex.two_proportion_ztest(200, 1_000, 250, 1_000)
    assert boot.estimate == pytest.approx(0.05)
    assert boot.differences.shape == (4_000,)
    assert boot.low == pytest.approx(wald.ci_low, abs=0.004)
    assert boot.high == pytest.approx(wald.ci_high, abs=0.004)
    again = ex.bootstrap_difference(a, b, n_resamples=4_000, seed=3)
    assert (again.low, again.high) == (boot.low, boot.high)


def test_bootstrap_takes_other_statistics():
    a = np.array([1.0, 2.0, 3.0, 100.0])
    b = np.array([2.0, 3.0, 4.0, 100.0])
    boot = ex.bootstrap_difference(a, b, statistic=np.median, n_resamples=200)
    assert boot.estimate == pytest.approx(1.0)
    assert boot.low <= boot.estimate <= boot.high


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"outcomes_a": [1.0]}, "outcomes_a must be a 1-D sequence of at least 2"),
        ({"outcomes_b": [[1.0, 0.0]]}, "outcomes_b must be a 1-D"),
        ({"outcomes_a": [1.0, np.nan]}, "finite"),
        ({"n_resamples": 10}, "n_resamples must be a whole number >= 100, got 10"),
        ({"confidence": 1.0}, "confidence must be"),
    ],
)
def test_bootstrap_names_bad_arguments(kwargs, match):
    arguments = {"outcomes_a": [0.0, 1.0], "outcomes_b": [1.0, 1.0], **kwargs}
    with pytest.raises(ValueError, match=match):
        ex.bootstrap_difference(**arguments)


def test_sample_ratio_check():
    assert ex.sample_ratio_p_value(5_000, 5_000) == pytest.approx(1.0)
    z = (5_300 - 5_150) / math.sqrt(10_300 * 0.25)
    assert ex.sample_ratio_p_value(5_000, 5_300) == pytest.approx(2 * (1 - PHI(z)))
    assert ex.sample_ratio_p_value(9_000, 1_000, expected_share_b=0.1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n_b must be a whole number >= 0, got -3"):
        ex.sample_ratio_p_value(10, -3)
    with pytest.raises(ValueError, match="no users"):
        ex.sample_ratio_p_value(0, 0)
