"""`--sandbox docker`: one container per submission, no network, read-only, memory-capped."""

from __future__ import annotations

import json
import shutil
import socket

import nbformat
import pytest
from conftest import skip_or_fail
from nbformat.v4 import new_code_cell

from mlkit.grading import GradingLimits, grade
from mlkit.grading.exceptions import SandboxUnavailableError
from mlkit.grading.sandbox.docker import check_docker
from mlkit.settings import repo_root

pytestmark = [pytest.mark.docker, pytest.mark.notebooks, pytest.mark.slow]

SOLUTION = repo_root() / "solutions" / "00_welcome.ipynb"
LAB = repo_root() / "labs" / "00_welcome.ipynb"

ESCAPE = """
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("NETWORK: connected")
except OSError as err:
    print("NETWORK: blocked", type(err).__name__)
for target in ("/escape.txt", "/usr/escape.txt", "/root/escape.txt", "../escape.txt"):
    try:
        with open(target, "w") as handle:
            handle.write("x")
        print("WROTE", target)
    except OSError as err:
        print("REFUSED", target, type(err).__name__)
for path in ({solution!r}, {repo_solution!r}):
    try:
        open(path).read()
        print("LEAK", path)
    except OSError:
        print("HIDDEN", path)
"""

BOMB = 'chunks = []\nwhile True:\n    chunks.append(b"\\x01" * (64 * 2**20))'


@pytest.fixture(scope="module")
def docker_graded(docker_engine, tmp_path_factory):
    try:
        check_docker()
    except SandboxUnavailableError as err:
        skip_or_fail(str(err))
    root = tmp_path_factory.mktemp("docker")
    solutions, submissions, out = root / "solutions", root / "submissions", root / "out"
    solutions.mkdir()
    submissions.mkdir()
    shutil.copy(SOLUTION, solutions)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    shutil.copy(SOLUTION, submissions / "solution.ipynb")
    shutil.copy(LAB, submissions / "blank.ipynb")
    for name, source in {
        "escape": ESCAPE.format(
            port=listener.getsockname()[1],
            solution=str(solutions / SOLUTION.name),
            repo_solution=str(SOLUTION),
        ),
        "memory-bomb": BOMB,
    }.items():
        nb = nbformat.read(SOLUTION, as_version=4)
        nb.cells.append(new_code_cell(source))
        nbformat.write(nb, submissions / f"{name}.ipynb")
    limits = GradingLimits(timeout=60, cell_timeout=20, memory_mb=1536)
    try:
        grade(
            submissions, "00", out, workers=2, sandbox="docker", limits=limits,
            solutions=solutions, progress=False,
        )  # fmt: skip
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()
    return out, json.loads((out / "results.json").read_text())["learners"]


@pytest.mark.parametrize(
    "learner, status, score",
    [
        ("solution", "ok", 8),
        ("blank", "cell-errors", 0),
        ("escape", "ok", 8),
        ("memory-bomb", "memory-limit", 0),
    ],
)
def test_docker_sandbox_scores(docker_graded, learner, status, score):
    entry = docker_graded[1][learner]
    assert (entry["status"], entry["score"]) == (status, score), entry["summary"]
    assert entry["isolation"].startswith("docker container")


def test_the_container_has_no_network_no_writable_root_and_no_solutions(docker_graded):
    nb = nbformat.read(docker_graded[0] / "executed" / "escape.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "NETWORK: blocked" in text
    assert "WROTE" not in text and text.count("REFUSED") == 4
    assert "LEAK" not in text and text.count("HIDDEN") == 2


def test_an_out_of_memory_kill_is_reported_as_such(docker_graded):
    summary = docker_graded[1]["memory-bomb"]["summary"]
    assert "killed for using more than 1536 MB of memory" in summary
