"""Drift statistics and the per-feature drift report (module 06).

Two samples of the same feature, a *reference* (what the model was trained on) and a
*current* batch (what it sees now), are compared with:

- numeric features: the two-sample Kolmogorov–Smirnov test (`ks_test`) and the
  Wasserstein-1 distance (`wasserstein`);
- categorical features: Pearson's chi-square test on the 2 × k contingency table of
  category counts (`chi2_test`);
- both kinds: the population stability index (`psi`) and the Jensen–Shannon distance
  (`js_distance`), on the reference's quantile bins (numeric) or on the categories.

`drift_report` does all of it for every feature at once and controls for testing many
features with Bonferroni (`bonferroni`) and Benjamini–Hochberg (`benjamini_hochberg`).

Agreement with scipy: statistics and p-values equal `scipy.stats.ks_2samp` (two-sided,
``method='auto'``) and `scipy.stats.chi2_contingency` (with its Yates correction for
2 × 2 tables) to 1e-9; `wasserstein` equals `scipy.stats.wasserstein_distance` and
`js_distance` equals `scipy.spatial.distance.jensenshannon(base=2)`. As in scipy's
``'auto'``, the KS p-value is exact when neither sample has more than 10,000 values and
asymptotic above that (`scipy.stats.kstwo` with n = round(n1 n2 / (n1 + n2))); the
`method`/`ks_method` argument picks one regime for every size. Exact p-values come from
scipy's own exact routine (`scipy.stats._stats_py._attempt_exact_2kssamp`: scipy has no
public function for the exact two-sample distribution; the scipy pin and a test keep it
honest), evaluated once per feature.

Why it is fast: each numeric column is sorted once, and the sorted arrays give the KS
statistic, the Wasserstein distance and the bin counts by merging the two sorted samples
(`searchsorted` with keys that arrive in order), where scipy sorts again and searches
with unsorted keys for each statistic. Category counts come from one `bincount` per
column. The p-values, PSI and Jensen–Shannon distances of all features are computed as
arrays, and the one slow branch of scipy's asymptotic KS distribution (Smirnov's sum,
a loop over n terms) is evaluated as one vector sum (`_kstwo_sf`).
`scipy_drift_report` builds the same report one column at a time with scipy's functions:
it is the reference the fast version is tested and benchmarked against (bench/drift.py).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

EXACT_MAX_N = 10_000  # scipy's ks_2samp(method='auto') is exact up to this many values
KS_METHODS = ("auto", "exact", "asymp")
CORRECTIONS = ("bh", "bonferroni", "none")
PSI_EPS = 1e-4  # a bin's share is at least this much, so an empty bin does not give log(0)
REPORT_COLUMNS = [
    "feature",
    "kind",
    "test",
    "statistic",
    "p_value",
    "p_bonferroni",
    "p_bh",
    "drifted",
    "psi",
    "js_distance",
    "wasserstein",
]


@dataclass(frozen=True)
class DriftTestResult:
    """A test's statistic and p-value (`dof` is the chi-square test's degrees of freedom)."""

    statistic: float
    pvalue: float
    dof: int | None = None


# --------------------------------------------------------------------------- checks


def _as_sample(name: str, values: Any, *, numeric: bool) -> np.ndarray | pd.Series:
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"{name} must be one column (1-D), got a DataFrame; pass df['column'].")
    if not isinstance(values, pd.Series) and np.ndim(values) != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {np.shape(values)}.")
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if len(series) == 0:
        raise ValueError(f"{name} is empty; a drift test needs at least one value.")
    if series.isna().any():
        raise ValueError(
            f"{name} has {int(series.isna().sum())} missing value(s); drop or impute them "
            "first (a drift test compares observed values)."
        )
    if not numeric:
        return series
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise TypeError(
            f"{name} must hold numbers, got dtype {series.dtype}; for categories use "
            "chi2_test, or pass the column name in categorical= to drift_report."
        )
    return series.to_numpy(dtype=float)


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}.")


def _check_bins(bins: int) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
        raise ValueError(f"bins must be a whole number >= 2, got {bins!r}.")


# ----------------------------------------------------------------- numeric statistics


@dataclass(frozen=True)
class _NumericSummary:
    """What one sorted numeric column pair gives: KS statistic, Wasserstein, bin counts."""

    ks_d: float
    wasserstein: float
    ref_counts: np.ndarray
    cur_counts: np.ndarray


def _quantile_edges(sorted_ref: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges at the reference's quantiles 1/bins … (bins-1)/bins, deduplicated.

    Bin k holds the values in (edge[k-1], edge[k]]; the outer bins are open-ended.
    """
    return np.unique(np.quantile(sorted_ref, np.arange(1, bins) / bins))


def _bin_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    at_or_below = np.searchsorted(sorted_values, edges, side="right")
    return np.diff(np.concatenate(([0], at_or_below, [sorted_values.size])))


def _numeric_summary(ref: np.ndarray, cur: np.ndarray, edges: np.ndarray) -> _NumericSummary:
    """KS statistic, Wasserstein-1 distance and bin counts of two *sorted* samples.

    The samples are merged without sorting again: a reference value goes before the current
    values equal to it, so at the last of equal values both empirical CDFs count every
    value <= it (what scipy's searchsorted(side='right') gives).
    """
    n1, n2 = ref.size, cur.size
    pos_ref = np.arange(n1) + np.searchsorted(cur, ref, side="left")
    pos_cur = np.arange(n2) + np.searchsorted(ref, cur, side="right")
    merged = np.empty(n1 + n2)
    merged[pos_ref], merged[pos_cur] = ref, cur
    from_ref = np.zeros(n1 + n2, dtype=bool)
    from_ref[pos_ref] = True
    below_ref = np.cumsum(from_ref)
    below_cur = np.arange(1, n1 + n2 + 1) - below_ref
    cdf_gap = below_ref / n1 - below_cur / n2
    last_of_equal = np.append(merged[1:] != merged[:-1], True)
    return _NumericSummary(
        ks_d=float(np.abs(cdf_gap[last_of_equal]).max()),
        wasserstein=float(np.sum(np.abs(cdf_gap[:-1]) * np.diff(merged))),
        ref_counts=_bin_counts(ref, edges),
        cur_counts=_bin_counts(cur, edges),
    )


def _ks_regime(n1: int, n2: int, ks_method: str) -> str:
    if ks_method == "auto":
        return "exact" if max(n1, n2) <= EXACT_MAX_N else "asymp"
    if ks_method == "exact" and (n1 // math.gcd(n1, n2)) >= np.iinfo(np.int32).max / (
        n2 // math.gcd(n1, n2)
    ):
        warnings.warn(
            f"ks_method='exact' is not possible for samples of {n1} and {n2} values; "
            "using the asymptotic p-value.",
            RuntimeWarning,
            stacklevel=3,
        )
        return "asymp"
    return ks_method


def _ks_pvalues(d: np.ndarray, n1: int, n2: int, ks_method: str) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided KS p-values for statistics `d` of samples of sizes n1 and n2, as scipy.

    Returns (statistics, p-values): the exact method rounds each statistic to a multiple
    of 1/lcm(n1, n2), as scipy does, and falls back to the asymptotic value if it fails.
    """
    d = np.asarray(d, dtype=float).copy()
    p = np.full(d.shape, np.nan)
    if _ks_regime(n1, n2, ks_method) == "exact":
        # scipy has no public function for the exact two-sample KS distribution, and
        # ks_2samp would recompute the statistic from the samples. The pinned scipy
        # (pyproject.toml) is the one this private routine is checked against:
        # tests/unit/test_private_apis.py fails when the pin and the routine part ways.
        from scipy.stats._stats_py import _attempt_exact_2kssamp

        g = math.gcd(n1, n2)
        for i, value in enumerate(d):
            ok, d[i], prob = _attempt_exact_2kssamp(n1, n2, g, value, "two-sided")
            if ok:
                p[i] = prob
            else:
                warnings.warn(
                    "exact KS p-value failed for a feature; using the asymptotic one.",
                    RuntimeWarning,
                    stacklevel=3,
                )
    asymp = np.isnan(p)
    if asymp.any():
        m, n = sorted([float(n1), float(n2)], reverse=True)
        p[asymp] = _kstwo_sf(d[asymp], np.round(m * n / (m + n)))
    return d, np.clip(p, 0.0, 1.0)


def _smirnov_sf(n: float, d: float) -> float:
    """P(D+ >= d) for the one-sided one-sample KS statistic of n values (Smirnov's sum).

    d * sum over j = 0..floor(n(1-d)) of C(n, j) (d + j/n)^(j-1) (1 - d - j/n)^(n-j):
    each term is a binomial probability times d / (d + j/n), so the whole sum is one
    vector operation.
    """
    j = np.arange(int(np.floor(n * (1 - d))) + 1)
    x = d + j / n
    return float(np.sum(stats.binom.pmf(j, n, x) * (d / x)))


def _kstwo_sf(d: np.ndarray, n: float) -> np.ndarray:
    """`scipy.stats.kstwo.sf(d, n)`, with scipy's slowest branch as one vector sum.

    Where 2.2 <= n d^2 < 370 (and n > 140, 1 < n d < n - 1, d < 0.5) scipy returns
    2 * scipy.special.smirnov(n, d), a loop over n terms in C (0.4 s for n = 500,000);
    `_smirnov_sf` computes the same sum, equal to within 1e-12 relative, ten times faster.
    """
    d = np.asarray(d, dtype=float)
    nd2 = n * d * d
    vector_sum = (n > 140) & (d < 0.5) & (n * d > 1) & (n * d < n - 1) & (nd2 >= 2.2)
    vector_sum &= nd2 < 370
    p = np.empty_like(d)
    p[~vector_sum] = stats.kstwo.sf(d[~vector_sum], n)
    p[vector_sum] = [min(1.0, 2 * _smirnov_sf(n, value)) for value in d[vector_sum]]
    return p


def ks_test(reference: object, current: object, method: str = "auto") -> DriftTestResult:
    """Two-sample two-sided Kolmogorov–Smirnov test, as `scipy.stats.ks_2samp` (module 06).

    The statistic is the largest gap between the two empirical CDFs. `method`:
    'auto' (exact p-value up to 10,000 values per sample, asymptotic above, as scipy),
    'exact' or 'asymp'.
    """
    _check_choice("method", method, KS_METHODS)
    ref = np.sort(_as_sample("reference", reference, numeric=True))
    cur = np.sort(_as_sample("current", current, numeric=True))
    summary = _numeric_summary(ref, cur, np.array([]))
    d, p = _ks_pvalues(np.array([summary.ks_d]), ref.size, cur.size, method)
    return DriftTestResult(float(d[0]), float(p[0]))


def wasserstein(reference: object, current: object) -> float:
    """Wasserstein-1 (earth mover's) distance, in the feature's units (module 06).

    The area between the two empirical CDFs: how far, on average, values would have to
    move to turn one sample into the other. Equals `scipy.stats.wasserstein_distance`.
    """
    ref = np.sort(_as_sample("reference", reference, numeric=True))
    cur = np.sort(_as_sample("current", current, numeric=True))
    return _numeric_summary(ref, cur, np.array([])).wasserstein


# ------------------------------------------------------------- categorical statistics


def _category_counts(values: pd.Series) -> pd.Series:
    """Count of each category that occurs (categorical columns: codes and bincount)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = values.cat.categories
        counts = np.bincount(values.cat.codes.to_numpy(), minlength=len(cats))
    else:
        codes, cats = pd.factorize(values)
        counts = np.bincount(codes, minlength=len(cats))
    observed = counts > 0
    return pd.Series(counts[observed], index=pd.Index(cats[observed], dtype=object))


def contingency_table(reference: object, current: object) -> pd.DataFrame:
    """The 2 × k table of category counts: rows reference and current (module 06).

    Columns are the categories that occur in either sample (reference's first);
    categories that occur in neither are left out, as their expected count would be 0.
    """
    ref = _category_counts(_as_sample("reference", reference, numeric=False))
    cur = _category_counts(_as_sample("current", current, numeric=False))
    cats = ref.index.append(cur.index.difference(ref.index, sort=False))
    return pd.DataFrame(
        [ref.reindex(cats, fill_value=0).to_numpy(), cur.reindex(cats, fill_value=0).to_numpy()],
        index=["reference", "current"],
        columns=cats,
    )


def _chi2_tables(tables: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chi-square statistic, p-value and dof of many 2 × k tables at once, as scipy.

    `tables` has shape (features, 2, k); all-zero columns are padding. 2 × 2 tables get
    Yates' continuity correction, as in `scipy.stats.chi2_contingency`.
    """
    tables = tables.astype(float)
    rows = tables.sum(axis=2, keepdims=True)
    cols = tables.sum(axis=1, keepdims=True)
    expected = rows * cols / tables.sum(axis=(1, 2), keepdims=True)
    used = cols[:, 0, :] > 0
    dof = used.sum(axis=1) - 1
    observed = tables.copy()
    yates = dof == 1
    gap = expected[yates] - observed[yates]
    observed[yates] += np.sign(gap) * np.minimum(0.5, np.abs(gap))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (observed - expected) ** 2 / expected, 0.0)
    statistic = np.where(dof > 0, terms.sum(axis=(1, 2)), 0.0)
    pvalue = np.where(dof > 0, stats.chi2.sf(statistic, np.maximum(dof, 1)), 1.0)
    return statistic, pvalue, dof


def chi2_test(reference: object, current: object) -> DriftTestResult:
    """Chi-square test of homogeneity on the categories of two samples (module 06).

    Same statistic, p-value and degrees of freedom as
    `scipy.stats.chi2_contingency(contingency_table(reference, current))`.
    """
    table = contingency_table(reference, current).to_numpy()
    statistic, pvalue, dof = _chi2_tables(table[None])
    return DriftTestResult(float(statistic[0]), float(pvalue[0]), int(dof[0]))


# ------------------------------------------------------- binned distances (both kinds)


def _psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float) -> np.ndarray:
    """PSI of rows of bin counts: sum over bins of (cur% - ref%) * ln(cur% / ref%)."""
    ref_share = np.clip(ref_counts / ref_counts.sum(axis=-1, keepdims=True), eps, None)
    cur_share = np.clip(cur_counts / cur_counts.sum(axis=-1, keepdims=True), eps, None)
    return np.sum((cur_share - ref_share) * np.log(cur_share / ref_share), axis=-1)


def _binned_counts(reference: object, current: object, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts per bin: reference-quantile bins for numbers, categories otherwise."""
    ref_series = _as_sample("reference", reference, numeric=False)
    if pd.api.types.is_numeric_dtype(ref_series) and not pd.api.types.is_bool_dtype(ref_series):
        _check_bins(bins)
        ref = np.sort(_as_sample("reference", reference, numeric=True))
        cur = np.sort(_as_sample("current", current, numeric=True))
        edges = _quantile_edges(ref, bins)
        return _bin_counts(ref, edges), _bin_counts(cur, edges)
    table = contingency_table(reference, current).to_numpy()
    return table[0], table[1]


def psi(reference: object, current: object, bins: int = 10, eps: float = PSI_EPS) -> float:
    """Population stability index of current against reference (module 06).

    Numbers are cut into `bins` bins at the reference's quantiles (so each holds about
    1/bins of the reference; tied quantiles merge bins); categories are their own bins.
    PSI = sum over bins of (c - r) * ln(c / r), with r and c the reference's and the
    current sample's shares, each at least `eps`. Rule of thumb: < 0.1 stable,
    0.1–0.25 some shift, > 0.25 a major shift.
    """
    if not (isinstance(eps, int | float) and 0 < eps < 1):
        raise ValueError(f"eps must be a number between 0 and 1 (exclusive), got {eps!r}.")
    ref_counts, cur_counts = _binned_counts(reference, current, bins)
    return float(_psi_from_counts(ref_counts, cur_counts, eps))


def js_distance(reference: object, current: object, bins: int = 10) -> float:
    """Jensen–Shannon distance (base 2, between 0 and 1) on the same bins as `psi` (module 06).

    Equals `scipy.spatial.distance.jensenshannon(ref_counts, cur_counts, base=2)`.
    """
    ref_counts, cur_counts = _binned_counts(reference, current, bins)
    return float(jensenshannon(ref_counts, cur_counts, base=2))


# ---------------------------------------------------------------- multiple testing


def _as_pvalues(pvalues: Iterable[float]) -> np.ndarray:
    p = np.asarray(list(pvalues) if not isinstance(pvalues, np.ndarray) else pvalues, float)
    if p.ndim != 1 or p.size == 0:
        raise ValueError(f"pvalues must be a non-empty 1-D list of numbers, got shape {p.shape}.")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"pvalues must lie between 0 and 1, got {p.tolist()}.")
    return p


def bonferroni(pvalues: Iterable[float]) -> np.ndarray:
    """Bonferroni-adjusted p-values: min(1, p × m) for m tests (module 06).

    Rejecting where the adjusted p-value < alpha keeps the chance of *any* false alarm
    among the m tests at most alpha.
    """
    p = _as_pvalues(pvalues)
    return np.minimum(p * p.size, 1.0)


def benjamini_hochberg(pvalues: Iterable[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (module 06).

    The i-th smallest p-value becomes min over j >= i of p_(j) × m / j, capped at 1.
    Rejecting where it is < alpha keeps the expected share of false alarms among the
    features flagged at most alpha. Equals `scipy.stats.false_discovery_control(p)`.
    """
    p = _as_pvalues(pvalues)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return np.minimum(adjusted, 1.0)


# ------------------------------------------------------------------------ the report


@dataclass(frozen=True)
class DriftReference:
    """A reference sample prepared once for many drift reports (`prepare_reference`).

    Numeric columns are kept sorted with their quantile bin edges; categorical columns
    as category counts. A monitor that compares many windows with the same reference
    pays for sorting it only once.
    """

    numeric: dict[str, np.ndarray]
    edges: dict[str, np.ndarray]
    categorical: dict[str, pd.Series]
    features: list[str]
    n_rows: int
    bins: int


def _feature_kinds(
    df: pd.DataFrame, features: Iterable[str] | None, categorical: Iterable[str] | None
) -> dict[str, str]:
    """{feature: 'numeric' or 'categorical'} for the reference's columns."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"reference must be a pandas DataFrame, got {type(df).__name__}.")
    names = list(df.columns) if features is None else list(features)
    missing = [f for f in names if f not in df.columns]
    if not names or missing:
        raise ValueError(
            f"features must name columns of the reference, got {names!r}; "
            f"not found: {missing}; the reference has {list(df.columns)}."
        )
    as_categories = set(categorical or [])
    unknown = sorted(as_categories - set(names))
    if unknown:
        raise ValueError(f"categorical names {unknown}, which are not among features {names}.")
    return {
        name: "numeric"
        if pd.api.types.is_numeric_dtype(df[name])
        and not pd.api.types.is_bool_dtype(df[name])
        and name not in as_categories
        else "categorical"
        for name in names
    }


def prepare_reference(
    reference: pd.DataFrame,
    features: Iterable[str] | None = None,
    categorical: Iterable[str] | None = None,
    bins: int = 10,
) -> DriftReference:
    """Sort and count a reference DataFrame once, for `drift_report` (module 06).

    `features` defaults to every column. Numeric dtypes are compared as numbers, others
    (category, string, bool) as categories; name a numeric column in `categorical` to
    treat its values as categories (e.g. a numeric code).
    """
    kinds = _feature_kinds(reference, features, categorical)
    _check_bins(bins)
    numeric, edges, cats = {}, {}, {}
    for name, kind in kinds.items():
        label = f"reference[{name!r}]"
        if kind == "numeric":
            numeric[name] = np.sort(_as_sample(label, reference[name], numeric=True))
            edges[name] = _quantile_edges(numeric[name], bins)
        else:
            cats[name] = _category_counts(_as_sample(label, reference[name], numeric=False))
    return DriftReference(numeric, edges, cats, list(kinds), len(reference), int(bins))


def _check_report_args(
    current: pd.DataFrame, features: list[str], alpha: float, correction: str
) -> None:
    _check_choice("correction", correction, CORRECTIONS)
    if not isinstance(current, pd.DataFrame):
        raise TypeError(f"current must be a pandas DataFrame, got {type(current).__name__}.")
    missing = [f for f in features if f not in current.columns]
    if missing:
        raise ValueError(f"current is missing the feature column(s) {missing}.")
    if len(current) == 0:
        raise ValueError("current has no rows; a drift report needs at least one row.")
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number between 0 and 1 (exclusive), got {alpha!r}.")


def _report_frame(
    rows: list[dict[str, object]],
    p_bonferroni: np.ndarray,
    p_bh: np.ndarray,
    alpha: float,
    correction: str,
    n_rows: tuple[int, int],
) -> pd.DataFrame:
    report = pd.DataFrame(rows)
    report["p_bonferroni"], report["p_bh"] = p_bonferroni, p_bh
    adjusted = {"bh": p_bh, "bonferroni": p_bonferroni, "none": report["p_value"]}[correction]
    report["drifted"] = np.asarray(adjusted) < alpha
    report.attrs.update(
        alpha=alpha, correction=correction, n_reference=n_rows[0], n_current=n_rows[1]
    )
    return report[REPORT_COLUMNS]


def _padded(counts: list[np.ndarray]) -> np.ndarray:
    """Rows of bin counts of different lengths, padded with empty bins (which add 0)."""
    k = max(c.shape[-1] for c in counts)
    return np.stack([np.pad(c, [(0, 0)] * (c.ndim - 1) + [(0, k - c.shape[-1])]) for c in counts])


def _numeric_rows(
    ref: DriftReference, current: pd.DataFrame, ks_method: str
) -> dict[str, dict[str, object]]:
    names = list(ref.numeric)
    summaries = [
        _numeric_summary(
            ref.numeric[name],
            np.sort(_as_sample(f"current[{name!r}]", current[name], numeric=True)),
            ref.edges[name],
        )
        for name in names
    ]
    d, p = _ks_pvalues(np.array([s.ks_d for s in summaries]), ref.n_rows, len(current), ks_method)
    ref_counts = _padded([s.ref_counts for s in summaries])
    cur_counts = _padded([s.cur_counts for s in summaries])
    psis = _psi_from_counts(ref_counts, cur_counts, PSI_EPS)
    jsd = jensenshannon(ref_counts, cur_counts, axis=1, base=2)
    wasserstein = np.array([s.wasserstein for s in summaries])
    return _rows(names, "numeric", "ks", d, p, psis, jsd, wasserstein)


def _categorical_rows(ref: DriftReference, current: pd.DataFrame) -> dict[str, dict[str, object]]:
    names = list(ref.categorical)
    tables = []
    for name in names:
        cur = _category_counts(_as_sample(f"current[{name!r}]", current[name], numeric=False))
        ref_counts = ref.categorical[name]
        cats = ref_counts.index.append(cur.index.difference(ref_counts.index, sort=False))
        tables.append(
            np.stack([ref_counts.reindex(cats, fill_value=0), cur.reindex(cats, fill_value=0)])
        )
    padded = _padded(tables)
    statistic, pvalue, _ = _chi2_tables(padded)
    psis = _psi_from_counts(padded[:, 0], padded[:, 1], PSI_EPS)
    jsd = jensenshannon(padded[:, 0], padded[:, 1], axis=1, base=2)
    wasserstein = np.full(len(names), np.nan)
    return _rows(names, "categorical", "chi2", statistic, pvalue, psis, jsd, wasserstein)


def _rows(
    names: list[str], kind: str, test: str, *columns: np.ndarray
) -> dict[str, dict[str, object]]:
    """One report row per feature: its kind and test, then statistic, p-value, PSI, JS
    distance and Wasserstein distance from `columns`, in that order."""
    keys = ("statistic", "p_value", "psi", "js_distance", "wasserstein")
    return {
        name: {
            "kind": kind,
            "test": test,
            **{k: col[i] for k, col in zip(keys, columns, strict=True)},
        }
        for i, name in enumerate(names)
    }


def drift_report(
    reference: pd.DataFrame | DriftReference,
    current: pd.DataFrame,
    *,
    features: Iterable[str] | None = None,
    categorical: Iterable[str] | None = None,
    bins: int = 10,
    alpha: float = 0.05,
    correction: str = "bh",
    ks_method: str = "auto",
) -> pd.DataFrame:
    """One row per feature: did it drift between the reference and the current batch?

    Columns: `feature`, `kind` (numeric/categorical), `test` (ks/chi2), `statistic`,
    `p_value`, `p_bonferroni` and `p_bh` (adjusted for the number of features),
    `drifted` (the p-value adjusted by `correction` — 'bh', 'bonferroni' or 'none' — is
    below `alpha`), `psi`, `js_distance` and `wasserstein` (numeric only). `reference`
    is a DataFrame or a `prepare_reference` result (then `features`, `categorical` and
    `bins` come from it). Introduced in module 06.
    """
    _check_choice("ks_method", ks_method, KS_METHODS)
    ref = (
        reference
        if isinstance(reference, DriftReference)
        else prepare_reference(reference, features, categorical, bins)
    )
    _check_report_args(current, ref.features, alpha, correction)
    rows = {}
    if ref.numeric:
        rows.update(_numeric_rows(ref, current, ks_method))
    if ref.categorical:
        rows.update(_categorical_rows(ref, current))
    ordered = [{"feature": name, **rows[name]} for name in ref.features]
    p = np.array([row["p_value"] for row in ordered], dtype=float)
    return _report_frame(
        ordered, bonferroni(p), benjamini_hochberg(p), alpha, correction, (ref.n_rows, len(current))
    )


def scipy_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    features: Iterable[str] | None = None,
    categorical: Iterable[str] | None = None,
    bins: int = 10,
    alpha: float = 0.05,
    correction: str = "bh",
) -> pd.DataFrame:
    """The same report as `drift_report`, one column at a time with scipy (module 06).

    A plain loop over `ks_2samp`, `chi2_contingency`, `wasserstein_distance`,
    `jensenshannon` and `false_discovery_control`, with PSI from per-value bin indices:
    slow, and kept as the yardstick `drift_report` is tested and benchmarked against.
    """
    kinds = _feature_kinds(reference, features, categorical)
    _check_bins(bins)
    _check_report_args(current, list(kinds), alpha, correction)
    rows = []
    for name, kind in kinds.items():
        a, b = reference[name], current[name]
        if kind == "numeric":
            a, b = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            ks = stats.ks_2samp(a, b)
            edges = np.unique(np.quantile(a, np.arange(1, bins) / bins))
            ref_counts = np.bincount(np.searchsorted(edges, a), minlength=edges.size + 1)
            cur_counts = np.bincount(np.searchsorted(edges, b), minlength=edges.size + 1)
            row = dict(
                kind="numeric", test="ks", statistic=ks.statistic, p_value=ks.pvalue,
                wasserstein=stats.wasserstein_distance(a, b),
            )  # fmt: skip
        else:
            counts = pd.concat([a.value_counts(), b.value_counts()], axis=1).fillna(0)
            counts = counts[counts.sum(axis=1) > 0].to_numpy().T
            ref_counts, cur_counts = counts
            chi2 = stats.chi2_contingency(counts)
            row = dict(
                kind="categorical", test="chi2", statistic=chi2.statistic,
                p_value=chi2.pvalue, wasserstein=np.nan,
            )  # fmt: skip
        ref_share = np.clip(ref_counts / ref_counts.sum(), PSI_EPS, None)
        cur_share = np.clip(cur_counts / cur_counts.sum(), PSI_EPS, None)
        row["psi"] = np.sum((cur_share - ref_share) * np.log(cur_share / ref_share))
        row["js_distance"] = jensenshannon(ref_counts, cur_counts, base=2)
        rows.append({"feature": name, **row})
    p = np.array([row["p_value"] for row in rows], dtype=float)
    return _report_frame(
        rows,
        np.minimum(p * p.size, 1.0),
        stats.false_discovery_control(p, method="bh"),
        alpha,
        correction,
        (len(reference), len(current)),
    )
