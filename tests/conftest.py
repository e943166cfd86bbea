"""Shared fixtures. A test that needs a missing tool fails in CI and skips elsewhere."""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register support/executed_notebooks.py for every item: it saves the course notebooks
    nbval ran for the course site and runs the `site` tests after them."""
    from support import executed_notebooks

    if not config.pluginmanager.is_registered(executed_notebooks):
        config.pluginmanager.register(executed_notebooks, "mlkit-executed-notebooks")


def in_ci() -> bool:
    """True when env CI is "true" or "1" (CI sets it; a missing tool is then a failure)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def skip_or_fail(reason: str) -> NoReturn:
    """Fail the test in CI, skip it elsewhere, with the same reason."""
    if in_ci():
        pytest.fail(f"CI needs this test to run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Require an answering Docker engine (`.ci/start-dockerd.sh` starts one)."""
    from mlkit.containers import docker_problem

    problem = docker_problem()
    if problem is not None:
        skip_or_fail(f"needs a Docker engine: {problem}; start one with .ci/start-dockerd.sh")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator:
    """One private PostgreSQL cluster on 127.0.0.1 for the session (Debian's `postgresql`)."""
    from mlkit.hub.postgres import INSTALL_HINT, probe_postgres, start_postgres

    problem, _ = probe_postgres()
    if problem is not None:
        skip_or_fail(f"needs PostgreSQL: {problem}; {INSTALL_HINT}")
    # The tests kill the exchange and its writers, never the server: its own fsync is off.
    with start_postgres(durable=False) as server:
        yield server


_databases = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def exchange_db(request) -> str | None:
    """The exchange's database URL: None (SQLite in the data folder) or a new, empty
    PostgreSQL database."""
    if request.param == "sqlite":
        return None
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"exchange_{os.getpid()}_{next(_databases)}")


# Headless system Chromium (Debian's `chromium`) for tests/browser; Playwright drives it
# through `executable_path`, so no browser is downloaded. Flags that work as root in a
# container; the resolver rule keeps the browser off the internet (tests use 127.0.0.1).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def playwright_and_chromium() -> tuple[Callable[[], Any], str]:
    """Playwright's `sync_playwright` and the system Chromium's path; skips (fails in CI)
    naming the package when either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("needs Playwright's Python package: `pip install -e '.[dev]'`")
    chromium = shutil.which("chromium")
    if chromium is None:
        skip_or_fail("needs Chromium: install Debian's `chromium` package")
    return sync_playwright, chromium


@pytest.fixture
def chromium_page(tmp_path) -> Iterator:
    """A Playwright page in headless system Chromium with a fresh profile under tmp_path."""
    sync_playwright, chromium = playwright_and_chromium()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(60_000)
        try:
            yield context.pages[0]
        finally:
            context.close()


def pytest_terminal_summary(terminalreporter) -> None:
    """After the run, each notebook's total time (setup, cells, teardown), slowest first."""
    seconds: dict[str, float] = defaultdict(float)
    for reports in terminalreporter.stats.values():
        for report in reports:
            path = getattr(report, "nodeid", "").split("::")[0]
            if path.endswith(".ipynb") and hasattr(report, "duration"):
                seconds[path] += report.duration
    if seconds:
        terminalreporter.write_sep("=", "seconds per notebook")
        for path, total in sorted(seconds.items(), key=lambda item: -item[1]):
            terminalreporter.write_line(f"{total:8.1f}  {path}")
