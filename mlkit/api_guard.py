"""A strict, honest HTTP contract for a BentoML service, in one call (introduced in module 02).

`guard_api(Service)` at the end of a service file adds one ASGI middleware and tightens
the request bodies, so that every course service answers the same way:

- a POST to an API route must carry `Content-Type: application/json` (415 otherwise,
  multipart forms included: BentoML would parse those and fail with a 500), and a body of
  at most `max_body_bytes` (413, checked from `Content-Length` and while reading, before
  anything is parsed); an empty body is refused (400), as the document says a body is
  required;
- a body's top level takes only the method's parameters and no other key, and its values
  are checked strictly (`40`, not `"40"` or `true`); nested models keep their own
  configuration, so the contract classes say `strict=True, extra="forbid"` themselves;
- a refused request is logged as one WARNING line that names the fields and the kind of
  error, never the values sent, instead of BentoML's ERROR with a traceback (tracebacks
  stay for real server errors);
- `/docs.json` describes what the service really answers: the 400 body with its list of
  errors, 413 and 415, the overload answers (504, 503 from the batcher, 429 with
  `max_concurrency`), a required body, `/readyz` answering 503 while draining, the key
  header and its 401 when the service checks one, and a version;
- `/` is the same Swagger UI page, served from the assets BentoML ships, with no third-party
  tag manager and a Content-Security-Policy that lets the browser load nothing from
  elsewhere.

This file imports nothing from mlkit, so a service built into a container image can carry
a copy of it next to `service.py` (`mlkit.lessons.churn_project` and `capstone` do).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError

__all__ = [
    "MAX_BODY_BYTES",
    "OPEN_PATHS",
    "ApiGuard",
    "ValidationLogFilter",
    "guard_api",
    "install_validation_log_filter",
    "openapi_document",
    "source",
]

MAX_BODY_BYTES = 1_000_000  # 1 MB: a full batch of 100 customers is about 25 kB
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})
JSON = "application/json"
# BentoML's `log_exception` writes every refused request here at ERROR, with a traceback.
BENTOML_ERROR_LOGGER = "bentoml._internal.server.http_app"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def guard_api(
    service: Any,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    version: str | None = None,
    api_key_header: str | None = None,
    open_paths: Iterable[str] = OPEN_PATHS,
    responses: Mapping[int, str] | None = None,
) -> None:
    """Guard every API of a `@bentoml.service` class (see the module docstring).

    `api_key_header`: the header the service's own middleware checks (documented with its
    401 on every path outside `open_paths`); `responses`: other statuses that middleware
    answers outside `open_paths` (such as `{429: "rate limit exceeded"}`); `version`: the
    API's version in the OpenAPI document (default: the bento's version, or "dev" when
    served from a source file). Call it once, after the class and its own middleware.
    """
    apis = getattr(service, "apis", None)
    if not isinstance(apis, dict) or not hasattr(service, "add_asgi_middleware"):
        raise TypeError(
            f"service: got {service!r}, expected a class decorated with @bentoml.service."
        )
    if not (isinstance(max_body_bytes, int) and max_body_bytes > 0):
        raise ValueError(f"max_body_bytes: got {max_body_bytes!r}, expected an int > 0.")
    if api_key_header is not None and not (isinstance(api_key_header, str) and api_key_header):
        raise ValueError(f"api_key_header: got {api_key_header!r}, expected a header name.")
    extra = dict(responses or {})
    if not all(isinstance(code, int) and 400 <= code < 600 for code in extra):
        raise ValueError(f"responses: got {extra!r}, expected {{status (4xx/5xx): description}}.")
    if any(cls.__name__ == "ApiGuard" for cls, _ in getattr(service, "middlewares", [])):
        raise ValueError(f"service: {service.name} is already guarded; call guard_api once.")
    routes: dict[str, str] = {}
    for method in apis.values():
        method.input_spec = _strict_envelope(method.input_spec)
        routes[_join(getattr(service, "path_prefix", None) or "", method.route)] = (
            method.input_spec.mime_type()
        )
    settings = _DocumentSettings(
        version, api_key_header, frozenset(open_paths), extra, max_body_bytes
    )
    service.add_asgi_middleware(
        ApiGuard,
        routes=routes,
        max_body_bytes=max_body_bytes,
        document=lambda: openapi_document(service, settings),
    )


def source() -> str:
    """This file's text, for a project whose image has no mlkit: written next to its
    `service.py`, which then imports `from api_guard import guard_api` (module 03)."""
    return Path(__file__).read_text()


def _join(prefix: str, route: str) -> str:
    return "/" + "/".join(part for part in f"{prefix}/{route}".split("/") if part)


def _strict_envelope(spec: Any) -> Any:
    """The method's request model, refusing unknown top-level keys and loose types."""
    if getattr(spec, "__root_input__", False):  # a bare value, not an object of parameters
        return spec
    config = ConfigDict(extra="forbid", strict=True)
    namespace = {"__module__": spec.__module__, "__doc__": spec.__doc__, "model_config": config}
    return type(spec.__name__, (spec,), namespace)


# --- the middleware ---------------------------------------------------------------------


class ApiGuard:
    """ASGI middleware: media type and size of API requests, the OpenAPI document, the docs page.

    Added by `guard_api`; `routes` maps each API path to the media type it accepts.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Mapping[str, str],
        max_body_bytes: int,
        document: Callable[[], dict[str, Any]],
    ) -> None:
        self.app = app
        self.routes = dict(routes)
        self.max_body_bytes = max_body_bytes
        self._document = document
        self._document_bytes: bytes | None = None
        install_validation_log_filter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if method in ("GET", "HEAD") and path == "/docs.json":
            await _respond(send, 200, self.document_bytes(), JSON, head=method == "HEAD")
        elif method in ("GET", "HEAD") and path == "/":
            await _respond(
                send,
                200,
                DOCS_PAGE,
                "text/html; charset=utf-8",
                DOCS_HEADERS,
                head=method == "HEAD",
            )
        elif method == "POST" and path in self.routes:
            await self._guarded_call(scope, receive, send, self.routes[path])
        else:
            await self.app(scope, receive, send)

    def document_bytes(self) -> bytes:
        """The corrected OpenAPI document, built on first use."""
        if self._document_bytes is None:
            self._document_bytes = json.dumps(self._document()).encode()
        return self._document_bytes

    async def _guarded_call(self, scope: Scope, receive: Receive, send: Send, accepts: str) -> None:
        headers = _headers(scope)
        sent_type = headers.get("content-type", "")
        media_type = sent_type.split(";", 1)[0].strip().lower()
        if media_type != accepts:
            got = f"Content-Type {sent_type[:80]!r}" if sent_type else "no Content-Type"
            await _error(
                send,
                415,
                f"unsupported media type: got {got}; send the body as "
                f"{accepts} with the header Content-Type: {accepts}",
            )
            return
        length = headers.get("content-length")
        if length is not None and not length.strip().isdigit():
            await _error(send, 400, f"invalid Content-Length header {length[:40]!r}")
            return
        if length is not None and int(length) > self.max_body_bytes:
            await _error(send, 413, self._too_large(f"{int(length):,} bytes"))
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await _error(send, 413, self._too_large(f"more than {self.max_body_bytes:,} bytes"))
                return
            if not message.get("more_body", False):
                break
        if not body.strip():  # the document says a body is required, even without parameters
            await _error(
                send, 400, "empty body: send a JSON object ({} when the API takes no input)"
            )
            return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _too_large(self, got: str) -> str:
        return (
            f"request body too large: got {got}, the limit is {self.max_body_bytes:,} bytes; "
            "send fewer rows per request"
        )


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the application the body read already, then the real one."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra_headers: Iterable[tuple[str, str]] = (),
    *,
    head: bool = False,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.encode(), v.encode()) for k, v in extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _error(send: Send, status: int, message: str) -> None:
    await _respond(send, status, json.dumps({"error": message}).encode(), JSON)


# --- logging ----------------------------------------------------------------------------


class ValidationLogFilter(logging.Filter):
    """Turn BentoML's ERROR-with-traceback for a refused request into one WARNING line.

    The line names the request, the fields and the kind of each error, never the values
    sent (pydantic's message repeats them). Other records pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError):
            path, method = (
                (record.args or ("?", "?"))[:2] if isinstance(record.args, tuple) else ("?", "?")
            )
            problems = ", ".join(
                f"{'.'.join(str(part)[:40] for part in item['loc']) or '(body)'} ({item['type']})"
                for item in error.errors(include_input=False, include_url=False)[:10]
            )
            record.msg = "refused %s %s: %d invalid input(s): %s"
            record.args = (method, path, error.error_count(), problems)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def install_validation_log_filter() -> None:
    """Add `ValidationLogFilter` to BentoML's request-error logger (once per process)."""
    logger = logging.getLogger(BENTOML_ERROR_LOGGER)
    if not any(isinstance(f, ValidationLogFilter) for f in logger.filters):
        logger.addFilter(ValidationLogFilter())


# --- the OpenAPI document ---------------------------------------------------------------


class _DocumentSettings:
    def __init__(
        self,
        version: str | None,
        api_key_header: str | None,
        open_paths: frozenset[str],
        responses: dict[int, str],
        max_body_bytes: int,
    ) -> None:
        self.version = version
        self.api_key_header = api_key_header
        self.open_paths = open_paths
        self.responses = responses
        self.max_body_bytes = max_body_bytes


ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What was wrong."}},
    "description": "Every error answer has at least `error`, one sentence.",
}
INVALID_INPUT_SCHEMA = {
    "type": "object",
    "title": "InvalidInput",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "How many errors, in which model."},
        "detail": {
            "type": "array",
            "description": "One entry per problem; the values sent are never repeated.",
            "items": {
                "type": "object",
                "required": ["type", "loc", "msg"],
                "properties": {
                    "type": {"type": "string", "description": "pydantic's error type."},
                    "loc": {
                        "type": "array",
                        "description": "Where: keys and list positions from the top of the body.",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string", "description": "What was expected."},
                    "url": {"type": "string", "description": "pydantic's page on this error."},
                },
            },
        },
    },
    "description": "The request broke the contract: status 400, one entry per problem.",
}


def _ref(name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


def openapi_document(service: Any, settings: _DocumentSettings) -> dict[str, Any]:
    """BentoML's OpenAPI document for `service`, corrected to say what the service answers."""
    spec: dict[str, Any] = service.openapi_spec.asdict()
    bento = getattr(service, "bento", None)
    version = settings.version or (str(bento.tag.version) if bento is not None else "dev")
    doc = (
        (getattr(service, "inner", None).__doc__ or "").strip() if hasattr(service, "inner") else ""
    )
    spec["info"] = {
        "title": service.name,
        "version": version,
        "description": doc
        or f"The {service.name} service. Request bodies are JSON of at most "
        f"{settings.max_body_bytes:,} bytes; anything outside the schema is refused with a 4xx.",
    }
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("InvalidArgument", "NotFound", "InternalServerError"):
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_SCHEMA
    schemas["InvalidInput"] = INVALID_INPUT_SCHEMA
    if settings.api_key_header:
        spec["components"]["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": settings.api_key_header}
        }
    traffic = service.config.get("traffic", {}) if hasattr(service, "config") else {}
    batchable = {method.route for method in service.apis.values() if method.batchable}
    api_routes = {method.route for method in service.apis.values()}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if path in api_routes and method == "post":
                operation["requestBody"]["required"] = True
                for code in ("404", 404):
                    responses.pop(code, None)
                responses["400"] = _ref("InvalidInput", "The body broke the contract.")
                responses["413"] = _ref(
                    "Error", f"The body is larger than {settings.max_body_bytes:,} bytes."
                )
                responses["415"] = _ref("Error", f"The body is not sent as {JSON}.")
                responses["500"] = _ref("Error", "A server error (never caused by the input).")
                responses["504"] = _ref("Error", "Not answered within the service's timeout.")
                if path in batchable:
                    responses["503"] = _ref(
                        "Error", "The batcher cannot answer in time (overload)."
                    )
                if traffic.get("max_concurrency"):
                    responses["429"] = _ref(
                        "Error", "More requests at once than the service takes."
                    )
            elif path in ("/readyz", "/livez", "/healthz"):
                responses["503"] = {
                    "description": "Not ready (starting, draining or a dependency down)"
                    if path == "/readyz"
                    else "The service reports itself unhealthy; restart it."
                }
            if settings.api_key_header and path not in settings.open_paths:
                operation["security"] = [{"ApiKey": []}]
                responses["401"] = _ref(
                    "Error", f"No valid key in the {settings.api_key_header} header."
                )
                for code, description in settings.responses.items():
                    responses[str(code)] = _ref("Error", description)
            operation["responses"] = {
                str(k): v for k, v in sorted(responses.items(), key=lambda kv: str(kv[0]))
            }
    _openapi_30_bounds(spec)
    return spec


def _openapi_30_bounds(node: Any) -> None:
    """Write pydantic's `exclusiveMinimum: 0` (JSON Schema 2020-12) the OpenAPI 3.0 way,
    `minimum: 0, exclusiveMinimum: true`, which is what the document says it follows."""
    if isinstance(node, dict):
        for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            value = node.get(exclusive)
            if isinstance(value, int | float) and not isinstance(value, bool):
                node[bound], node[exclusive] = value, True
        for child in node.values():
            _openapi_30_bounds(child)
    elif isinstance(node, list):
        for child in node:
            _openapi_30_bounds(child)


# --- the docs page ----------------------------------------------------------------------

_SWAGGER_INIT = (
    'window.onload = function () { window.ui = SwaggerUIBundle({url: "./docs.json", '
    'dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null, '
    "presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], "
    'layout: "StandaloneLayout"}); };'
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SWAGGER_INIT.encode()).digest()).decode()
DOCS_PAGE = f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>API documentation</title>
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script>{_SWAGGER_INIT}</script>
  </body>
</html>
""".encode()
# The browser may load only from this service: no tag manager, fonts, badges or validator.
DOCS_HEADERS = [
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self' 'sha256-{_SCRIPT_HASH}'; connect-src 'self'; frame-src 'none'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("x-content-type-options", "nosniff"),
]
