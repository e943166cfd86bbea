"""The input contract of the churn service: one customer as a pydantic model (module 02).

Module 02 writes this schema inside its `service.py` cell, where it is taught; this is
the same schema for the modules that follow (load tests, monitoring, security, the
capstone), with the ranges and categories in one place. A test keeps the two equal.

- numbers must be JSON numbers inside `NUMERIC_RANGES` (wide enough for every row
  `mlkit.data` generates), never text (`"40"`, `"5e4"`), booleans (`true`), NaN or
  infinity; a whole-number field (`WholeNumber`) takes `40` and `40.0`, which JSON and
  JSON Schema's "integer" treat as the same number, and refuses `40.5`;
- categories must be one of `mlkit.data.CATEGORIES`, spelled exactly;
- every field is required and no other field is allowed (a misspelt name is an error,
  not a silently missing value);
- a batch holds 1 to `MAX_BATCH_SIZE` customers.

`PredictRequest` and `PredictBatchRequest` are the request bodies, `{"customer": {...}}`
and `{"customers": [...]}`, as strict as `guard_api` makes a BentoML service's envelope;
`invalid_input(error)` is the 400 body for a refused one. A service written without
BentoML (module 02's Flask app) uses them to answer exactly as the BentoML service does.

`bad_customers(customer)` turns one valid customer into the inputs a service must refuse,
for tests and fuzzing (module 08).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from mlkit.data import CATEGORIES, FEATURES, NUMERIC_FEATURES

MAX_BATCH_SIZE = 100


def whole_number(value: Any) -> Any:
    """40.0 as the int 40 (JSON has one kind of number); anything else as it came, for a
    strict int to accept (40) or refuse (40.5, "40", true)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An int for a strict model: takes 40 and 40.0, refuses 40.5, "40" and true.
WholeNumber = Annotated[int, BeforeValidator(whole_number)]


class Customer(BaseModel):
    """One customer, as the churn model needs it."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    age: WholeNumber = Field(ge=18, le=120, description="Age in years.")
    income: float = Field(ge=0, le=1_000_000, description="Yearly income.")
    tenure_months: WholeNumber = Field(ge=0, le=600, description="Months as a customer.")
    monthly_spend: float = Field(ge=0, le=2_000, description="Average monthly bill.")
    support_calls: WholeNumber = Field(ge=0, le=100, description="Calls to support, last 6 months.")
    last_login_days: WholeNumber = Field(ge=0, le=3_650, description="Days since the last login.")
    # The choices come from mlkit.data.CATEGORIES, the one place they are written; a type
    # checker cannot read a Literal built at import time, pydantic can.
    plan: Literal[tuple(CATEGORIES["plan"])]  # type: ignore[valid-type]
    region: Literal[tuple(CATEGORIES["region"])]  # type: ignore[valid-type]
    device: Literal[tuple(CATEGORIES["device"])]  # type: ignore[valid-type]


CustomerBatch = Annotated[list[Customer], Field(min_length=1, max_length=MAX_BATCH_SIZE)]


class PredictRequest(BaseModel):
    """The body of `POST /predict`: one customer, and no other key."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customer: Customer


class PredictBatchRequest(BaseModel):
    """The body of `POST /predict_batch`: 1 to `MAX_BATCH_SIZE` customers, and no other key."""

    model_config = ConfigDict(extra="forbid", strict=True)

    customers: CustomerBatch


def invalid_input(error: ValidationError) -> dict[str, Any]:
    """The 400 body for a request that broke the contract: `error` (how many problems) and
    `detail` (one entry per problem: type, loc, msg), never the values that were sent."""
    detail = json.loads(error.json(include_input=False, include_url=False))
    count = error.error_count()
    return {
        "error": f"{count} validation error{'s' if count > 1 else ''} for {error.title}",
        "detail": detail,
    }


def _bounds(name: str) -> tuple[float, float]:
    metadata = Customer.model_fields[name].metadata
    low = next(m.ge for m in metadata if isinstance(m, annotated_types.Ge))
    high = next(m.le for m in metadata if isinstance(m, annotated_types.Le))
    return cast(float, low), cast(float, high)


# The allowed range of each number, read from the Field(ge=..., le=...) above.
NUMERIC_RANGES: dict[str, tuple[float, float]] = {name: _bounds(name) for name in NUMERIC_FEATURES}


@dataclass(frozen=True)
class BadInput:
    """An input a service must refuse: what is wrong, the customer as sent, the field at fault."""

    name: str
    payload: dict[str, Any]
    field: str


def _check_customer(customer: dict[str, Any]) -> None:
    if not isinstance(customer, dict) or sorted(customer) != sorted(FEATURES):
        got = sorted(customer) if isinstance(customer, dict) else type(customer).__name__
        raise ValueError(
            f"customer must be a dict with exactly the keys {FEATURES} (one row of "
            f"make_dataset()[FEATURES].to_dict('records')), got {got}."
        )
    Customer.model_validate(customer)


def bad_customers(customer: dict[str, Any]) -> list[BadInput]:
    """Variants of a valid `customer` that a validating service must refuse.

    One per rule: each number just below and just above its range, a number sent as
    text (words and digits) or as a boolean, each category misspelt and in the wrong
    case, a missing field, and an extra (misspelt) field. Raises ValueError if `customer`
    itself is not valid.
    """
    _check_customer(customer)
    cases = []
    for name in NUMERIC_FEATURES:
        low, high = NUMERIC_RANGES[name]
        cases.append(BadInput(f"{name} below {low}", {**customer, name: low - 1}, name))
        cases.append(BadInput(f"{name} above {high}", {**customer, name: high + 1}, name))
    cases.append(BadInput("age as text", {**customer, "age": "forty"}, "age"))
    cases.append(BadInput("age as a numeric string", {**customer, "age": "40"}, "age"))
    cases.append(BadInput("age as a boolean", {**customer, "age": True}, "age"))
    cases.append(BadInput("income as a numeric string", {**customer, "income": "5e4"}, "income"))
    for name, allowed in CATEGORIES.items():
        cases.append(BadInput(f"unknown {name}", {**customer, name: "unknown"}, name))
        upper = allowed[0].capitalize()
        cases.append(BadInput(f"{name} {upper!r} (wrong case)", {**customer, name: upper}, name))
    missing = {k: v for k, v in customer.items() if k != "tenure_months"}
    cases.append(BadInput("tenure_months missing", missing, "tenure_months"))
    cases.append(BadInput("extra field 'tenure'", {**customer, "tenure": 12}, "tenure"))
    return cases


def whole_number_source() -> str:
    """`whole_number` and `WholeNumber` as standalone source (needs `Annotated`, `Any` and
    `BeforeValidator` imported), for service files built into an image without mlkit."""
    return (
        inspect.getsource(whole_number)
        + '\n\n# An int for a strict model: takes 40 and 40.0, refuses 40.5, "40" and true.\n'
        + "WholeNumber = Annotated[int, BeforeValidator(whole_number)]\n"
    )


def customer_source() -> str:
    """`WholeNumber` and `Customer` as standalone Python source that needs only pydantic
    (and `Annotated`, `Any`, `Literal`, `BaseModel`, `BeforeValidator`, `ConfigDict`,
    `Field` imported), for service files that are built into an image without mlkit
    (module 03's project, `mlkit.lessons.churn_project`)."""
    config = ", ".join(
        f"{key}={json.dumps(value) if isinstance(value, str) else repr(value)}"
        for key, value in Customer.model_config.items()
    )
    lines = [
        whole_number_source(),
        "",
        "class Customer(BaseModel):",
        f'    """{Customer.__doc__}"""',
        "",
        f"    model_config = ConfigDict({config})",
        "",
    ]
    for name, info in Customer.model_fields.items():
        if name in NUMERIC_RANGES:
            low, high = (f"{bound:_}" for bound in NUMERIC_RANGES[name])
            kind = "WholeNumber" if info.annotation is int else "float"
            description = json.dumps(info.description)
            lines.append(
                f"    {name}: {kind} = Field(ge={low}, le={high}, description={description})"
            )
        else:
            choices = ", ".join(json.dumps(choice) for choice in CATEGORIES[name])
            lines.append(f"    {name}: Literal[{choices}]")
    return "\n".join(lines) + "\n"
