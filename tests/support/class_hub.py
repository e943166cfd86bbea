"""What the class hub's tests share: the hub's settings on free ports, and a test-only hub
service that manages users and tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import skip_or_fail

from mlkit._runtime.net import free_port
from mlkit.hub.config import HubSettings, proxy_command


def hub_settings(folder: Path, **fields: Any) -> HubSettings:
    """A class hub in folder with ines as its instructor, every port free on 127.0.0.1, and
    `fields` on top; skips (fails in CI) without the proxy."""
    if not proxy_command().exists():
        skip_or_fail(f"needs configurable-http-proxy at {proxy_command()}: run `npm ci`")
    ports = {name: free_port() for name in ("port", "hub_port", "proxy_api_port", "exchange_port")}
    return HubSettings(folder=folder, instructors=["ines"], **ports, **fields)


def admin_service(token: str) -> str:
    """Hub config lines for a test-only service that manages users, tokens and groups."""
    return (
        f"c.JupyterHub.services.append({{'name': 'test-admin', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-admin', 'services': ['test-admin'],"
        " 'scopes': ['admin:users', 'tokens', 'groups']})\n"
    )
