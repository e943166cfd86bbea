"""Plumbing of module 08's lab: the unsafe file to fix, and the attacks its tests make.

The lab (solutions/08_security.ipynb) secures the churn service of module 02. Its tests,
and the learner's self-checks, use three helpers from here; each runs in the learner's
kernel and returns plain data, which the grader can fetch (mlkit.grading):

- `attack_service(service_file, ...)` serves a fresh copy of the learner's `service.py`
  once and sends it every attack by name: no key, a wrong key, malformed fields, hostile
  values, oversized payloads, a viewer's key on the admin endpoint, then a burst past the
  rate limit. Each attack is a small
  function of an HTTP client that returns the replies it observed.
- `probe_signed_loading(sign_model, load_verified, model_path, rows)` signs a copy of a
  model with the learner's `sign_model`, tampers with it in each way an attacker could,
  and reports what the learner's `load_verified` did, and whether a swapped-in pickle
  ran its payload before being refused.
- `probe_encrypted_loading(encrypt_model, load_encrypted, model_path, rows)` encrypts a
  copy of a model with the learner's `encrypt_model` under a key in MLKIT_MODEL_KEY and
  reports what the learner's `load_encrypted` did with the key, without it, with another
  key and with a changed file, and whether it wrote anything to disk.
- `probe_report_tool(tool_file)` imports the learner's fixed copy of the deliberately
  unsafe `report_tool.py` (`write_vulnerable_tool`) in a fresh process, checks its
  documented behaviour, and tries the injections the unsafe version falls for.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pickle
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mlkit import contract, data
from mlkit.errors import MlkitError
from mlkit.serving import ServiceStartError, serve_in_background
from mlkit.settings import scratch_dir

API_KEY_HEADER = "X-API-Key"
ADMIN_STATS = "/admin/stats"  # the lab service's admin-only endpoint
WAIT_FOR = "/livez"  # the attacks start once this answers 200
BURST_REQUESTS = 100
# The limits the attacks run under: generous enough that no attack before the burst is
# refused with 429, low enough that the burst of BURST_REQUESTS must be.
ATTACK_RATE_ENV = {"MLKIT_RATE_PER_S": "1", "MLKIT_RATE_BURST": "60"}
MAX_TEXT = 500

Reply = dict[str, Any]
AttackFn = Callable[[httpx.Client, str, list[dict[str, Any]]], dict[str, Reply]]

VULNERABLE_TOOL = '''\
"""report_tool.py: an admin helper next to the churn service.

It reads an admin's settings, parses alert thresholds, keeps batch jobs between runs,
counts the lines of a prediction log, and names the address its report server binds to.
"""

import pickle
import subprocess

import yaml

SERVE_HOST = "0.0.0.0"
SERVE_PORT = 8099


def read_settings(text: str) -> dict:
    """The settings in a YAML document, as a dict."""
    return yaml.load(text, Loader=yaml.Loader)


def parse_threshold(text: str) -> float:
    """An alert threshold written as a number, such as "0.35" or "1e-3"."""
    return float(eval(text))


def save_job(job: dict) -> bytes:
    """A batch job (a dict of numbers, strings and lists) as bytes, to keep until the next run."""
    return pickle.dumps(job)


def restore_job(blob: bytes) -> dict:
    """The job that save_job turned into bytes."""
    return pickle.loads(blob)


def count_lines(path: str) -> int:
    """The number of lines in a text file, such as a prediction log."""
    output = subprocess.check_output(f"wc -l < {path}", shell=True)
    return int(output)
'''


def write_vulnerable_tool(folder: str | os.PathLike[str]) -> Path:
    """Write the deliberately unsafe `report_tool.py` into `folder`; return its path (module 08)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise NotADirectoryError(
            f"folder: no folder at '{path}'. Expected an existing folder such as "
            "mlkit.scratch_dir('08_security_lab')."
        )
    target = path / "report_tool.py"
    target.write_text(VULNERABLE_TOOL)
    return target


# --- the threat model's vocabulary -------------------------------------------------------

# What module 08 builds, by id: a STRIDE table names these as its mitigations.
MITIGATIONS: dict[str, str] = {
    "api-key": "API keys from the environment, compared in constant time: 401 without one",
    "roles": "a role per key, scopes per path: 403 for a viewer on /admin/",
    "tls": "HTTPS with a certificate from our CA, verified by the client; plain HTTP refused",
    "rate-limit": "a token bucket per key: 429 with Retry-After",
    "strict-contract": "a strict pydantic contract, batch and body size limits (guard_api), fuzzed",
    "signed-model": "the model file's signature checked before loading (HMAC or Ed25519)",
    "encrypted-model": "the model encrypted at rest, its key only in the environment",
    "safe-format": "skops or ONNX instead of pickle: loading runs no code",
    "dependency-audit": "an SBOM of the pinned packages, audited; a HIGH advisory fails the build",
    "code-scan": "bandit on our code: no eval, shell strings, unsafe YAML or pickle",
    "secret-scan": "keys kept out of code, logs, notebooks, images (find_secrets, .dockerignore)",
    "access-log": "an access log line per request, refusals as one line without the values",
}

# The threats to the lab's churn service: id -> (STRIDE category, the threat, concretely).
STRIDE_THREATS: dict[str, tuple[str, str]] = {
    "spoofed-caller": ("Spoofing", "a client calls /predict without a key, or with a guessed one"),
    "viewer-as-admin": ("Elevation of privilege", "a viewer's valid key calls /admin/stats"),
    "sniffed-key": (
        "Information disclosure",
        "the API key and customer data are read on the network",
    ),
    "swapped-model": ("Tampering", "the model file is replaced in the image or on the volume"),
    "copied-model": ("Information disclosure", "a backup of the model's volume is copied and read"),
    "flood": ("Denial of service", "one client sends thousands of requests a second"),
    "hostile-input": (
        "Denial of service",
        "NaN, a 10 000-customer batch or a 5 MB string crashes a worker",
    ),
    "pickle-code": (
        "Elevation of privilege",
        "a model file runs the attacker's code when it is loaded",
    ),
    "vulnerable-dependency": (
        "Elevation of privilege",
        "a pinned package has a published HIGH advisory",
    ),
    "denied-request": ("Repudiation", "a client denies having sent a flood of requests"),
    "leaked-key": (
        "Information disclosure",
        "a key ends up in a notebook's output or an image layer",
    ),
}


# --- attacks on a served service -------------------------------------------------------


class TargetStartError(MlkitError, RuntimeError):
    """The service to attack did not start, so no attack was sent.

    Attributes: `reason` (one line) and `log_end`, the last lines of the server's log,
    which name the line of the service file that failed.
    """

    def __init__(self, service_name: str, reason: str, log_end: str) -> None:
        self.reason = reason
        self.log_end = log_end
        advice = (
            "The attacks start once /livez answers 200 without an API key: keep health "
            "endpoints out of the key check and the rate limit."
            if reason.startswith(WAIT_FOR)
            else "Fill in every part of it (a stub will do) and rerun its cells in order."
        )
        super().__init__(
            f"your {service_name} did not start ({reason}), so no attack was sent. {advice} "
            f"The end of its log:\n{log_end}"
        )


def _reply(response: httpx.Response) -> Reply:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    return {
        "status": response.status_code,
        "json": body,
        "text": response.text[:MAX_TEXT],
        "retry_after": response.headers.get("retry-after"),
    }


def send(client: httpx.Client, path: str, body: Any = None, *, key: str | None = None) -> Reply:
    """POST `body` (JSON, NaN and Infinity allowed; bytes as they are) to `path`, or GET it
    when `body` is None; with the API key header when `key` is not None."""
    headers = {} if key is None else {API_KEY_HEADER: key}
    if body is None:
        return _reply(client.get(path, headers=headers))
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers["content-type"] = "application/json"
    return _reply(client.post(path, content=content, headers=headers))


def open_endpoints(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """Health and metrics without a key: probes and scrapers carry none."""
    return {path: send(client, path) for path in ("/readyz", "/livez", "/metrics")}


def missing_key(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """Predictions asked for without the key header."""
    return {
        "no header": send(client, "/predict", {"customer": customers[0]}),
        "no header, batch": send(client, "/predict_batch", {"customers": customers[:2]}),
    }


def wrong_key(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """Predictions asked for with keys that are not the key, some of them close to it; the
    server's key list has an empty entry (",,"), which must not make an empty key valid."""
    one = {"customer": customers[0]}
    guesses = {
        "an empty key": "",
        "a made-up key": "let-me-in",
        "the key without its last character": key[:-1],
        "the key with one more character": key + "0",
        "the key in upper case": key.upper(),
        "two keys joined by a comma": f"{key},{key}",
    }
    return {name: send(client, "/predict", one, key=guess) for name, guess in guesses.items()}


def right_key(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """Valid customers with the right key: one by one, then as a batch of three."""
    replies = {
        f"customer {i}": send(client, "/predict", {"customer": c}, key=key)
        for i, c in enumerate(customers[:3])
    }
    replies["batch of 3"] = send(client, "/predict_batch", {"customers": customers[:3]}, key=key)
    return replies


def malformed_fields(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """Fields out of range, misspelt, missing, extra or of the wrong type; a broken body."""
    good = customers[0]
    bodies: dict[str, Any] = {
        case.name: {"customer": case.payload} for case in contract.bad_customers(good)
    }
    bodies["age as a numeric string"] = {"customer": {**good, "age": str(good["age"])}}
    bodies["support_calls as true"] = {"customer": {**good, "support_calls": True}}
    bodies["age as null"] = {"customer": {**good, "age": None}}
    bodies["customer as a list"] = {"customer": list(good.values())}
    bodies["body that is not JSON"] = b"{customer: age=40"
    bodies["empty body"] = b""
    return {name: send(client, "/predict", body, key=key) for name, body in bodies.items()}


def hostile_values(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """Values a careless schema lets through: NaN, infinities, a negative age, an unknown
    plan, and extra nesting."""
    good = customers[0]
    bodies = {
        "income NaN": {"customer": {**good, "income": math.nan}},
        "income Infinity": {"customer": {**good, "income": math.inf}},
        "monthly_spend -Infinity": {"customer": {**good, "monthly_spend": -math.inf}},
        "age -5": {"customer": {**good, "age": -5}},
        "plan 'gold'": {"customer": {**good, "plan": "gold"}},
        "customer nested in customer": {"customer": {"customer": good}},
        "age as an object": {"customer": {**good, "age": {"$gt": 0}}},
        "batch of lists": {"customers": [[good]]},
    }
    return {
        name: send(client, "/predict_batch" if "batch" in name else "/predict", body, key=key)
        for name, body in bodies.items()
    }


def oversized_payloads(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """A batch of 10 000 customers, a 5 MB string, an empty batch and a batch of 101."""
    many = [customers[i % len(customers)] for i in range(10_000)]
    return {
        "batch of 10 000": send(client, "/predict_batch", {"customers": many}, key=key),
        "plan of 5 MB": send(
            client, "/predict", {"customer": {**customers[0], "plan": "x" * 5_000_000}}, key=key
        ),
        "empty batch": send(client, "/predict_batch", {"customers": []}, key=key),
        "batch of 101": send(client, "/predict_batch", {"customers": many[:101]}, key=key),
    }


def still_answers(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """After every attack: a valid request is still answered."""
    return {"valid customer": send(client, "/predict", {"customer": customers[1]}, key=key)}


def roles(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """The admin endpoint and predictions with no key, an unknown key, the viewer key (`key`)
    and the admin key (`admin_key_for(key)`); a path under /admin/ that no endpoint has."""
    admin = admin_key_for(key)
    one = {"customer": customers[0]}
    return {
        "no key, /admin/stats": send(client, ADMIN_STATS, {}),
        "an unknown key, /admin/stats": send(client, ADMIN_STATS, {}, key="let-me-in"),
        "the viewer key, /admin/stats": send(client, ADMIN_STATS, {}, key=key),
        "the viewer key, /admin/reload": send(client, "/admin/reload", {}, key=key),
        "the admin key, /admin/stats": send(client, ADMIN_STATS, {}, key=admin),
        "the viewer key, /predict": send(client, "/predict", one, key=key),
        "the admin key, /predict": send(client, "/predict", one, key=admin),
    }


def admin_key_for(key: str) -> str:
    """The admin key `attack_service` gives a server next to the viewer key `key`."""
    return f"admin-{key}"


def burst(client: httpx.Client, key: str, customers: list[dict]) -> dict[str, Reply]:
    """BURST_REQUESTS valid requests back to back, then health without a key."""
    one = {"customer": customers[0]}
    replies = {
        f"request {i}": send(client, "/predict", one, key=key) for i in range(BURST_REQUESTS)
    }
    replies["/livez after the burst"] = send(client, "/livez")
    replies["/readyz after the burst"] = send(client, "/readyz")
    return replies


ATTACKS: dict[str, AttackFn] = {
    "open endpoints": open_endpoints,
    "missing key": missing_key,
    "wrong key": wrong_key,
    "right key": right_key,
    "malformed fields": malformed_fields,
    "hostile values": hostile_values,
    "oversized payloads": oversized_payloads,
    "still answers": still_answers,
    "roles": roles,
    "burst": burst,
}


def attack_customers() -> list[dict[str, Any]]:
    """Valid customers the attacks send (seeded, never seen in training)."""
    return data.make_dataset(n_rows=20, seed=2024)[data.FEATURES].to_dict(orient="records")


def attack_service(
    service_file: str | os.PathLike[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 40.0,
) -> dict[str, dict[str, Reply]]:
    """Serve a copy of `service_file` once and send it every attack of ATTACKS, in order.

    The server gets `env`, plus fresh API keys in `MLKIT_API_KEYS` (the attacks use one
    as a viewer's), the admin key among them also in `MLKIT_ADMIN_KEYS`, and the rate
    limits of ATTACK_RATE_ENV. Returns `{attack: {case: reply}}`, each reply
    `{"status", "json", "text", "retry_after"}`. `timeout` bounds the start; raises
    TargetStartError (with the end of the log) when the service does not start.
    Used by module 08's lab.
    """
    source = Path(service_file).expanduser()
    if not source.is_file():
        raise FileNotFoundError(
            f"service_file: no file at '{source}'. Expected the service.py you wrote with "
            "%%writefile."
        )
    key = "lab-" + secrets.token_hex(16)
    admin = admin_key_for(key)
    server_env = {
        **(env or {}),
        **ATTACK_RATE_ENV,
        "MLKIT_API_KEYS": f"other-{key},,{key},{admin}",
        "MLKIT_ADMIN_KEYS": admin,
    }
    customers = attack_customers()
    folder = Path(tempfile.mkdtemp(prefix="attack-", dir=scratch_dir("services")))
    try:
        copy = Path(shutil.copy(source, folder / source.name))
        try:
            running = serve_in_background(
                copy, env=server_env, timeout=timeout, log_dir=folder, wait_for=WAIT_FOR
            )
        except ServiceStartError as err:
            lines = err.log_tail.replace(f"{folder}/", "").strip().splitlines()
            raise TargetStartError(source.name, err.reason, "\n".join(lines[-5:])) from None
        with running, httpx.Client(base_url=running.url, timeout=30) as client:
            results = {name: attack(client, key, customers) for name, attack in ATTACKS.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


# --- signed model loading ---------------------------------------------------------------


class _Payload:
    """A pickle that, when loaded, creates the file `canary`: what an attacker's code would do."""

    def __init__(self, canary: Path) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.canary), "w"))


def _flip_one_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))


def _outcome(call: Callable[[], Any], rows: Any) -> dict[str, Any]:
    try:
        model = call()
    except Exception as err:  # what the learner's load_verified raised is the result
        kind = type(err)
        return {
            "outcome": "refused",
            "error": kind.__name__,
            "error_module": kind.__module__,
            "error_bases": [base.__name__ for base in kind.__mro__],
            "message": str(err)[:MAX_TEXT],
            "predictions": None,
        }
    predictions: list[float] | str
    try:
        predictions = [float(p) for p in model.predict_proba(rows)[:, 1]]
    except Exception as err:  # a loaded object that cannot predict is reported, not raised
        predictions = f"{type(err).__name__}: {err}"[:MAX_TEXT]
    return {"outcome": "loaded", "error": None, "message": "", "predictions": predictions}


def probe_signed_loading(
    sign_model: Callable[[Path, bytes], Any],
    load_verified: Callable[[Path, Path, bytes], Any],
    model_path: str | os.PathLike[str],
    rows: Any,
) -> dict[str, dict[str, Any]]:
    """Sign a copy of `model_path` with `sign_model(path, key)` (which returns the signature's
    path) and load it with `load_verified(path, signature_path, key)`, untouched and
    tampered with: one byte flipped, replaced by a pickle that runs code, the wrong key,
    no signature file. Returns per case the outcome, the error raised, the probabilities
    of `rows` when it loaded, and whether the payload ran. Used by module 08's lab.
    """
    source = Path(model_path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(
            f"model_path: no file at '{source}'. Expected the model file you saved with joblib."
        )
    folder = Path(tempfile.mkdtemp(prefix="signed-", dir=scratch_dir("services")))
    try:
        key = secrets.token_bytes(32)
        results = {}
        cases: tuple[str, ...] = (
            "untouched",
            "one byte flipped",
            "replaced by a pickle that runs code",
        )
        cases += ("wrong key", "no signature file")
        for case in cases:
            case_dir = folder / case.replace(" ", "-")
            case_dir.mkdir()
            copy = Path(shutil.copy(source, case_dir / source.name))
            signature = Path(sign_model(copy, key))
            canary = case_dir / "payload-ran"
            use_key = secrets.token_bytes(32) if case == "wrong key" else key
            if case == "one byte flipped":
                _flip_one_byte(copy)
            elif case == "replaced by a pickle that runs code":
                copy.write_bytes(pickle.dumps(_Payload(canary)))
            elif case == "no signature file":
                signature.unlink()
            result = _outcome(functools.partial(load_verified, copy, signature, use_key), rows)
            results[case] = {**result, "payload ran": canary.exists(), "file": copy.name}
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- encrypted model loading ---------------------------------------------------------------

MODEL_KEY_ENV = "MLKIT_MODEL_KEY"  # the variable the lab's load_encrypted reads its key from


def _files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def probe_encrypted_loading(
    encrypt_model: Callable[[Path, Path], Any],
    load_encrypted: Callable[[Path], Any],
    model_path: str | os.PathLike[str],
    rows: Any,
) -> dict[str, dict[str, Any]]:
    """Encrypt a copy of `model_path` with `encrypt_model(path, encrypted_path)` under a fresh
    key in MLKIT_MODEL_KEY and load it with `load_encrypted(encrypted_path)`: with the key,
    without the variable, with another key, and after one byte of the encrypted file
    changed. Returns per case the outcome, the error raised, the probabilities of `rows`
    when it loaded, and the files in the folder afterwards; "encrypted" says whether the
    encrypted file still holds the model's bytes or the key. The environment is restored
    afterwards. Used by module 08's lab.
    """
    source = Path(model_path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(
            f"model_path: no file at '{source}'. Expected the model file you saved with joblib."
        )
    from cryptography.fernet import Fernet

    folder = Path(tempfile.mkdtemp(prefix="encrypted-", dir=scratch_dir("services")))
    saved = os.environ.get(MODEL_KEY_ENV)
    key = Fernet.generate_key().decode()
    try:
        os.environ[MODEL_KEY_ENV] = key
        copy = Path(shutil.copy(source, folder / source.name))
        encrypted = folder / (source.name + ".enc")
        results: dict[str, dict[str, Any]] = {}
        try:
            encrypt_model(copy, encrypted)
        except Exception as err:  # what the learner's encrypt_model raised is the result
            results["encrypted"] = {
                "ok": False,
                "detail": f"raised {type(err).__name__}: {err}"[:MAX_TEXT],
            }
            return results
        if not encrypted.is_file():
            results["encrypted"] = {"ok": False, "detail": f"no file at {encrypted.name}"}
            return results
        content = encrypted.read_bytes()
        plain = copy.read_bytes()
        results["encrypted"] = {
            "ok": True,
            "holds the model bytes": plain[:64] in content or plain[-64:] in content,
            "holds the key": key.encode() in content,
        }
        cases = ("with the key", "without the variable", "with another key", "one byte changed")
        for case in cases:
            if case == "without the variable":
                os.environ.pop(MODEL_KEY_ENV, None)
            else:
                os.environ[MODEL_KEY_ENV] = (
                    Fernet.generate_key().decode() if case == "with another key" else key
                )
            target = encrypted
            if case == "one byte changed":
                target = folder / "changed.enc"
                target.write_bytes(content)
                _flip_one_byte(target)
            before = _files_in(folder)
            result = _outcome(functools.partial(load_encrypted, target), rows)
            results[case] = {**result, "new files": sorted(set(_files_in(folder)) - set(before))}
        return results
    finally:
        if saved is None:
            os.environ.pop(MODEL_KEY_ENV, None)
        else:
            os.environ[MODEL_KEY_ENV] = saved
        shutil.rmtree(folder, ignore_errors=True)


# --- the fixed report tool -----------------------------------------------------------------

_SETTINGS = "threshold: 0.4\nname: churn\nfeatures: [age, plan]\n"
_JOB = {"id": 7, "name": "nightly", "customers": [1, 2, 3], "threshold": 0.5}


def _check(results: dict[str, Any], name: str, call: Callable[[], Any], expected: Any) -> None:
    try:
        got = call()
    except Exception as err:  # a failing contract call is a finding, not a crash
        results[name] = {"ok": False, "detail": f"raised {type(err).__name__}: {err}"[:MAX_TEXT]}
        return
    ok = got == expected and type(got) is type(expected)
    results[name] = {"ok": ok, "detail": f"returned {got!r}, expected {expected!r}"[:MAX_TEXT]}


def _attack(results: dict[str, Any], name: str, call: Callable[[], Any], canary: Path) -> None:
    try:
        got = call()
        detail = f"returned {got!r}"
    except Exception as err:  # refusing an attack with an error is the right answer
        detail = f"raised {type(err).__name__}"
    results[name] = {"ran": canary.exists(), "detail": detail[:MAX_TEXT]}
    canary.unlink(missing_ok=True)


def _run_tool_checks(tool_file: str, folder: str) -> dict[str, Any]:
    """In a fresh process: import `tool_file`, check its contract, attack it."""
    import importlib.util

    work = Path(folder)
    spec = importlib.util.spec_from_file_location("report_tool_under_test", tool_file)
    if spec is None or spec.loader is None:
        return {"import error": f"{tool_file} cannot be imported as a Python module"}
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException as err:
        return {"import error": f"{type(err).__name__}: {err}"[:MAX_TEXT]}
    log = work / "predictions.log"
    log.write_text("".join(f"prediction {i}\n" for i in range(7)))
    contract: dict[str, Any] = {}
    expected = {"threshold": 0.4, "name": "churn", "features": ["age", "plan"]}
    _check(contract, "read_settings", lambda: module.read_settings(_SETTINGS), expected)
    _check(contract, "parse_threshold('0.35')", lambda: module.parse_threshold("0.35"), 0.35)
    _check(contract, "parse_threshold('1e-3')", lambda: module.parse_threshold("1e-3"), 0.001)
    _check(
        contract,
        "restore_job(save_job(job))",
        lambda: module.restore_job(module.save_job(_JOB)),
        _JOB,
    )
    _check(contract, "save_job gives bytes", lambda: type(module.save_job(_JOB)).__name__, "bytes")
    _check(contract, "count_lines", lambda: module.count_lines(str(log)), 7)
    canary = work / "injected-code-ran"
    attacks: dict[str, Any] = {}
    yaml_payload = f'!!python/object/apply:builtins.open ["{canary}", "w"]'
    _attack(
        attacks, "read_settings of a YAML tag", lambda: module.read_settings(yaml_payload), canary
    )
    code = f"open({str(canary)!r}, 'w') and 0.5"
    _attack(attacks, "parse_threshold of Python code", lambda: module.parse_threshold(code), canary)
    blob = pickle.dumps(_Payload(canary))
    _attack(attacks, "restore_job of a pickle", lambda: module.restore_job(blob), canary)
    injected = f"{log}; touch {canary}"
    _attack(
        attacks,
        "count_lines of a path with a shell command",
        lambda: module.count_lines(injected),
        canary,
    )
    host = getattr(module, "SERVE_HOST", None)
    return {
        "import error": None,
        "contract": contract,
        "attacks": attacks,
        "serve host": repr(host),
    }


def probe_report_tool(
    tool_file: str | os.PathLike[str], *, timeout: float = 30.0
) -> dict[str, Any]:
    """Import `tool_file` (your fixed report_tool.py) in a fresh process, check what its
    functions return, and try the injections the unsafe version falls for.

    Returns `{"import error": str or None, "contract": {check: {"ok", "detail"}},
    "attacks": {attack: {"ran", "detail"}}, "serve host": repr(SERVE_HOST), "source": the
    file's text}`. Used by module
    08's lab.
    """
    path = Path(tool_file).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"tool_file: no file at '{path}'. Expected your fixed report_tool.py, written "
            "with %%writefile."
        )
    folder = Path(tempfile.mkdtemp(prefix="tool-", dir=scratch_dir("services")))
    try:
        program = "import json, sys; from mlkit.lessons.security_lab import _run_tool_checks; "
        program += "print(json.dumps(_run_tool_checks(sys.argv[1], sys.argv[2])))"
        done = subprocess.run(
            [sys.executable, "-c", program, str(path), str(folder)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=folder,
        )
        if done.returncode != 0:
            report = {"import error": f"the checks crashed: {done.stderr[-MAX_TEXT:]}"}
        else:
            report = json.loads(done.stdout.strip().splitlines()[-1])
        return {**report, "source": path.read_text()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
