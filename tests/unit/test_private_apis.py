"""The two private APIs of other libraries that mlkit uses, held to their pinned versions.

mlkit.drift calls scipy's exact two-sample KS routine (scipy has no public one) and
mlkit.scanning uses pip-audit as a library (pip-audit has no public Python API). Both are
pinned in pyproject.toml; these tests fail when an upgrade moves or changes them, and
the agreement tests in test_drift.py and test_scanning.py check what they compute.
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version

import numpy as np
import pytest
from scipy import stats

from mlkit.settings import repo_root


def pinned(package: str) -> str:
    text = (repo_root() / "pyproject.toml").read_text()
    found = re.search(rf'"{re.escape(package)}==([^"]+)"', text)
    assert found, f"{package} is not pinned in pyproject.toml"
    return found.group(1)


@pytest.mark.parametrize("package", ["scipy", "pip-audit"])
def test_the_installed_version_is_the_pinned_one(package):
    assert version(package) == pinned(package)


def test_scipy_exact_ks_routine_has_the_signature_drift_calls():
    from scipy.stats._stats_py import _attempt_exact_2kssamp

    params = list(inspect.signature(_attempt_exact_2kssamp).parameters)
    assert params == ["n1", "n2", "g", "d", "alternative"]


def test_scipy_exact_ks_routine_gives_ks_2samps_exact_pvalue():
    from scipy.stats._stats_py import _attempt_exact_2kssamp

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=40), rng.normal(0.5, size=55)
    expected = stats.ks_2samp(a, b, method="exact")
    ok, d, p = _attempt_exact_2kssamp(40, 55, 5, expected.statistic, "two-sided")
    assert ok
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)


def test_pip_audit_library_names_scanning_uses_are_there():
    from pip_audit._audit import Auditor
    from pip_audit._dependency_source import DependencySourceError, RequirementSource
    from pip_audit._service import VulnerabilityService

    assert list(inspect.signature(Auditor.__init__).parameters)[:2] == ["self", "service"]
    assert {"no_deps", "disable_pip"} <= set(inspect.signature(RequirementSource).parameters)
    assert issubclass(DependencySourceError, Exception)
    assert {"query", "query_all"} <= set(dir(VulnerabilityService))


def test_pip_audit_json_format_takes_what_audit_sbom_passes():
    from pip_audit._format import JsonFormat

    params = list(inspect.signature(JsonFormat).parameters)
    assert params == ["output_desc", "output_aliases"]
    assert list(inspect.signature(JsonFormat.format).parameters) == ["self", "result", "fixes"]
