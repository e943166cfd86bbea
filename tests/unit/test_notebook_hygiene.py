"""Committed notebooks are clean: course kernel, small outputs, no machine paths or secrets."""

import json
import re
from pathlib import Path

import pytest

from mlkit.settings import repo_root

NOTEBOOKS = sorted(
    p.relative_to(repo_root())
    for folder in ("course", "labs", "solutions")
    for p in (repo_root() / folder).glob("*.ipynb")
)
MAX_OUTPUT_BYTES = 200_000
MACHINE_PATH = re.compile(r"(/work/|/root/|/home/[a-z]|/tmp/|/private/var/|C:\\\\Users)")
SECRET = re.compile(
    r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|ghp_[A-Za-z0-9]{30,}|"
    r"(api[_-]?key|secret|password|token)\s*=\s*['\"][A-Za-z0-9_\-]{16,}['\"])",
    re.IGNORECASE,
)
NAME = re.compile(r"^\d\d_[a-z0-9_]+\.ipynb$")


def test_there_are_notebooks():
    assert any(str(p).startswith("course/") for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=str)
def test_notebook_is_clean(path: Path):
    raw = (repo_root() / path).read_text()
    nb = json.loads(raw)
    assert NAME.match(path.name), f"{path}: name notebooks NN_topic.ipynb"
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3", f"{path}: use the python3 kernel"
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    assert len(outputs) < MAX_OUTPUT_BYTES, f"{path}: committed outputs are {len(outputs)} bytes"
    assert not MACHINE_PATH.search(outputs), f"{path}: outputs contain a machine path"
    assert not SECRET.search(raw), f"{path}: looks like it contains a secret"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.parts[0] == "labs"], ids=str)
def test_labs_have_no_outputs(path: Path):
    nb = json.loads((repo_root() / path).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, path
