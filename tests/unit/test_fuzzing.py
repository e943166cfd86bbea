"""mlkit.fuzzing: schemathesis against a tiny local app that crashes on one input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlkit.fuzzing import check_local_url, fuzz_openapi
from mlkit.serving import RunningService, serve_app_in_background

APP = """\
from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI()


class Numbers(BaseModel):
    x: int = Field(ge=-1000, le=1000)


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


@pytest.mark.parametrize(
    "url",
    ["http://10.0.0.8:3000", "http://example.org:80", "ftp://127.0.0.1:21", "http://127.0.0.1"],
)
def test_only_a_port_on_127_0_0_1_is_fuzzed(url):
    with pytest.raises(ValueError, match="base_url: got .*expected http://127.0.0.1:<port>"):
        fuzz_openapi(url)


def test_local_url_is_accepted_without_trailing_slash():
    assert check_local_url("https://127.0.0.1:8443/") == "https://127.0.0.1:8443"


def test_fuzzing_finds_the_crash_and_reproduces_it(crashing_app):
    report = fuzz_openapi(
        crashing_app.url, max_examples=30, seed=0, schema_path="/openapi.json", max_seconds=60
    )
    assert report.server_errors >= 1
    crashes = [f for f in report.failures if f.status == 500 and f.check == "Server error"]
    assert [f.operation for f in crashes] == ["POST /divide"]
    assert '"x": 0' in crashes[0].reproducer
    assert report.status_counts[200] >= 1
    assert report.calls == sum(report.status_counts.values())
    assert "distinct failures" in str(report)


def test_time_limit_stops_the_run(crashing_app):
    report = fuzz_openapi(
        crashing_app.url, max_examples=30, schema_path="/openapi.json", max_seconds=1e-6
    )
    assert report.stopped_by_time
    assert report.calls == 0


def test_bad_bounds_are_named(crashing_app):
    with pytest.raises(ValueError, match="max_examples: got 0"):
        fuzz_openapi(crashing_app.url, max_examples=0)
