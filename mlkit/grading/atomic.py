"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file the grader and `mlkit assign` write goes through here, so a crash or an
interrupt never leaves a half-written gradebook, result or lab.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write data to path through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a lone surrogate (text the grader failed to clean) becomes "?" rather than a crash
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | Path, value: Any) -> Path:
    """Write value as indented, key-sorted JSON (so reruns give identical bytes)."""
    return write_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")
