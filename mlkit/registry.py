"""A model registry with MLflow: versions, an evaluation gate, serving by alias (modules 01, 07).

Introduced in module 01 (log a model with its signature and pins, register versions) and
used in module 07 (the alias "champion" moves only when a candidate beats it on held-out
data). The registry is MLflow's: a SQLite database and an artifact folder on this machine,
reached through a `sqlite:///` URI, so no server runs. A team points the same code at a
tracking server instead; the calls stay the same.

    reg = open_registry(folder)                       # the SQLite file and artifact folder
    version = log_version(reg, "churn", model, training_data=X_train)
    result = promote_if_better(reg, "churn", version, X_holdout, y_holdout, margin=0.005)
    scores = score_by_alias("churn", X_new)           # models:/churn@champion
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, roc_auc_score

from mlkit.bundle import data_sha256, library_versions
from mlkit.errors import MlkitError
from mlkit.settings import scratch_dir

# MLflow sends usage telemetry unless told not to; the course sends nothing anywhere. Its
# INFO lines (database migrations, timestamped) would fill notebooks' outputs.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
# MLflow 3.18's SQL store configures a loader that SQLAlchemy 2.1 deprecates; nothing for a
# user of the registry to act on.
warnings.filterwarnings("ignore", message="The ``noload`` loader strategy", module="mlflow")

CHAMPION = "champion"
DATABASE_FILE = "mlflow.db"
ARTIFACTS_FOLDER = "artifacts"
EXPERIMENT = "churn"
INSTALL_HINT = "install MLflow with `make setup` (mlflow-skinny is pinned in pyproject.toml)"

# Higher is better for every gate metric; each takes (y, churn probability).
GATE_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": lambda y, p: float(roc_auc_score(y, p)),
    "accuracy": lambda y, p: float(accuracy_score(y, p >= 0.5)),
}


class RegistryError(MlkitError, RuntimeError):
    """A registered model, version or alias is missing, or the registry cannot be read."""


class GateRefusedError(RegistryError):
    """The evaluation gate kept the champion: the candidate did not beat it by the margin."""

    def __init__(self, result: GateResult) -> None:
        self.result = result
        super().__init__(result.reason)


@dataclass(frozen=True)
class LocalRegistry:
    """MLflow's tracking store and model registry in one SQLite file, artifacts beside it."""

    folder: Path

    @property
    def uri(self) -> str:
        """The `sqlite:///` URI of the database (tracking and registry)."""
        return f"sqlite:///{self.folder / DATABASE_FILE}"

    @property
    def artifacts(self) -> Path:
        """Where the logged models' files are stored."""
        return self.folder / ARTIFACTS_FOLDER

    def client(self) -> Any:
        """An `mlflow.MlflowClient` on this registry."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)


def open_registry(folder: Path | str | None = None) -> LocalRegistry:
    """The registry in `folder` (default `<scratch>/mlflow`), created on first use.

    Also makes it MLflow's current tracking and registry URI, so that `models:/name@alias`
    URIs resolve in it.
    """
    import mlflow

    path = Path(folder) if folder is not None else scratch_dir("mlflow")
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"registry folder: {path} is a file; expected a folder.")
    path.mkdir(parents=True, exist_ok=True)
    registry = LocalRegistry(path.resolve())
    registry.artifacts.mkdir(exist_ok=True)
    mlflow.set_tracking_uri(registry.uri)
    mlflow.set_registry_uri(registry.uri)
    return registry


def _experiment_id(registry: LocalRegistry, name: str) -> str:
    client = registry.client()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = (registry.artifacts / name).as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def log_version(
    registry: LocalRegistry,
    name: str,
    model: Any,
    *,
    training_data: pd.DataFrame,
    metrics: dict[str, float] | None = None,
    experiment: str = EXPERIMENT,
) -> str:
    """Log `model` (a fitted scikit-learn classifier) and register it as a new version of
    `name`; return the version number as a string.

    The logged model carries its signature (the columns and types of `training_data`, a
    churn probability per row), its pip requirements (the installed scikit-learn, numpy,
    scipy, pandas and skops), the training data's sha256 and `metrics`. It is stored with
    skops; the types skops does not trust by default are recorded as trusted by whoever
    logs the model, which is why only trusted people and jobs may write to a registry.
    """
    import mlflow
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name: expected a registered model name such as 'churn', got {name!r}.")
    if not isinstance(training_data, pd.DataFrame) or training_data.empty:
        raise TypeError("training_data: expected the non-empty DataFrame the model was fit on.")
    if not hasattr(model, "predict_proba"):
        raise TypeError(
            f"model: expected a fitted classifier with predict_proba(), got {type(model).__name__}."
        )
    sample = _plain_columns(training_data.head(50))
    with warnings.catch_warnings():
        # The hint that integer columns cannot hold missing values: the contract has none.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(sample, model.predict_proba(sample))
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    pins = [f"{package}=={found}" for package, found in library_versions().items()]
    with mlflow.start_run(experiment_id=_experiment_id(registry, experiment)):
        mlflow.log_params({"training_rows": len(training_data)})
        mlflow.set_tag("training_data_sha256", data_sha256(training_data))
        if metrics:
            mlflow.log_metrics({key: float(value) for key, value in metrics.items()})
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="skops",
            skops_trusted_types=trusted,
            signature=signature,
            pip_requirements=pins,
            pyfunc_predict_fn="predict_proba",
            registered_model_name=name,
        )
    return str(info.registered_model_version)


def champion_version(registry: LocalRegistry, name: str, alias: str = CHAMPION) -> str | None:
    """The version `alias` points to, or None when the model has no such alias yet."""
    from mlflow.exceptions import MlflowException

    client = registry.client()
    _require_model(client, name)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _require_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        known = sorted(m.name for m in client.search_registered_models())
        raise RegistryError(
            f"no registered model named {name!r} in this registry (it has: "
            f"{', '.join(known) or 'none'}); log one first with log_version()."
        ) from None


def _require_version(client: Any, name: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        known = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
        raise RegistryError(
            f"model {name!r} has no version {version!r}; its versions are "
            f"{', '.join(map(str, known)) or 'none'}."
        ) from None


def _plain_columns(X: pd.DataFrame) -> pd.DataFrame:
    """X with categorical columns as plain strings: a signature knows strings, not pandas'
    category dtype."""
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X: expected a DataFrame of the model's columns, got {type(X).__name__}.")
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return X.astype({c: object for c in categorical}) if categorical else X


def churn_scores(model_uri: str, X: pd.DataFrame) -> np.ndarray:
    """Churn probabilities from the registered model at `model_uri` (`models:/churn/3`,
    `models:/churn@champion`), loaded as MLflow's pyfunc, which checks X's columns and
    types against the logged signature."""
    import mlflow.pyfunc

    predicted = np.asarray(mlflow.pyfunc.load_model(model_uri).predict(_plain_columns(X)))
    return predicted[:, 1] if predicted.ndim == 2 else predicted


def score_by_alias(name: str, X: pd.DataFrame, alias: str = CHAMPION) -> np.ndarray:
    """Serve by alias: churn probabilities of `models:/name@alias` for the rows of X."""
    return churn_scores(f"models:/{name}@{alias}", X)


def holdout_score(model_uri: str, X: pd.DataFrame, y: Any, metric: str = "roc_auc") -> float:
    """`metric` (higher is better: roc_auc or accuracy) of the model at `model_uri` on X, y."""
    if metric not in GATE_METRICS:
        raise ValueError(f"metric: expected one of {sorted(GATE_METRICS)}, got {metric!r}.")
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X and y: expected the same non-zero length, got {len(X)} and {len(y)}.")
    return GATE_METRICS[metric](np.asarray(y), churn_scores(model_uri, X))


@dataclass(frozen=True)
class GateResult:
    """What the evaluation gate compared and decided."""

    name: str
    candidate: str
    champion: str | None
    metric: str
    margin: float
    candidate_score: float
    champion_score: float | None
    promoted: bool
    reason: str


def promote_if_better(
    registry: LocalRegistry,
    name: str,
    candidate: str,
    X: pd.DataFrame,
    y: Any,
    *,
    metric: str = "roc_auc",
    margin: float = 0.0,
    alias: str = CHAMPION,
) -> GateResult:
    """The evaluation gate: move `alias` to version `candidate` only if it beats the current
    holder on the held-out set X, y by at least `margin` in `metric`.

    A model without a champion takes its first candidate. A candidate that is worse, or
    better by less than the margin, leaves the alias where it was; the result says why.
    """
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not margin >= 0:
        raise ValueError(f"margin: expected a number >= 0 (e.g. 0.005), got {margin!r}.")
    client = registry.client()
    candidate = str(candidate)
    _require_model(client, name)
    _require_version(client, name, candidate)
    score = holdout_score(f"models:/{name}/{candidate}", X, y, metric)
    current = champion_version(registry, name, alias)
    if current == candidate:
        return GateResult(
            name, candidate, current, metric, margin, score, score, False,
            f"version {candidate} already is {name}@{alias}; nothing to move.",
        )  # fmt: skip
    held = None if current is None else holdout_score(f"models:/{name}/{current}", X, y, metric)
    if held is not None and score < held + margin:
        reason = (
            f"refused: version {candidate} scores {metric} {score:.4f} on the held-out set, "
            f"version {current} ({alias}) {held:.4f}; a candidate must beat the {alias} by "
            f"at least {margin:g}, so {name}@{alias} stays at version {current}."
        )
        return GateResult(name, candidate, current, metric, margin, score, held, False, reason)
    client.set_registered_model_alias(name, alias, candidate)
    client.set_model_version_tag(name, candidate, f"gate.{metric}", f"{score:.6f}")
    before = "no champion yet" if held is None else f"version {current} had {held:.4f}"
    reason = f"promoted: {name}@{alias} is version {candidate} ({metric} {score:.4f}; {before})."
    return GateResult(name, candidate, current, metric, margin, score, held, True, reason)


def export_model(name: str, out: Path | str, alias: str = CHAMPION) -> Path:
    """Copy the files of `models:/name@alias` (MLmodel, model.skops, requirements.txt, ...)
    into the new or empty folder `out`: what an image build puts next to the service."""
    import mlflow.artifacts

    folder = Path(out)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"out: {folder} exists and is not an empty folder.")
    folder.mkdir(parents=True, exist_ok=True)
    return Path(
        mlflow.artifacts.download_artifacts(f"models:/{name}@{alias}", dst_path=str(folder))
    )
