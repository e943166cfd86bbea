"""schemathesis, run as CI runs it (tests/support/schemathesis_run.py), finds a crash.

The contract tests of the course services (test_api_contract.py) pass when schemathesis
reports nothing; this shows that the same run reports a server error when there is one,
with a reproducer, and passes once the bug is fixed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.schemathesis_run import run_schemathesis

from mlkit.serving import RunningService, serve_app_in_background

APP = """\
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from mlkit.contract import WholeNumber

app = FastAPI()


class Numbers(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    x: WholeNumber = Field(ge=-1000, le=1000)


@app.get("/readyz")
def ready() -> dict:
    return {}


@app.post("/divide")
def divide(numbers: Numbers) -> dict:
    return {"y": 100 // numbers.x}


@app.post("/safe_divide")
def safe_divide(numbers: Numbers) -> dict:
    return {"y": 100 // numbers.x if numbers.x else 0}
"""


@pytest.fixture(scope="module")
def crashing_app(tmp_path_factory) -> Iterator[RunningService]:
    folder = tmp_path_factory.mktemp("fuzz_app")
    (folder / "fuzzed_app.py").write_text(APP)
    with serve_app_in_background(folder / "fuzzed_app.py", log_dir=folder) as running:
        yield running


def test_schemathesis_finds_the_crash_and_reproduces_it(crashing_app, tmp_path):
    run = run_schemathesis(
        f"{crashing_app.url}/openapi.json", tmp_path, "--include-path", "/divide"
    )
    print(run.stdout[-4_000:])
    assert run.returncode == 1
    assert "Server error" in run.stdout and "POST /divide" in run.stdout
    assert "'{\"x\": 0}'" in run.stdout  # the reproducer sends the one input that crashes


def test_schemathesis_passes_the_fixed_operation(crashing_app, tmp_path):
    run = run_schemathesis(
        f"{crashing_app.url}/openapi.json", tmp_path, "--include-path", "/safe_divide"
    )
    print(run.stdout[-4_000:])
    assert run.returncode == 0, run.stdout[-6_000:]
    assert "No issues found" in run.stdout
