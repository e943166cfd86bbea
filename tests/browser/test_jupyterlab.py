"""JupyterLab in a real browser: open course/00_welcome.ipynb and run it from the Run menu.

JupyterLab serves a copy of course/ in tmp_path (so outputs never land in the repo), with
the project venv's python as kernel; headless Chromium clicks Run > Run All Cells and
reads the outputs off the page. A screenshot is saved under tmp_path either way.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import time
import urllib.request
from urllib.parse import urlsplit

import nbformat
import psutil
import pytest
from support.jupyterlab import RunningLab, start_jupyterlab

from mlkit.settings import repo_root

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

NOTEBOOK = "00_welcome.ipynb"
SUMMARY = "mlkit doctor:"
RUN_TIMEOUT_MS = 120_000
# Attach every cell to the page, so the checks below see the whole notebook.
LAB_SETTINGS = {"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}
# The status bar says "<kernel> | Idle" only once the kernel is connected and idle (the
# toolbar's execution indicator says idle before the kernel has even connected).
IDLE_KERNEL = re.compile(r"\| Idle$")
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


def _wait_for_idle_kernel(page, timeout_ms: float) -> None:
    """Wait until the notebook's kernel is idle, accepting dialogs such as Select Kernel."""
    deadline = time.monotonic() + timeout_ms / 1000
    dialog = page.locator(".jp-Dialog")
    idle = page.locator(".jp-StatusBar-TextItem", has_text=IDLE_KERNEL)
    while True:
        left_ms = max(1.0, (deadline - time.monotonic()) * 1000)
        dialog.or_(idle).first.wait_for(timeout=left_ms)
        if dialog.count() == 0:
            return
        dialog.locator(".jp-mod-accept").first.click()
        dialog.first.wait_for(state="detached", timeout=left_ms)


def _menu(page, menu: str, item: str) -> None:
    """Click a main-menu item, e.g. Run > Run All Cells."""
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.locator(".lm-Menu .lm-Menu-itemLabel").get_by_text(item, exact=True).click()


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


def test_welcome_notebook_runs_in_jupyterlab(tmp_path, chromium_page, record_property):
    page = chromium_page
    course = tmp_path / "course"
    shutil.copytree(repo_root() / "course", course, ignore=shutil.ignore_patterns(".*"))
    screenshot = tmp_path / "jupyterlab.png"
    record_property("screenshot", str(screenshot))
    print(f"screenshot: {screenshot}")
    external: list[str] = []

    def note_external(request) -> None:
        url = urlsplit(request.url)
        if url.scheme in {"http", "https", "ws", "wss"} and url.hostname != "127.0.0.1":
            external.append(request.url)

    page.context.on("request", note_external)
    with start_jupyterlab(course, home=tmp_path / "jupyter", settings=LAB_SETTINGS) as lab:
        with _explain_failure(page, lab, screenshot):
            kernel_python = _kernel_python(lab)
            assert kernel_python in {"python", "python3", sys.executable}, (
                f"the python3 kernel runs {kernel_python!r}, not the venv's {sys.executable}"
            )
            page.goto(lab.page_url(f"lab/tree/{NOTEBOOK}"))
            _wait_for_idle_kernel(page, timeout_ms=60_000)
            _menu(page, "Run", "Run All Cells")

            summary = page.locator(".jp-OutputArea-output", has_text=SUMMARY).first
            summary.wait_for(timeout=RUN_TIMEOUT_MS)
            running = page.locator(".jp-InputArea-prompt", has_text="[*]")
            running.last.wait_for(state="detached", timeout=RUN_TIMEOUT_MS)
            _wait_for_idle_kernel(page, timeout_ms=RUN_TIMEOUT_MS)

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
