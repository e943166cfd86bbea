"""The churn pipeline as an ONNX file, for module 03's edge build (ONNX Runtime, no scikit-learn).

Module 01 teaches the conversion in its cells; this is the same conversion as one call.
Numbers go in as 32-bit floats and categories as strings, one (rows, 1) input per
column, and the output `probabilities` is a plain array (`zipmap=False`).
"""

from __future__ import annotations

import os
from pathlib import Path

from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from mlkit.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES

# Module 03's edge image (ONNX Runtime, NumPy, the standard library's HTTP server) must
# stay within this many MB (10**6 bytes, as `docker images` counts) so that a device on a
# slow link can pull it; the lesson prints its size against it and a test asserts it.
IMAGE_BUDGET_MB = 300


def export_onnx(model: Pipeline, path: str | os.PathLike[str]) -> Path:
    """Convert a fitted churn pipeline (`mlkit.churn_model`) to ONNX and write it to `path`.

    Introduced in module 01; used by module 03's edge image.
    """
    if not isinstance(model, Pipeline):
        raise TypeError(
            f"model: got {type(model).__name__}, expected the fitted scikit-learn Pipeline of "
            "mlkit.churn_model (make_churn_pipeline().fit(...) or train_reference_model().model)."
        )
    check_is_fitted(model)
    inputs = [(name, FloatTensorType([None, 1])) for name in NUMERIC_FEATURES]
    inputs += [(name, StringTensorType([None, 1])) for name in CATEGORICAL_FEATURES]
    graph = to_onnx(model, initial_types=inputs, options={"zipmap": False})
    path = Path(path)
    path.write_bytes(graph.SerializeToString())
    return path
