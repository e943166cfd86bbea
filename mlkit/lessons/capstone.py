"""Module 09's capstone plumbing: the delivery-time project folder and its container check.

The capstone takes a model of `mlkit.data.make_deliveries` from notebook to a secured,
load-tested, monitored container. What the learner is graded on (training, the
service, the build configuration, the SLO decision, the drift monitor) is written in
the lab; this module holds only what the course notebook and the grader share:

- `baseline_model`: the linear baseline the course measures and the lab must beat;
- `write_project`: a project folder as the lab's grader rebuilds it (the reference
  service `SERVICE_SOURCE`, the copy of `mlkit/api_guard.py` it imports, a bundle of the
  baseline, and files that must not ship);
- `build_and_run`: bento, image and container from a project, asked for predictions
  with and without the API key, then all removed again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from mlkit import api_guard, bundle, containers, contract, data, image_audit
from mlkit.lessons import churn_project

SERVICE = "service.py:DeliveryTime"
API_KEY_ENV = "DELIVERY_API_KEY"
API_KEY_HEADER = "x-api-key"
BUNDLE_ENV = "DELIVERY_BUNDLE"
BUNDLE_FOLDER = "bundle"
# skops refuses tree types it cannot vouch for; the service trusts this one only after the
# bundle's sha256 matched (module 01: hashes; module 08: why loading is a risk).
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
SERVICE_SOURCE = (
    """\
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
import pandas as pd
import skops.io
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from threadpoolctl import threadpool_limits

from api_guard import guard_api  # mlkit/api_guard.py, copied here: the image has no mlkit

TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
OPEN_PATHS = {"/livez", "/readyz", "/healthz"}
MAX_BATCH = 100


"""
    + contract.whole_number_source()
    + '''

class ApiKeyMiddleware:
    """401 for a request without the right X-API-Key header; health checks stay open."""

    def __init__(self, app) -> None:
        self.app = app
        self.key = os.environ["DELIVERY_API_KEY"].encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            sent = dict(scope["headers"]).get(b"x-api-key", b"")
            if not hmac.compare_digest(sent, self.key):
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": b'{"error": "API key"}'})
                return
        await self.app(scope, receive, send)


class Order(BaseModel):
    """One order, as the delivery-time model needs it."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    distance_km: float = Field(gt=0, le=50)
    n_items: WholeNumber = Field(ge=1, le=40)
    hour: WholeNumber = Field(ge=0, le=23)
    weekday: WholeNumber = Field(ge=0, le=6)
    courier_tenure_months: WholeNumber = Field(ge=0, le=600)
    weather: Literal["clear", "rain", "snow"]
    vehicle: Literal["bike", "scooter", "car"]


def load_verified(folder: Path):
    """The bundle's model, loaded only if its sha256 matches metadata.json."""
    recorded = json.loads((folder / "metadata.json").read_text())["files"]["model.skops"]
    found = hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()
    if not hmac.compare_digest(found, recorded):
        raise RuntimeError(f"{folder}/model.skops: sha256 {found}, metadata.json says {recorded}")
    return skops.io.load(folder / "model.skops", trusted=TRUSTED)


@bentoml.service(workers=1, traffic={"timeout": 10})
class DeliveryTime:
    def __init__(self) -> None:
        threadpool_limits(1)  # one thread per worker: no OpenMP threads fighting for cores
        folder = os.environ.get("DELIVERY_BUNDLE") or Path(__file__).with_name("bundle")
        self.model = load_verified(Path(folder))

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=500)
    def predict(
        self, orders: Annotated[list[Order], Field(min_length=1, max_length=MAX_BATCH)]
    ) -> list[float]:
        rows = pd.DataFrame([order.model_dump() for order in orders])
        return self.model.predict(rows).round(2).tolist()


DeliveryTime.add_asgi_middleware(ApiKeyMiddleware)
guard_api(DeliveryTime, api_key_header="X-API-Key", open_paths=OPEN_PATHS)
'''
)


def baseline_model() -> Pipeline:
    """The course's baseline: one-hot weather and vehicle, then a linear regression (module 09)."""
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), data.DELIVERY_CATEGORICAL_FEATURES),
        remainder="passthrough",
    )
    return make_pipeline(encode, LinearRegression())


@dataclass(frozen=True)
class Project:
    """What `write_project` wrote: the folder, the bundled model and orders it never saw."""

    folder: Path
    model: Pipeline
    orders: pd.DataFrame


def write_project(
    folder: str | os.PathLike[str], *, seed: int = 42, n_rows: int = 2_000
) -> Project:
    """Write a capstone project into an empty `folder`: `service.py` (`SERVICE_SOURCE`),
    `api_guard.py` (the guard it imports), `bundle/` (the baseline trained on
    `make_deliveries(n_rows, seed)`, via `mlkit.bundle.save_bundle`) and module 03's
    clutter that must not ship."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"folder: '{folder}' is not empty; expected a new or empty folder.")
    deliveries = data.make_deliveries(n_rows, seed=seed)
    model = baseline_model().fit(
        deliveries[data.DELIVERY_FEATURES], deliveries[data.DELIVERY_TARGET]
    )
    files = {**churn_project.CLUTTER, "service.py": SERVICE_SOURCE}
    files[churn_project.GUARD_FILE] = api_guard.source()
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    bundle.save_bundle(model, folder / BUNDLE_FOLDER, training_data=deliveries, metrics={})
    orders = data.make_deliveries(20, seed=seed + 1)[data.DELIVERY_FEATURES]
    return Project(folder, model, orders)


@dataclass(frozen=True)
class ContainerCheck:
    """What `build_and_run` found: the container's replies and the image's files."""

    readyz_status: int
    predictions: list[float] | None
    status_with_key: int
    status_without_key: int
    image_files: list[str]
    image_mb: float


def build_and_run(
    project: str | os.PathLike[str],
    orders: list[dict[str, Any]],
    *,
    api_key: str,
    log_dir: str | os.PathLike[str] | None = None,
) -> ContainerCheck:
    """Build the project's bento and image, run it with `api_key` in `DELIVERY_API_KEY`,
    POST `orders` to /predict with and without the key, list the image's files; then stop
    the container and delete the image and the bento (module 09's lab).

    The project needs its `bentofile.yaml` (`churn_project.write_build_config`). Raises
    `containers.DockerUnavailableError` without an engine.
    """
    if not isinstance(api_key, str) or not api_key:
        raise ValueError(f"api_key: expected a non-empty string, got {api_key!r}.")
    with containers.project_container(project, env={API_KEY_ENV: api_key}, log_dir=log_dir) as run:
        shipped = image_audit.image_files(run.image.tag)
        url, body = f"{run.container.url}/predict", {"orders": orders}
        readyz = httpx.get(f"{run.container.url}/readyz", timeout=10).status_code
        keyed = httpx.post(url, json=body, headers={API_KEY_HEADER: api_key}, timeout=30)
        unkeyed = httpx.post(url, json=body, timeout=30).status_code
    predictions = keyed.json() if keyed.status_code == 200 else None
    return ContainerCheck(
        readyz, predictions, keyed.status_code, unkeyed, shipped, run.image.size_mb
    )
