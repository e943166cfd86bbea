"""mlkit.drift agrees with scipy to 1e-9, and PSI and the corrections with hand-computed values."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlkit import data, drift

TOL = 1e-9


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)


# ------------------------------------------------------------------------------ KS


def normal(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(shift, 1, n)


SMALL_PAIRS = [  # exact regime of scipy's method='auto' (both samples <= 10,000 values)
    (np.array([1.0, 2, 3, 4, 5]), np.array([2.5, 3.5, 6, 7, 8, 9, 10])),
    (np.arange(12.0), np.arange(12.0) + 0.5),
    (np.array([1.0, 1, 1, 2, 2, 3]), np.array([1.0, 2, 2, 2, 3, 3, 3, 4])),  # ties across samples
    (normal(1, 300), normal(2, 170, 0.3)),
    (
        np.random.default_rng(3).poisson(2, 2000) * 1.0,
        np.random.default_rng(4).poisson(2, 999) * 1.0,
    ),
    (normal(5, 10_000), normal(6, 10_000)),
]
LARGE_PAIRS = [  # asymptotic regime: scipy's slow Smirnov branch, its fast one, and a p of 0
    (normal(7, 30_000), normal(8, 12_000, 0.03)),
    (normal(9, 20_000), normal(10, 15_000)),
    (normal(11, 20_000), normal(12, 11_000, 1.0)),
    (np.round(10 * normal(13, 40_000)), np.round(10 * normal(14, 10_001, 0.05))),  # many ties
]


@pytest.mark.parametrize("a, b", SMALL_PAIRS + LARGE_PAIRS)
def test_ks_test_matches_scipy_auto(a, b):
    ours, theirs = drift.ks_test(a, b), stats.ks_2samp(a, b)
    assert close(ours.statistic, theirs.statistic)
    assert close(ours.pvalue, theirs.pvalue), (ours.pvalue, theirs.pvalue)


@pytest.mark.parametrize("a, b", SMALL_PAIRS[:4] + LARGE_PAIRS[:1])
@pytest.mark.parametrize("method", ["exact", "asymp"])
def test_ks_test_matches_scipy_for_each_method(a, b, method):
    ours, theirs = drift.ks_test(a, b, method), stats.ks_2samp(a, b, method=method)
    assert close(ours.statistic, theirs.statistic)
    assert close(ours.pvalue, theirs.pvalue), (ours.pvalue, theirs.pvalue)


def test_the_two_regimes_really_differ():
    # Guards the test above: if exact and asymptotic agreed, matching either would pass.
    for a, b in [SMALL_PAIRS[0], SMALL_PAIRS[2], SMALL_PAIRS[3]]:
        exact, asymp = drift.ks_test(a, b, "exact"), drift.ks_test(a, b, "asymp")
        assert abs(exact.pvalue - asymp.pvalue) > 1000 * TOL


def test_ks_statistic_by_hand():
    # ECDFs of [1, 2, 3] and [3, 4]: at 2 the gap is 2/3 - 0.
    assert drift.ks_test([1, 2, 3], [3, 4]).statistic == pytest.approx(2 / 3)


def test_ks_identical_samples_have_p_one():
    result = drift.ks_test([1.0, 2, 3], [1.0, 2, 3])
    assert result.statistic == 0 and result.pvalue == 1


# ---------------------------------------------------------------------- chi-square

CATEGORY_PAIRS = [
    (["a"] * 30 + ["b"] * 20, ["a"] * 10 + ["b"] * 25),  # 2 x 2: Yates' correction
    (list("aabbbcccc" * 10), list("abbcccccc" * 7)),
    (["x"] * 40 + ["y"] * 60, ["x"] * 30 + ["y"] * 50 + ["z"] * 5),  # category new in current
    (pd.Categorical(["n", "s", "s"] * 50, categories=["n", "s", "e", "w"]), ["n", "s", "w"] * 20),
]


@pytest.mark.parametrize("a, b", CATEGORY_PAIRS)
def test_chi2_test_matches_scipy(a, b):
    table = drift.contingency_table(a, b)
    ours, theirs = drift.chi2_test(a, b), stats.chi2_contingency(table.to_numpy())
    assert close(ours.statistic, theirs.statistic)
    assert close(ours.pvalue, theirs.pvalue)
    assert ours.dof == theirs.dof


def test_contingency_table_by_hand():
    table = drift.contingency_table(["a", "b", "b"], ["b", "c", "c", "c"])
    assert list(table.columns) == ["a", "b", "c"]
    assert table.to_numpy().tolist() == [[1, 2, 0], [0, 1, 3]]


def test_chi2_with_a_single_category_has_no_evidence():
    result = drift.chi2_test(["a"] * 5, ["a"] * 9)
    assert (result.statistic, result.pvalue, result.dof) == (0.0, 1.0, 0)


# ------------------------------------------------------------------ distances, PSI


@pytest.mark.parametrize("a, b", SMALL_PAIRS[:4] + LARGE_PAIRS[2:])
def test_wasserstein_matches_scipy(a, b):
    assert close(drift.wasserstein(a, b), stats.wasserstein_distance(a, b))


def test_wasserstein_of_a_shift_is_the_shift():
    assert drift.wasserstein([0.0, 1, 2], [5.0, 6, 7]) == pytest.approx(5.0)


def test_psi_by_hand_numeric():
    # bins=2: the reference median 5.5 splits 1..10 into 5 + 5; current has 2 below, 8 above.
    reference = np.arange(1.0, 11)
    current = np.array([1.0, 2, 6, 7, 8, 9, 10, 10, 10, 10])
    expected = (0.2 - 0.5) * math.log(0.2 / 0.5) + (0.8 - 0.5) * math.log(0.8 / 0.5)
    assert drift.psi(reference, current, bins=2) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.3 * math.log(4))


def test_psi_by_hand_categorical_with_an_empty_bin():
    reference = ["a"] * 6 + ["b"] * 4
    current = ["a"] * 3 + ["b"] * 5 + ["c"] * 2  # 'c' never seen in the reference: share eps
    eps = drift.PSI_EPS
    expected = (
        (0.3 - 0.6) * math.log(0.3 / 0.6)
        + (0.5 - 0.4) * math.log(0.5 / 0.4)
        + (0.2 - eps) * math.log(0.2 / eps)
    )
    assert drift.psi(reference, current) == pytest.approx(expected, rel=1e-12)


def test_psi_bins_merge_on_tied_quantiles():
    # The reference's quartiles are 1, 1.5 and 2.25:
    # bins (-inf, 1], (1, 1.5], (1.5, 2.25], (2.25, inf).
    reference = np.array([1.0, 1, 1, 1, 2, 2, 3, 4])
    current = np.array([1.0, 1, 2, 2, 2, 2, 4, 4])
    r = np.clip(np.array([4, 0, 2, 2]) / 8, drift.PSI_EPS, None)
    c = np.clip(np.array([2, 0, 4, 2]) / 8, drift.PSI_EPS, None)
    assert drift.psi(reference, current, bins=4) == pytest.approx(np.sum((c - r) * np.log(c / r)))


def test_psi_of_identical_samples_is_zero():
    values = np.random.default_rng(0).normal(size=1000)
    assert drift.psi(values, values) == 0.0


def test_js_distance_matches_scipy():
    reference, current = SMALL_PAIRS[3]
    edges = np.unique(np.quantile(reference, np.arange(1, 10) / 10))
    counts = [np.bincount(np.searchsorted(edges, x), minlength=10) for x in (reference, current)]
    assert close(drift.js_distance(reference, current), jensenshannon(*counts, base=2))
    a, b = CATEGORY_PAIRS[2]
    table = drift.contingency_table(a, b).to_numpy()
    assert close(drift.js_distance(a, b), jensenshannon(table[0], table[1], base=2))


# ---------------------------------------------------------------- multiple testing


def test_bonferroni_and_bh_by_hand():
    p = [0.01, 0.04, 0.03, 0.20]
    np.testing.assert_allclose(drift.bonferroni(p), [0.04, 0.16, 0.12, 0.80])
    np.testing.assert_allclose(drift.benjamini_hochberg(p), [0.04, 0.16 / 3, 0.16 / 3, 0.20])


def test_bh_flags_more_than_bonferroni_when_several_are_small():
    p = [0.001, 0.012, 0.014, 0.5]
    np.testing.assert_allclose(drift.bonferroni(p), [0.004, 0.048, 0.056, 1.0])
    np.testing.assert_allclose(drift.benjamini_hochberg(p), [0.004, 0.056 / 3, 0.056 / 3, 0.5])
    assert (drift.bonferroni(p) < 0.05).sum() == 2
    assert (drift.benjamini_hochberg(p) < 0.05).sum() == 3


def test_bh_matches_scipy():
    p = np.random.default_rng(0).uniform(0, 0.2, 40)
    np.testing.assert_allclose(
        drift.benjamini_hochberg(p), stats.false_discovery_control(p), rtol=0, atol=1e-15
    )


@pytest.mark.parametrize("bad", [[], [0.5, 1.2], [[0.1, 0.2]], [float("nan")]])
def test_corrections_refuse_bad_pvalues(bad):
    with pytest.raises(ValueError, match="pvalues"):
        drift.benjamini_hochberg(bad)


# ----------------------------------------------------------------------- the report


@pytest.fixture(scope="module")
def frames():
    reference = data.make_dataset(4000, seed=1)[data.FEATURES]
    current = data.make_dataset(700, seed=2)
    current = data.inject_covariate_shift(current, ["monthly_spend", "region"], 0.4)
    return reference, current[data.FEATURES]


def test_report_equals_the_scipy_loop(frames):
    reference, current = frames
    fast = drift.drift_report(reference, current)
    slow = drift.scipy_drift_report(reference, current)
    assert list(fast.columns) == drift.REPORT_COLUMNS
    assert fast["feature"].tolist() == data.FEATURES
    labels = ["feature", "kind", "test", "drifted"]
    pd.testing.assert_frame_equal(fast[labels], slow[labels])
    numbers = ["statistic", "p_value", "p_bonferroni", "p_bh", "psi", "js_distance", "wasserstein"]
    np.testing.assert_allclose(fast[numbers], slow[numbers], rtol=TOL, atol=TOL)


def test_report_finds_the_injected_drift(frames):
    reference, current = frames
    report = drift.drift_report(reference, current)
    assert set(report.loc[report.drifted, "feature"]) == {"monthly_spend", "region"}
    clean = drift.drift_report(reference, data.make_dataset(700, seed=3)[data.FEATURES])
    assert not clean["drifted"].any()


def test_report_with_a_prepared_reference_is_the_same(frames):
    reference, current = frames
    prepared = drift.prepare_reference(reference)
    pd.testing.assert_frame_equal(
        drift.drift_report(prepared, current), drift.drift_report(reference, current)
    )


def test_report_correction_changes_the_decision():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({f"x{i}": rng.normal(size=400) for i in range(6)})
    current = pd.DataFrame({f"x{i}": rng.normal(0.12 * (i < 3), 1, 400) for i in range(6)})
    report = drift.drift_report(reference, current, correction="none", alpha=0.2)
    assert (report.drifted == (report.p_value < 0.2)).all()
    report = drift.drift_report(reference, current, correction="bonferroni", alpha=0.2)
    assert (report.drifted == (report.p_bonferroni < 0.2)).all()


def test_report_treats_named_numeric_columns_as_categories():
    reference = pd.DataFrame({"code": [1, 2, 2, 3] * 25})
    report = drift.drift_report(reference, reference, categorical=["code"])
    assert report.loc[0, "kind"] == "categorical" and report.loc[0, "test"] == "chi2"
    assert math.isnan(report.loc[0, "wasserstein"])


def test_large_exact_request_falls_back_with_a_warning():
    a, b = np.arange(50_000.0), np.arange(50_001.0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = drift.ks_test(a, b, "exact")
    assert any("asymptotic" in str(w.message) for w in caught)
    assert close(result.pvalue, stats.ks_2samp(a, b, method="asymp").pvalue)


# ---------------------------------------------------------------------- bad input


def test_errors_name_the_argument(frames):
    reference, current = frames
    with pytest.raises(ValueError, match="current is missing the feature column"):
        drift.drift_report(reference, current.drop(columns=["age"]))
    with pytest.raises(ValueError, match="correction must be one of"):
        drift.drift_report(reference, current, correction="holm")
    with pytest.raises(ValueError, match="alpha"):
        drift.drift_report(reference, current, alpha=5)
    with pytest.raises(ValueError, match="features must name columns"):
        drift.drift_report(reference, current, features=["agee"])
    with pytest.raises(ValueError, match="missing value"):
        drift.ks_test([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(TypeError, match="must hold numbers"):
        drift.ks_test(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="is empty"):
        drift.chi2_test([], ["a"])
    with pytest.raises(ValueError, match="bins"):
        drift.psi([1.0, 2.0], [1.0, 2.0], bins=1)
    with pytest.raises(ValueError, match="method must be one of"):
        drift.ks_test([1.0], [2.0], "fast")
