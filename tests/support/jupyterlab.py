"""Start JupyterLab on 127.0.0.1 from Python, with the kit's Jupyter configuration.

Module 00 opens the course with `make lab`, which runs JupyterLab at the project folder
with the kit's configuration folder `jupyter-config/` on JUPYTER_CONFIG_PATH:

    JUPYTER_CONFIG_PATH=<project>/jupyter-config python -m jupyterlab
        --ServerApp.root_dir=<project> --ip=127.0.0.1 --no-browser --port=8888 ...

`lab_command()` builds that command line and `LAB_CONFIG_DIR` names that folder. The
configuration lists course/ and labs/ but hides instructor material (solutions/, tests/,
...), encrypts kernel traffic, and turns off news and update checks so that nothing
reaches the internet. The browser test (tests/browser/test_jupyterlab.py) runs the same
command through `start_jupyterlab()`: a free port, a random token, and the user's Jupyter
config, data, runtime, settings and workspace folders replaced by a private home folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

from mlkit._runtime.net import LOCALHOST, free_port, wait_for_http
from mlkit.settings import repo_root, scratch_dir

# The kit's Jupyter configuration (jupyter_server_config.py, labconfig/): `make lab` and
# start_jupyterlab() put it on JUPYTER_CONFIG_PATH.
LAB_CONFIG_DIR = repo_root() / "jupyter-config"


class JupyterLabStartError(RuntimeError):
    """JupyterLab did not answer on /api/status; carries the server log's path and tail."""

    def __init__(self, url: str, returncode: int | None, log_path: Path, log_tail: str) -> None:
        self.url = url
        self.returncode = returncode
        self.log_path = log_path
        self.log_tail = log_tail
        state = "kept running" if returncode is None else f"exited with code {returncode}"
        super().__init__(
            f"JupyterLab did not answer on {url} and {state}. "
            f"Server log ({log_path}), last lines:\n{log_tail}\n"
            "Check that `jupyter lab` runs in this environment (`make lab`)."
        )


@dataclass
class RunningLab:
    """A JupyterLab server started by `start_jupyterlab()`."""

    url: str
    port: int
    token: str
    root_dir: Path
    home: Path
    log_path: Path
    process: subprocess.Popen

    def page_url(self, path: str = "lab") -> str:
        """URL of a page of this server, with the token so a browser gets logged in."""
        return f"{self.url}{quote(path)}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the server log."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def lab_command(root_dir: Path | str, port: int | None = None) -> list[str]:
    """The `jupyter lab` command line of `make lab`; on exactly `port` when given.

    Run it with `JUPYTER_CONFIG_PATH` set to `LAB_CONFIG_DIR`, as `make lab` does.
    """
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={root_dir}",
        f"--ip={LOCALHOST}",
        "--no-browser",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    if port is not None:
        cmd += [f"--port={port}", "--ServerApp.port_retries=0"]
    return cmd


def _isolated_env(home: Path, token: str, settings: dict[str, dict]) -> dict[str, str]:
    """Environment whose Jupyter and IPython folders all live under `home`.

    The kit's configuration is the only extra config folder, as under `make lab`. The
    token goes in the environment, not on the command line where `ps` shows it.
    `settings` maps plugin ids ("@jupyterlab/<package>:<plugin>") to user settings.
    """
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_PATH"}
    env["JUPYTER_CONFIG_PATH"] = str(LAB_CONFIG_DIR)
    env["JUPYTER_TOKEN"] = token
    folders = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "config" / "lab" / "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "config" / "lab" / "workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for name, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        env[name] = str(folder)
    for plugin_id, values in settings.items():
        package, _, plugin = plugin_id.partition(":")
        folder = folders["JUPYTERLAB_SETTINGS_DIR"] / package
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    return env


def _stop(lab: RunningLab, grace: float = 10.0) -> None:
    """Shut the server down (kernels first), then end whatever of its processes is left."""
    proc = lab.process
    family: list[psutil.Process] = []
    with contextlib.suppress(psutil.Error):
        family = psutil.Process(proc.pid).children(recursive=True)
    request = urllib.request.Request(
        f"{lab.url}api/shutdown", method="POST", headers={"Authorization": f"token {lab.token}"}
    )
    if proc.poll() is None:
        with contextlib.suppress(urllib.error.URLError, OSError):
            urllib.request.urlopen(request, timeout=5).close()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # Kernels run in their own sessions, so a process-group signal does not reach them.
    for child in family:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(family, timeout=grace)


@contextlib.contextmanager
def start_jupyterlab(
    root_dir: Path | str,
    port: int | None = None,
    token: str | None = None,
    *,
    home: Path | str | None = None,
    settings: dict[str, dict] | None = None,
    timeout: float = 60.0,
) -> Iterator[RunningLab]:
    """Run JupyterLab on 127.0.0.1 serving `root_dir` while the `with` block runs.

    `port` defaults to a free one and `token` to a random one. The kernel is this
    interpreter's (the venv's python3 kernelspec, which Jupyter prefers inside a venv).
    The server runs `lab_command()` with the kit's configuration (`LAB_CONFIG_DIR`), as
    `make lab` does. The user's Jupyter config, data, runtime, settings and workspace
    folders and the server log live under `home` (default: a temporary folder under the
    scratch area, removed afterwards). `settings` sets JupyterLab user settings by plugin
    id, e.g. `{"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}`.

    Waits until /api/status answers; raises `JupyterLabStartError` with the log's tail
    otherwise. On exit the server, its kernels and its process group are shut down.
    """
    root = Path(root_dir).resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"root_dir must be an existing folder, got {str(root_dir)!r}.")
    settings = settings or {}
    bad = [plugin_id for plugin_id in settings if ":" not in plugin_id.strip(":")]
    if bad:
        raise ValueError(
            f"settings keys must be plugin ids like '@jupyterlab/<package>:<plugin>', got {bad}."
        )
    port = free_port() if port is None else port
    token = secrets.token_hex(24) if token is None else token
    own_home = home is None
    home_path = Path(tempfile.mkdtemp(dir=scratch_dir("jupyterlab"))) if own_home else Path(home)
    home_path.mkdir(parents=True, exist_ok=True)
    env = _isolated_env(home_path, token, settings)
    cmd = lab_command(root, port=port)
    log_path = home_path / "jupyterlab.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab = RunningLab(
        url=f"http://{LOCALHOST}:{port}/",
        port=port,
        token=token,
        root_dir=root,
        home=home_path,
        log_path=log_path,
        process=proc,
    )
    try:
        status = f"{lab.url}api/status?token={token}"
        if not wait_for_http(status, timeout=timeout, alive=lambda: proc.poll() is None):
            raise JupyterLabStartError(lab.url, proc.poll(), log_path, lab.log_tail())
        yield lab
    finally:
        _stop(lab)
        if own_home:
            shutil.rmtree(home_path, ignore_errors=True)


IDLE_KERNEL = re.compile(r"\| Idle$")


def wait_for_idle_kernel(page, timeout_ms: float = 120_000) -> None:
    """Wait until the JupyterLab page's kernel is idle (its status bar), accepting dialogs
    such as Select Kernel on the way."""
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
