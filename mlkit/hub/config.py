"""A `jupyterhub_config.py` for a class on 127.0.0.1, with the exchange as a managed service.

The hub runs the exchange (`mlkit exchange`) and restarts it if it dies. Roles say who
may do what:

- every hub user (the `user` role) may access the exchange;
- the instructors group's role adds `INSTRUCT_SCOPE`, which lets a token release labs,
  collect submissions and return feedback;
- the token of a learner's server carries the exchange scopes the user holds, so
  `mlkit.submit()` in a notebook works with the server's `JUPYTERHUB_API_TOKEN`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from mlkit.hub.exchange import INSTRUCT_SCOPE, MAX_NOTEBOOK_BYTES, SERVICE_NAME
from mlkit.settings import repo_root

EXCHANGE_ACCESS = f"access:services!service={SERVICE_NAME}"
PROXY_INSTALL_HINT = (
    "install JupyterHub's proxy in the project with `npm ci` (package.json pins "
    "configurable-http-proxy; Node.js >= 20 needed)"
)


def proxy_command() -> Path:
    """The project's configurable-http-proxy (installed by `npm ci`)."""
    return repo_root() / "node_modules" / ".bin" / "configurable-http-proxy"


@dataclass
class HubSettings:
    """Where the hub and the exchange listen and keep their files."""

    folder: Path
    port: int
    hub_port: int
    proxy_api_port: int
    exchange_port: int
    instructors: list[str] = field(default_factory=list)
    authenticator: str = "pam"
    max_notebook_bytes: int = MAX_NOTEBOOK_BYTES
    # The exchange's rows (None: SQLite in its folder); handed over in the environment
    # (MLKIT_EXCHANGE_DB_URL), so that a password in it is not on a command line.
    exchange_db_url: str | None = None

    @property
    def url(self) -> str:
        """The hub's public address (the proxy)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def exchange_url(self) -> str:
        """The exchange as learners reach it, through the proxy."""
        return f"{self.url}/services/{SERVICE_NAME}/"


def exchange_command(settings: HubSettings) -> list[str]:
    """The command the hub runs for the exchange service."""
    return [
        sys.executable,
        "-m",
        "mlkit.cli",
        "exchange",
        "--data",
        str(settings.folder / "exchange"),
        "--max-bytes",
        str(settings.max_notebook_bytes),
    ]


def hub_config(settings: HubSettings) -> str:
    """The text of jupyterhub_config.py for settings."""
    folder = settings.folder
    service = {
        "name": SERVICE_NAME,
        "url": f"http://127.0.0.1:{settings.exchange_port}",
        "command": exchange_command(settings),
        "display": True,
    }
    if settings.exchange_db_url:
        service["environment"] = {"MLKIT_EXCHANGE_DB_URL": settings.exchange_db_url}
    roles = [
        {"name": "user", "scopes": ["self", EXCHANGE_ACCESS]},
        {
            "name": "exchange-instructor",
            "description": "Release labs, collect submissions, return feedback",
            "scopes": [EXCHANGE_ACCESS, INSTRUCT_SCOPE],
            "groups": ["instructors"],
        },
    ]
    lines = [
        "# Written by mlkit (mlkit/hub/config.py): a class hub with the exchange service.",
        "c = get_config()  # noqa: F821",
        "c.JupyterHub.ip = '127.0.0.1'",
        f"c.JupyterHub.port = {settings.port}",
        "c.JupyterHub.hub_ip = '127.0.0.1'",
        f"c.JupyterHub.hub_port = {settings.hub_port}",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{settings.proxy_api_port}'",
        f"c.ConfigurableHTTPProxy.command = [{str(proxy_command())!r}]",
        f"c.ConfigurableHTTPProxy.pid_file = {str(folder / 'proxy.pid')!r}",
        f"c.JupyterHub.db_url = {'sqlite:///' + str(folder / 'jupyterhub.sqlite')!r}",
        f"c.JupyterHub.cookie_secret_file = {str(folder / 'jupyterhub_cookie_secret')!r}",
        f"c.JupyterHub.authenticator_class = {settings.authenticator!r}",
        "c.JupyterHub.custom_scopes = {",
        f"    {INSTRUCT_SCOPE!r}: {{'description': 'Instruct a class in the mlkit exchange'}},",
        "}",
        f"c.JupyterHub.load_groups = {{'instructors': {{'users': {settings.instructors!r}}}}}",
        f"c.JupyterHub.load_roles = {roles!r}",
        f"c.JupyterHub.services = [{service!r}]",
        "c.Spawner.server_token_scopes = [",
        "    'users:activity!user', 'access:servers!server',",
        f"    {EXCHANGE_ACCESS!r}, {INSTRUCT_SCOPE!r},",
        "]",
        f"c.Spawner.environment = {{'MLKIT_EXCHANGE_URL': {settings.exchange_url!r}}}",
        "",
    ]
    return "\n".join(lines)


def write_hub_config(settings: HubSettings) -> Path:
    """Write jupyterhub_config.py into settings.folder; return its path."""
    settings.folder.mkdir(parents=True, exist_ok=True)
    path = settings.folder / "jupyterhub_config.py"
    path.touch(mode=0o600)  # it may hold the exchange's database password
    path.chmod(0o600)
    path.write_text(hub_config(settings))
    return path
