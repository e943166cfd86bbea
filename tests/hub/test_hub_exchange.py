"""The exchange behind a real JupyterHub (with its proxy) on 127.0.0.1.

One hub for the module: an instructor (ines, in the instructors group) and two learners
(alice, bob), each with a hub API token made through the hub's REST API by a test-only
admin service. Every call goes through the proxy to the exchange, which asks the hub
who is calling.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import signal
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nbformat
import psutil
import pytest
from support.class_hub import admin_service, hub_settings

from mlkit._runtime.net import wait_for_http
from mlkit._runtime.process import LoggedProcess
from mlkit.grading.grader import grade
from mlkit.hub.client import Exchange, ExchangeError
from mlkit.hub.config import HubSettings
from mlkit.hub.running import start_hub
from mlkit.hub.store import ExchangeStore
from mlkit.settings import repo_root

pytestmark = pytest.mark.slow

LIMIT = 200_000  # the exchange's notebook size limit in this hub
LAB00 = repo_root() / "labs" / "00_welcome.ipynb"
LAB01 = repo_root() / "labs" / "01_packaging.ipynb"


@dataclass
class ClassHub:
    settings: HubSettings
    process: LoggedProcess
    admin: str  # the test-admin service's token
    tokens: dict[str, str]

    @property
    def api(self) -> str:
        return f"{self.settings.url}/hub/api"

    def hub_call(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"token {self.admin}"}
        return httpx.request(method, f"{self.api}/{path}", headers=headers, timeout=30, **kwargs)

    def new_token(self, user: str, **body) -> str:
        answer = self.hub_call("POST", f"users/{user}/tokens", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()["token"]

    def client(self, user: str) -> Exchange:
        return Exchange(self.settings.exchange_url, self.tokens[user])

    def raw(self, user: str | None, method: str, path: str, **kwargs) -> httpx.Response:
        """A call to the exchange with user's token (None: no token), as any program sends."""
        headers = kwargs.pop("headers", {})
        if user is not None:
            headers["Authorization"] = f"token {self.tokens.get(user, user)}"
        url = self.settings.exchange_url + path
        return httpx.request(method, url, headers=headers, timeout=30, **kwargs)

    def exchange_data(self) -> Path:
        return self.settings.folder / "exchange"


def start_class_hub(folder: Path, db_url: str | None = None) -> ClassHub:
    """A hub in folder (the exchange's rows in db_url, or SQLite) with alice, bob and ines;
    the caller stops `.process`."""
    settings = hub_settings(
        folder,
        authenticator="null",  # no logins: tokens are made by the admin service below
        max_notebook_bytes=LIMIT,
        exchange_db_url=db_url,
    )
    admin = secrets.token_hex(32)
    process = start_hub(settings, admin_service(admin))
    try:
        class_hub = ClassHub(settings, process, admin, {})
        for user in ("alice", "bob"):
            assert class_hub.hub_call("POST", f"users/{user}").status_code == 201
        for user in ("alice", "bob", "ines"):  # ines exists: the instructors group made her
            class_hub.tokens[user] = class_hub.new_token(user)
        return class_hub
    except BaseException:
        process.stop()
        raise


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[ClassHub]:
    class_hub = start_class_hub(tmp_path_factory.mktemp("hub"))
    try:
        yield class_hub
    finally:
        class_hub.process.stop()


def notebook_bytes(text: str = "", pad: int = 0) -> bytes:
    """A small valid notebook whose one cell holds text (and pad bytes of padding)."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(text + "#" * pad))
    return nbformat.writes(notebook).encode()


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def stored_state(hub: ClassHub) -> tuple[list[dict], list[str]]:
    """Every receipt in the store and every file under its blobs folder."""
    database = hub.exchange_data() / "exchange.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT id, learner, lab, sha256 FROM submissions ORDER BY id")
        receipts = [dict(zip(("id", "learner", "lab", "sha256"), row, strict=True)) for row in rows]
        feedback = db.execute("SELECT lab, learner, sha256 FROM feedback ORDER BY lab, learner")
        receipts += [{"feedback": row} for row in feedback]
    files = sorted(str(p) for p in (hub.exchange_data() / "blobs").rglob("*") if p.is_file())
    return receipts, files


@pytest.fixture(scope="module")
def released(hub: ClassHub) -> ClassHub:
    """Lab 00 released, due in a week; lab 01 released with its hard deadline passed."""
    ines = hub.client("ines")
    ines.release(LAB00, due=iso(timedelta(days=7)))
    ines.release(LAB01, due=iso(-timedelta(days=2)), closes=iso(-timedelta(days=1)))
    return hub


def test_identity_and_role_come_from_the_hub(hub):
    assert hub.client("alice").whoami()["role"] == "learner"
    me = hub.client("ines").whoami()
    assert me["name"] == "ines" and me["role"] == "instructor"
    assert "instructors" in me["groups"]


def test_a_lab_goes_round_the_class(released, tmp_path):
    hub = released
    alice, bob, ines = hub.client("alice"), hub.client("bob"), hub.client("ines")
    labs = {lab["lab"]: lab for lab in alice.labs()}
    assert labs["00"]["filename"] == LAB00.name
    assert labs["00"]["sha256"] == hashlib.sha256(LAB00.read_bytes()).hexdigest()

    # fetch into the learner's home; their work is never overwritten without asking
    home = tmp_path / "alice"
    fetched = alice.fetch("00", home)
    assert fetched.read_bytes() == LAB00.read_bytes()
    work = notebook_bytes("answer = 42")
    fetched.write_bytes(work)
    with pytest.raises(ExchangeError, match="your work is kept"):
        alice.fetch("00", home)
    assert fetched.read_bytes() == work
    assert alice.fetch("00", home, overwrite=True).read_bytes() == LAB00.read_bytes()
    fetched.write_bytes(work)

    # submit: a receipt with time and sha256, and the learner's own list
    receipt = alice.submit(fetched)
    assert receipt["learner"] == "alice" and receipt["lab"] == "00" and not receipt["late"]
    assert receipt["sha256"] == hashlib.sha256(work).hexdigest()
    datetime.fromisoformat(receipt["submitted_at"])
    assert receipt in alice.submissions()
    bob_work = notebook_bytes("answer = 41")
    (tmp_path / "00_welcome.ipynb").write_bytes(bob_work)
    bob.submit(tmp_path / "00_welcome.ipynb")
    assert all(r["learner"] == "bob" for r in bob.submissions())

    # collect the latest of each learner in the layout `mlkit grade` reads
    newer = notebook_bytes("answer = 43")
    fetched.write_bytes(newer)
    alice.submit(fetched)
    out = tmp_path / "submissions"
    collected = ines.collect("00", out)
    assert {r["learner"] for r in collected} >= {"alice", "bob"}
    assert (out / "alice" / "00_welcome.ipynb").read_bytes() == newer
    assert (out / "bob" / "00_welcome.ipynb").read_bytes() == bob_work

    # grade what was collected, return each learner's feedback page; each reads their own
    grading = tmp_path / "grading-out"
    grade(out, "00", grading, workers=2, progress=False)
    assert ines.return_feedback("00", grading) == sorted(p.name for p in out.iterdir())
    page = alice.feedback("00", tmp_path / "alice")
    assert page.read_bytes() == (grading / "feedback" / "alice.html").read_bytes()
    assert "alice" in page.read_text()
    with pytest.raises(ExchangeError, match="not lab 01"):
        ines.return_feedback("01", grading)


def test_the_cli_submits_and_lists(released, tmp_path):
    from typer.testing import CliRunner

    from mlkit.cli import app

    notebook = tmp_path / "00_welcome.ipynb"
    notebook.write_bytes(notebook_bytes("from the terminal"))
    env = {"MLKIT_EXCHANGE_URL": released.settings.exchange_url}
    env["JUPYTERHUB_API_TOKEN"] = released.tokens["bob"]
    runner = CliRunner()
    done = runner.invoke(app, ["submit", str(notebook)], env=env)
    assert done.exit_code == 0, done.output
    digest = hashlib.sha256(notebook.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in done.output
    listed = runner.invoke(app, ["submissions"], env=env)
    assert digest in listed.output
    refused = runner.invoke(app, ["collect", "00", "--out", str(tmp_path / "x")], env=env)
    assert refused.exit_code == 1
    assert "only instructors may collect submissions; bob is a learner" in refused.output


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("GET", "api/labs/00/submissions/bob", "alice may read only their own submissions"),
        ("GET", "api/labs/00/feedback/bob", "alice may read only their own feedback"),
        ("PUT", "api/labs/00?filename=00_welcome.ipynb&due=2030-01-01", "only instructors"),
        ("GET", "api/labs/00/latest", "only instructors may collect"),
        ("PUT", "api/labs/00/feedback/alice", "only instructors may return feedback"),
    ],
)
def test_a_learner_is_refused_what_is_not_theirs(released, method, path, message):
    before = stored_state(released)
    answer = released.raw("alice", method, path, content=notebook_bytes())
    assert answer.status_code == 403, answer.text
    assert message in answer.json()["error"]
    assert stored_state(released) == before


def test_who_submits_is_the_token_not_the_request(released, tmp_path):
    answer = released.raw(
        "alice",
        "POST",
        "api/labs/00/submissions?learner=bob&user=bob",
        content=notebook_bytes("forged"),
        headers={"X-Forwarded-User": "bob", "Remote-User": "bob"},
    )
    assert answer.status_code == 201 and answer.json()["learner"] == "alice"
    digest = answer.json()["sha256"]
    assert digest not in {r["sha256"] for r in released.client("bob").submissions()}
    # a learner cannot get a token with the instructor's scope: the hub refuses it
    asked = released.hub_call(
        "POST",
        "users/alice/tokens",
        json={"scopes": ["access:services!service=exchange", "custom:mlkit-exchange:instruct"]},
    )
    assert asked.status_code == 400 and "not held by User alice" in asked.text


def test_bad_missing_and_narrow_tokens_are_refused(released):
    assert released.raw(None, "GET", "api/submissions").status_code == 401
    answer = released.raw("not-a-hub-token", "GET", "api/submissions")
    assert answer.status_code == 401 and "no valid hub token" in answer.json()["error"]
    # a real token of alice's that may not access the exchange
    narrow = released.new_token("alice", scopes=["read:users:name!user"])
    answer = released.raw(narrow, "GET", "api/submissions")
    assert answer.status_code == 403 and "may not access the exchange" in answer.json()["error"]
    # a revoked token
    token = released.new_token("bob", note="revoked")
    tokens = released.hub_call("GET", "users/bob/tokens").json()["api_tokens"]
    token_id = next(t["id"] for t in tokens if t["note"] == "revoked")
    assert released.hub_call("DELETE", f"users/bob/tokens/{token_id}").status_code == 204
    assert released.raw(token, "GET", "api/submissions").status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("api/labs/00/submissions", b"print('hello')", 422, "not a Jupyter notebook"),
        ("api/labs/00/submissions", b'{"cells": 3}', 422, "not a Jupyter notebook"),
        ("api/labs/00/submissions", b"\xff\xfe", 422, "not a Jupyter notebook"),
        ("api/labs/00/submissions", notebook_bytes(pad=LIMIT), 413, f"limit is {LIMIT} bytes"),
        ("api/labs/42/submissions", notebook_bytes(), 404, "lab 42 is not released"),
        ("api/labs/01/submissions", notebook_bytes(), 409, "lab 01 closed at"),
        ("api/labs/99/notebook", None, 404, "lab 99 is not released"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(released, path, body, status, message):
    before = stored_state(released)
    method = "GET" if body is None else "POST"
    answer = released.raw("alice", method, path, content=body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert stored_state(released) == before


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("filename=00_welcome.ipynb", "due is missing"),
        ("filename=00_welcome.ipynb&due=friday", "due='friday' is not a time"),
        ("filename=notes.txt&due=2030-01-01", "expected 00_topic.ipynb"),
        ("filename=00_welcome.ipynb&due=2030-01-02&closes=2030-01-01", "must not be before due"),
    ],
)
def test_a_bad_release_is_refused(released, query, message):
    labs = released.client("ines").labs()
    answer = released.raw("ines", "PUT", f"api/labs/00?{query}", content=LAB00.read_bytes())
    assert answer.status_code == 400 and message in answer.json()["error"]
    assert released.client("ines").labs() == labs


def exchange_process(hub: ClassHub) -> psutil.Process:
    found = [
        p for p in hub.process.family() if "exchange" in p.cmdline() and "mlkit.cli" in p.cmdline()
    ]
    assert len(found) == 1, found
    return found[0]


def submit_then_kill_the_exchange(hub: ClassHub, tmp_path: Path) -> list[dict]:
    """alice submits in a loop; the exchange is killed with SIGKILL after her fifth receipt.
    Returns every receipt she got (the loop ends at the first refused call)."""
    alice = hub.client("alice")
    receipts: list[dict] = []
    failed: list[Exception] = []
    several = threading.Event()

    def submit_until_refused() -> None:
        for n in range(500):
            notebook = tmp_path / "00_welcome.ipynb"
            notebook.write_bytes(notebook_bytes(f"attempt {n}", pad=LIMIT // 2))
            try:
                receipts.append(alice.submit(notebook))
            except ExchangeError as err:
                failed.append(err)
                return
            if len(receipts) >= 5:
                several.set()

    before = exchange_process(hub)
    submitter = threading.Thread(target=submit_until_refused)
    submitter.start()
    assert several.wait(60), failed
    os.kill(before.pid, signal.SIGKILL)  # while the learner goes on submitting
    submitter.join(60)
    assert failed and not submitter.is_alive()
    return receipts


def assert_every_receipt_is_stored(hub: ClassHub, receipts: list[dict], rows: list[dict]) -> None:
    """Each receipt is among alice's submissions and every row's notebook is whole on disk."""
    stored = {r["sha256"] for r in hub.client("alice").submissions()}
    assert receipts and {r["sha256"] for r in receipts} <= stored
    assert {r["sha256"] for r in receipts} <= {r["sha256"] for r in rows if "sha256" in r}
    blobs = hub.exchange_data() / "blobs"
    for row in (r for r in rows if "sha256" in r):
        data = (blobs / row["sha256"][:2] / row["sha256"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
    assert not [f for f in blobs.rglob("*") if f.name.endswith(".partial")]


def test_a_killed_exchange_loses_no_receipt(released, tmp_path):
    hub = released
    before = exchange_process(hub)
    receipts = submit_then_kill_the_exchange(hub, tmp_path)

    # the hub notices (it polls its services every 30 s) and starts the exchange again
    health = f"{hub.settings.exchange_url}api/health"
    assert wait_for_http(health, timeout=90, alive=hub.process.is_running), hub.process.log_tail()
    assert exchange_process(hub).pid != before.pid
    assert_every_receipt_is_stored(hub, receipts, stored_state(hub)[0])


def test_on_postgresql_a_killed_exchange_and_a_hub_restart_lose_no_receipt(
    postgres_server, tmp_path_factory, tmp_path
):
    url = postgres_server.create_database("exchange_hub_restart")
    hub = start_class_hub(tmp_path_factory.mktemp("hub-postgresql"), url)
    try:
        hub.client("ines").release(LAB00, due=iso(timedelta(days=7)))
        receipts = submit_then_kill_the_exchange(hub, tmp_path)
        # the whole hub restarts (with the exchange) on its own database and tokens
        hub.process.stop()
        assert not (hub.exchange_data() / "exchange.sqlite").exists()
        hub.process = start_hub(hub.settings, admin_service(hub.admin))
        store = ExchangeStore(hub.exchange_data(), url)
        try:
            rows = [{"sha256": row.sha256} for row in store.all_submissions()]
        finally:
            store.engine.dispose()
        assert_every_receipt_is_stored(hub, receipts, rows)
        assert hub.client("alice").submit(tmp_path / "00_welcome.ipynb")["learner"] == "alice"
    finally:
        hub.process.stop()
