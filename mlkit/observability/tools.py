"""Debian's Prometheus tools: where they are, and `promtool`'s checks and rule tests (module 06).

`prometheus` and `promtool` come with Debian's package `prometheus`, `alertmanager` (named
`prometheus-alertmanager` there) and `amtool` with `prometheus-alertmanager`.
`check_config` and `check_rules` run `promtool check …` and raise `PromtoolError` with
promtool's own message when it refuses a file; `run_rule_tests` runs `promtool test rules`
on a unit-test file and returns its report, or raises when a test fails.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mlkit._runtime.process import find_command
from mlkit.errors import MlkitError, indented_log

__all__ = [
    "TOOLS",
    "PromtoolError",
    "PrometheusToolMissingError",
    "Tool",
    "check_alertmanager_config",
    "check_config",
    "check_rules",
    "require",
    "run_rule_tests",
    "tool_problem",
    "tool_version",
]


_RUNTIME_FAILURE = re.compile(
    r"^(fatal error: |runtime: |runtime/cgo: )|resource temporarily unavailable", re.MULTILINE
)


@dataclass(frozen=True)
class Tool:
    """A command, the Debian package that installs it, and other names it goes by."""

    command: str
    package: str
    aliases: tuple[str, ...] = ()

    @property
    def install_hint(self) -> str:
        """How to install it, for error messages and `mlkit doctor`."""
        return f"apt-get install --no-install-recommends {self.package}"

    def path(self) -> str | None:
        """Where the command is (PATH or sbin), or None."""
        for name in (self.command, *self.aliases):
            found = find_command(name)
            if found is not None:
                return found
        return None


TOOLS = {
    "prometheus": Tool("prometheus", "prometheus"),
    "promtool": Tool("promtool", "prometheus"),
    "alertmanager": Tool("prometheus-alertmanager", "prometheus-alertmanager", ("alertmanager",)),
    "amtool": Tool("amtool", "prometheus-alertmanager"),
}


class PrometheusToolMissingError(MlkitError, RuntimeError):
    """A Prometheus command is not installed; the message names the Debian package."""


class PromtoolError(MlkitError, ValueError):
    """`promtool` (or `amtool`) refused a file or a rule test failed.

    Attributes: `path` (the file), `output` (the tool's report).
    """

    def __init__(self, what: str, path: Path, output: str) -> None:
        self.path = path
        self.output = output
        super().__init__(
            f"{what} failed for {path}:\n{indented_log(output.strip())}\n"
            "Fix what the report names (file, line, rule or test) and run it again."
        )


def tool_problem(name: str) -> str | None:
    """Why the tool `name` (a key of TOOLS) cannot be run here, or None."""
    tool = TOOLS[name]
    if tool.path() is None:
        return f"`{tool.command}` is not installed (Debian: `{tool.install_hint}`)"
    return None


def require(name: str) -> str:
    """The path of the tool `name`; raises `PrometheusToolMissingError` when it is missing."""
    if name not in TOOLS:
        raise ValueError(f"name: got {name!r}, expected one of {sorted(TOOLS)}.")
    tool = TOOLS[name]
    path = tool.path()
    if path is None:
        raise PrometheusToolMissingError(
            f"module 06 runs `{tool.command}`, which is not installed. Install Debian's "
            f"package as root: `{tool.install_hint}`; `mlkit doctor` shows what is found."
        )
    return path


def tool_version(name: str) -> str:
    """The first line of `<tool> --version` (raises when the tool is missing)."""
    found = subprocess.run(
        [require(name), "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    lines = (found.stdout or found.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _run(name: str, args: list[str], path: Path, what: str) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no file at {path}.")
    # Run next to the file and name it relatively: the report then shows no folders.
    args = [path.name if arg == str(path) else arg for arg in args]
    # One Go thread per tool: inside the grading sandbox, processes and threads are capped.
    env = {**os.environ, "GOMAXPROCS": "1"}
    for _ in range(2):
        result = subprocess.run(
            [require(name), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=path.parent,
            env=env,
        )
        output = (result.stdout + result.stderr).strip()
        # A Go runtime failure (no thread or memory at start-up) is not a verdict: once more.
        if result.returncode == 0 or not _RUNTIME_FAILURE.search(output):
            break
    if result.returncode != 0:
        raise PromtoolError(what, path, output)
    return output


def check_config(path: str | os.PathLike[str]) -> str:
    """`promtool check config PATH` (also checks the rule files it names); its report."""
    path = Path(path)
    return _run("promtool", ["check", "config", str(path)], path, "`promtool check config`")


def check_rules(path: str | os.PathLike[str]) -> str:
    """`promtool check rules PATH`: the rule file parses and every expression is valid."""
    path = Path(path)
    return _run("promtool", ["check", "rules", str(path)], path, "`promtool check rules`")


def run_rule_tests(path: str | os.PathLike[str]) -> str:
    """`promtool test rules PATH`: run a rule unit-test file (its `rule_files` are found
    relative to it); returns the report, raises `PromtoolError` when a test fails."""
    path = Path(path)
    return _run("promtool", ["test", "rules", str(path)], path, "`promtool test rules`")


def check_alertmanager_config(path: str | os.PathLike[str]) -> str:
    """`amtool check-config PATH`: routes, receivers and inhibit rules are valid."""
    path = Path(path)
    return _run("amtool", ["check-config", str(path)], path, "`amtool check-config`")
