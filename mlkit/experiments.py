"""A/B tests: assignment by hashed user id, the two-proportion z-test, a bootstrap interval,
sample size and power (introduced in module 07).

The formulas are the textbook ones and short on purpose: module 07 derives each in its
cells, and the lab asks learners to write the test and the sample size themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

ALTERNATIVES = ("two-sided", "larger", "smaller")


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise ValueError(f"{name} must be a non-empty string or an int, got {value!r}.")


def _check_open_fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}.")
    return float(value)


def _check_counts(successes: object, trials: object, arm: str) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(successes)
    n = np.asarray(trials)
    for name, values in ((f"successes_{arm}", s), (f"n_{arm}", n)):
        whole = values.dtype.kind in "iuf" and np.all(values == np.round(values))
        if not whole or np.any(values < 0):
            raise ValueError(f"{name} must be whole numbers >= 0, got {values.tolist()!r}.")
    if np.any(n == 0):
        raise ValueError(f"n_{arm} must be at least 1 (users in arm {arm}), got {n.tolist()!r}.")
    if np.any(s > n):
        raise ValueError(
            f"successes_{arm} cannot exceed n_{arm}: got {s.tolist()!r} successes "
            f"out of {n.tolist()!r}."
        )
    return s.astype(float), n.astype(float)


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}.")


def assignment_bucket(user_id: str | int, experiment: str) -> float:
    """A number in [0, 1) fixed by sha256 of "experiment:user_id" (module 07).

    The same user always lands in the same place, different experiments place a user
    independently, and no table of assignments needs to be stored.
    """
    _check_text("user_id", user_id)
    _check_text("experiment", experiment)
    digest = hashlib.sha256(f"{experiment}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_variant(
    user_id: str | int,
    experiment: str,
    treatment_share: float = 0.5,
    names: tuple[str, str] = ("control", "treatment"),
) -> str:
    """`names[1]` for users whose bucket is below `treatment_share`, else `names[0]` (module 07).

    Raising the share only moves users from control to treatment, never back: a canary
    that grows keeps the users it already had.
    """
    if isinstance(treatment_share, bool) or not isinstance(treatment_share, int | float):
        raise ValueError(f"treatment_share must be a number in [0, 1], got {treatment_share!r}.")
    if not 0 <= treatment_share <= 1:
        raise ValueError(f"treatment_share must be in [0, 1], got {treatment_share!r}.")
    if len(names) != 2 or not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"names must be two non-empty strings (control, treatment), got {names}.")
    return names[1] if assignment_bucket(user_id, experiment) < treatment_share else names[0]


def p_values(
    successes_a: object,
    n_a: object,
    successes_b: object,
    n_b: object,
    alternative: str = "two-sided",
) -> np.ndarray:
    """Two-proportion z-test p-values, element-wise over arrays of counts (module 07).

    z = (rate_b - rate_a) / sqrt(p(1 - p)(1/n_a + 1/n_b)) with p the pooled rate.
    "larger" tests rate_b > rate_a, "smaller" rate_b < rate_a. Where both arms are all
    successes or all failures there is no evidence of a difference and the p-value is 1.
    """
    return _z_and_p(successes_a, n_a, successes_b, n_b, alternative)[1]


def _z_and_p(
    successes_a: object, n_a: object, successes_b: object, n_b: object, alternative: str
) -> tuple[np.ndarray, np.ndarray]:
    _check_alternative(alternative)
    sa, na = _check_counts(successes_a, n_a, "a")
    sb, nb = _check_counts(successes_b, n_b, "b")
    pooled = (sa + sb) / (na + nb)
    se = np.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (sb / nb - sa / na) / np.where(se > 0, se, 1.0), 0.0)
    if alternative == "two-sided":
        p = 2 * ndtr(-np.abs(z))
    elif alternative == "larger":
        p = ndtr(-z)
    else:
        p = ndtr(z)
    return z, np.where(se > 0, p, 1.0)


@dataclass(frozen=True)
class ZTestResult:
    """A two-proportion z-test: the rates, their difference (b - a), z, the p-value, and
    a Wald confidence interval for the difference."""

    rate_a: float
    rate_b: float
    difference: float
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    confidence: float

    def significant(self, alpha: float = 0.05) -> bool:
        """True when the p-value is below `alpha`."""
        return self.p_value < _check_open_fraction("alpha", alpha)


def two_proportion_ztest(
    successes_a: int,
    n_a: int,
    successes_b: int,
    n_b: int,
    *,
    alternative: str = "two-sided",
    confidence: float = 0.95,
) -> ZTestResult:
    """Compare the success rates of arms a and b (module 07).

    The test uses the pooled rate (under "no difference" both arms share one rate); the
    interval for rate_b - rate_a uses each arm's own rate, so it can be a little wider
    or narrower than the test suggests near the 5% line.
    """
    counts = {"successes_a": successes_a, "n_a": n_a, "successes_b": successes_b, "n_b": n_b}
    for name, value in counts.items():
        if np.ndim(value):
            raise ValueError(f"{name} must be a single count, got an array; use p_values().")
    confidence = _check_open_fraction("confidence", confidence)
    z, p = _z_and_p(successes_a, n_a, successes_b, n_b, alternative)
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    diff = rate_b - rate_a
    half = ndtri(0.5 + confidence / 2) * np.sqrt(
        rate_a * (1 - rate_a) / n_a + rate_b * (1 - rate_b) / n_b
    )
    return ZTestResult(
        rate_a=float(rate_a),
        rate_b=float(rate_b),
        difference=float(diff),
        z=float(z),
        p_value=float(p),
        ci_low=float(diff - half),
        ci_high=float(diff + half),
        confidence=confidence,
    )


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile bootstrap interval for statistic(b) - statistic(a)."""

    estimate: float
    low: float
    high: float
    confidence: float
    differences: np.ndarray  # one per resample, for plotting


def bootstrap_difference(
    outcomes_a: Sequence[float] | np.ndarray,
    outcomes_b: Sequence[float] | np.ndarray,
    *,
    statistic: Callable[..., np.ndarray] = np.mean,
    n_resamples: int = 2_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """Resample each arm with replacement and take the percentiles of the difference (module 07).

    `statistic(array, axis=1)` is applied to a block of resamples at once (np.mean,
    np.median, ...). The interval assumes nothing about the outcomes' distribution.
    """
    arms = []
    for name, outcomes in (("outcomes_a", outcomes_a), ("outcomes_b", outcomes_b)):
        values = np.asarray(outcomes, dtype=float)
        if values.ndim != 1 or values.size < 2 or not np.all(np.isfinite(values)):
            raise ValueError(
                f"{name} must be a 1-D sequence of at least 2 finite numbers (one per user), "
                f"got shape {values.shape}."
            )
        arms.append(values)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 100:
        raise ValueError(f"n_resamples must be a whole number >= 100, got {n_resamples!r}.")
    confidence = _check_open_fraction("confidence", confidence)
    rng = np.random.default_rng(seed)
    block = max(1, 4_000_000 // max(a.size for a in arms))  # resamples per block: bounded memory
    differences = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        a, b = (arm[rng.integers(0, arm.size, (size, arm.size))] for arm in arms)
        differences[start : start + size] = statistic(b, axis=1) - statistic(a, axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(differences, [tail, 100 - tail])
    a, b = (statistic(arm[None, :], axis=1)[0] for arm in arms)
    estimate = float(b - a)
    return BootstrapInterval(estimate, float(low), float(high), confidence, differences)


def sample_size_per_arm(
    baseline_rate: float, minimum_effect: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Users needed in each arm to detect rate baseline_rate -> baseline_rate + minimum_effect
    with a two-sided test at `alpha` and the given `power` (module 07).

    n = (z_{1-alpha/2} sqrt(2 p(1-p)) + z_{power} sqrt(p1(1-p1) + p2(1-p2)))^2 / effect^2,
    with p the mean of the two rates, rounded up.
    """
    p1 = _check_open_fraction("baseline_rate", baseline_rate)
    if isinstance(minimum_effect, bool) or not isinstance(minimum_effect, int | float):
        raise ValueError(f"minimum_effect must be a number, got {minimum_effect!r}.")
    p2 = p1 + minimum_effect
    if minimum_effect == 0 or not 0 < p2 < 1:
        raise ValueError(
            "minimum_effect must be non-zero and keep baseline_rate + minimum_effect strictly "
            f"between 0 and 1, got {minimum_effect!r} (baseline_rate {p1!r})."
        )
    z_alpha = ndtri(1 - _check_open_fraction("alpha", alpha) / 2)
    z_power = ndtri(_check_open_fraction("power", power))
    mean = (p1 + p2) / 2
    root_n = z_alpha * np.sqrt(2 * mean * (1 - mean)) + z_power * np.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return int(np.ceil(root_n**2 / minimum_effect**2))


def power(
    baseline_rate: float, treatment_rate: float, n_per_arm: int | np.ndarray, *, alpha: float = 0.05
) -> float | np.ndarray:
    """Chance that a two-sided z-test at `alpha` with `n_per_arm` users per arm finds a
    difference when the true rates are baseline_rate and treatment_rate (module 07).

    `n_per_arm` may be an array (a power curve). The inverse of `sample_size_per_arm`;
    like it, it ignores the chance of a significant result in the wrong direction.
    """
    p1 = _check_open_fraction("baseline_rate", baseline_rate)
    p2 = _check_open_fraction("treatment_rate", treatment_rate)
    n = np.asarray(n_per_arm)
    if n.dtype.kind not in "iu" or np.any(n < 1):
        raise ValueError(f"n_per_arm must be whole numbers >= 1, got {n.tolist()!r}.")
    z_alpha = ndtri(1 - _check_open_fraction("alpha", alpha) / 2)
    mean = (p1 + p2) / 2
    null_se = np.sqrt(2 * mean * (1 - mean) / n)
    alt_se = np.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n)
    result = ndtr((abs(p2 - p1) - z_alpha * null_se) / alt_se)
    return float(result) if np.ndim(result) == 0 else result


def sample_ratio_p_value(n_a: int, n_b: int, expected_share_b: float = 0.5) -> float:
    """p-value of a chi-square test that arm b got `expected_share_b` of the users (module 07).

    A tiny p-value (a "sample ratio mismatch") means assignment or logging is broken,
    and the experiment's comparison cannot be trusted whatever it shows.
    """
    for name, value in (("n_a", n_a), ("n_b", n_b)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, got {value!r}.")
    if n_a + n_b == 0:
        raise ValueError("n_a + n_b must be at least 1: there are no users to check.")
    share = _check_open_fraction("expected_share_b", expected_share_b)
    total = n_a + n_b
    z = (n_b - share * total) / np.sqrt(total * share * (1 - share))
    return float(2 * ndtr(-abs(z)))
