"""The churn service that runs as each replica behind the balancer, and a locustfile for it.

Introduced in module 05. Module 05's `service.py` cell is written for one server and a
model in BentoML's store; the replica service here is the same contract (`/predict`
takes `{"customer": {...}}` and answers the churn probability, guarded by `guard_api`)
with what a replica behind a load balancer needs:

- its model from a skops file named in `CHURN_MODEL_FILE`, so a new version is a new file;
- every answer carries `X-Model-Version` (`CHURN_MODEL_VERSION`) and `X-Replica`
  (`MLKIT_REPLICA`), so a client can see which replica and which version answered;
- `/readyz` answers 503 while the file named in `CHURN_DRAIN_FILE` exists (module 02's
  draining), so the balancer's health check takes the replica out before it stops.

The folder is a whole BentoML project that needs no mlkit, so that the same files run as
a process (`mlkit.serving.serve_in_background`) and in a container image
(`mlkit.scaling.replica_image`): `service.py` with the contract written out
(`mlkit.contract.customer_source`), `api_guard.py` (a copy of `mlkit/api_guard.py`)
and `bentofile.yaml` (the two files and the packages, pinned to this environment's
versions). The models stay out of the bento: a replica reads the file its environment
names, and a container sees it through a read-only mount.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import skops.io
import yaml

from mlkit import api_guard, churn_model, contract

SERVICE_FILE = "service.py"
GUARD_FILE = "api_guard.py"  # mlkit/api_guard.py, copied next to service.py
BENTOFILE = "bentofile.yaml"
SERVICE_NAME = "service.py:ChurnReplica"
LOCUSTFILE = "locustfile.py"
VERSION_HEADER = "X-Model-Version"
REPLICA_HEADER = "X-Replica"
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

SERVICE_SOURCE = (
    '''\
"""The churn service as one replica behind a load balancer (written by mlkit.scaling)."""

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import bentoml
import pandas as pd
import skops.io
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api_guard import guard_api  # mlkit/api_guard.py, copied here: an image has no mlkit


'''
    + contract.customer_source()
    + '''

MODEL_FILE = os.environ.get("CHURN_MODEL_FILE", "")  # needed to serve, not to build a bento
VERSION = os.environ.get("CHURN_MODEL_VERSION", "v1")
REPLICA = os.environ.get("MLKIT_REPLICA", "replica")
DRAIN_FILE = Path(os.environ.get("CHURN_DRAIN_FILE", "draining"))
HEADERS = [(b"x-model-version", VERSION.encode()), (b"x-replica", REPLICA.encode())]


class ReplicaHeaders:
    """ASGI middleware: every answer says which model version and which replica sent it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        return await self.app(scope, receive, send_with_headers)


@bentoml.service(workers=1, traffic={"timeout": 10}, logging={"access": {"enabled": False}})
class ChurnReplica:
    def __init__(self) -> None:
        if not MODEL_FILE:
            raise RuntimeError("CHURN_MODEL_FILE is not set: name the model file to serve.")
        self.model = skops.io.load(MODEL_FILE)

    def __is_ready__(self) -> bool:
        return not DRAIN_FILE.exists()  # 503 on /readyz while draining

    @bentoml.api
    def predict(self, customer: Customer) -> float:
        """The churn probability of one customer."""
        rows = pd.DataFrame([customer.model_dump()])
        return round(float(self.model.predict_proba(rows)[0, 1]), 6)


ChurnReplica.add_asgi_middleware(ReplicaHeaders)
guard_api(ChurnReplica, version=VERSION)  # module 02: JSON only, 1 MB, strict contract
'''
)

LOCUST_SOURCE = '''\
"""Steady load on the churn service: each user posts one customer at a time to /predict."""

import random

from locust import FastHttpUser, constant, task

from mlkit import data

CUSTOMERS = data.make_dataset(n_rows=500, seed=7)[data.FEATURES].to_dict(orient="records")
# True: each request is counted under "/predict <model version that answered>", so the
# statistics show when a rolling update switched versions.
BY_VERSION = $by_version


class ChurnClient(FastHttpUser):
    wait_time = constant(0.02)

    @task
    def predict(self):
        body = {"customer": random.choice(CUSTOMERS)}
        if not BY_VERSION:
            self.client.post("/predict", json=body)
            return
        with self.client.post("/predict", json=body, catch_response=True) as response:
            version = response.headers.get("x-model-version") or "none"
            response.request_meta["name"] = f"/predict {version}"
'''


@dataclass(frozen=True)
class ReplicaService:
    """A written replica service: its file, the environment its replicas need, its version."""

    service_file: Path
    model_file: Path
    version: str
    env: dict[str, str] = field(default_factory=dict)


def write_replica_service(
    folder: str | os.PathLike[str],
    model: Any = None,
    *,
    version: str = "v1",
    seed: int = 42,
    n_rows: int = 2_000,
) -> ReplicaService:
    """Write the replica service (`service.py`, `api_guard.py`, `bentofile.yaml`) and its
    model (`model-<version>.skops`) into `folder`.

    `model` is a fitted churn pipeline; by default the reference model
    (`mlkit.churn_model.train_reference_model(seed, n_rows)`). Writing another version
    into the same folder keeps the service file and adds a model file. Module 05.
    """
    if not (isinstance(version, str) and _VERSION.fullmatch(version)):
        raise ValueError(
            f"version: got {version!r}, expected a short name such as 'v1' or '2024.06.1' "
            "(letters, digits, '.', '_', '-')."
        )
    target = Path(folder).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    if model is None:
        model = churn_model.train_reference_model(seed=seed, n_rows=n_rows).model
    if not hasattr(model, "predict_proba"):
        raise TypeError(
            f"model: got {type(model).__name__}, expected a fitted churn pipeline with "
            "predict_proba (mlkit.churn_model.train_reference_model(...).model)."
        )
    service_file = target / SERVICE_FILE
    service_file.write_text(SERVICE_SOURCE)
    (target / GUARD_FILE).write_text(api_guard.source())
    (target / BENTOFILE).write_text(yaml.safe_dump(bento_config(), sort_keys=False))
    model_file = target / f"model-{version}.skops"
    skops.io.dump(model, model_file)
    env = {"CHURN_MODEL_FILE": str(model_file), "CHURN_MODEL_VERSION": version}
    return ReplicaService(service_file, model_file, version, env)


def bento_config() -> dict[str, Any]:
    """The replica service's `bentofile.yaml`: the service, its two files (never a model
    file) and the packages it imports, pinned to the versions installed here."""
    return {
        "service": SERVICE_NAME,
        "include": [SERVICE_FILE, GUARD_FILE],
        "python": {"packages": churn_model.runtime_pins(), "lock_packages": False},
    }


def write_locustfile(folder: str | os.PathLike[str], *, by_version: bool = False) -> Path:
    """Write a locustfile (class `ChurnClient`: one customer per request to /predict, 20 ms
    apart) into `folder` and return its path. `by_version`: count each request under
    `/predict <version>` from the answer's `X-Model-Version`. Module 05."""
    if not isinstance(by_version, bool):
        raise TypeError(f"by_version: got {by_version!r}, expected True or False.")
    target = Path(folder).expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    path = target / LOCUSTFILE
    path.write_text(Template(LOCUST_SOURCE).substitute(by_version=by_version))
    return path
