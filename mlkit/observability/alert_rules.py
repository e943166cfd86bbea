"""Alert rules with a hold duration, evaluated over a time series (module 06).

Like a Prometheus alerting rule `expr: metric > threshold` with `for: hold`: a rule is
*pending* from the first time its condition holds, *fires* once the condition has held
for `hold` (0 fires at once), and is *resolved* the first time the condition no longer
holds. A missing value (NaN) counts as "condition does not hold". The hold keeps a
single noisy point from paging anyone; the price is that a real problem is reported
`hold` later.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
EVENT_COLUMNS = ["rule", "state", "at", "value", "pending_since"]


@dataclass(frozen=True)
class AlertRule:
    """Alert when `metric` `op` `threshold` has held for `hold` time units (module 06).

    `hold` is in the units of the series' time axis (seconds, window numbers, …).
    """

    name: str
    metric: str
    op: str
    threshold: float
    hold: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}.")
        if not isinstance(self.metric, str) or not self.metric:
            raise ValueError(f"metric must name a column of the series, got {self.metric!r}.")
        if self.op not in OPERATORS:
            raise ValueError(f"op must be one of {list(OPERATORS)}, got {self.op!r}.")
        for field in ("threshold", "hold"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                raise ValueError(f"{field} must be a number, got {value!r}.")
        if self.hold < 0:
            raise ValueError(f"hold must be >= 0 (a duration), got {self.hold!r}.")

    def holds(self, values: np.ndarray) -> np.ndarray:
        """True where the condition holds (False where a value is missing)."""
        values = np.asarray(values, dtype=float)
        return OPERATORS[self.op](values, self.threshold) & ~np.isnan(values)


def _time_axis(series: pd.DataFrame, time: str | None) -> np.ndarray:
    axis = series.index if time is None else series[time]
    if pd.api.types.is_datetime64_any_dtype(axis):
        raise TypeError(
            "the time axis must be numbers (seconds, window numbers, …); convert timestamps "
            "first, e.g. (ts - ts[0]).dt.total_seconds()."
        )
    values = np.asarray(axis, dtype=float)
    if np.any(np.diff(values) <= 0):
        raise ValueError("the time axis must increase strictly (sort the series by time).")
    return values


def evaluate_rules(
    rules: AlertRule | Iterable[AlertRule], series: pd.DataFrame, time: str | None = None
) -> pd.DataFrame:
    """Alert events from evaluating `rules` at each row of `series` (module 06).

    `series` has one column per metric and one row per evaluation time (its index, or
    the column named by `time`). Returns one row per event — `rule`, `state` ('firing'
    or 'resolved'), `at` (time), `value` (the metric then) and `pending_since` (when the
    condition started to hold) — in time order.
    """
    rules = [rules] if isinstance(rules, AlertRule) else list(rules)
    if not rules or not all(isinstance(r, AlertRule) for r in rules):
        raise TypeError("rules must be an AlertRule or a list of AlertRule objects.")
    if not isinstance(series, pd.DataFrame):
        raise TypeError(f"series must be a pandas DataFrame, got {type(series).__name__}.")
    missing = sorted({r.metric for r in rules} - set(series.columns))
    if missing:
        raise ValueError(
            f"series has no column(s) {missing} for the rules' metrics; "
            f"its columns are {list(series.columns)}."
        )
    times = _time_axis(series, time)
    events = []
    for rule in rules:
        values = series[rule.metric].to_numpy(dtype=float)
        pending_since, firing = None, False
        for t, value, holds in zip(times, values, rule.holds(values), strict=True):
            if not holds:
                if firing:
                    events.append((rule.name, "resolved", t, value, pending_since))
                pending_since, firing = None, False
                continue
            pending_since = t if pending_since is None else pending_since
            if not firing and t - pending_since >= rule.hold:
                firing = True
                events.append((rule.name, "firing", t, value, pending_since))
    frame = pd.DataFrame(events, columns=EVENT_COLUMNS)
    return frame.sort_values(["at", "rule"], kind="stable").reset_index(drop=True)
