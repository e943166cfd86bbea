"""Optional extras: a missing one is named with its install command; CI installs them all,
so the sections that need them (course 01 §12) run there instead of skipping."""

from __future__ import annotations

import tomllib

import pytest
from conftest import in_ci

from mlkit import checkup, extras
from mlkit.settings import repo_root


def test_a_missing_extra_says_what_it_is_for_and_how_to_install_it(monkeypatch, capsys):
    fake = extras.Extra(
        "imaginary", ("mlkit_no_such_module",), ("imaginary-pkg",), "a test", "1 KB"
    )
    monkeypatch.setitem(extras.EXTRAS, "imaginary", fake)
    assert extras.missing_modules("imaginary") == ["mlkit_no_such_module"]
    assert extras.available("imaginary") is False
    said = capsys.readouterr().out
    assert "mlkit_no_such_module" in said and "is skipped" in said
    assert ".venv/bin/pip install -e '.[imaginary]'" in said
    assert extras.available("imaginary", say=False) is False
    assert capsys.readouterr().out == ""
    doctor = checkup.check_extras()
    assert not doctor.ok and not doctor.required
    assert "imaginary: mlkit_no_such_module not installed" in doctor.detail
    assert "'.[imaginary]'" in doctor.fix


def test_an_unknown_extra_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"got 'tensorfow', expected one of: tensorflow"):
        extras.available("tensorfow")


def test_every_extra_is_an_optional_dependency_group_of_the_project():
    groups = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for name, item in extras.EXTRAS.items():
        pinned = {line.split("==")[0].lower() for line in groups[name]}
        assert all("==" in line for line in groups[name]), groups[name]
        assert pinned == set(item.packages), (name, pinned, item.packages)


def test_ci_has_every_extra_so_no_optional_section_is_skipped():
    missing = {name: extras.missing_modules(name) for name in extras.EXTRAS}
    missing = {name: modules for name, modules in missing.items() if modules}
    if missing and not in_ci():
        pytest.skip(f"optional extras not installed here: {missing}")
    assert not missing, f"CI installs every extra (make test EXTRAS=...), missing: {missing}"
    assert checkup.check_extras().ok
