"""Watching a deployed model over time: drift per window, and performance as labels arrive.

Introduced in module 06.

- `drift_stream` makes a stream of course data whose second part drifted on purpose
  (with `mlkit.data`'s injectors), so the change point is known;
- `DriftMonitor` cuts the incoming rows into windows of a fixed size and runs
  `mlkit.drift.drift_report` on each window against the training data;
- `score_detection` compares its alarms with the known change point: how late was the
  first alarm after the change (detection delay) and how often did it cry wolf before
  it (false-alarm rate);
- `performance_by_window` measures accuracy per time window using only the labels that
  have arrived by a given time, since the truth (did the customer churn?) comes late.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mlkit import data
from mlkit.drift import drift_report, prepare_reference


def _check_count(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}.")
    return int(value)


def drift_stream(
    n_before: int,
    n_after: int,
    drift: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    seed: int = 0,
) -> tuple[pd.DataFrame, int]:
    """`n_before` clean rows of course data, then `n_after` rows passed through `drift`.

    `drift` takes and returns a DataFrame, e.g.
    `lambda df: data.inject_covariate_shift(df, ["monthly_spend"], 0.3)`; None keeps the
    second part clean. Returns (stream, change_row): the first drifted row's position.
    """
    _check_count("n_before", n_before)
    _check_count("n_after", n_after)
    if drift is not None and not callable(drift):
        raise TypeError(f"drift must be a function DataFrame -> DataFrame or None, got {drift!r}.")
    before = data.make_dataset(n_before, seed=seed)
    after = data.make_dataset(n_after, seed=seed + 1)
    if drift is not None:
        after = drift(after)
        if not isinstance(after, pd.DataFrame) or len(after) != n_after:
            raise ValueError(
                f"drift must return a DataFrame with the {n_after} rows it was given, "
                f"got {type(after).__name__} of length {len(after)}."
            )
    return pd.concat([before, after], ignore_index=True), n_before


class DriftMonitor:
    """Drift reports on consecutive windows of `window` rows against a reference (module 06).

    Feed rows as they come with `update(rows)`; every time `window` rows have
    collected, the window is compared with the reference and a summary row is added to
    `history` (its full report is kept in `reports`). A window raises an alarm when any
    feature's p-value, adjusted by `correction` over the features, is below `alpha`.
    """

    def __init__(
        self,
        reference: pd.DataFrame,
        window: int,
        *,
        features: Iterable[str] | None = None,
        categorical: Iterable[str] | None = None,
        alpha: float = 0.05,
        correction: str = "bh",
        bins: int = 10,
    ) -> None:
        self.window = _check_count("window", window, low=2)
        self.reference = prepare_reference(reference, features, categorical, bins)
        self.alpha, self.correction = alpha, correction
        self.reports: list[pd.DataFrame] = []
        self._rows: list[dict[str, object]] = []
        self._pending = pd.DataFrame()
        self._seen = 0

    def update(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Add rows; returns the summaries of the windows this completed (maybe none)."""
        if not isinstance(rows, pd.DataFrame):
            raise TypeError(f"rows must be a pandas DataFrame, got {type(rows).__name__}.")
        pending = rows if self._pending.empty else pd.concat([self._pending, rows])
        done = []
        while len(pending) >= self.window:
            batch, pending = pending.iloc[: self.window], pending.iloc[self.window :]
            report = drift_report(
                self.reference, batch, alpha=self.alpha, correction=self.correction
            )
            adjusted = report["p_value" if self.correction == "none" else f"p_{self.correction}"]
            start = self._seen
            self._seen += self.window
            self.reports.append(report)
            done.append(
                {
                    "window": len(self.reports) - 1,
                    "start": start,
                    "stop": self._seen,
                    "alarm": bool(report["drifted"].any()),
                    "n_drifted": int(report["drifted"].sum()),
                    "drifted": ", ".join(report.loc[report["drifted"], "feature"]),
                    "min_p_adjusted": float(adjusted.min()),
                    "max_psi": float(report["psi"].max()),
                }
            )
        self._pending = pending
        self._rows.extend(done)
        return pd.DataFrame(done)

    @property
    def history(self) -> pd.DataFrame:
        """One row per completed window: window, start, stop, alarm, n_drifted, drifted,
        min_p_adjusted, max_psi."""
        return pd.DataFrame(self._rows)

    def feature_table(self, column: str = "psi") -> pd.DataFrame:
        """A column of every window's report, windows × features (e.g. PSI, for a heatmap)."""
        if not self.reports:
            return pd.DataFrame()
        if column not in self.reports[0].columns:
            raise ValueError(
                f"column must be one of {list(self.reports[0].columns)}, got {column!r}."
            )
        return pd.DataFrame([r.set_index("feature")[column] for r in self.reports]).reset_index(
            drop=True
        )


@dataclass(frozen=True)
class DetectionScore:
    """How a monitor's alarms compare with a known change point (module 06)."""

    change_row: int
    detected: bool
    delay_rows: float  # rows between the change and the end of the first alarming window
    first_alarm_window: int | None
    clean_windows: int  # windows that ended before the change
    false_alarms: int  # alarms among them

    @property
    def false_alarm_rate(self) -> float:
        """Share of clean windows that raised an alarm (NaN if there were none)."""
        return self.false_alarms / self.clean_windows if self.clean_windows else math.nan


def score_detection(history: pd.DataFrame, change_row: int) -> DetectionScore:
    """Detection delay and false alarms of a monitor's `history` for a change at `change_row`.

    A window that ends at or before the change is clean (an alarm there is false); the
    first alarm in a window that holds drifted rows is the detection, and the delay is
    the number of drifted rows that had arrived when that window closed.
    """
    needed = {"window", "start", "stop", "alarm"}
    if not isinstance(history, pd.DataFrame) or not needed <= set(history.columns):
        raise ValueError(f"history must be a DriftMonitor's history with columns {sorted(needed)}.")
    _check_count("change_row", change_row, low=0)
    clean = history[history["stop"] <= change_row]
    after = history[(history["stop"] > change_row) & history["alarm"]]
    first = after.iloc[0] if len(after) else None
    return DetectionScore(
        change_row=int(change_row),
        detected=first is not None,
        delay_rows=float(first["stop"] - change_row) if first is not None else math.nan,
        first_alarm_window=int(first["window"]) if first is not None else None,
        clean_windows=len(clean),
        false_alarms=int(clean["alarm"].sum()),
    )


def performance_by_window(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    as_of: float,
    window: float,
    key: str = "request_id",
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Accuracy and ROC AUC per time window, from the labels known at time `as_of` (module 06).

    `predictions` has columns `key`, `ts` (time of the prediction) and `output` (the
    predicted probability); `labels` has `key`, `label` (0/1) and `label_ts` (when the
    label arrived). Only predictions made by `as_of` count, and only labels that arrived
    by then. Windows are `window` time units long from the first prediction. Columns:
    `start`, `n_predictions`, `n_labelled`, `coverage` (labelled share), `mean_output`
    (known at once), `accuracy` and `roc_auc` (NaN without labels of both classes).
    """
    for name, frame, columns in (
        ("predictions", predictions, [key, "ts", "output"]),
        ("labels", labels, [key, "label", "label_ts"]),
    ):
        if not isinstance(frame, pd.DataFrame) or not set(columns) <= set(frame.columns):
            raise ValueError(f"{name} must be a DataFrame with the columns {columns}.")
    if not (isinstance(window, int | float) and window > 0):
        raise ValueError(f"window must be a positive duration, got {window!r}.")
    made = predictions[predictions["ts"] <= as_of]
    known = labels[labels["label_ts"] <= as_of]
    if known[key].duplicated().any():
        raise ValueError(f"labels has more than one label for some {key!r}; keep one per key.")
    joined = made.merge(known[[key, "label"]], on=key, how="left")
    t0 = predictions["ts"].min()
    joined["window"] = ((joined["ts"] - t0) // window).astype(int)
    rows = []
    for number, group in joined.groupby("window", sort=True):
        labelled = group.dropna(subset=["label"])
        y = labelled["label"].to_numpy(dtype=int)
        p = labelled["output"].to_numpy(dtype=float)
        rows.append(
            {
                "start": t0 + number * window,
                "n_predictions": len(group),
                "n_labelled": len(labelled),
                "coverage": len(labelled) / len(group),
                "mean_output": float(group["output"].mean()),
                "accuracy": float(np.mean((p >= threshold) == y)) if len(y) else math.nan,
                "roc_auc": float(roc_auc_score(y, p)) if len(set(y)) == 2 else math.nan,
            }
        )
    return pd.DataFrame(rows)
