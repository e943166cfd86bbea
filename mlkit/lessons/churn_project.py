"""The churn service's project folder, as module 03's lab starts from it and its tests rebuild it.

`write_project` lays out what such a folder usually holds: the service (`service.py`,
module 02's contract with the model loaded by skops), the model (`model.skops`), the
kit's API guard (`api_guard.py`, a copy of `mlkit/api_guard.py`: the image has no mlkit,
so the service imports the file beside it), and the files that must never reach an
image (a notebook, test data, a test file, a `.env` with a key). The course notebook
writes the same service in a `%%writefile` cell (a unit test keeps the two equal).

`check_build_config` accepts a learner's build configuration only with the keys and
packages this service can need, so that building it cannot run anything else;
`build_and_run` turns a project into a bento, an image and a running container, asks
it for predictions, lists what the image carries, and removes all of it again.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import skops.io
import yaml

from mlkit import api_guard, churn_model, containers, contract, image_audit

SERVICE = "service.py:Churn"
GUARD_FILE = "api_guard.py"  # mlkit/api_guard.py, copied next to service.py
RUNTIME_PACKAGES = churn_model.RUNTIME_PACKAGES
SERVICE_SOURCE = (
    """\
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
import pandas as pd
import skops.io
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api_guard import guard_api  # mlkit/api_guard.py, copied here: the image has no mlkit


"""
    + contract.customer_source()
    + """

Batch = Annotated[list[Customer], Field(min_length=1, max_length=100)]

# The cloud platforms' container contracts. SageMaker runs the image with the argument
# `serve` and calls GET /ping and POST /invocations on port 8080; Vertex AI sets the port
# and both routes in these variables. Unset, they give SageMaker's values.
PORT = int(os.environ.get("AIP_HTTP_PORT", "8080"))
HEALTH_ROUTE = os.environ.get("AIP_HEALTH_ROUTE", "/ping")
PREDICT_ROUTE = os.environ.get("AIP_PREDICT_ROUTE", "/invocations")


@bentoml.service(workers=1, traffic={"timeout": 10}, http={"port": PORT})
class Churn:
    def __init__(self) -> None:
        self.model = skops.io.load(Path(__file__).parent / "model.skops")

    def probabilities(self, customers: list[Customer]) -> list[float]:
        rows = pd.DataFrame([customer.model_dump() for customer in customers])
        return self.model.predict_proba(rows)[:, 1].round(6).tolist()

    @bentoml.api
    def predict(self, customers: Batch) -> list[float]:
        return self.probabilities(customers)

    @bentoml.api(route=PREDICT_ROUTE)
    def invocations(self, instances: Batch) -> dict[str, list[float]]:
        # The platforms' shape: {"instances": [...]} in, {"predictions": [...]} out.
        return {"predictions": self.probabilities(instances)}


class HealthRoute:
    # An ASGI middleware: the platform's health route answers what /readyz answers.

    def __init__(self, app: Any, path: str) -> None:
        self.app, self.path = app, path

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            scope = {**scope, "path": "/readyz", "raw_path": b"/readyz"}
        await self.app(scope, receive, send)


Churn.add_asgi_middleware(HealthRoute, path=HEALTH_ROUTE)
guard_api(Churn)  # module 02: JSON only, at most 1 MB, strict contract, honest OpenAPI
"""
)
CLUTTER = {
    "notebooks/exploration.ipynb": json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    ),
    "tests/test_service.py": "from service import Churn\n",
    ".env": "CHURN_API_KEY=sk-live-0000-not-a-real-key\n",
}
HOLDOUT_FILE = "data/holdout_customers.csv"
_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)")
_CONFIG_KEYS = {"service", "include", "exclude", "labels", "python"}
_PYTHON_KEYS = {"packages", "lock_packages"}


def write_project(
    folder: str | os.PathLike[str], *, seed: int = 42, n_rows: int = 2_000
) -> churn_model.TrainedModel:
    """Write the project folder (service, its guard, model and clutter) into an empty `folder`.

    The model is `mlkit.churn_model.train_reference_model(seed, n_rows)`, returned so that a
    caller can compare what a server answers with what the model says. Introduced in
    module 03's lab.
    """
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"folder: '{folder}' is not empty; expected a new or empty folder.")
    trained = churn_model.train_reference_model(seed=seed, n_rows=n_rows)
    files = {**CLUTTER, "service.py": SERVICE_SOURCE, GUARD_FILE: api_guard.source()}
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    skops.io.dump(trained.model, folder / "model.skops")
    holdout = trained.X_test.assign(churned=trained.y_test)
    (folder / HOLDOUT_FILE).parent.mkdir(parents=True, exist_ok=True)
    holdout.to_csv(folder / HOLDOUT_FILE, index=False)
    return trained


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"build_config[{key!r}]: expected a list of strings, got {value!r}.")
    return list(value)


def check_build_config(config: Any) -> dict[str, Any]:
    """A copy of `config` if it is a build configuration for this service, else ValueError.

    Allowed: `service`, `include`, `exclude`, `labels` and `python` with `packages`
    (each `name==version`, name one of `RUNTIME_PACKAGES` or bentoml) and
    `lock_packages`. Anything else (system packages, setup scripts, other indexes)
    would run at build time, so it is refused with the key named.
    """
    if not isinstance(config, dict):
        raise ValueError(f"build_config: expected a dict, got {type(config).__name__}.")
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(
            f"build_config: keys {unknown} are not needed here; expected only "
            f"{sorted(_CONFIG_KEYS)}."
        )
    checked: dict[str, Any] = {"service": config.get("service")}
    if not isinstance(checked["service"], str):
        raise ValueError(
            f"build_config['service']: expected 'file.py:Class', got {config.get('service')!r}."
        )
    for key in ("include", "exclude"):
        if key in config:
            checked[key] = _strings(config[key], key)
    if "labels" in config:
        labels = config["labels"]
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise ValueError(f"build_config['labels']: expected str -> str, got {labels!r}.")
        checked["labels"] = dict(labels)
    python = config.get("python", {})
    if not isinstance(python, dict) or set(python) - _PYTHON_KEYS:
        raise ValueError(
            f"build_config['python']: expected a dict with only {sorted(_PYTHON_KEYS)}, "
            f"got {python!r}."
        )
    allowed = {*RUNTIME_PACKAGES, "bentoml"}
    for requirement in _strings(python.get("packages", []), "python.packages"):
        found = _PIN.fullmatch(requirement.strip())
        if found is None or found.group(1).lower() not in allowed:
            raise ValueError(
                f"build_config['python']['packages']: {requirement!r} is not 'name==version' "
                f"for one of {sorted(allowed)}."
            )
    checked["python"] = {"packages": list(python.get("packages", []))}
    if "lock_packages" in python:
        checked["python"]["lock_packages"] = bool(python["lock_packages"])
    return checked


def installed_pins() -> list[str]:
    """`name==version` of each package the service imports, as installed here."""
    return churn_model.runtime_pins()


@dataclass(frozen=True)
class ContainerCheck:
    """What `build_and_run` found: the bento's files and pins, and the container's replies."""

    bento_files: list[str]
    requirements: dict[str, str | None]
    image_files: list[str]
    image_mb: float
    readyz_status: int
    predictions: list[float]


def build_and_run(
    project: str | os.PathLike[str],
    customers: list[dict[str, Any]],
    *,
    log_dir: str | os.PathLike[str] | None = None,
) -> ContainerCheck:
    """Build the project's bento and image, run it, POST `customers` to /predict, list the
    image's files; then stop the container and delete the image and the bento.

    Build logs go to `log_dir` (default `<scratch>/bentos`). Needs a Docker engine
    (`DockerUnavailableError` otherwise). Introduced in module 03's lab.
    """
    with containers.project_container(project, log_dir=log_dir) as run:
        files = image_audit.bento_files(run.bento)
        requirements = image_audit.bento_requirements(run.bento)
        shipped = image_audit.image_files(run.image.tag)
        readyz = httpx.get(f"{run.container.url}/readyz", timeout=10).status_code
        reply = httpx.post(
            f"{run.container.url}/predict", json={"customers": customers}, timeout=30
        )
        reply.raise_for_status()
    return ContainerCheck(files, requirements, shipped, run.image.size_mb, readyz, reply.json())


def write_build_config(project: str | os.PathLike[str], config: dict[str, Any]) -> Path:
    """Write `config` as the project's bentofile.yaml (what `bentoml build` reads)."""
    path = Path(project) / "bentofile.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
