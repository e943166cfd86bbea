"""lessons.service_calls.call_service: scripted requests to a fresh copy of a real service."""

from __future__ import annotations

import textwrap

import pytest

from mlkit.lessons.service_calls import call_service
from mlkit.serving import ServiceStartError, serve_in_background
from mlkit.settings import scratch_dir

ECHO_SERVICE = """
from pathlib import Path

import bentoml
from pydantic import Field


@bentoml.service
class Echo:
    def __is_ready__(self) -> bool:
        return not Path(__file__).with_name("draining").exists()

    @bentoml.api
    def double(self, x: float = Field(ge=0)) -> float:
        return 2 * x
"""


def copies() -> set:
    return set(scratch_dir("services").glob("call-*"))


def write(folder, body: str):
    path = folder / "service.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_steps_run_in_order_on_a_fresh_copy(tmp_path):
    service_file = write(tmp_path, ECHO_SERVICE)
    (tmp_path / "draining").touch()  # must not reach the copy that is served
    before = copies()

    replies = call_service(
        service_file,
        [
            {"get": "/readyz"},
            {"post": "/double", "json": {"x": 21}},
            {"post": "/double", "json": {"x": -1}},
            {"create": "draining"},
            {"get": "/readyz"},
            {"delete": "draining"},
            {"get": "/readyz"},
        ],
    )

    assert [r["status"] for r in replies] == [200, 200, 400, None, 503, None, 200]
    assert replies[1]["json"] == 42.0
    assert replies[2]["json"]["detail"][0]["loc"] == ["x"]
    assert "__is_ready__" in replies[4]["text"]
    assert copies() == before  # the served copy's folder is gone


def test_a_service_that_is_never_ready_is_still_called(tmp_path):
    service_file = write(tmp_path, ECHO_SERVICE.replace("return not", "return False and"))

    replies = call_service(service_file, [{"get": "/readyz"}, {"get": "/livez"}])

    assert [r["status"] for r in replies] == [503, 200]


def test_a_broken_service_raises_with_its_log(tmp_path):
    service_file = write(tmp_path, "import bentoml\nraise RuntimeError('no model tag given')\n")
    with pytest.raises(ServiceStartError, match="no model tag given"):
        call_service(service_file, [{"get": "/livez"}], timeout=30)


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ([{"get": "readyz"}], ["steps[0]", "'/predict'"]),
        ([{"get": "/livez"}, {"post": "/x", "body": 1}], ["steps[1]", "'json'"]),
        ([{"create": "../escape"}], ["steps[0]", "plain file name"]),
        (["/livez"], ["steps[0]", "expected one of"]),
    ],
)
def test_bad_steps_are_named(tmp_path, steps, words):
    service_file = write(tmp_path, ECHO_SERVICE)
    with pytest.raises(ValueError) as caught:
        call_service(service_file, steps)
    for word in words:
        assert word in str(caught.value)


def test_missing_file_and_bad_wait_for_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="service_file"):
        call_service(tmp_path / "service.py", [])
    with pytest.raises(ValueError, match="wait_for: got 'livez'"):
        serve_in_background(write(tmp_path, ECHO_SERVICE), wait_for="livez")
