"""The windowed drift monitor against a known change point, and late-label performance."""

import math

import numpy as np
import pandas as pd
import pytest

from mlkit import data
from mlkit.monitoring import DriftMonitor, drift_stream, performance_by_window, score_detection


def shift_spend(df: pd.DataFrame) -> pd.DataFrame:
    return data.inject_covariate_shift(df, ["monthly_spend"], size=1.0)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return data.make_dataset(3000, seed=100)[data.FEATURES]


def run(monitor: DriftMonitor, stream: pd.DataFrame, chunk: int) -> pd.DataFrame:
    for start in range(0, len(stream), chunk):
        monitor.update(stream.iloc[start : start + chunk])
    return monitor.history


def test_drift_stream_changes_at_the_change_row():
    stream, change = drift_stream(300, 200, shift_spend, seed=1)
    assert (len(stream), change) == (500, 300)
    before, after = stream.iloc[:change], stream.iloc[change:]
    assert after.monthly_spend.mean() > before.monthly_spend.mean() + 15
    clean, _ = drift_stream(300, 200, None, seed=1)
    pd.testing.assert_frame_equal(clean.iloc[:change], before)


def test_monitor_detects_a_change_at_a_window_boundary(reference):
    stream, change = drift_stream(1000, 600, shift_spend, seed=2)
    history = run(DriftMonitor(reference, window=200, features=data.FEATURES), stream, chunk=170)
    assert history["stop"].tolist() == list(range(200, 1601, 200))
    score = score_detection(history, change)
    assert score.detected and score.first_alarm_window == 5
    assert score.delay_rows == 200  # the first drifted window closes 200 rows after the change
    assert score.clean_windows == 5 and score.false_alarms == 0
    assert history.loc[5:, "drifted"].str.contains("monthly_spend").all()


def test_monitor_detects_a_change_inside_a_window(reference):
    stream, change = drift_stream(1100, 500, shift_spend, seed=3)
    history = run(DriftMonitor(reference, window=200, features=data.FEATURES), stream, chunk=1600)
    score = score_detection(history, change)
    assert score.first_alarm_window == 5  # rows 1000-1200 hold 100 drifted rows
    assert score.delay_rows == 100
    assert score.clean_windows == 5


def test_monitor_keeps_incomplete_windows_for_later(reference):
    monitor = DriftMonitor(reference, window=100)
    assert monitor.update(data.make_dataset(150, seed=4)[data.FEATURES]).shape[0] == 1
    assert monitor.update(data.make_dataset(40, seed=5)[data.FEATURES]).empty
    assert len(monitor.update(data.make_dataset(10, seed=6)[data.FEATURES])) == 1
    assert monitor.history["stop"].tolist() == [100, 200]
    assert monitor.feature_table("psi").shape == (2, len(data.FEATURES))


def test_score_detection_by_hand():
    history = pd.DataFrame(
        {
            "window": range(6),
            "start": range(0, 600, 100),
            "stop": range(100, 700, 100),
            "alarm": [False, True, False, False, True, True],
        }
    )
    score = score_detection(history, change_row=300)
    assert (score.clean_windows, score.false_alarms) == (3, 1)
    assert score.false_alarm_rate == pytest.approx(1 / 3)
    assert (score.first_alarm_window, score.delay_rows) == (4, 200)
    missed = score_detection(history.assign(alarm=False), change_row=300)
    assert not missed.detected and math.isnan(missed.delay_rows)


def test_performance_uses_only_labels_known_by_then():
    predictions = pd.DataFrame(
        {
            "request_id": list("abcdef"),
            "ts": [0, 1, 2, 10, 11, 12],
            "output": [0.9, 0.2, 0.8, 0.7, 0.1, 0.6],
        }
    )
    labels = pd.DataFrame(
        {
            "request_id": list("abcdef"),
            "label": [1, 0, 0, 0, 0, 1],
            "label_ts": [5, 5, 30, 15, 40, 40],
        }
    )
    early = performance_by_window(predictions, labels, as_of=20, window=10)
    assert early["n_predictions"].tolist() == [3, 3]
    assert early["n_labelled"].tolist() == [2, 1]
    assert early["accuracy"].tolist() == [1.0, 0.0]  # a,b right; d (0.7 vs 0) wrong
    assert early["coverage"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert math.isnan(early.loc[1, "roc_auc"])  # one class only
    late = performance_by_window(predictions, labels, as_of=50, window=10)
    assert late["n_labelled"].tolist() == [3, 3]
    assert late["accuracy"].tolist() == pytest.approx([2 / 3, 2 / 3])
    assert late["mean_output"].tolist() == pytest.approx(
        [np.mean([0.9, 0.2, 0.8]), np.mean([0.7, 0.1, 0.6])]
    )
    before = performance_by_window(predictions, labels, as_of=2, window=10)
    assert before["n_predictions"].tolist() == [3] and before["n_labelled"].tolist() == [0]


def test_errors_say_what_was_expected(reference):
    with pytest.raises(ValueError, match="window must be a whole number >= 2"):
        DriftMonitor(reference, window=1)
    with pytest.raises(TypeError, match="rows must be a pandas DataFrame"):
        DriftMonitor(reference, window=10).update([1, 2])
    with pytest.raises(ValueError, match="history must be"):
        score_detection(pd.DataFrame({"alarm": [True]}), 0)
    with pytest.raises(ValueError, match="labels must be a DataFrame"):
        performance_by_window(pd.DataFrame(columns=["request_id", "ts", "output"]),
                              pd.DataFrame(), as_of=1, window=1)  # fmt: skip
    with pytest.raises(ValueError, match="drift must return"):
        drift_stream(10, 10, lambda df: df.head(3))
