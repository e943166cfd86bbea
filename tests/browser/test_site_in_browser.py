"""The course site in headless Chromium: every page loads without a console error, every
internal link resolves, module pages show their objectives, code cells and plots, and the
search finds a word.

The site is built from the executed copies nbval saved earlier in the same session
(tests/support/executed_notebooks.py runs this test after the course notebooks). In CI
every course notebook must have one; elsewhere a page without one is published without
outputs, and the test checks it shows none.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import http.server
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlsplit

import httpx
import nbformat
import pytest
from conftest import in_ci

from mlkit._runtime.net import LOCALHOST, free_port
from mlkit._runtime.process import ServerThread
from mlkit.settings import repo_root
from mlkit.site import SiteBuild, build_site, site_pages

pytestmark = [pytest.mark.browser, pytest.mark.site, pytest.mark.slow, pytest.mark.timeout(900)]

# A word the course uses (module 06); the search must list that module's page.
SEARCH_WORD = "Alertmanager"
SEARCH_PAGE = "course/06_monitoring.html"
# Course notebooks with formulas ($...$) in their text.
FORMULAS = {"07_experiments.ipynb"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> SiteBuild:
    built = build_site(tmp_path_factory.mktemp("site"))
    if built.without_outputs and in_ci():
        pytest.fail(
            "CI publishes every course notebook with its outputs, but these have no executed "
            f"copy from this session's nbval run: {built.without_outputs} (did a cell fail?)"
        )
    return built


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site_url(site) -> Iterator[str]:
    """The built site served by http.server on 127.0.0.1 at a free port, in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(site.html_dir))
    for _ in range(5):
        try:
            server = http.server.ThreadingHTTPServer((LOCALHOST, free_port()), handler)
            break
        except OSError as err:  # taken between free_port() and bind: another port
            if err.errno != errno.EADDRINUSE:
                raise
    else:
        pytest.fail("no free port on 127.0.0.1 for the site after 5 tries")
    serving = ServerThread(server)
    try:
        yield f"http://{LOCALHOST}:{server.server_address[1]}/"
    finally:
        serving.stop()


@contextlib.contextmanager
def _watched(page) -> Iterator[list[str]]:
    """Console errors, page errors, failed requests and 4xx/5xx answers, as sentences."""
    problems: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    def on_response(response) -> None:
        if response.status >= 400:
            problems.append(f"{response.status} for {response.url}")

    handlers = {
        "console": on_console,
        "pageerror": lambda error: problems.append(f"page error: {error}"),
        "requestfailed": lambda request: problems.append(f"request failed: {request.url}"),
        "response": on_response,
    }
    for event, handler in handlers.items():
        page.on(event, handler)
    try:
        yield problems
    finally:
        for event, handler in handlers.items():
            page.remove_listener(event, handler)


def test_every_page_loads_without_errors_and_every_internal_link_resolves(
    chromium_page, site, site_url
):
    pages = [str(p.relative_to(site.html_dir)) for p in site_pages(site.html_dir)]
    assert "index.html" in pages and "search.html" in pages
    assert len([p for p in pages if p.startswith(("course/", "labs/"))]) == len(
        [p for p in site.pages if p.kind in ("course", "lab")]
    )
    problems: dict[str, list[str]] = {}
    links: dict[str, set[str]] = {}
    for path in pages:
        with _watched(chromium_page) as seen:
            response = chromium_page.goto(urljoin(site_url, path), wait_until="load")
            chromium_page.wait_for_load_state("networkidle")
            assert response is not None and response.status == 200, path
            assert chromium_page.title(), path
            hrefs = chromium_page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        if seen:
            problems[path] = seen
        for href in hrefs:
            if href.startswith(site_url):
                links.setdefault(href, set()).add(path)
    assert not problems, problems
    assert links, "no internal links found"
    broken = []
    with httpx.Client(timeout=30) as client:
        bodies: dict[str, str] = {}
        for href, sources in sorted(links.items()):
            url, fragment = urldefrag(href)
            if url not in bodies:
                answer = client.get(url)
                bodies[url] = answer.text if answer.status_code == 200 else ""
                if answer.status_code != 200:
                    broken.append(f"{href} ({answer.status_code}) from {sorted(sources)}")
                    continue
            if fragment and f'id="{fragment}"' not in bodies[url]:
                broken.append(f"{href} (no such anchor) from {sorted(sources)}")
    assert not broken, broken


def _images_in(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum(
        1
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {}) or "image/svg+xml" in output.get("data", {})
    )


def test_module_pages_show_objectives_code_cells_and_plots(chromium_page, site, site_url):
    course = [p for p in site.pages if p.kind == "course"]
    assert len(course) == len(list((repo_root() / "course").glob("[0-9][0-9]_*.ipynb")))
    plotted = 0
    for page in course:
        chromium_page.goto(urljoin(site_url, f"{page.docname}.html"))
        main = chromium_page.locator("main")
        assert main.get_by_text("Learning objectives.").count() == 1, page.name
        assert main.get_by_text(re.compile(r"About \d+ min")).count() >= 1, page.name
        if page.name in FORMULAS:  # typeset by the site's own MathJax
            chromium_page.locator("mjx-container").first.wait_for()
        code = chromium_page.locator("div.cell div.cell_input div.highlight pre")
        assert code.count() > 0 and code.first.is_visible(), page.name
        outputs = chromium_page.locator("div.cell div.cell_output")
        if not page.with_outputs:
            assert outputs.count() == 0, page.name
            continue
        assert outputs.count() > 0, page.name
        expected = _images_in(site.html_dir.parent / "src" / f"{page.docname}.ipynb")
        images = chromium_page.locator("div.cell_output img")
        assert images.count() == expected, (page.name, images.count(), expected)
        for i in range(expected):
            images.nth(i).scroll_into_view_if_needed()
            width = images.nth(i).evaluate("img => img.complete ? img.naturalWidth : 0")
            assert width > 0, (page.name, f"image {i} did not load")
        plotted += expected > 0
    with_outputs = [p for p in course if p.with_outputs]
    if with_outputs:
        assert plotted > 0, "no course page with outputs shows a plot"


def test_labs_are_published_without_solutions(chromium_page, site, site_url):
    for page in (p for p in site.pages if p.kind == "lab"):
        chromium_page.goto(urljoin(site_url, f"{page.docname}.html"))
        text = chromium_page.locator("main").inner_text()
        assert "Learning objectives." in text, page.name
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, page.name
        assert chromium_page.locator("div.cell_output").count() == 0, page.name


def test_search_finds_a_word_of_the_course(chromium_page, site_url):
    with _watched(chromium_page) as seen:
        chromium_page.goto(urljoin(site_url, f"search.html?q={SEARCH_WORD}"))
        results = chromium_page.locator("#search-results ul.search li a")
        results.first.wait_for()
        found = {
            urlsplit(href).path.lstrip("/")
            for href in results.evaluate_all("links => links.map(a => a.href)")
        }
    assert SEARCH_PAGE in found, found
    assert not seen, seen
