"""The prediction log round-trips, tails only new lines and skips a half-written one."""

import json

import numpy as np
import pandas as pd
import pytest

from mlkit import data
from mlkit.prediction_log import PredictionLog, PredictionLogTail, read_prediction_log


def test_write_then_read(tmp_path):
    log = PredictionLog(tmp_path / "logs" / "predictions.jsonl", model_version="churn:v1")
    customers = data.make_dataset(3, seed=0)[data.FEATURES]
    request = log.write(customers, np.array([0.1, 0.5, 0.9]))
    frame = read_prediction_log(log.path)
    assert len(frame) == 3
    assert (frame["request_id"] == request).all() and (frame["model_version"] == "churn:v1").all()
    assert frame["row"].tolist() == [0, 1, 2]
    assert frame["output"].tolist() == [0.1, 0.5, 0.9]
    pd.testing.assert_frame_equal(
        frame[data.NUMERIC_FEATURES], customers[data.NUMERIC_FEATURES], check_dtype=False
    )
    assert frame["plan"].tolist() == customers["plan"].astype(str).tolist()


def test_tail_returns_only_new_rows(tmp_path):
    path = tmp_path / "p.jsonl"
    tail = PredictionLogTail(path)
    assert tail.read_new().empty  # no file yet
    log = PredictionLog(path, "v1")
    log.write([{"x": 1}], [0.2], request_id="r1")
    log.write([{"x": 2}, {"x": 3}], [0.3, 0.4], request_id="r2")
    assert tail.read_new()["x"].tolist() == [1, 2, 3]
    assert tail.read_new().empty
    log.write([{"x": 4}], [0.5], request_id="r3")
    assert tail.read_new()["request_id"].tolist() == ["r3"]


def test_a_half_written_last_line_waits(tmp_path):
    path = tmp_path / "p.jsonl"
    PredictionLog(path, "v1").write([{"x": 1}], [0.2])
    line = json.dumps({"ts": 1.0, "request_id": "r", "row": 0, "model_version": "v1",
                       "inputs": {"x": "é"}, "output": 0.7}).encode() + b"\n"  # fmt: skip
    with path.open("ab") as f:
        f.write(line[:-9])  # cut inside the record
    tail = PredictionLogTail(path)
    assert tail.read_new()["x"].tolist() == [1]
    assert len(read_prediction_log(path)) == 1
    with path.open("ab") as f:
        f.write(line[-9:])
    assert tail.read_new()["output"].tolist() == [0.7]


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="model_version"):
        PredictionLog(tmp_path / "p.jsonl", "")
    with pytest.raises(ValueError, match="one output per input row"):
        PredictionLog(tmp_path / "p.jsonl", "v1").write([{"x": 1}], [0.1, 0.2])
    with pytest.raises(FileNotFoundError, match="no prediction log"):
        read_prediction_log(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text("not json\n")
    with pytest.raises(ValueError, match="is not JSON"):
        read_prediction_log(tmp_path / "bad.jsonl")
