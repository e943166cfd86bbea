"""A class on the real class hub, in a real browser (Playwright driving Debian's Chromium).

One hub for the module, as `mlkit hub` runs it: JupyterHub with its proxy, the exchange,
NativeAuthenticator accounts and DockerSpawner with a container per learner, on
127.0.0.1 (the containers on the host network). The learner image is the project's
Dockerfile built with only the packages this class needs (`learner_image(packages=...)`:
JupyterLab, jupyterhub-singleuser and what `mlkit fetch` and `mlkit.submit()` import).

The instructor ines signs up (approved at once: an instructor) and approves alice and bob,
who signed up in their own browser sessions. Each logs in and gets a server in a container
of their own, fetches lab 01 from a JupyterLab terminal, and submits from the notebook with
a last cell `mlkit.submit()` run with Shift+Enter: alice's answers are the solution's
(written through the Jupyter contents API with her own browser session), bob's are left
blank. The instructor collects, grades with `mlkit grade` and returns feedback with the
kit's commands; alice reads hers in the browser with full marks, bob his with none.

Then what must be refused: alice's browser session at bob's server (through the proxy and
straight to its port) and his files and feedback; alice's server token, stolen, used on
bob's server and feedback, and to upload an oversize and a non-notebook body; an expired
token. A hub restart keeps alice logged in and her home. At the end every container,
volume and process of the hub is gone. The exchange killed mid-submit is tested at API
level (tests/hub/test_hub_exchange.py, on SQLite and PostgreSQL).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nbformat
import psutil
import pytest
from conftest import CHROMIUM_FLAGS, playwright_and_chromium, skip_or_fail
from support.class_hub import admin_service, hub_settings
from support.jupyterlab import wait_for_idle_kernel
from support.lab_scores import answer_cell

from mlkit._runtime.docker import docker, docker_problem
from mlkit._runtime.process import LoggedProcess
from mlkit.hub.config import HubSettings, LearnerServers
from mlkit.hub.image import learner_image
from mlkit.hub.running import start_hub
from mlkit.settings import repo_root

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1200)]

# What a learner's server needs for this class: JupyterLab, jupyterhub-singleuser, and what
# `mlkit fetch` and `mlkit.submit()` import (the rest of the kit's packages are not used).
SERVER_PACKAGES = ("httpx", "ipykernel", "jupyterhub", "jupyterlab", "typer")
LAB = repo_root() / "labs" / "01_packaging.ipynb"
SOLUTION = repo_root() / "solutions" / "01_packaging.ipynb"
LIMIT = 1_000_000  # the exchange's notebook size limit in this hub
PASSWORDS = {name: f"{name}-{secrets.token_hex(8)}" for name in ("ines", "alice", "bob")}
SUBMIT_CELL = "import mlkit\nmlkit.submit()"
SCORE = re.compile(r"Score: (\d+(?:\.\d+)?) / (\d+(?:\.\d+)?)")
QUESTION_ROW = re.compile(r"^(q\d+)\s+(\S+) / (\S+)", re.MULTILINE)


@dataclass
class Learner:
    name: str
    page: object  # a Playwright Page in the learner's own browser context
    opened: list = field(default_factory=list)  # pages the app opened in new tabs

    def server(self, hub: ClassHub) -> str:
        return f"{hub.settings.url}/user/{self.name}"


@dataclass
class ClassHub:
    settings: HubSettings
    process: LoggedProcess
    admin: str
    prefix: str
    folder: Path
    short_lived: dict[str, str] = field(default_factory=dict)  # user: a token that expires

    def hub_call(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"token {self.admin}"}
        url = f"{self.settings.url}/hub/api/{path}"
        return httpx.request(method, url, headers=headers, timeout=30, **kwargs)

    def new_token(self, user: str, **body) -> str:
        answer = self.hub_call("POST", f"users/{user}/tokens", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()["token"]

    def exchange(self, token: str | None, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"token {token}"} if token else {}
        url = self.settings.exchange_url + path
        return httpx.request(method, url, headers=headers, timeout=30, **kwargs)

    def container(self, user: str) -> str:
        return f"{self.prefix}-{user}"

    def volume(self, user: str) -> str:
        return f"{self.prefix}-home-{user}"


def ours(hub_prefix: str) -> tuple[list[str], list[str]]:
    """The names of the containers and volumes of this hub still in the engine."""
    containers = docker("ps", "-a", "--filter", f"name={hub_prefix}-", "--format", "{{.Names}}")
    volumes = docker("volume", "ls", "--filter", f"name={hub_prefix}-", "--format", "{{.Name}}")
    return containers.stdout.split(), volumes.stdout.split()


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[ClassHub]:
    if problem := docker_problem():
        skip_or_fail(f"needs a Docker engine for the learners' containers: {problem}")
    image = learner_image(packages=SERVER_PACKAGES)
    folder = tmp_path_factory.mktemp("class-hub")
    prefix = f"mlkit-test-{secrets.token_hex(3)}"
    settings = hub_settings(
        folder,
        max_notebook_bytes=LIMIT,
        learners=LearnerServers(image, mem_limit="1G", cpu_limit=1.0, prefix=prefix),
    )
    admin = secrets.token_hex(32)
    class_hub = ClassHub(settings, start_hub(settings, admin_service(admin)), admin, prefix, folder)
    family: set[int] = set()
    try:
        yield class_hub
    finally:
        family = class_hub.process.family_pids()  # the process a restart started, if any
        class_hub.process.stop(grace=60)  # the hub stops each learner's server first
        volumes = ours(prefix)[1]
        if volumes:
            docker("volume", "rm", *volumes)
    # the hub stopped every learner's server (their containers removed), the test removed
    # the volumes, and no process of the hub (proxy, exchange, culler) is left
    assert ours(prefix) == ([], []), f"left in the Docker engine: {ours(prefix)}"
    left = [p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not left, f"processes of the hub still run: {left}"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_playwright, chromium = playwright_and_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


def new_session(browser, name: str) -> Learner:
    """A browser context of its own (its own cookies) for name."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    learner = Learner(name, context.new_page())
    # a page the app opens in a new tab is noted and closed: the test goes on in its own
    context.on("page", lambda page: (learner.opened.append(page.url), page.close()))
    return learner


def sign_up(hub: ClassHub, who: Learner) -> None:
    page = who.page
    page.goto(f"{hub.settings.url}/hub/signup")
    page.fill("#username_input", who.name)
    page.fill("#password_input", PASSWORDS[who.name])
    page.fill("#password_confirmation_input", PASSWORDS[who.name])
    page.click("#signup_submit")
    page.locator(".alert").wait_for()
    said = page.locator(".alert").inner_text()
    if who.name in hub.settings.instructors:  # an instructor is approved at once
        assert "The signup was successful! You can now go to the home page" in said, said
    else:
        assert "Your information has been sent to the admin." in said, said


def log_in(hub: ClassHub, who: Learner, then: str = "") -> None:
    page = who.page
    next_page = f"?next={then}" if then else ""
    page.goto(f"{hub.settings.url}/hub/login{next_page}")
    page.fill("#username_input", who.name)
    page.fill("#password_input", PASSWORDS[who.name])
    page.click("#login_submit")


def approve(hub: ClassHub, instructor: Learner, learner: str) -> None:
    """The instructor clicks Authorize in learner's row of /hub/authorize."""
    page = instructor.page
    page.goto(f"{hub.settings.url}/hub/authorize")
    row = page.locator("tr", has=page.locator("td", has_text=re.compile(f"^{learner}$")))
    row.get_by_role("button", name="Authorize").click()
    row.get_by_role("button", name="Unauthorize").wait_for()


def wait_for_lab(hub: ClassHub, who: Learner) -> None:
    """After login: the hub spawns the learner's server and the browser lands in JupyterLab."""
    page = who.page
    page.wait_for_url(re.compile(f"/user/{who.name}/lab"), timeout=240_000)
    page.locator(".jp-LabShell").wait_for(timeout=120_000)


def xsrf_headers(who: Learner) -> dict[str, str]:
    """The XSRF header the learner's own server wants (its cookie, not the hub's)."""
    (cookie,) = [
        c
        for c in who.page.context.cookies()
        if c["name"] == "_xsrf" and c["path"].startswith(f"/user/{who.name}")
    ]
    return {"X-XSRFToken": cookie["value"]}


def in_terminal(hub: ClassHub, who: Learner, command: str) -> None:
    """Open a terminal with File > New > Terminal and type command into it."""
    page = who.page
    page.get_by_role("menuitem", name="File", exact=True).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel").get_by_text("New", exact=True).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel").get_by_text("Terminal", exact=True).click()
    terminal = page.locator(".jp-Terminal:visible").last
    terminal.locator(".xterm-helper-textarea").wait_for(state="attached")
    terminal.click()
    page.keyboard.type(command)
    page.keyboard.press("Enter")


def wait_for_file(hub: ClassHub, who: Learner, name: str, timeout: float = 60) -> bytes:
    """The bytes of name in the learner's home, read with the learner's browser session,
    once it is there."""
    deadline = time.monotonic() + timeout
    while True:
        answer = who.page.request.get(f"{who.server(hub)}/files/{name}")
        if answer.status == 200:
            return answer.body()
        assert time.monotonic() < deadline, f"{name} not in {who.name}'s home: {answer.status}"
        time.sleep(1)


def submit_from_the_notebook(hub: ClassHub, who: Learner, cells: int) -> str:
    """Open the lab, add a last cell `mlkit.submit()`, save, run it with Shift+Enter; return
    the receipt's text."""
    page = who.page
    page.goto(f"{who.server(hub)}/lab/tree/{LAB.name}")
    page.locator(".lm-TabBar-tab.lm-mod-current", has_text=LAB.name).wait_for()
    wait_for_idle_kernel(page)
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
    notebook.locator(".jp-Cell").first.click()
    page.keyboard.press("Escape")  # command mode
    for _ in range(cells):  # to the last cell (J stays there once it is reached)
        page.keyboard.press("j")
    page.get_by_text(f"Cell {cells}/{cells}", exact=True).wait_for()
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    below = "[data-command='notebook:insert-cell-below']"
    panel.locator(f".jp-NotebookPanel-toolbar {below}").click()  # a cell below it
    page.get_by_text(f"Cell {cells + 1}/{cells + 1}", exact=True).wait_for()
    panel.locator(".jp-Cell.jp-mod-active .cm-content").click()  # edit it
    page.keyboard.insert_text(SUBMIT_CELL)
    page.keyboard.press("Control+s")
    page.locator(".lm-TabBar-tab.jp-mod-dirty").wait_for(state="detached")
    page.keyboard.press("Shift+Enter")
    receipt = page.locator(".jp-OutputArea-output", has_text=f"submitted {LAB.name} at").last
    receipt.wait_for(timeout=60_000)
    return receipt.inner_text()


@contextlib.contextmanager
def screenshot_on_failure(hub: ClassHub, who: Learner) -> Iterator[None]:
    """On a failure, a screenshot of the learner's page and the hub log's tail."""
    try:
        yield
    except Exception as exc:
        shot = hub.folder / f"{who.name}.png"
        with contextlib.suppress(Exception):
            who.page.screenshot(path=shot)
        pytest.fail(
            f"{who.name}: {type(exc).__name__}: {exc}\nscreenshot: {shot}\n"
            f"hub log:\n{hub.process.log_tail(30)}"
        )


def fill_from_solution(released: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The released lab with each code answer cell replaced by the solution's."""
    solution = nbformat.read(SOLUTION, as_version=4)
    for cell in released.cells:
        mlkit_meta = cell.metadata.get("mlkit", {})
        if mlkit_meta.get("kind") == "code" and "question" in mlkit_meta:
            cell.source = answer_cell(solution, mlkit_meta["question"]).source
    return released


def kit(token: str, hub: ClassHub, *args: str) -> subprocess.CompletedProcess:
    """The instructor's `mlkit` command with their hub token."""
    env = {**os.environ, "MLKIT_EXCHANGE_URL": hub.settings.exchange_url}
    env["JUPYTERHUB_API_TOKEN"] = token
    done = subprocess.run(
        [sys.executable, "-m", "mlkit.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"mlkit {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def score_of(page_text: str) -> tuple[float, float]:
    """The score line of a feedback page."""
    found = SCORE.search(page_text)
    assert found, page_text
    return float(found.group(1)), float(found.group(2))


def question_rows(page_text: str) -> dict[str, tuple[str, str]]:
    """Each question's (points, out of) in a feedback page's table."""
    return {q: (got, worth) for q, got, worth in QUESTION_ROW.findall(page_text)}


@pytest.fixture(scope="module")
def class_in_browser(hub, browser) -> Iterator[dict[str, Learner]]:
    """ines, alice and bob signed up; alice and bob approved and logged in, each in
    JupyterLab on a server of their own."""
    people = {name: new_session(browser, name) for name in ("ines", "alice", "bob")}
    try:
        for who in people.values():
            sign_up(hub, who)
        # not approved yet: the login is refused
        log_in(hub, people["alice"])
        refused = people["alice"].page.locator(".login_error")
        assert "Invalid username or password" in refused.inner_text()
        assert "/user/alice" not in people["alice"].page.url
        log_in(hub, people["ines"], then="/hub/authorize")
        for learner in ("alice", "bob"):
            approve(hub, people["ines"], learner)
        for learner in ("alice", "bob"):
            log_in(hub, people[learner])
        for learner in ("alice", "bob"):
            wait_for_lab(hub, people[learner])
        # a token of bob's that expires in 30 s, used at once (test_an_expired_token...)
        hub.short_lived["bob"] = hub.new_token("bob", expires_in=30, note="short-lived")
        assert hub.exchange(hub.short_lived["bob"], "GET", "api/whoami").status_code == 200
        yield people
    finally:
        for who in people.values():
            with contextlib.suppress(Exception):
                who.page.context.close()


def test_each_learner_gets_a_container_of_their_own(hub, class_in_browser):
    ids = {}
    for user in ("alice", "bob"):
        found = docker("inspect", hub.container(user))
        assert found.returncode == 0, f"no container {hub.container(user)}: {found.stderr}"
        (info,) = json.loads(found.stdout)
        ids[user] = info["Id"]
        assert info["Config"]["User"] == "1000"
        assert info["HostConfig"]["CapDrop"] == ["ALL"]
        mounts = [(m["Type"], m.get("Name"), m["Destination"]) for m in info["Mounts"]]
        assert mounts == [("volume", hub.volume(user), "/home/learner")], mounts
    assert ids["alice"] != ids["bob"]
    # ines logged in to approve, and got no server
    assert docker("inspect", hub.container("ines")).returncode != 0


def test_a_lab_goes_round_the_class_in_the_browser(hub, class_in_browser, tmp_path):
    alice, bob = class_in_browser["alice"], class_in_browser["bob"]
    ines = hub.new_token("ines")
    due = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    kit(ines, hub, "release", str(LAB), "--due", due)

    # each fetches lab 01 from a JupyterLab terminal into their own home
    for who in (alice, bob):
        in_terminal(hub, who, "mlkit fetch 01")
    for who in (alice, bob):
        assert wait_for_file(hub, who, LAB.name) == LAB.read_bytes()

    # alice's answers are the solution's, written with her own browser session
    released = nbformat.reads(LAB.read_text(), as_version=4)
    filled = fill_from_solution(released)
    put = alice.page.request.put(
        f"{alice.server(hub)}/api/contents/{LAB.name}",
        data=json.dumps({"type": "notebook", "format": "json", "content": filled}),
        headers={**xsrf_headers(alice), "Content-Type": "application/json"},
    )
    assert put.status == 200, put.text()

    receipts = {}
    for who in (alice, bob):
        with screenshot_on_failure(hub, who):
            receipts[who.name] = submit_from_the_notebook(hub, who, len(released.cells))
        stored = wait_for_file(hub, who, LAB.name)
        assert f"submitted {LAB.name} at" in receipts[who.name]
        assert f"sha256 {hashlib.sha256(stored).hexdigest()}" in receipts[who.name]
        assert SUBMIT_CELL in nbformat.reads(stored.decode(), as_version=4).cells[-1].source

    # the instructor collects, grades with `mlkit grade` and returns the feedback pages
    out, grading = tmp_path / "submissions", tmp_path / "grading"
    kit(ines, hub, "collect", "01", "--out", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["alice", "bob"]
    kit(ines, hub, "grade", str(out), "-a", "01", "-o", str(grading), "--no-progress", "-w", "2")
    results = json.loads((grading / "results.json").read_text())["learners"]
    kit(ines, hub, "return-feedback", "01", str(grading))

    # each reads their feedback in the browser: alice full marks, bob none
    for who in (alice, bob):
        in_terminal(hub, who, "mlkit feedback 01")
        wait_for_file(hub, who, "01-feedback.html")
        who.page.goto(f"{who.server(hub)}/files/01-feedback.html")
        assert f"feedback for {who.name}" in who.page.locator("h1").inner_text()
        page_text = who.page.locator("body").inner_text()
        score, most = score_of(page_text)
        assert (score, most) == (results[who.name]["score"], results[who.name]["max"])
        rows = question_rows(page_text)
        graded = {q: got for q, (got, _) in rows.items() if got != "pending"}
        assert len(graded) == 5 and rows["q5"][0] == "pending", rows  # q5 is graded by hand
        if who is alice:  # full marks on every automatically graded question
            assert all(got == worth for got, worth in rows.values() if got != "pending"), rows
            assert score == sum(float(rows[q][1]) for q in graded), page_text
            assert "raised an error" not in page_text, page_text
        else:
            assert set(graded.values()) == {"0"} and score == 0, page_text
        # the submit cell, run again by the grader, sent nothing and raised nothing
        assert "ExchangeError" not in page_text, page_text
    assert not alice.opened and not bob.opened, (alice.opened, bob.opened)


def test_a_learner_never_sees_another_learners_server(hub, class_in_browser):
    alice, bob = class_in_browser["alice"], class_in_browser["bob"]
    page = alice.page
    # bob's server, through the proxy: the hub's OAuth refuses alice (403), page and API
    found = docker("inspect", "--format", "{{json .Config.Env}}", hub.container("bob"))
    env = dict(item.split("=", 1) for item in json.loads(found.stdout))
    direct = env["JUPYTERHUB_SERVICE_URL"].rstrip("/")  # bob's server on its own port
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/user/bob", direct), direct
    for url in (
        f"{hub.settings.url}/user/bob/lab",
        f"{hub.settings.url}/user/bob/files/{LAB.name}",
        f"{hub.settings.url}/user/bob/files/01-feedback.html",
        f"{direct}/lab",
        f"{direct}/files/{LAB.name}",
    ):
        answer = page.goto(url)
        # bob's server sends alice to the hub's OAuth (on its own port: to a path it does
        # not serve), which refuses her bob's server
        assert answer is not None and answer.status in (403, 404), (url, answer and answer.status)
        assert "/hub/api/oauth2/authorize?" in page.url, page.url
        assert "client_id=jupyterhub-user-bob" in page.url, page.url
        body = page.content()
        assert "jp-LabShell" not in body and "nbformat" not in body, url
        assert "Score:" not in body and "01_packaging" not in body, url
    for url in (f"{hub.settings.url}/user/bob/api/contents", f"{direct}/api/contents"):
        answer = page.request.get(url, headers=xsrf_headers(alice))
        assert answer.status == 403, (url, answer.status, answer.text()[:300])
    # the same address answers bob's own session: what refused alice was her identity
    assert bob.page.request.get(f"{hub.settings.url}/user/bob/api/contents").status == 200
    # the exchange takes hub tokens, not the browser's cookies: nothing of bob's for alice
    answer = page.request.get(f"{hub.settings.exchange_url}api/labs/01/feedback/bob")
    assert answer.status == 401, answer.text()
    # alice's own server still works for her
    assert page.request.get(f"{alice.server(hub)}/api/contents").status == 200


def test_a_stolen_server_token_reaches_only_its_owners_things(hub, class_in_browser):
    found = docker("exec", hub.container("alice"), "printenv", "JUPYTERHUB_API_TOKEN")
    token = found.stdout.strip()
    assert found.returncode == 0 and token, found.stderr
    headers = {"Authorization": f"token {token}"}
    # alice's server token works on her server and in the exchange as alice...
    own = httpx.get(f"{hub.settings.url}/user/alice/api/contents", headers=headers, timeout=30)
    assert own.status_code == 200
    assert hub.exchange(token, "GET", "api/whoami").json()["name"] == "alice"
    # ...and nowhere else
    bobs = httpx.get(f"{hub.settings.url}/user/bob/api/contents", headers=headers, timeout=30)
    assert bobs.status_code == 403, bobs.text
    answer = hub.exchange(token, "GET", "api/labs/01/feedback/bob")
    assert answer.status_code in (403, 404), answer.text
    answer = hub.exchange(token, "GET", "api/labs/01/submissions/bob")
    assert answer.status_code == 403, answer.text
    # nor does it carry oversize or non-notebook uploads into the exchange
    big = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("#" * LIMIT)])
    for body, status, said in (
        (nbformat.writes(big).encode(), 413, f"limit is {LIMIT} bytes"),
        (b"#!/bin/sh\nrm -rf ~\n", 422, "not a Jupyter notebook"),
    ):
        answer = hub.exchange(token, "POST", "api/labs/01/submissions", content=body)
        assert answer.status_code == status and said in answer.json()["error"], answer.text


def test_an_expired_token_is_refused(hub, class_in_browser):
    token = hub.short_lived["bob"]  # worked when it was made, minutes ago in a full run
    deadline = time.monotonic() + 90  # the token expires, then the exchange's cache (10 s)
    while (answer := hub.exchange(token, "GET", "api/whoami")).status_code == 200:
        assert time.monotonic() < deadline, "the expired token still works"
        time.sleep(2)
    assert answer.status_code == 401, answer.text
    listed = hub.hub_call("GET", "users/bob/tokens").json()["api_tokens"]
    assert "short-lived" not in [t["note"] for t in listed]


def test_after_a_hub_restart_a_learner_finds_her_work(hub, class_in_browser):
    alice = class_in_browser["alice"]
    note = f"kept across a restart {secrets.token_hex(4)}"
    put = alice.page.request.put(
        f"{alice.server(hub)}/api/contents/note.txt",
        data=json.dumps({"type": "file", "format": "text", "content": note}),
        headers={**xsrf_headers(alice), "Content-Type": "application/json"},
    )
    assert put.status in (200, 201), put.text()
    before = hub.process.family_pids()
    hub.process.stop(grace=60)  # the hub stops every learner's server: containers removed
    assert not [p for p in before if psutil.pid_exists(p)]
    assert ours(hub.prefix)[0] == []
    hub.process = start_hub(hub.settings, admin_service(hub.admin))
    # still logged in (the hub's cookie); her server starts again on her own volume
    alice.page.goto(f"{hub.settings.url}/hub/spawn")
    wait_for_lab(hub, alice)
    assert wait_for_file(hub, alice, "note.txt").decode() == note
    assert ours(hub.prefix)[0] == [hub.container("alice")]
