"""The course's served APIs under real clients: no 5xx, a strict contract, an honest schema.

One service per module, served once from the source the course teaches (module 02's and
05's `%%writefile` cells, module 08's secured service over HTTPS with its key, module 09's
reference service with its key), and driven over raw HTTP the way clients meet it:
odd request shapes, loose types, oversized bodies, the OpenAPI document against the
answers, the server's log, the docs page, and schemathesis with all its checks.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bentoml
import httpx
import jsonschema
import pytest
import skops.io
from support.notebook_cells import writefile_source
from support.schemathesis_run import run_schemathesis

from mlkit import api_guard, churn_model, crypto, data
from mlkit.lessons import capstone
from mlkit.serving import RunningService, serve_in_background

MODULES = ["02", "05", "08", "09"]


@dataclass
class Served:
    """One module's service, running, and what a well-behaved client of it sends."""

    module: str
    running: RunningService
    path: str  # an API route
    list_key: str  # the body's one key: {"customers": [...]} or {"orders": [...]}
    item: dict[str, Any]  # one valid row
    int_field: str
    float_field: str
    headers: dict[str, str] = field(default_factory=dict)  # the API key, if it needs one
    verify: ssl.SSLContext | bool = True
    schemathesis_args: list[str] = field(default_factory=list)
    role_keys: dict[str, str] = field(default_factory=dict)  # a key per role, if it has roles

    def body(self, item: dict[str, Any] | None = None) -> dict[str, Any]:
        return {self.list_key: [self.item if item is None else item]}

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.running.url, headers=self.headers, verify=self.verify, timeout=30
        )


def _churn_model(stack: contextlib.ExitStack) -> str:
    trained = churn_model.train_reference_model(seed=0, n_rows=600)
    saved = bentoml.sklearn.save_model("churn", trained.model, labels={"test": "api_contract"})
    stack.callback(bentoml.models.delete, saved.tag)
    return str(saved.tag)


def _customer() -> dict[str, Any]:
    return data.make_dataset(n_rows=10, seed=3)[data.FEATURES].to_dict("records")[0]


def _serve_course_cell(
    notebook: str, folder: Path, stack: contextlib.ExitStack, module: str
) -> Served:
    """Module 02's or 05's service cell, serving a fresh churn model from the store."""
    (folder / "service.py").write_text(writefile_source(notebook, "{workdir}/service.py"))
    env = {"CHURN_MODEL_TAG": _churn_model(stack)}
    running = stack.enter_context(serve_in_background(folder / "service.py", env=env))
    return Served(module, running, "/predict_batch", "customers", _customer(), "age", "income")


def _serve_02(folder: Path, stack: contextlib.ExitStack) -> Served:
    return _serve_course_cell("course/02_serving.ipynb", folder, stack, "02")


def _serve_05(folder: Path, stack: contextlib.ExitStack) -> Served:
    return _serve_course_cell("course/05_scaling.ipynb", folder, stack, "05")


def _serve_08(folder: Path, stack: contextlib.ExitStack) -> Served:
    (folder / "service.py").write_text(
        writefile_source("course/08_security.ipynb", "{secure_dir}/service.py")
    )
    trained = churn_model.train_reference_model(seed=0, n_rows=600)
    skops.io.dump(trained.model, folder / "model.skops")
    key, viewer, signing_key = (secrets.token_urlsafe(n) for n in (24, 24, 32))
    pki = crypto.make_tls_certs(folder / "tls", roles=("server",), authority="churn service CA")
    env = {
        "CHURN_API_KEYS": json.dumps(
            {key: {"role": "admin", "rate": 1_000}, viewer: {"role": "viewer", "rate": 1_000}}
        ),
        "CHURN_TLS_CERT": str(pki.pairs["server"].cert),
        "CHURN_TLS_KEY": str(pki.pairs["server"].key),
        "CHURN_MODEL_SIGNATURE": crypto.sign_file(folder / "model.skops", signing_key),
        "CHURN_SIGNING_KEY": signing_key,
    }
    running = stack.enter_context(
        serve_in_background(folder / "service.py", env=env, tls_cert=pki.ca)
    )
    return Served(
        "08",
        running,
        "/predict",
        "customers",
        _customer(),
        "age",
        "income",
        headers={"X-API-Key": key},
        verify=ssl.create_default_context(cafile=str(pki.ca)),
        schemathesis_args=["--header", f"X-API-Key: {key}", "--tls-verify", str(pki.ca)],
        role_keys={"admin": key, "viewer": viewer},
    )


def _serve_09(folder: Path, stack: contextlib.ExitStack) -> Served:
    project = capstone.write_project(folder / "project", n_rows=600)
    key = secrets.token_urlsafe(24)
    bundle = project.folder / capstone.BUNDLE_FOLDER
    env = {capstone.API_KEY_ENV: key, capstone.BUNDLE_ENV: str(bundle)}
    running = stack.enter_context(serve_in_background(project.folder / "service.py", env=env))
    order = project.orders.to_dict("records")[0]
    return Served(
        "09",
        running,
        "/predict",
        "orders",
        order,
        "n_items",
        "distance_km",
        headers={"X-API-Key": key},
        schemathesis_args=["--header", f"X-API-Key: {key}"],
    )


STARTERS: dict[str, Callable[[Path, contextlib.ExitStack], Served]] = {
    "02": _serve_02,
    "05": _serve_05,
    "08": _serve_08,
    "09": _serve_09,
}


@pytest.fixture(scope="module", params=MODULES, ids=lambda m: f"module{m}")
def served(request, tmp_path_factory) -> Iterator[Served]:
    with contextlib.ExitStack() as stack:
        yield STARTERS[request.param](tmp_path_factory.mktemp(f"api{request.param}"), stack)


def _api_paths(served: Served) -> list[str]:
    with served.http() as http:
        document = http.get("/docs.json").json()
    return [path for path, item in document["paths"].items() if "post" in item]


# --- 1 · no request of any shape gets a 5xx ---------------------------------------------


def _shapes(served: Served) -> dict[str, tuple[dict[str, Any], int]]:
    """Request shapes real clients send, each with the status the guard must answer."""
    as_json = json.dumps(served.body()).encode()
    return {
        "multipart form": ({"files": {served.list_key: ("rows.json", as_json)}}, 415),
        "multipart without a boundary": (
            {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}},
            415,
        ),
        "empty multipart": (
            {"content": b"", "headers": {"content-type": "multipart/form-data; boundary=b"}},
            415,
        ),
        "multipart/mixed": (
            {"content": as_json, "headers": {"content-type": "multipart/mixed"}},
            415,
        ),
        "url-encoded form": ({"data": {served.list_key: "[]"}}, 415),
        "text/plain JSON": ({"content": as_json, "headers": {"content-type": "text/plain"}}, 415),
        "no Content-Type": ({"content": as_json}, 415),
        "BentoML's pickle type": (
            {
                "content": b"\x80\x04N.",
                "headers": {"content-type": "application/vnd.bentoml+pickle"},
            },
            415,
        ),
        "empty JSON body": ({"content": b"", "headers": {"content-type": "application/json"}}, 400),
        "invalid JSON": ({"content": b"{", "headers": {"content-type": "application/json"}}, 400),
        "a JSON list": ({"json": [1, 2]}, 400),
        "a JSON string": ({"json": "rows"}, 400),
        "null rows": ({"json": {served.list_key: None}}, 400),
        "deeply nested": ({"json": {served.list_key: [[[[[[]]]]]] * 3}}, 400),
    }


def test_no_request_shape_gets_a_server_error(served):
    seen = {}
    with served.http() as http:
        for path in _api_paths(served):
            for name, (how, expected) in _shapes(served).items():
                response = http.post(path, **how)
                seen[f"{path} {name}"] = response.status_code
                assert response.status_code == expected, (path, name, response.text[:300])
                assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert all(400 <= status < 500 for status in seen.values())


def test_415_and_413_say_what_to_send(served):
    with served.http() as http:
        form = http.post(served.path, files={"f": ("a", b"x")})
        big = http.post(
            served.path,
            content=b" " * (api_guard.MAX_BODY_BYTES + 1),
            headers={"content-type": "application/json"},
        )
    assert form.status_code == 415
    assert "multipart/form-data" in form.json()["error"]
    assert "Content-Type: application/json" in form.json()["error"]
    assert big.status_code == 413
    assert f"{api_guard.MAX_BODY_BYTES:,} bytes" in big.json()["error"]


def test_body_above_the_limit_is_refused_before_it_is_read(served):
    """A declared 50 MB body gets 413 at once: the server never waits for its bytes."""
    url = httpx.URL(served.running.url)
    head = (
        f"POST {served.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {50_000_000}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in served.headers.items())
        + "\r\n"
    ).encode()
    raw = socket.create_connection(("127.0.0.1", url.port), timeout=20)
    with contextlib.closing(raw):
        sock = raw
        if isinstance(served.verify, ssl.SSLContext):
            sock = served.verify.wrap_socket(raw, server_hostname="127.0.0.1")
        sock.sendall(head)  # and not one byte of the body
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 413"), status_line


def test_streamed_body_above_the_limit_gets_413(served):
    def chunks() -> Iterator[bytes]:
        for _ in range(api_guard.MAX_BODY_BYTES // 100_000 + 2):
            yield b" " * 100_000

    with served.http() as http:
        response = http.post(
            served.path, content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413


# --- 2 · a strict contract --------------------------------------------------------------


def _loose(served: Served) -> dict[str, tuple[dict[str, Any], list[Any]]]:
    """Bodies a strict contract refuses, each with the `loc` its first error must name."""
    item, key = served.item, served.list_key
    number = served.item[served.float_field]
    return {
        "whole number as text": (
            served.body({**item, served.int_field: str(item[served.int_field])}),
            [key, 0, served.int_field],
        ),
        "boolean for a whole number": (
            served.body({**item, served.int_field: True}),
            [key, 0, served.int_field],
        ),
        "whole number with a fraction": (
            served.body({**item, served.int_field: item[served.int_field] + 0.5}),
            [key, 0, served.int_field],
        ),
        "number in exponent text": (
            served.body({**item, served.float_field: f"{number:e}"}),
            [key, 0, served.float_field],
        ),
        "unknown key in a row": (served.body({**item, "tip": 1}), [key, 0, "tip"]),
        "unknown top-level key": ({**served.body(), "debug": True}, ["debug"]),
    }


def test_contract_is_strict_at_every_level(served):
    whole = {**served.item, served.int_field: float(served.item[served.int_field])}
    with served.http() as http:
        assert http.post(served.path, json=served.body()).status_code == 200
        # 3.0 is JSON's number 3, which the published "integer" allows
        assert http.post(served.path, json=served.body(whole)).status_code == 200
        for name, (body, loc) in _loose(served).items():
            response = http.post(served.path, json=body)
            assert response.status_code == 400, (name, response.text[:300])
            assert [d["loc"] for d in response.json()["detail"]] == [loc], name


def test_kit_client_reaches_every_service(served):
    """`RunningService.client()` sends the key (08, 09) and trusts the certificate (08)."""
    endpoint = served.path.strip("/")
    with served.running.client(headers=served.headers, timeout=20) as client:
        answer = getattr(client, endpoint)(**{served.list_key: [served.item] * 2})
        # BentoML's client sends only what the schema names: the typo never reaches the
        # service, which is why the contract tests above use raw HTTP.
        typo = getattr(client, endpoint)(**{served.list_key: [{**served.item, "tip": 1}]})
    assert len(answer) == 2 and all(isinstance(value, float) for value in answer)
    assert typo == pytest.approx(answer[:1])


@pytest.mark.parametrize("served", ["08"], indirect=True, ids=["module08"])
def test_roles_decide_403_and_the_tls_port_refuses_plain_http(served):
    """Module 08: unknown key 401, a viewer on /admin/stats 403, an admin 200; the port
    speaks TLS only, and only to clients that trust the service's authority."""
    viewer, admin = served.role_keys["viewer"], served.role_keys["admin"]
    with httpx.Client(base_url=served.running.url, verify=served.verify, timeout=30) as http:
        stats = {
            name: http.post("/admin/stats", json={}, headers=headers)
            for name, headers in [("none", {}), ("viewer", {"X-API-Key": viewer}),
                                  ("admin", {"X-API-Key": admin})]
        }  # fmt: skip
        viewer_predicts = http.post("/predict", json=served.body(), headers={"X-API-Key": viewer})
    assert {name: r.status_code for name, r in stats.items()} == {
        "none": 401, "viewer": 403, "admin": 200
    }  # fmt: skip
    assert "viewer" in stats["viewer"].json()["error"]
    assert set(stats["admin"].json()) == {"predictions", "model_sha256"}
    assert viewer_predicts.status_code == 200
    plain = served.running.url.replace("https://", "http://") + "/readyz"
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        httpx.get(plain, timeout=10)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{served.running.url}/readyz", timeout=10)  # the system's trust store only


# --- 3 · the OpenAPI document says what the service answers ----------------------------


def test_openapi_document_matches_the_answers(served):
    with served.http() as http:
        document = http.get("/docs.json").json()
        refused = http.post(served.path, json=served.body({**served.item, "tip": 1}))
        wrong_type = http.post(served.path, content=b"x", headers={"content-type": "text/plain"})
        draining_codes = document["paths"]["/readyz"]["get"]["responses"]
    assert document["info"]["version"] not in ("None", "", None)
    assert "503" in draining_codes and "200" in draining_codes
    for path in _api_paths(served):
        operation = document["paths"][path]["post"]
        assert operation["requestBody"]["required"] is True
        assert {"200", "400", "413", "415"} <= set(operation["responses"])
        if served.headers:
            assert operation["security"] == [{"ApiKey": []}] and "401" in operation["responses"]
    schemas = document["components"]["schemas"]
    resolver = {"components": {"schemas": schemas}}
    operation = document["paths"][served.path]["post"]
    for response in (refused, wrong_type):
        schema = operation["responses"][str(response.status_code)]["content"]["application/json"]
        jsonschema.validate(response.json(), {**schema["schema"], **resolver})
    assert isinstance(refused.json()["detail"], list)
    envelope = operation["requestBody"]["content"]["application/json"]["schema"]
    assert envelope.get("additionalProperties") is False


# --- 4 · a refusal is one warning line, without the values sent --------------------------


def test_refusal_is_logged_as_one_warning_without_the_values(served):
    marker = f"marker-{secrets.token_hex(8)}"
    text_field = next(k for k, v in served.item.items() if isinstance(v, str))
    before = served.running.log_path.read_text(errors="replace")
    with served.http() as http:
        response = http.post(served.path, json=served.body({**served.item, text_field: marker}))
    assert response.status_code == 400 and marker not in response.text
    new = served.running.log_path.read_text(errors="replace")[len(before) :]
    assert marker not in new
    assert "Traceback" not in new and "[ERROR]" not in new
    warnings = [line for line in new.splitlines() if "[WARNING]" in line]
    assert len(warnings) == 1, new
    assert f"refused POST {served.path}" in warnings[0]
    assert f"{served.list_key}.0.{text_field} (literal_error)" in warnings[0]


# --- 5 · the docs page loads nothing from elsewhere --------------------------------------


def test_docs_page_loads_nothing_from_third_parties(served):
    with served.http() as http:
        page = http.get("/")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        statuses = {asset: http.get(asset.removeprefix(".")).status_code for asset in assets}
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "googletagmanager" not in page.text and "//" not in "".join(assets)
    assert assets and set(statuses.values()) == {200}, statuses
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy


# --- 7 · schemathesis, with all its checks --------------------------------------------------


def test_schemathesis_finds_no_failure(served, tmp_path):
    run = run_schemathesis(f"{served.running.url}/docs.json", tmp_path, *served.schemathesis_args)
    print(run.stdout[-6_000:])  # the run's summary, in the test's output
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert "No issues found" in run.stdout
