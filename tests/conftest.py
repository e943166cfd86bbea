"""Shared fixtures. A test that needs a missing tool fails in CI and skips elsewhere."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    """True when env CI is "true" or "1" (CI sets it; a missing tool is then a failure)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def skip_or_fail(reason: str) -> NoReturn:
    """Fail the test in CI, skip it elsewhere, with the same reason."""
    if in_ci():
        pytest.fail(f"CI needs this test to run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Require an answering Docker engine (`.ci/start-dockerd.sh` starts one)."""
    from mlkit.containers import docker_problem

    problem = docker_problem()
    if problem is not None:
        skip_or_fail(f"needs a Docker engine: {problem}; start one with .ci/start-dockerd.sh")
