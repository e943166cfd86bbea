"""Accounts for a class hub: NativeAuthenticator, on JupyterHub's own login page.

Learners sign up at /hub/signup with a name and a password; an instructor (a hub admin)
approves each account at /hub/authorize before it can log in. NativeAuthenticator 1.3's
own login page uses a hub attribute (`statsd`) that JupyterHub 6 no longer has, so this
class keeps its sign-up, approval and password pages and leaves /hub/login to JupyterHub,
which calls the same `authenticate` (password, approval, failed-login lockout).
"""

from __future__ import annotations

from typing import Any

from nativeauthenticator import NativeAuthenticator

# JupyterHub's login page with a link to the sign-up page (written beside the hub's config).
LOGIN_TEMPLATE = """{% extends "templates/login.html" %}
{% block login_terms %}
{{ super() }}
<p id="signup-link">No account yet? <a href="{{ base_url }}signup">Sign up</a>:
an instructor approves new accounts.</p>
{% endblock login_terms %}
"""


class ClassAuthenticator(NativeAuthenticator):
    """NativeAuthenticator's accounts and approval, with JupyterHub's login page."""

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        """NativeAuthenticator's pages except its login page."""
        return [(url, handler) for url, handler in super().get_handlers(app) if url != r"/login"]
