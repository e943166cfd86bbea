"""mlkit.contract: the customer contract accepts the course data and refuses each bad input."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from pydantic import TypeAdapter, ValidationError

from mlkit import contract, data
from mlkit.settings import repo_root

ROWS = data.make_dataset(n_rows=3_000, seed=7)[data.FEATURES].to_dict(orient="records")
CUSTOMER = ROWS[0]


def test_every_generated_customer_is_valid():
    for row in ROWS:
        contract.Customer.model_validate_json(json.dumps(row))


def test_categories_and_ranges_come_from_the_data_module():
    properties = contract.Customer.model_json_schema()["properties"]
    for name, allowed in data.CATEGORIES.items():
        assert properties[name]["enum"] == allowed
    assert list(contract.NUMERIC_RANGES) == data.NUMERIC_FEATURES
    for name, (low, high) in contract.NUMERIC_RANGES.items():
        assert (properties[name]["minimum"], properties[name]["maximum"]) == (low, high)
        values = [row[name] for row in ROWS]
        assert low <= min(values) and max(values) <= high


@pytest.mark.parametrize("case", contract.bad_customers(CUSTOMER), ids=lambda case: case.name)
def test_each_bad_customer_is_refused_naming_its_field(case: contract.BadInput):
    with pytest.raises(ValidationError) as caught:
        contract.Customer.model_validate_json(json.dumps(case.payload))
    assert [error["loc"] for error in caught.value.errors()] == [(case.field,)]


def test_bad_customers_cover_every_field():
    fields = {case.field for case in contract.bad_customers(CUSTOMER)}
    assert set(data.FEATURES) <= fields


def test_bad_customers_refuses_an_invalid_start():
    with pytest.raises(ValueError, match="customer must be a dict with exactly the keys"):
        contract.bad_customers({"age": 40})
    with pytest.raises(ValidationError):
        contract.bad_customers({**CUSTOMER, "plan": "gold"})


@pytest.mark.parametrize(
    ("size", "valid"), [(0, False), (1, True), (contract.MAX_BATCH_SIZE, True), (101, False)]
)
def test_batch_size_limits(size: int, valid: bool):
    adapter = TypeAdapter(contract.CustomerBatch)
    batch = [CUSTOMER] * size
    if valid:
        assert len(adapter.validate_python(batch)) == size
    else:
        with pytest.raises(ValidationError, match="List should have at"):
            adapter.validate_python(batch)


def _course_service_source() -> str:
    notebook = json.loads((repo_root() / "course" / "02_serving.ipynb").read_text())
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and source.startswith("%%writefile {workdir}/service.py"):
            return source.split("\n", 1)[1]
    raise AssertionError("course/02_serving.ipynb has no `%%writefile {workdir}/service.py` cell")


def test_course_service_teaches_the_same_schema(tmp_path, monkeypatch):
    path = tmp_path / "course_service.py"
    path.write_text(_course_service_source())
    spec = importlib.util.spec_from_file_location("course_service", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "course_service", module)
    spec.loader.exec_module(module)

    assert module.Customer.model_json_schema() == contract.Customer.model_json_schema()
    assert module.Customer.model_config == contract.Customer.model_config
    assert module.MAX_BATCH_SIZE == contract.MAX_BATCH_SIZE


def test_contract_is_strict_about_types():
    strict = {**CUSTOMER, "income": 5}  # a whole number is a number
    assert contract.Customer.model_validate_json(json.dumps(strict)).income == 5.0
    whole = {**CUSTOMER, "age": 40.0}  # JSON's number 40, written with a decimal point
    assert contract.Customer.model_validate_json(json.dumps(whole)).age == 40
    for field, value in [("age", "40"), ("age", True), ("age", 40.5), ("income", "5e4")]:
        with pytest.raises(ValidationError, match="valid (integer|number)"):  # 40.5 too
            contract.Customer.model_validate_json(json.dumps({**CUSTOMER, field: value}))
    with pytest.raises(ValidationError, match="finite number"):
        contract.Customer.model_validate_json(json.dumps({**CUSTOMER, "income": float("nan")}))
