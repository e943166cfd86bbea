"""A churn service that serves a registered model by alias (modules 07, the retrain workflow).

Started by `mlkit.registry.serve_by_alias`, which names the registry folder, the
registered model and the alias in the environment. At start, and again on each call to
`reload`, the service asks the registry which version the alias points to and loads that
version (MLflow's pyfunc, which checks every batch against the logged signature). Moving
the alias therefore changes nothing until the service reloads or restarts, and the answer
says which version scored it. `reload` is an admin endpoint: a real service keeps it
behind authentication (module 08); this one listens on 127.0.0.1 only.
"""

import os
from typing import Annotated

import bentoml
import pandas as pd
from pydantic import BaseModel, Field

from mlkit import registry
from mlkit.api_guard import guard_api
from mlkit.contract import MAX_BATCH_SIZE, Customer
from mlkit.data import FEATURES


class Scores(BaseModel):
    version: str  # the registered version that answered
    churn_probability: list[float]


class Loaded(BaseModel):
    version: str
    previous: str | None  # the version served before this load, if any


@bentoml.service(workers=1)
class ChurnByAlias:
    def __init__(self) -> None:
        self.registry = registry.open_registry(os.environ["MLKIT_REGISTRY_FOLDER"])
        self.name = os.environ["MLKIT_REGISTERED_MODEL"]
        self.alias = os.environ["MLKIT_MODEL_ALIAS"]
        self.version, self.model = registry.load_by_alias(self.registry, self.name, self.alias)

    @bentoml.api
    def predict(
        self, customers: Annotated[list[Customer], Field(min_length=1, max_length=MAX_BATCH_SIZE)]
    ) -> Scores:
        """The churn probabilities of 1 to 100 customers, in order, and the version used."""
        version, model = self.version, self.model  # one version for the whole batch
        rows = pd.DataFrame([c.model_dump() for c in customers])[FEATURES]
        return Scores(
            version=version, churn_probability=registry.predict_churn(model, rows).tolist()
        )

    @bentoml.api
    def reload(self) -> Loaded:
        """Load the version the alias points to now."""
        previous = self.version
        self.version, self.model = registry.load_by_alias(self.registry, self.name, self.alias)
        return Loaded(version=self.version, previous=previous)


guard_api(ChurnByAlias)  # module 02: JSON only, at most 1 MB, strict contract, honest OpenAPI
