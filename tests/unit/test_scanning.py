"""mlkit.scanning: bandit on code, pip-audit on pins (offline snapshot), secrets in files."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from pathlib import Path

import pytest

from mlkit.containers import BASE_IMAGE_ENV, build_image, remove_image
from mlkit.scanning import (
    PolicyDecision,
    advisory_severities,
    audit_requirements,
    audit_sbom,
    bandit_findings,
    dependency_policy,
    find_secrets,
    find_secrets_in_image,
    load_advisories,
    make_sbom,
    pip_audit_report,
    sbom_pins,
    shannon_entropy,
)

BAD_CODE = """\
import pickle
import subprocess


def run(command, blob):
    subprocess.call(command, shell=True)
    return pickle.loads(blob)
"""

CLEAN_CODE = """\
import json


def load(text):
    return json.loads(text)
"""


def test_bandit_finds_pickle_and_shell_in_a_bad_file(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(BAD_CODE)
    found = {(f.test_id, f.line) for f in bandit_findings(bad)}
    assert ("B602", 6) in found
    assert ("B301", 7) in found


def test_bandit_severity_filter_drops_low_findings(tmp_path):
    (tmp_path / "bad.py").write_text(BAD_CODE)
    every = bandit_findings(tmp_path)
    high = bandit_findings(tmp_path, min_severity="high")
    assert any(f.severity == "LOW" for f in every)
    assert [f.test_id for f in high] == ["B602"]


def test_bandit_finds_nothing_in_clean_code(tmp_path):
    (tmp_path / "clean.py").write_text(CLEAN_CODE)
    assert bandit_findings(tmp_path) == []


def test_bandit_bad_arguments_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: .*does not exist"):
        bandit_findings(tmp_path / "missing.py")
    with pytest.raises(ValueError, match="min_severity: got 'SEVERE'"):
        bandit_findings(tmp_path, min_severity="SEVERE")


def test_audit_flags_an_old_pin_with_its_fix():
    found = audit_requirements(["requests==2.25.0", "numpy==2.4.6"])
    by_alias = {alias: v for v in found for alias in (v.id, *v.aliases)}
    proxy_leak = by_alias["GHSA-j8r2-6x86-q33q"]
    assert proxy_leak.package == "requests"
    assert proxy_leak.version == "2.25.0"
    assert proxy_leak.fix_versions == ("2.31.0",)
    assert {v.package for v in found} == {"requests"}


def test_audit_respects_range_boundaries():
    assert audit_requirements(["urllib3==2.2.2", "jinja2==3.1.6", "requests==2.32.4"]) == []
    ids = {a for v in audit_requirements(["urllib3==2.0.6"]) for a in (v.id, *v.aliases)}
    assert "GHSA-g4mx-q9vg-27p4" in ids  # fixed in 2.0.7
    assert "GHSA-v845-jxx5-vc9f" not in ids  # fixed in 2.0.6


def test_audit_reads_a_requirements_file_and_a_custom_snapshot(tmp_path):
    snapshot = {
        "advisories": [
            {
                "id": "TEST-1",
                "summary": "a test advisory",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": "Demo_Pkg"},
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}]}],
                    }
                ],
            }
        ]
    }
    (tmp_path / "snap.json").write_text(json.dumps(snapshot))
    (tmp_path / "requirements.txt").write_text("demo-pkg==1.2\nother==0.1\n")
    found = audit_requirements(tmp_path / "requirements.txt", advisories=tmp_path / "snap.json")
    assert [(v.package, v.id, v.fix_versions) for v in found] == [("demo-pkg", "TEST-1", ())]


def test_audit_refuses_unpinned_requirements():
    with pytest.raises(ValueError, match="requirements: .*not pinned"):
        audit_requirements(["requests>=2.0"])


def test_shipped_snapshot_holds_real_advisory_ids():
    records = load_advisories()
    assert len(records) >= 8
    assert all(r["id"].startswith("GHSA-") for r in records)


def test_sbom_lists_each_pin_as_a_pypi_component(tmp_path):
    sbom = make_sbom(["PyYAML==5.3.1", "requests==2.32.4"], tmp_path / "sbom.json")
    document = json.loads(sbom.read_text())
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"
    assert sorted(c["purl"] for c in document["components"]) == [
        "pkg:pypi/pyyaml@5.3.1",
        "pkg:pypi/requests@2.32.4",
    ]
    assert sbom_pins(sbom) == ["pyyaml==5.3.1", "requests==2.32.4"]
    again = make_sbom(["PyYAML==5.3.1", "requests==2.32.4"], tmp_path / "again.json")
    assert again.read_bytes() == sbom.read_bytes(), "the same pins should give the same SBOM"
    with pytest.raises(ValueError, match="sbom: expected a CycloneDX JSON document"):
        sbom_pins({"components": []})


def test_policy_fails_the_build_on_a_critical_pin_and_passes_moderate_ones():
    sbom = {"bomFormat": "CycloneDX", "components": [
        {"purl": "pkg:pypi/pyyaml@5.3.1"}, {"purl": "pkg:pypi/urllib3@1.26.5"},
        {"purl": "pkg:pypi/requests@2.32.4"},
    ]}  # fmt: skip
    report = audit_sbom(sbom)
    by_name = {d["name"]: d for d in report["dependencies"]}
    assert [v["id"] for v in by_name["pyyaml"]["vulns"]] == ["CVE-2020-14343"]
    assert by_name["pyyaml"]["vulns"][0]["aliases"] == ["GHSA-8q59-q68h-6hv4"]
    assert by_name["requests"]["vulns"] == [] and len(by_name["urllib3"]["vulns"]) == 3
    decision = dependency_policy(report)
    assert isinstance(decision, PolicyDecision) and not decision.passed
    assert decision.blocking == ("pyyaml==5.3.1: CVE-2020-14343 (CRITICAL), fixed in 5.4",)
    assert len(decision.allowed) == 3 and all("(MODERATE)" in line for line in decision.allowed)
    assert not dependency_policy(report, fail_on="MODERATE").allowed
    assert dependency_policy(audit_sbom({**sbom, "components": sbom["components"][1:]})).passed


def test_the_kits_pins_pass_the_policy():
    from mlkit.settings import repo_root

    text = (repo_root() / "pyproject.toml").read_text()
    pins = [
        line.strip().strip('",')
        for line in text.splitlines()
        if line.strip().startswith('"') and "==" in line
    ]
    decision = dependency_policy(audit_sbom({"bomFormat": "CycloneDX", "components": [
        {"purl": "pkg:pypi/{}@{}".format(*pin.lower().split("=="))} for pin in pins
    ]}))  # fmt: skip
    assert decision.passed, decision.blocking


# pip-audit's JSON report format (`pip-audit -f json --desc --aliases`): a fixture of the
# tool's output written by hand, not recorded from a run, for the policy's edge cases.
TOOL_FORMAT_FIXTURE = {
    "dependencies": [
        {"name": "requests", "version": "2.32.4", "vulns": []},
        {"name": "pyyaml",
         "skip_reason": "Dependency not found on PyPI and could not be audited: pyyaml (5.3.1)"},
        {"name": "somepkg", "version": "1.0", "vulns": [
            {"id": "PYSEC-0000-1", "fix_versions": [], "aliases": [],
             "description": "not in the snapshot"},
        ]},
    ],
    "fixes": [],
}  # fmt: skip


def test_policy_fails_closed_on_a_skipped_package_and_an_unknown_severity():
    decision = dependency_policy(TOOL_FORMAT_FIXTURE)
    assert not decision.passed
    assert decision.blocking == (
        "pyyaml: not audited (Dependency not found on PyPI and could not be audited: "
        "pyyaml (5.3.1))",
        "somepkg==1.0: PYSEC-0000-1 (severity unknown), fixed in no fixed version",
    )
    known = {**advisory_severities(), "PYSEC-0000-1": "LOW"}
    only_skip = dependency_policy(TOOL_FORMAT_FIXTURE, severities=known)
    assert len(only_skip.blocking) == 1 and only_skip.allowed == (
        "somepkg==1.0: PYSEC-0000-1 (LOW), fixed in no fixed version",
    )
    with pytest.raises(ValueError, match="report: expected pip-audit's JSON report"):
        dependency_policy({"vulns": []})
    with pytest.raises(ValueError, match="fail_on: got 'SEVERE'"):
        dependency_policy(TOOL_FORMAT_FIXTURE, fail_on="SEVERE")


def test_snapshot_severities_cover_every_advisory_and_alias():
    records = load_advisories()
    severities = advisory_severities()
    for record in records:
        assert severities[record["id"]] == record["database_specific"]["severity"]
        assert all(
            severities[alias] == severities[record["id"]] for alias in record.get("aliases", [])
        )
    assert severities["GHSA-8q59-q68h-6hv4"] == "CRITICAL"


def test_live_pip_audit_report_of_a_vulnerable_pin_fails_the_policy():
    """One live call of the pip-audit command against PyPI: whether PyPI answers with the
    advisory or pip-audit skips the package it could not look up, the build fails."""
    report = pip_audit_report(["PyYAML==5.3.1"], timeout=120)
    (dependency,) = report["dependencies"]
    assert dependency["name"] == "pyyaml"
    assert "skip_reason" in dependency or dependency["vulns"], report
    assert not dependency_policy(report).passed


def test_entropy_separates_keys_from_repeats():
    assert shannon_entropy("aaaaaaaaaaaaaaaa") == 0
    assert shannon_entropy("Zq8f3KpL2xW9vB7nR4tY6uE1") > 4


def write_notebook(path: Path, source: str, output: str) -> None:
    cell = {
        "cell_type": "code",
        "metadata": {},
        "execution_count": 1,
        "source": [source],
        "outputs": [{"output_type": "stream", "name": "stdout", "text": [output]}],
    }
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(notebook))


def test_find_secrets_sees_a_key_printed_in_a_notebook_output(tmp_path):
    key = "Zq8f3KpL2xW9vB7nR4tY6uE1"
    write_notebook(tmp_path / "n.ipynb", "print(settings)\n", f"API_KEY={key}\n")
    hits = find_secrets(tmp_path)
    assert [(h.where, h.kind) for h in hits] == [("cell 1 output line 1", "token assignment")]
    assert key not in hits[0].excerpt


def test_find_secrets_in_logs_and_nothing_in_clean_text(tmp_path):
    log = tmp_path / "service.log"
    log.write_text(
        "INFO started\n-----BEGIN RSA PRIVATE KEY-----\npassword = 'hunter22'\n"
        "token = 'aaaaaaaaaaaaaaaaaaaaaaaa'\n"
    )
    clean = tmp_path / "clean.txt"
    clean.write_text(
        "token = os.environ['API_KEY']\nmax_tokens = 16\napi_key = secrets.token_urlsafe(24)\n"
        "Set the password variable in the environment.\n"
    )
    kinds = [(Path(h.path).name, h.where, h.kind) for h in find_secrets([log, clean])]
    assert kinds == [
        ("service.log", "line 2", "private key"),
        ("service.log", "line 3", "password assignment"),
    ]


def test_find_secrets_names_a_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="paths: .*does not exist"):
        find_secrets([tmp_path / "nope.log"])


@pytest.mark.docker
def test_find_secrets_in_image_reads_the_files_copy_shipped(docker_engine, tmp_path):
    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY . /app/\n")
    key = secrets.token_urlsafe(24)
    (tmp_path / ".env").write_text(f"CHURN_API_KEY={key}\n")
    (tmp_path / "service.py").write_text("import os\nKEY = os.environ['CHURN_API_KEY']\n")
    tag = f"mlkit-test-secrets:{uuid.uuid4().hex[:8]}"
    base = os.environ.get(BASE_IMAGE_ENV) or "python:3.11-slim"
    build_image(tmp_path, tag, build_args={"BASE_IMAGE": base}, log_dir=tmp_path / "logs")
    try:
        hits = find_secrets_in_image(tag, "/app")
    finally:
        remove_image(tag)
    assert [(h.path, h.kind) for h in hits] == [(f"{tag}:/app/.env", "token assignment")]
    assert key not in hits[0].excerpt
