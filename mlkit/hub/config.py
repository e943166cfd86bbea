"""A `jupyterhub_config.py` for a class on 127.0.0.1, with the exchange as a managed service.

The hub runs the exchange (`mlkit exchange`) and restarts it if it dies. Roles say who
may do what:

- every hub user (the `user` role) may access the exchange;
- the instructors group's role adds `INSTRUCT_SCOPE`, which lets a token release labs,
  collect submissions and return feedback;
- the token of a learner's server carries the exchange scopes the user holds, so
  `mlkit.submit()` in a notebook works with the server's `JUPYTERHUB_API_TOKEN`.

With `LearnerServers` the hub is a class hub (`mlkit hub`, docs/class-hub.md): accounts
from NativeAuthenticator (learners sign up, an instructor approves them; instructors are
the hub's admins), one container per learner (`hub/spawner.py`) with memory and CPU caps
and its own volume, and the idle culler as a service that stops servers left idle.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from mlkit._runtime.docker import CLASS_HUB_ENV
from mlkit.hub.exchange import INSTRUCT_SCOPE, MAX_NOTEBOOK_BYTES, SERVICE_NAME
from mlkit.settings import repo_root

EXCHANGE_ACCESS = f"access:services!service={SERVICE_NAME}"
LEARNER_HOME = "/home/learner"  # the learner image's user and home (its Dockerfile)
LEARNER_UID = 1000
PROXY_INSTALL_HINT = (
    "install JupyterHub's proxy in the project with `npm ci` (package.json pins "
    "configurable-http-proxy; Node.js >= 20 needed)"
)


def proxy_command() -> Path:
    """The project's configurable-http-proxy (installed by `npm ci`)."""
    return repo_root() / "node_modules" / ".bin" / "configurable-http-proxy"


@dataclass
class LearnerServers:
    """How a class hub runs learners' servers: the image, each one's caps, the culler."""

    image: str
    mem_limit: str = "2G"
    cpu_limit: float = 1.0
    pids_limit: int = 512
    cull_idle_seconds: int = 3600
    prefix: str = "mlkit-class"  # names of containers (<prefix>-<user>) and volumes
    start_timeout: int = 180

    def volume_template(self) -> str:
        """Each learner's home volume, `<prefix>-home-<user name>` (DockerSpawner fills in
        the escaped name, safe in a volume name)."""
        return f"{self.prefix}-home-{{username}}"


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
    learners: LearnerServers | None = None

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
    if settings.learners is not None:
        lines += class_hub_lines(settings, settings.learners)
    return "\n".join(lines)


def class_hub_lines(settings: HubSettings, learners: LearnerServers) -> list[str]:
    """The config lines of a class hub: accounts, a container per learner, the culler."""
    import nativeauthenticator

    # the hub's own folder first (login.html, see write_hub_config), then the sign-up pages
    templates = [
        str(settings.folder / "templates"),
        str(Path(nativeauthenticator.__file__).parent / "templates"),
    ]
    culler = {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={learners.cull_idle_seconds}",
            f"--cull-every={max(60, learners.cull_idle_seconds // 4)}",
        ],
    }
    culler_role = {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
    host_config = {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": learners.pids_limit,
    }
    environment = {
        "MLKIT_EXCHANGE_URL": settings.exchange_url,
        CLASS_HUB_ENV: "1",
        "MLKIT_SCRATCH": f"{LEARNER_HOME}/.scratch",
    }
    return [
        "# Accounts: learners sign up at /hub/signup; an instructor (an admin) approves",
        "# each one at /hub/authorize before they can log in.",
        "c.JupyterHub.authenticator_class = 'mlkit.hub.accounts.ClassAuthenticator'",
        f"c.JupyterHub.template_paths = {templates!r}",
        "c.NativeAuthenticator.open_signup = False",
        "c.NativeAuthenticator.minimum_password_length = 10",
        "c.NativeAuthenticator.check_common_password = True",
        "c.NativeAuthenticator.allowed_failed_logins = 5",
        "c.NativeAuthenticator.seconds_before_next_try = 60",
        "c.Authenticator.allow_all = True  # the instructors' approval is the gate",
        f"c.Authenticator.admin_users = set({settings.instructors!r})",
        "# A container per learner: the learner image, caps, its own volume, no Docker socket.",
        "c.JupyterHub.spawner_class = 'mlkit.hub.spawner.LearnerSpawner'",
        f"c.DockerSpawner.image = {learners.image!r}",
        "c.DockerSpawner.pull_policy = 'never'",
        "c.DockerSpawner.network_name = 'host'  # the engine has no bridge network",
        "c.DockerSpawner.use_internal_ip = True  # no ports to publish on the host network",
        "c.DockerSpawner.ip = '127.0.0.1'",
        "c.DockerSpawner.remove = True",
        "c.DockerSpawner.cmd = ['jupyterhub-singleuser']",
        f"c.DockerSpawner.prefix = {learners.prefix!r}",
        f"c.DockerSpawner.notebook_dir = {LEARNER_HOME!r}",
        f"c.DockerSpawner.volumes = {{{learners.volume_template()!r}: {LEARNER_HOME!r}}}",
        f"c.DockerSpawner.mem_limit = {learners.mem_limit!r}",
        f"c.DockerSpawner.cpu_limit = {learners.cpu_limit!r}",
        f"c.DockerSpawner.extra_host_config = {host_config!r}",
        f"c.DockerSpawner.extra_create_kwargs = {{'user': '{LEARNER_UID}'}}",
        f"c.DockerSpawner.start_timeout = {learners.start_timeout}",
        f"c.DockerSpawner.http_timeout = {learners.start_timeout}",
        f"c.Spawner.environment = {environment!r}",
        "# The idle culler stops a server nobody used for the timeout (the volume stays).",
        f"c.JupyterHub.services.append({culler!r})",
        f"c.JupyterHub.load_roles.append({culler_role!r})",
        "",
    ]


def write_hub_config(settings: HubSettings) -> Path:
    """Write jupyterhub_config.py into settings.folder; return its path."""
    settings.folder.mkdir(parents=True, exist_ok=True)
    if settings.learners is not None:
        from mlkit.hub.accounts import LOGIN_TEMPLATE

        (settings.folder / "templates").mkdir(exist_ok=True)
        (settings.folder / "templates" / "login.html").write_text(LOGIN_TEMPLATE)
    path = settings.folder / "jupyterhub_config.py"
    path.touch(mode=0o600)  # it may hold the exchange's database password
    path.chmod(0o600)
    path.write_text(hub_config(settings))
    return path
