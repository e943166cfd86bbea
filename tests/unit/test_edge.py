"""mlkit.edge: the churn pipeline exported to ONNX predicts what scikit-learn predicts."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from mlkit import churn_model, data
from mlkit.edge import export_onnx


def test_exported_model_matches_scikit_learn(tmp_path):
    trained = churn_model.train_reference_model(seed=3, n_rows=600)
    path = export_onnx(trained.model, tmp_path / "model.onnx")

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    X = trained.X_test.head(50)
    feeds = {
        name: X[name].to_numpy(np.float32 if name in data.NUMERIC_FEATURES else str).reshape(-1, 1)
        for name in data.FEATURES
    }
    from_onnx = session.run(["probabilities"], feeds)[0][:, 1]
    assert [i.name for i in session.get_inputs()] == data.FEATURES
    np.testing.assert_allclose(from_onnx, trained.model.predict_proba(X)[:, 1], atol=1e-5)


def test_only_a_fitted_pipeline_is_accepted(tmp_path):
    with pytest.raises(TypeError, match="model: got LogisticRegression"):
        export_onnx(LogisticRegression(), tmp_path / "model.onnx")
    with pytest.raises(NotFittedError):
        export_onnx(churn_model.make_churn_pipeline(), tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
