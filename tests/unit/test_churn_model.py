"""mlkit.churn_model: module 00's pipeline, and a seeded reference model later modules reuse."""

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from mlkit import churn_model, data


def test_pipeline_is_the_one_of_module_00():
    pipe = churn_model.make_churn_pipeline()
    pre, clf = pipe[0], pipe[-1]
    assert isinstance(pre, ColumnTransformer)
    (_, scaler, numeric), (_, encoder, categorical) = pre.transformers
    assert isinstance(scaler, StandardScaler) and numeric == data.NUMERIC_FEATURES
    assert isinstance(encoder, OneHotEncoder) and categorical == data.CATEGORICAL_FEATURES
    assert encoder.handle_unknown == "ignore"
    assert isinstance(clf, LogisticRegression) and clf.max_iter == 1_000


def test_another_classifier_goes_behind_the_same_preprocessing():
    tree = DecisionTreeClassifier(max_depth=2)
    assert churn_model.make_churn_pipeline(tree)[-1] is tree


def test_a_non_classifier_is_refused_by_name():
    with pytest.raises(TypeError, match="classifier must be .* got str"):
        churn_model.make_churn_pipeline("logreg")


def test_same_seed_same_model_and_it_learns():
    a = churn_model.train_reference_model(seed=3, n_rows=1_000)
    b = churn_model.train_reference_model(seed=3, n_rows=1_000)
    c = churn_model.train_reference_model(seed=4, n_rows=1_000)
    np.testing.assert_array_equal(a.model[-1].coef_, b.model[-1].coef_)
    assert not np.array_equal(a.model[-1].coef_, c.model[-1].coef_)
    assert len(a.X_train) == 750 and len(a.X_test) == 250
    assert a.metrics == b.metrics and a.metrics["roc_auc"] > 0.7
    assert set(a.metrics) == {"roc_auc", "accuracy"}


def test_metrics_are_measured_on_the_test_split():
    trained = churn_model.train_reference_model(seed=5, n_rows=800)
    flipped = churn_model.churn_metrics(trained.model, trained.X_test, 1 - trained.y_test)
    assert flipped["roc_auc"] == pytest.approx(1 - trained.metrics["roc_auc"], abs=1e-3)


def test_default_size_is_module_00s_and_ignores_quick_mode(monkeypatch):
    monkeypatch.setenv("MLKIT_QUICK", "1")  # the model is handed its size, never reads settings
    trained = churn_model.train_reference_model(seed=1)
    assert len(trained.X_train) + len(trained.X_test) == 20_000
