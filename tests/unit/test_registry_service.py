"""Serving by alias (mlkit.registry.serve_by_alias): a real BentoML service on 127.0.0.1
that answers with the version "champion" points to, and follows the gate's decisions."""

from __future__ import annotations

import numpy as np
import pytest

from mlkit import churn_model, data
from mlkit.registry import (
    RegistryError,
    churn_scores,
    log_version,
    open_registry,
    promote_if_better,
    serve_by_alias,
)

pytestmark = pytest.mark.slow


def test_the_service_serves_the_champion_and_follows_only_promotions(tmp_path):
    trained = churn_model.train_reference_model(seed=42, n_rows=2_000)
    X, y = trained.X_train, trained.y_train
    fit = churn_model.make_churn_pipeline
    frame = data.make_dataset(n_rows=1_500, seed=2024)
    X_hold, y_hold = frame[data.FEATURES], frame[data.TARGET]
    customers = data.make_dataset(n_rows=20, seed=5)[data.FEATURES]
    body = {"customers": customers.to_dict("records")}

    registry = open_registry(tmp_path / "registry")
    with pytest.raises(RegistryError, match="no registered model named 'churn'"):
        serve_by_alias(registry, "churn")
    v1 = log_version(registry, "churn", fit().fit(X.head(150), y.head(150)), training_data=X)
    assert promote_if_better(registry, "churn", v1, X_hold, y_hold).promoted

    with serve_by_alias(registry, "churn", log_dir=tmp_path) as service, service.client() as client:
        first = client.predict(**body)
        assert first["version"] == v1
        expected_v1 = churn_scores(f"models:/churn/{v1}", customers)
        np.testing.assert_allclose(first["churn_probability"], expected_v1, rtol=1e-9)

        v2 = log_version(registry, "churn", trained.model, training_data=X)
        assert promote_if_better(registry, "churn", v2, X_hold, y_hold, margin=0.005).promoted
        # Moving the alias changes nothing until the service reloads.
        assert client.predict(**body)["version"] == v1
        assert client.reload() == {"version": v2, "previous": v1}
        second = client.predict(**body)
        expected_v2 = churn_scores(f"models:/churn/{v2}", customers)
        assert second["version"] == v2
        np.testing.assert_allclose(second["churn_probability"], expected_v2, rtol=1e-9)
        assert not np.allclose(expected_v1, expected_v2)

        v3 = log_version(registry, "churn", fit().fit(X.head(60), y.head(60)), training_data=X)
        gate = promote_if_better(registry, "churn", v3, X_hold, y_hold, margin=0.005)
        assert not gate.promoted and gate.champion == v2
        assert client.reload() == {"version": v2, "previous": v2}
        third = client.predict(**body)
        assert third["version"] == v2, "a refused version must never be served"
        np.testing.assert_allclose(third["churn_probability"], expected_v2, rtol=1e-9)
    assert not service.is_running()
