"""The prediction log: what a service predicted, for whom, with which model (module 06).

A service appends one JSON line per scored row: the time, a request id, the model
version, the inputs and the output. A monitor reads the same file, either all of it
(`read_prediction_log`) or only what was appended since it last looked
(`PredictionLogTail`), and compares the inputs with the training data (drift) and the
outputs with labels that arrive later (performance).

Each line is written with a single `write` call on a file opened for appending, so lines
from several workers do not interleave; a reader skips a last line that is still being
written.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

LOG_COLUMNS = ["ts", "request_id", "model_version", "output"]


def _check_version(model_version: object) -> str:
    if not isinstance(model_version, str) or not model_version.strip():
        raise ValueError(
            f"model_version must be a non-empty string such as 'churn:v1', got {model_version!r}."
        )
    return model_version


class PredictionLog:
    """Append predictions to a JSON-lines file (module 06).

    `PredictionLog(path, model_version).write(inputs, outputs)` writes one line per row.
    """

    def __init__(self, path: str | os.PathLike[str], model_version: str) -> None:
        self.path = Path(path)
        self.model_version = _check_version(model_version)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(
        self,
        inputs: pd.DataFrame | Sequence[dict[str, object]],
        outputs: Sequence[float] | np.ndarray,
        request_id: str | None = None,
    ) -> str:
        """Log each row of `inputs` with its output; returns the request id used."""
        rows = inputs.to_dict("records") if isinstance(inputs, pd.DataFrame) else list(inputs)
        values = np.asarray(outputs, dtype=float).ravel()
        if len(rows) != values.size:
            raise ValueError(
                f"inputs has {len(rows)} row(s) but outputs has {values.size} value(s); "
                "log one output per input row."
            )
        request_id = request_id or uuid.uuid4().hex
        now = time.time()
        lines = "".join(
            json.dumps(
                {
                    "ts": now,
                    "request_id": request_id,
                    "row": i,
                    "model_version": self.model_version,
                    "inputs": row,
                    "output": float(value),
                },
                default=_plain,
            )
            + "\n"
            for i, (row, value) in enumerate(zip(rows, values, strict=True))
        )
        with self.path.open("a", encoding="utf-8") as f:
            f.write(lines)
        return request_id


def _plain(value: object) -> object:
    """JSON for NumPy scalars (pandas hands them out in to_dict)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot log a value of type {type(value).__name__}: {value!r}")


def _frame(records: list[dict[str, object]]) -> pd.DataFrame:
    if not records:
        return pd.DataFrame(columns=LOG_COLUMNS + ["row"])
    inputs = pd.DataFrame([r["inputs"] for r in records])
    meta = pd.DataFrame([{k: r[k] for k in (*LOG_COLUMNS, "row")} for r in records])
    return pd.concat([meta, inputs], axis=1)


def _parse(chunk: bytes, source: Path) -> tuple[list[dict[str, object]], int]:
    """Records in the complete lines of `chunk`, and how many bytes those lines take."""
    used = chunk.rfind(b"\n") + 1
    records = []
    for number, line in enumerate(chunk[:used].decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{source}: line {number} of the entries read is not JSON ({err.msg}); "
                "is this a prediction log written by PredictionLog?"
            ) from err
    return records, used


def read_prediction_log(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The whole log as a DataFrame: ts, request_id, model_version, output, row, inputs.

    One column per input feature. A last line still being written is left out.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no prediction log at '{path}'.")
    records, _ = _parse(path.read_bytes(), path)
    return _frame(records)


class PredictionLogTail:
    """Read a prediction log incrementally, like `tail -f` (module 06).

    Each `read_new()` returns the rows appended since the previous call.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.offset = 0

    def read_new(self) -> pd.DataFrame:
        """Rows appended since the last call (an empty frame if none, or no file yet)."""
        if not self.path.is_file():
            return _frame([])
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        records, used = _parse(chunk, self.path)
        self.offset += used
        return _frame(records)
