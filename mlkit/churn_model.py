"""The course's reference model: the churn pipeline of module 00, built and trained in one call.

Introduced in module 00 (where its cells are shown) and packaged in module 01; later
modules start from `train_reference_model()` so that every lesson serves, load-tests and
monitors the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version

import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlkit import data

# What a service that loads this model with skops and checks its input imports, besides
# BentoML: the packages an image of such a service installs (modules 03 and 05).
RUNTIME_PACKAGES = ("scikit-learn", "skops", "pandas", "numpy", "scipy", "pydantic")


@dataclass
class TrainedModel:
    """A fitted pipeline with the split it was trained and tested on, and its test metrics."""

    model: Pipeline
    X_train: pd.DataFrame
    X_test: pd.DataFrame
    y_train: pd.Series
    y_test: pd.Series
    metrics: dict[str, float]


def make_churn_pipeline(classifier: ClassifierMixin | None = None) -> Pipeline:
    """Module 00's pipeline, unfitted: scale the numbers, one-hot the categories, classify.

    `classifier` defaults to `LogisticRegression(max_iter=1_000)`; pass another
    scikit-learn classifier to put it behind the same preprocessing.
    """
    if classifier is None:
        classifier = LogisticRegression(max_iter=1_000)
    elif not (hasattr(classifier, "fit") and hasattr(classifier, "predict_proba")):
        raise TypeError(
            "classifier must be a scikit-learn classifier with fit() and predict_proba(), "
            f"got {type(classifier).__name__}."
        )
    return make_pipeline(
        make_column_transformer(
            (StandardScaler(), data.NUMERIC_FEATURES),
            (OneHotEncoder(handle_unknown="ignore"), data.CATEGORICAL_FEATURES),
        ),
        classifier,
    )


def churn_metrics(model: Pipeline, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    """ROC AUC and accuracy of a fitted churn model on (X, y), rounded to 4 decimals."""
    proba = model.predict_proba(X)[:, 1]
    return {
        "roc_auc": round(float(roc_auc_score(y, proba)), 4),
        "accuracy": round(float(accuracy_score(y, proba >= 0.5)), 4),
    }


def train_reference_model(seed: int = 42, n_rows: int = 20_000) -> TrainedModel:
    """Generate the course data, split it 75/25 and fit `make_churn_pipeline()` on it.

    `n_rows` is 20,000 in module 00; notebooks pass 5,000 in quick mode. The same seed
    gives the same data, split and model.
    """
    df = data.make_dataset(n_rows=n_rows, seed=seed)
    X_train, X_test, y_train, y_test = data.split(df, test_size=0.25, seed=seed)
    model = make_churn_pipeline().fit(X_train, y_train)
    return TrainedModel(
        model, X_train, X_test, y_train, y_test, churn_metrics(model, X_test, y_test)
    )


def runtime_pins() -> list[str]:
    """`name==version` of each of `RUNTIME_PACKAGES`, as installed here: an image built
    with these pins loads a model saved here (modules 03 and 05)."""
    return [f"{name}=={version(name)}" for name in RUNTIME_PACKAGES]
