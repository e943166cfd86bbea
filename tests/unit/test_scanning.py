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
    audit_requirements,
    bandit_findings,
    find_secrets,
    find_secrets_in_image,
    load_advisories,
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
