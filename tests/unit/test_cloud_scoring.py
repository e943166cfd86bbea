"""Module 03's Azure ML scoring script, called as Azure's inference server calls it:
`init()` once with the model folder in AZUREML_MODEL_DIR, then `run(raw_data)` per request.

The script is the `%%writefile` cell of `course/03_containers.ipynb`; it imports the
contract from the project's `service.py` (`mlkit.lessons.churn_project`, the same service).
"""

from __future__ import annotations

import importlib
import json
import sys

import pytest
from support.notebook_cells import writefile_source

from mlkit.lessons import churn_project


@pytest.fixture(scope="module")
def score(tmp_path_factory):
    """The scoring script imported from a project folder, after `init()`."""
    project = tmp_path_factory.mktemp("azure") / "project"
    trained = churn_project.write_project(project, n_rows=800)
    script = writefile_source("course/03_containers.ipynb", "{project}/score.py")
    (project / "score.py").write_text(script)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AZUREML_MODEL_DIR", str(project))
        patch.syspath_prepend(str(project))
        for name in ("score", "service", "api_guard"):
            patch.delitem(sys.modules, name, raising=False)
        module = importlib.import_module("score")
        assert module.model is None  # nothing is loaded before init()
        module.init()
        yield module, trained
        for name in ("score", "service", "api_guard"):
            sys.modules.pop(name, None)


def test_run_answers_the_models_probabilities(score):
    module, trained = score
    customers = trained.X_test.head(7)
    answer = module.run(json.dumps({"instances": customers.to_dict("records")}))
    expected = trained.model.predict_proba(customers)[:, 1].round(6).tolist()
    assert answer == {"predictions": expected}
    assert json.loads(json.dumps(answer)) == answer  # what the server sends back as JSON


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("not json", "Expecting value"),
        (json.dumps({"customers": []}), "'instances'"),
        (json.dumps({"instances": []}), "at least 1 item"),
        (json.dumps({"instances": "everyone"}), "valid list"),
    ],
)
def test_run_refuses_what_the_contract_refuses(score, body, named):
    module, _ = score
    answer = module.run(body)
    assert set(answer) == {"error"}
    assert "expected {'instances': [1 to 100 customers]}" in answer["error"]
    assert named in answer["error"]


def test_run_refuses_a_customer_out_of_range(score):
    module, trained = score
    customer = {**trained.X_test.head(1).to_dict("records")[0], "age": 7}
    answer = module.run(json.dumps({"instances": [customer]}))
    assert "age" in answer["error"] and "greater than or equal to 18" in answer["error"]
