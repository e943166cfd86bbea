"""A class hub as a process: JupyterHub with its proxy and the exchange, on 127.0.0.1.

`start_hub` writes the config, starts `jupyterhub` as a `LoggedProcess` and returns once
the hub's API and the exchange (through the proxy) both answer.
"""

from __future__ import annotations

import sys

from mlkit._runtime.net import owns_port, wait_for_http
from mlkit._runtime.process import LoggedProcess
from mlkit.errors import ServerStartError
from mlkit.hub.config import PROXY_INSTALL_HINT, HubSettings, proxy_command, write_hub_config


def start_hub(
    settings: HubSettings, extra_config: str = "", timeout: float = 90.0
) -> LoggedProcess:
    """Start JupyterHub for settings (extra_config appended to its config); wait until the
    hub and the exchange answer. The caller stops the process."""
    if not proxy_command().exists():
        raise ServerStartError(
            "JupyterHub", f"{proxy_command()} is missing", "", "-", PROXY_INSTALL_HINT
        )
    config = write_hub_config(settings)
    if extra_config:
        config.write_text(config.read_text() + extra_config)
    hub = LoggedProcess(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)],
        settings.folder / "jupyterhub.log",
        cwd=settings.folder,
    )
    for what, url in (
        ("the hub's API", f"{settings.url}/hub/api/"),
        ("the exchange", f"{settings.exchange_url}api/health"),
    ):
        if not wait_for_http(url, timeout=timeout, alive=hub.is_running):
            hub.stop()
            raise ServerStartError(
                "JupyterHub",
                f"{what} did not answer at {url} within {timeout:.0f} s",
                hub.log_tail(),
                hub.log_path,
                "Read the log; `mlkit doctor` says whether the proxy and JupyterHub are installed.",
            )
    if not owns_port(hub.family_pids(), settings.port):
        hub.stop()
        raise ServerStartError(
            "JupyterHub",
            f"another program holds port {settings.port}",
            hub.log_tail(),
            hub.log_path,
            "Start it again on another port.",
        )
    return hub
