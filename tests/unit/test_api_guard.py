"""mlkit.api_guard in this process: the middleware on a small ASGI app, the log filter, the
request models it tightens and the OpenAPI document it writes (test_api_contract.py drives
the course's served services)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import bentoml
import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlkit import api_guard


async def _echo(scope: dict, receive: Any, send: Any) -> None:
    """An app that answers 200 with the size of the body it read."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = json.dumps({"path": scope["path"], "read": len(body)}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": answer})


def _guarded(**changes: Any) -> api_guard.ApiGuard:
    options = {
        "routes": {"/predict": "application/json"},
        "max_body_bytes": 100,
        "document": lambda: {"openapi": "3.0.2", "paths": {}},
    }
    return api_guard.ApiGuard(_echo, **{**options, **changes})


def _post(app: api_guard.ApiGuard, path: str = "/predict", **how: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://guard") as client:
            return await client.post(path, **how)

    return asyncio.run(go())


def test_json_within_the_limit_reaches_the_app_whole():
    body = json.dumps({"x": "y" * 50}).encode()
    reply = _post(_guarded(), content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 200 and reply.json()["read"] == len(body)


def test_json_with_a_charset_is_json():
    reply = _post(
        _guarded(), content=b"{}", headers={"content-type": "Application/JSON; charset=utf-8"}
    )
    assert reply.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("multipart/form-data", "'multipart/form-data'"),
        ("text/plain", "'text/plain'"),
        (None, "no Content-Type"),
        ("application/jsonp", "'application/jsonp'"),
    ],
)
def test_anything_but_json_gets_415_naming_what_came(content_type, named):
    headers = {} if content_type is None else {"content-type": content_type}
    reply = _post(_guarded(), content=b"{}", headers=headers)
    assert reply.status_code == 415
    assert (
        named in reply.json()["error"] and "Content-Type: application/json" in reply.json()["error"]
    )


def test_a_declared_length_above_the_limit_gets_413_unread():
    reply = _post(_guarded(), content=b" " * 101, headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "101 bytes" in reply.json()["error"]


def test_a_streamed_body_above_the_limit_gets_413():
    async def chunks():
        yield b" " * 60
        yield b" " * 60

    reply = _post(_guarded(), content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413 and "more than 100 bytes" in reply.json()["error"]


def test_a_broken_content_length_gets_400():
    headers = {"content-type": "application/json", "content-length": "ten"}
    reply = _post(_guarded(), content=b"{}", headers=headers)
    assert reply.status_code == 400 and "Content-Length" in reply.json()["error"]


def test_other_paths_and_methods_pass_through():
    reply = _post(
        _guarded(), "/elsewhere", content=b"x" * 500, headers={"content-type": "text/plain"}
    )
    assert reply.status_code == 200 and reply.json() == {"path": "/elsewhere", "read": 500}


def test_docs_json_and_page_come_from_the_guard():
    async def go() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=_guarded())
        async with httpx.AsyncClient(transport=transport, base_url="http://guard") as client:
            return await client.get("/docs.json"), await client.get("/")

    document, page = asyncio.run(go())
    assert document.json() == {"openapi": "3.0.2", "paths": {}}
    assert page.headers["content-type"].startswith("text/html")
    assert "googletagmanager" not in page.text and "https://" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


# --- the log filter ---------------------------------------------------------------------


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    age: int = Field(ge=18)


def _record(error: BaseException) -> logging.LogRecord:
    return logging.LogRecord(
        "bentoml",
        logging.ERROR,
        __file__,
        1,
        "Exception on %s [%s]",
        ("/predict", "POST"),
        (type(error), error, None),
    )


def test_a_validation_error_becomes_one_warning_without_values():
    with pytest.raises(ValidationError) as caught:
        _Row.model_validate_json('{"age": "secret-value-123", "token": "also-secret"}')
    record = _record(caught.value)
    assert api_guard.ValidationLogFilter().filter(record)
    line = record.getMessage()
    assert record.levelname == "WARNING" and record.exc_info is None
    assert (
        line == "refused POST /predict: 2 invalid input(s): age (int_type), token (extra_forbidden)"
    )
    assert "secret" not in line


def test_other_errors_keep_their_traceback():
    record = _record(RuntimeError("model broke"))
    assert api_guard.ValidationLogFilter().filter(record)
    assert record.levelname == "ERROR" and record.exc_info is not None


def test_the_filter_is_installed_once():
    logger = logging.getLogger(api_guard.BENTOML_ERROR_LOGGER)
    api_guard.install_validation_log_filter()
    api_guard.install_validation_log_filter()
    assert sum(isinstance(f, api_guard.ValidationLogFilter) for f in logger.filters) == 1


# --- guard_api on a service class -------------------------------------------------------


def _service() -> Any:
    @bentoml.service
    class Small:
        @bentoml.api
        def predict(self, rows: list[_Row]) -> list[float]:
            return [0.0 for _ in rows]

    return Small


def test_guard_api_tightens_the_request_body_and_adds_one_middleware():
    service = _service()
    api_guard.guard_api(service)
    spec = service.apis["predict"].input_spec
    spec.model_validate_json('{"rows": [{"age": 20}]}')
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        spec.model_validate_json('{"rows": [{"age": 20}], "debug": true}')
    assert [cls for cls, _ in service.middlewares] == [api_guard.ApiGuard]
    with pytest.raises(ValueError, match="already guarded"):
        api_guard.guard_api(service)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"max_body_bytes": 0}, "max_body_bytes"),
        ({"api_key_header": ""}, "api_key_header"),
        ({"responses": {200: "fine"}}, "responses"),
    ],
)
def test_guard_api_names_a_bad_argument(arguments, named):
    with pytest.raises(ValueError, match=named):
        api_guard.guard_api(_service(), **arguments)


def test_guard_api_wants_a_service():
    with pytest.raises(TypeError, match="@bentoml.service"):
        api_guard.guard_api(object())


def test_the_document_writes_bounds_the_openapi_30_way():
    node = {"a": {"exclusiveMinimum": 0, "maximum": 5}, "b": [{"exclusiveMaximum": 2.5}]}
    api_guard._openapi_30_bounds(node)
    assert node == {
        "a": {"minimum": 0, "exclusiveMinimum": True, "maximum": 5},
        "b": [{"maximum": 2.5, "exclusiveMaximum": True}],
    }


def test_the_document_of_a_keyed_service_names_the_key_and_its_answers():
    service = _service()
    api_guard.guard_api(service, api_key_header="X-API-Key", responses={429: "slow down"})
    (options,) = [options for _, options in service.middlewares]
    document = options["document"]()
    operation = document["paths"]["/predict"]["post"]
    assert document["info"]["version"] == "dev"
    assert document["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    assert operation["security"] == [{"ApiKey": []}] and operation["requestBody"]["required"]
    assert {"200", "400", "401", "413", "415", "429"} <= set(operation["responses"])
    assert "security" not in document["paths"]["/readyz"]["get"]
    assert set(document["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}
