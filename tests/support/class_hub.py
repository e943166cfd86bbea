"""What the class hub's tests share: a test-only hub service that manages users and tokens."""

from __future__ import annotations


def admin_service(token: str) -> str:
    """Hub config lines for a test-only service that manages users, tokens and groups."""
    return (
        f"c.JupyterHub.services.append({{'name': 'test-admin', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'test-admin', 'services': ['test-admin'],"
        " 'scopes': ['admin:users', 'tokens', 'groups']})\n"
    )
