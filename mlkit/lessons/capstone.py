"""Module 09's capstone plumbing: the delivery-time project folder and its container check.

The capstone takes a model of `mlkit.data.make_deliveries` from notebook to a secured,
load-tested, monitored container. What the learner is graded on (training, the
service, the build configuration, the SLO decision, the drift monitor) is written in
the lab; this module holds only what the course notebook and the grader share:

- `baseline_model`: the linear baseline the course measures and the lab must beat;
- `write_project`: a project folder as the lab's grader rebuilds it (the reference
  service `SERVICE_SOURCE`, the copy of `mlkit/api_guard.py` it imports, a bundle of the
  baseline, and files that must not ship);
- the lab's service.py in parts (`REFERENCE_PARTS`, `read_parts`, `write_service`) and
  what checks each part on its own: `with_reference_parts` pairs a learner's part with the
  course's version of the other, `probe_service` sends it `probe_steps`, `part_replies`
  does both for a test;
- `build_and_run`: bento, image and container from a project, asked for predictions
  with and without the API key, then all removed again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
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
# The lab's service.py is written in three parts, each a cell of its own: the given
# header, q2a (the orders, the verified model, the endpoint) and q2b (the API key), so
# that each part is checked on its own (`with_reference_parts`). These are the course's
# versions; `join_parts` makes the file.
REFERENCE_PARTS = {
    "header": """\
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
    + contract.whole_number_source(),
    "q2a": '''\
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
        threadpool_limits(1)  # one BLAS/OpenMP thread per worker (q3 says why)
        folder = os.environ.get("DELIVERY_BUNDLE") or Path(__file__).with_name("bundle")
        self.model = load_verified(Path(folder))

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=500)
    def predict(
        self, orders: Annotated[list[Order], Field(min_length=1, max_length=MAX_BATCH)]
    ) -> list[float]:
        rows = pd.DataFrame([order.model_dump() for order in orders])
        return self.model.predict(rows).round(2).tolist()
''',
    "q2b": '''\
class ApiKeyMiddleware:
    """401 for a request without the right X-API-Key header; health checks stay open."""

    def __init__(self, app) -> None:
        self.app = app
        self.key = os.environ["DELIVERY_API_KEY"].encode()

    async def __call__(self, scope, receive, send):
        # Called for every ASGI scope: "http" (a request) and "lifespan" (startup and
        # shutdown, which has no path and no headers). Pass what is not "http" to self.app.
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            sent = dict(scope["headers"]).get(b"x-api-key", b"")
            if not hmac.compare_digest(sent, self.key):
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 401, "headers": headers})
                await send({"type": "http.response.body", "body": b\'{"error": "API key"}\'})
                return
        await self.app(scope, receive, send)


DeliveryTime.add_asgi_middleware(ApiKeyMiddleware)
guard_api(DeliveryTime, api_key_header="X-API-Key", open_paths=OPEN_PATHS)
''',
}
PART_FILES = {name: f"{name}.py" for name in REFERENCE_PARTS}  # in the lab's SERVICE_PARTS
CHECKED_PARTS = ("q2a", "q2b")  # the learner's parts; the header is given


def join_parts(parts: Mapping[str, str]) -> str:
    """service.py from its parts (name -> source, in the order of `REFERENCE_PARTS`), two
    blank lines between them (module 09's lab)."""
    return "\n\n\n".join(parts[name].strip("\n") for name in REFERENCE_PARTS) + "\n"


SERVICE_SOURCE = join_parts(REFERENCE_PARTS)


def read_parts(folder: str | os.PathLike[str]) -> dict[str, str]:
    """The parts of a service.py that the lab's cells wrote into `folder` (name -> source);
    a part whose file is missing is the empty string."""
    files = {name: Path(folder) / file for name, file in PART_FILES.items()}
    return {name: path.read_text() if path.is_file() else "" for name, path in files.items()}


def write_service(folder: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Join the parts in `folder` (`read_parts`) into `target`, the service.py that the
    lab's image, load test and replicas serve; returns `target`."""
    parts = read_parts(folder)
    missing = [PART_FILES[name] for name, text in parts.items() if not text.strip()]
    if missing:
        raise FileNotFoundError(
            f"folder: '{folder}' has no {', '.join(missing)}; run the cells that write them first."
        )
    target = Path(target)
    target.write_text(join_parts(parts))
    return target


def unfinished_part(parts: Mapping[str, str], name: str) -> str | None:
    """Why part `name` of `parts` cannot be checked yet (not written, or still the lab's
    placeholder), or None when it can."""
    text = parts.get(name, "")
    if not text.strip():
        return f"{PART_FILES[name]} was not written: run the {name} cell"
    if f"your answer to {name}." in text and "NotImplementedError" in text:
        return f"{name} still raises NotImplementedError: replace that line with your answer"
    return None


def with_reference_parts(parts: Mapping[str, str], keep: str) -> str:
    """service.py made of the learner's header and part `keep` from `parts`, and the
    course's version of the other checked part: each part of the lab's q2 is checked on
    its own, so a finished part scores while the other is not done."""
    if keep not in CHECKED_PARTS:
        raise ValueError(f"keep: got {keep!r}, expected one of {CHECKED_PARTS}.")
    chosen = {
        name: parts.get(name, "") if name in ("header", keep) else reference
        for name, reference in REFERENCE_PARTS.items()
    }
    return join_parts(chosen)


def probe_orders() -> list[dict[str, Any]]:
    """Orders the lab's service has never seen, as JSON-ready dicts."""
    return data.make_deliveries(n_rows=300, seed=2027)[data.DELIVERY_FEATURES].to_dict("records")


def probe_steps(api_key: str) -> dict[str, dict[str, Any]]:
    """Every request the lab's q2 checks send (`service_calls` steps), by name."""
    key = {API_KEY_HEADER: api_key}
    orders = probe_orders()
    one = orders[0]
    bad = {
        "hour 24": {**one, "hour": 24},
        "distance 0": {**one, "distance_km": 0},
        "no items": {**one, "n_items": 0},
        "weather Snow": {**one, "weather": "Snow"},
        "vehicle drone": {**one, "vehicle": "drone"},
        "missing weekday": {k: v for k, v in one.items() if k != "weekday"},
        "extra tip": {**one, "tip": 2.5},
    }
    steps: dict[str, dict[str, Any]] = {
        "five": {"post": "/predict", "json": {"orders": orders[:5]}, "headers": key},
        "page": {"post": "/predict", "json": {"orders": orders[100:200]}, "headers": key},
        "no key": {"post": "/predict", "json": {"orders": [one]}},
        "wrong key": {
            "post": "/predict",
            "json": {"orders": [one]},
            "headers": {API_KEY_HEADER: "x" * len(api_key)},
        },
        "key and more": {
            "post": "/predict",
            "json": {"orders": [one]},
            "headers": {API_KEY_HEADER: api_key + "x"},
        },
        "livez": {"get": "/livez"},
        "readyz": {"get": "/readyz"},
        "schema": {"get": "/schema.json", "headers": key},
        "empty list": {"post": "/predict", "json": {"orders": []}, "headers": key},
        "101 orders": {"post": "/predict", "json": {"orders": orders[:101]}, "headers": key},
        "no orders field": {"post": "/predict", "json": {"order": one}, "headers": key},
    }
    for name, order in bad.items():
        steps[f"bad: {name}"] = {"post": "/predict", "json": {"orders": [order]}, "headers": key}
    return steps


def probe_service(
    call_service: Callable[..., list[dict[str, Any]]],
    service_file: Any,
    source: str,
    *,
    env: dict[str, str],
    api_key: str,
) -> dict[str, dict[str, Any]]:
    """The replies, by step name, of a service made of `source` to `probe_steps(api_key)`,
    served with `env` by `call_service` (`service_calls.call_service`; the learner's
    kernel's when grading) from a copy of `service_file`'s folder (module 09's lab)."""
    steps = probe_steps(api_key)
    answers = call_service(service_file, list(steps.values()), env=env, source=source)
    return dict(zip(steps, answers, strict=True))


def part_replies(
    ns: Any, part: str, served: dict[int, tuple[Any, Any]]
) -> dict[str, dict[str, Any]]:
    """The replies to `probe_steps` of a service made of the lab's header and its `part`,
    with the course's other part (`with_reference_parts`): the lab's q2 checks. `ns` is a
    test's view of the lab (`SERVICE_PARTS`, `SERVICE_FILE`, `SERVICE_ENV`, `API_KEY`,
    `call_service`, `capstone`); `served`, owned by the tests cell, keeps one result per
    notebook under test, so a part's checks serve it once."""
    parts = ns.capstone.read_parts(ns.SERVICE_PARTS)
    for name in ("header", part):
        problem = unfinished_part(parts, name)
        if problem is not None:
            raise AssertionError(problem)
    key = id(ns)
    if key not in served:
        source = with_reference_parts(parts, keep=part)
        try:
            replies = probe_service(
                ns.call_service, ns.SERVICE_FILE, source, env=ns.SERVICE_ENV, api_key=ns.API_KEY
            )
            served[key] = (ns, replies)
        except Exception as err:  # a service that does not start fails every check with its log
            served[key] = (ns, err)
    result = served[key][1]
    if isinstance(result, Exception):
        raise result
    return dict(result)


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
