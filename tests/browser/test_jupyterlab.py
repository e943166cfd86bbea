"""JupyterLab in a real browser, as `make lab` starts it for a learner.

JupyterLab serves a copy of the project's course/, labs/ and solutions/ in tmp_path (so
outputs never land in the repo) with the kit's configuration and the project venv's
python as kernel. Headless Chromium opens a lab from the file browser, where solutions/
must not be listed, and runs course/00_welcome.ipynb with Run > Run All Cells, reading
the outputs off the page. A screenshot is saved under tmp_path either way.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import psutil
import pytest
from support.jupyterlab import RunningLab, start_jupyterlab, wait_for_idle_kernel

from mlkit.settings import repo_root

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

NOTEBOOK = "course/00_welcome.ipynb"
LAB = "labs/01_packaging.ipynb"
LAB_TITLE = "Lab 01 · Packaging and serialization"
# What the project copy holds; solutions/ is there so that the test sees it is hidden.
PROJECT_FOLDERS = ("course", "labs", "solutions")
SUMMARY = "mlkit doctor:"
RUN_TIMEOUT_MS = 120_000
# Attach every cell to the page, so the checks below see the whole notebook.
LAB_SETTINGS = {"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}
# The status bar says "<kernel> | Idle" only once the kernel is connected and idle (the
# toolbar's execution indicator says idle before the kernel has even connected).
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
# The last line of any traceback: "ZeroDivisionError: division by zero", "SyntaxError: ...".
ENAME = re.compile(r"^\w+(Error|Exception|Exit|Interrupt)\b", re.MULTILINE)


@contextlib.contextmanager
def _explain_failure(page, lab: RunningLab, screenshot):
    """On any failure, save a screenshot and add its path and the server log's tail."""
    try:
        yield
    except Exception as exc:
        with contextlib.suppress(Exception):
            page.screenshot(path=screenshot)
        pytest.fail(
            f"{type(exc).__name__}: {exc}\n\nscreenshot: {screenshot}\n"
            f"JupyterLab log ({lab.log_path}), last lines:\n{lab.log_tail()}"
        )


def _menu(page, menu: str, item: str) -> None:
    """Click a main-menu item, e.g. Run > Run All Cells."""
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def _project_copy(tmp_path):
    """course/, labs/ and solutions/ of the project, copied under tmp_path/project."""
    project = tmp_path / "project"
    for folder in PROJECT_FOLDERS:
        ignore = shutil.ignore_patterns(".*")
        shutil.copytree(repo_root() / folder, project / folder, ignore=ignore)
    return project


def _file_item(page, name: str):
    """The file browser's entry called name, in the folder it shows."""
    exact = re.compile(f"^{re.escape(name)}$")
    return page.locator(".jp-DirListing-content .jp-DirListing-item").filter(
        has=page.locator(".jp-DirListing-itemText", has_text=exact)
    )


def _listed(page) -> list[str]:
    """Names in the file browser's folder (call once one of them is on the page)."""
    return page.locator(".jp-DirListing-content .jp-DirListing-itemText").all_inner_texts()


def _watch_external_requests(page) -> list[str]:
    """A list that fills with every request the page makes to an address not 127.0.0.1."""
    external: list[str] = []

    def note_external(request) -> None:
        url = urlsplit(request.url)
        if url.scheme in {"http", "https", "ws", "wss"} and url.hostname != "127.0.0.1":
            external.append(request.url)

    page.context.on("request", note_external)
    return external


def _kernel_python(lab: RunningLab) -> str:
    """argv[0] of the server's python3 kernelspec ("python" means the server's own python)."""
    url = f"{lab.url}api/kernelspecs?token={lab.token}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["kernelspecs"]["python3"]["spec"]["argv"][0]


def _saved_notebook_problems(path) -> list[str]:
    """Unrun code cells and error outputs of a notebook file, and a missing summary line."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    problems = [f"code cell {i} did not run" for i, c in enumerate(cells) if not c.execution_count]
    outputs = [o for c in cells for o in c.outputs]
    problems += [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    if not any(SUMMARY in o.get("text", "") for o in outputs):
        problems.append(f"no output contains {SUMMARY!r}")
    return problems


def test_a_lab_opens_from_the_file_browser_and_solutions_are_not_listed(
    tmp_path, chromium_page, record_property
):
    page = chromium_page
    project = _project_copy(tmp_path)
    screenshot = tmp_path / "jupyterlab-lab.png"
    record_property("screenshot", str(screenshot))
    external = _watch_external_requests(page)
    with start_jupyterlab(project, home=tmp_path / "jupyter", settings=LAB_SETTINGS) as lab:
        with _explain_failure(page, lab, screenshot):
            page.goto(lab.page_url("lab"))
            # One answer of the server fills the listing: once labs/ shows, all of it does.
            _file_item(page, "labs").wait_for()
            top = _listed(page)
            assert "course" in top, f"the file browser lists {top}"
            assert (project / "solutions").is_dir()
            assert "solutions" not in top, f"the file browser lists solutions/: {top}"

            _file_item(page, "labs").dblclick()
            _file_item(page, Path(LAB).name).dblclick()
            page.locator(".lm-TabBar-tab.lm-mod-current", has_text=Path(LAB).name).wait_for()
            wait_for_idle_kernel(page, timeout_ms=60_000)
            notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
            notebook.get_by_role("heading", name=LAB_TITLE).wait_for()
            page.screenshot(path=screenshot)
    assert not external, f"the page requested addresses other than 127.0.0.1: {external}"


def test_welcome_notebook_runs_in_jupyterlab(tmp_path, chromium_page, record_property):
    page = chromium_page
    project = _project_copy(tmp_path)
    screenshot = tmp_path / "jupyterlab.png"
    record_property("screenshot", str(screenshot))
    print(f"screenshot: {screenshot}")
    external = _watch_external_requests(page)
    with start_jupyterlab(project, home=tmp_path / "jupyter", settings=LAB_SETTINGS) as lab:
        with _explain_failure(page, lab, screenshot):
            kernel_python = _kernel_python(lab)
            assert kernel_python in {"python", "python3", sys.executable}, (
                f"the python3 kernel runs {kernel_python!r}, not the venv's {sys.executable}"
            )
            page.goto(lab.page_url(f"lab/tree/{NOTEBOOK}"))
            wait_for_idle_kernel(page, timeout_ms=60_000)
            _menu(page, "Run", "Run All Cells")

            summary = page.locator(".jp-OutputArea-output", has_text=SUMMARY).first
            summary.wait_for(timeout=RUN_TIMEOUT_MS)
            running = page.locator(".jp-InputArea-prompt", has_text="[*]")
            running.last.wait_for(state="detached", timeout=RUN_TIMEOUT_MS)
            wait_for_idle_kernel(page, timeout_ms=RUN_TIMEOUT_MS)

            tracebacks = [
                text
                for text in page.locator(STDERR).all_inner_texts()
                if "Traceback" in text or ENAME.search(text)
            ]
            assert not tracebacks, "error output on the page:\n" + "\n\n".join(tracebacks)

            _menu(page, "File", "Save Notebook")
            page.locator(".lm-TabBar-tab.jp-mod-dirty").first.wait_for(state="detached")
            problems = _saved_notebook_problems(lab.root_dir / NOTEBOOK)
            assert not problems, f"the notebook saved from the page: {problems}"

            summary.scroll_into_view_if_needed()
            page.screenshot(path=screenshot)
            processes = psutil.Process(lab.process.pid).children(recursive=True)
    assert lab.process.poll() is not None, "JupyterLab still runs after start_jupyterlab()"
    left = [p.pid for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes of JupyterLab (kernels) still run: {left}"
    assert not external, f"the page requested addresses other than 127.0.0.1: {external}"
