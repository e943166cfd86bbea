"""pyproject.toml and environment.yml carry the same pins."""

import tomllib

import yaml

from mlkit.settings import repo_root


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["dev"]
    return dict(line.lower().split("==") for line in lines)


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((repo_root() / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return dict(line.lower().split("==") for line in pip_section if "==" in line)


def test_pyproject_and_environment_agree():
    py, env = _pyproject_pins(), _environment_pins()
    assert py == env, {
        "only in pyproject.toml": sorted(set(py.items()) - set(env.items())),
        "only in environment.yml": sorted(set(env.items()) - set(py.items())),
    }


def test_environment_uses_the_same_python_and_installs_the_kit():
    env = yaml.safe_load((repo_root() / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[dev]" in pip_section
