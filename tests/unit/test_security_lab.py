"""mlkit.lessons.security_lab: the probes of lab 08 tell an unsafe answer from a safe one."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import joblib
import pytest
from sklearn.dummy import DummyClassifier

from mlkit.lessons import security_lab


def test_write_vulnerable_tool_needs_an_existing_folder(tmp_path):
    with pytest.raises(NotADirectoryError, match="folder: no folder at"):
        security_lab.write_vulnerable_tool(tmp_path / "missing")


def test_the_unsafe_tool_keeps_its_contract_and_falls_for_every_injection(tmp_path):
    report = security_lab.probe_report_tool(security_lab.write_vulnerable_tool(tmp_path))
    assert report["import error"] is None
    assert all(check["ok"] for check in report["contract"].values()), report["contract"]
    assert {name: attack["ran"] for name, attack in report["attacks"].items()} == {
        "read_settings of a YAML tag": True,
        "parse_threshold of Python code": True,
        "restore_job of a pickle": True,
        "count_lines of a path with a shell command": True,
    }
    assert report["serve host"] == "'0.0.0.0'"


def test_a_tool_that_does_not_import_is_reported(tmp_path):
    tool = tmp_path / "report_tool.py"
    tool.write_text("raise NotImplementedError('q5')\n")
    report = security_lab.probe_report_tool(tool)
    assert report["import error"] == "NotImplementedError: q5"


def _sign(path: Path, key: bytes) -> Path:
    signature = path.with_name(path.name + ".sig")
    signature.write_text(hmac.new(key, path.read_bytes(), hashlib.sha256).hexdigest())
    return signature


def test_a_loader_that_loads_before_checking_runs_the_payload(tmp_path):
    model_path = tmp_path / "model.joblib"
    rows = [[0.0], [1.0]]
    joblib.dump(DummyClassifier(strategy="prior").fit(rows, [0, 1]), model_path)

    def load_then_check(path, signature, key):
        model = joblib.load(path)
        digest = hmac.new(key, Path(path).read_bytes(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(digest, Path(signature).read_text()):
            raise ValueError(f"{Path(path).name}: bad signature")
        return model

    cases = security_lab.probe_signed_loading(_sign, load_then_check, model_path, rows)
    assert cases["untouched"]["outcome"] == "loaded"
    assert cases["untouched"]["predictions"] == [0.5, 0.5]
    swapped = cases["replaced by a pickle that runs code"]
    assert (swapped["outcome"], swapped["payload ran"]) == ("refused", True)
    assert cases["wrong key"]["error"] == "ValueError"
    assert cases["wrong key"]["message"] == "model.joblib: bad signature"
    assert cases["no signature file"]["error"] == "FileNotFoundError"
    assert cases["no signature file"]["error_module"] == "builtins"
