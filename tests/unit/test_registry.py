"""The MLflow model registry (mlkit.registry): versions logged with their signature and
pins, an evaluation gate that moves "champion" only for a better model, serving by alias."""

from __future__ import annotations

import numpy as np
import pytest

from mlkit import churn_model, data
from mlkit.registry import (
    CHAMPION,
    RegistryError,
    champion_version,
    log_version,
    open_registry,
    promote_if_better,
    score_by_alias,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models():
    """Three churn models of known quality: trained on 3,000, 300 and 60 customers."""
    trained = churn_model.train_reference_model(seed=42, n_rows=3_000)
    X, y = trained.X_train, trained.y_train
    fit = churn_model.make_churn_pipeline
    return {
        "good": trained.model,
        "fair": fit().fit(X.head(300), y.head(300)),
        "poor": fit().fit(X.head(60), y.head(60)),
        "X_train": X,
    }


@pytest.fixture(scope="module")
def holdout():
    frame = data.make_dataset(n_rows=2_000, seed=2024)
    return frame[data.FEATURES], frame[data.TARGET]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return open_registry(tmp_path_factory.mktemp("registry"))


def test_the_gate_promotes_the_first_and_better_versions_and_refuses_worse_ones(
    registry, models, holdout
):
    X, y = holdout

    def log(key):
        return log_version(registry, "gated", models[key], training_data=models["X_train"])

    fair = log("fair")
    first = promote_if_better(registry, "gated", fair, X, y, margin=0.005)
    assert first.promoted and first.champion is None and first.champion_score is None
    assert champion_version(registry, "gated") == fair

    poor = log("poor")
    refused = promote_if_better(registry, "gated", poor, X, y, margin=0.005)
    assert not refused.promoted
    assert refused.candidate_score < refused.champion_score
    assert champion_version(registry, "gated") == fair, "a worse model must not move the alias"
    assert refused.reason.startswith("refused:") and f"stays at version {fair}" in refused.reason

    good = log("good")
    promoted = promote_if_better(registry, "gated", good, X, y, margin=0.005)
    assert promoted.promoted and promoted.champion == fair
    assert promoted.candidate_score >= promoted.champion_score + 0.005
    assert champion_version(registry, "gated") == good

    # The same model again is no better than the champion: the margin keeps the champion.
    again = log("good")
    tie = promote_if_better(registry, "gated", again, X, y, margin=0.005)
    assert not tie.promoted and tie.candidate_score == pytest.approx(tie.champion_score)
    assert champion_version(registry, "gated") == good
    # With accuracy as the metric and no margin, an equal model may take over.
    equal = promote_if_better(registry, "gated", again, X, y, metric="accuracy", margin=0.0)
    assert equal.promoted and champion_version(registry, "gated") == again


def test_serving_by_alias_follows_the_champion(registry, models, holdout):
    X, _ = holdout
    rows = X.head(20)
    poor = log_version(registry, "served", models["poor"], training_data=models["X_train"])
    promote_if_better(registry, "served", poor, *holdout)
    served = score_by_alias("served", rows)
    np.testing.assert_allclose(served, models["poor"].predict_proba(rows)[:, 1], rtol=1e-12)

    good = log_version(registry, "served", models["good"], training_data=models["X_train"])
    assert promote_if_better(registry, "served", good, *holdout).promoted
    np.testing.assert_allclose(
        score_by_alias("served", rows), models["good"].predict_proba(rows)[:, 1], rtol=1e-12
    )


def test_a_logged_version_carries_its_signature_and_pins(registry, models):
    import mlflow.models
    import mlflow.pyfunc
    import sklearn
    from mlflow.exceptions import MlflowException

    version = log_version(
        registry, "signed", models["good"], training_data=models["X_train"], metrics={"x": 1.0}
    )
    info = mlflow.models.get_model_info(f"models:/signed/{version}")
    assert info.signature.inputs.input_names() == data.FEATURES
    pins = open(mlflow.pyfunc.get_model_dependencies(f"models:/signed/{version}")).read()
    assert f"scikit-learn=={sklearn.__version__}" in pins
    assert info.flavors["sklearn"]["serialization_format"] == "skops"
    # The signature is enforced: a request without a column the model needs is refused.
    registry.client().set_registered_model_alias("signed", CHAMPION, version)
    with pytest.raises(MlflowException, match="tenure_months"):
        score_by_alias("signed", models["X_train"].head(3).drop(columns="tenure_months"))


def test_bad_input_is_refused_with_what_was_expected(registry, models, holdout):
    X, y = holdout
    with pytest.raises(RegistryError, match="no registered model named 'nothing'"):
        promote_if_better(registry, "nothing", "1", X, y)
    version = log_version(registry, "checked", models["poor"], training_data=models["X_train"])
    with pytest.raises(RegistryError, match=f"no version '9'; its versions are {version}"):
        promote_if_better(registry, "checked", "9", X, y)
    with pytest.raises(ValueError, match="margin: expected a number >= 0"):
        promote_if_better(registry, "checked", version, X, y, margin=-0.1)
    with pytest.raises(ValueError, match="metric: expected one of"):
        promote_if_better(registry, "checked", version, X, y, metric="recall")
    with pytest.raises(TypeError, match="training_data"):
        log_version(registry, "checked", models["poor"], training_data=None)
    assert champion_version(registry, "checked") is None
