"""One `grade` run over lab 00's solution, blank lab, a partial answer and hostile notebooks.

Every case must end with its own score and status, and none may disturb another: they
are graded together, two at a time, in the process sandbox. Each hostile case is built
so that the attack, if it worked, would change a score or leave a trace the test sees
(solution code copied in, a connection accepted, a file deleted, a line of output).

Some cases write garbage on the channels from the kernel to the grader (raw ZeroMQ
frames, forged probe replies, a closed output channel, binary junk) or make the
executed copy huge (display metadata, rich outputs, a bloated submitted file); broken
records of earlier runs are planted in the output folder. None of them may end as a
`grader-error`: each gets a learner's status with a reason.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from conftest import skip_or_fail
from nbformat.v4 import new_code_cell

from mlkit.grading import GradeReport, GradingLimits, grade
from mlkit.grading.assignment import read_assignment
from mlkit.grading.records import fingerprint
from mlkit.grading.sandbox.process import namespaces_problem
from mlkit.grading.transforms.limit_output import NOTE_KEY
from mlkit.settings import repo_root

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

SOLUTION = repo_root() / "solutions" / "00_welcome.ipynb"
LAB = repo_root() / "labs" / "00_welcome.ipynb"
FULL, NONE = {"q1": 2, "q2": 3, "q3": 3}, {"q1": 0, "q2": 0, "q3": 0}
LIMITS = GradingLimits(timeout=30, cell_timeout=10, test_timeout=20, output_kb=256)
CAP = LIMITS.output_kb * 1024
HIDDEN_SOURCE = ("_check_percentile", "BEGIN HIDDEN TESTS", "seed=2024", "def p50_is_the_median")


@dataclass(frozen=True)
class Places:
    """Paths and a port the hostile notebooks aim at."""

    solutions: Path
    submissions: Path
    out: Path
    port: int


def solution() -> nbformat.NotebookNode:
    return nbformat.read(SOLUTION, as_version=4)


def lab() -> nbformat.NotebookNode:
    return nbformat.read(LAB, as_version=4)


def appended(nb: nbformat.NotebookNode, *sources: str) -> nbformat.NotebookNode:
    nb.cells.extend(new_code_cell(source) for source in sources)
    return nb


def first(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    nb.cells.insert(0, new_code_cell(source))
    return nb


def answer_cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("mlkit", {}).get("question") == question)


def partial(_: Places) -> nbformat.NotebookNode:
    """q2 with the right median but the maximum as p95 and p99: one point of three."""
    nb = solution()
    cell = answer_cell(nb, "q2")
    right = '    return {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}'
    assert right in cell.source, "the solution's q2 changed; update this case"
    wrong = '    return {"p50": float(np.median(values)), "p95": values.max(), "p99": values.max()}'
    cell.source = cell.source.replace(right, wrong)
    return nb


def tagged_lab(_: Places) -> nbformat.NotebookNode:
    nb = lab()
    for cell in nb.cells:
        kind = cell.metadata.get("mlkit", {}).get("kind")
        cell.metadata["tags"] = ["raises-exception"] + (
            ["skip-execution"] if kind == "tests" else []
        )
    return nb


def skipped_solution(_: Places) -> nbformat.NotebookNode:
    nb = solution()
    for cell in nb.cells:
        cell.metadata["tags"] = ["skip-execution"]
    return nb


def deleted_cells(_: Places) -> nbformat.NotebookNode:
    nb = solution()
    answers = [answer_cell(nb, "q2"), answer_cell(nb, "q4")]
    nb.cells = [cell for cell in nb.cells if not any(cell is answer for answer in answers)]
    return nb


def duplicated_cells(_: Places) -> nbformat.NotebookNode:
    nb = solution()
    nb.cells = [
        nbformat.from_dict({**cell, "id": f"{cell.id}-{copy}"})
        for cell in nb.cells
        for copy in (1, 2)
    ]
    return nb


def bogus_kernel(_: Places) -> nbformat.NotebookNode:
    nb = solution()
    nb.metadata["kernelspec"] = {
        "name": "no-such-kernel",
        "display_name": "?",
        "language": "python",
    }
    return nb


READ_HIDDEN = """
import glob, json, os
places = [{solutions!r}, {repo_solutions!r}, {submissions!r}, {out!r}]
places += [os.getcwd(), "..", "../..", "/tmp/*"]  # /tmp not recursively: it may hold the venv
found = []
for base in places:
    for path in glob.glob(os.path.join(base, "**", "*.ipynb"), recursive=not base.endswith("*")):
        try:
            text = open(path).read()
        except OSError:
            continue
        if "BEGIN SOLUTION" in text or "hidden-tests" in text or "latency_summary" in text:
            found.append(path)
for name in os.listdir({repo_root!r}) if os.path.isdir({repo_root!r}) else []:
    if name in ("solutions", "labs", "tests"):
        found.append(os.path.join({repo_root!r}, name))
print("SEARCHED", len(places), "places")
for path in found:
    print("LEAK", path)
    if path.endswith(".ipynb"):
        for cell in json.load(open(path))["cells"]:
            if cell["cell_type"] == "code":
                try:
                    exec("".join(cell["source"]), globals())
                except Exception:
                    pass
"""

DELETE_FILES = """
import os, shutil
report = []
for base in [os.getcwd(), "..", "../..", {out!r}, {submissions!r}, {solutions!r}]:
    try:
        names = os.listdir(base)
    except OSError as err:
        report.append(f"cannot list {{base}}: {{type(err).__name__}}")
        continue
    for name in names:
        path = os.path.join(base, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            report.append(f"deleted {{path}}")
        except OSError as err:
            report.append(f"kept {{path}}: {{type(err).__name__}}")
    for fake in ("results.json", "gradebook.csv", "kernel.json", "sandbox.json"):
        try:
            with open(os.path.join(base, fake), "w") as handle:
                handle.write('{{"score": 100}}')
            report.append(f"wrote {{base}}/{{fake}}")
        except OSError as err:
            report.append(f"could not write {{base}}/{{fake}}: {{type(err).__name__}}")
print("\\n".join(report))
"""

FAKE_SCORE = """
import json, os
from IPython.display import publish_display_data
perfect = {q: {"points": p, "max": p, "passed": True, "message": "all checks passed"}
           for q, p in [("q1", 2), ("q2", 3), ("q3", 3), ("q4", 2)]}
entry = {"status": "ok", "score": 10, "max": 10, "questions": perfect}
print(json.dumps({"learners": {"fake-score": entry}}))
print("q1 PASS: 2 of 2 checks passed.")
reply = json.dumps({"ok": True, "value": 0.2555})
publish_display_data({"application/vnd.mlkit.probe+json": reply})
for folder in (".", ".."):
    for name in ("results.json", "gradebook.csv"):
        try:
            with open(os.path.join(folder, name), "w") as handle:
                handle.write(json.dumps(perfect))
        except OSError:
            pass
"""

PATCH_GRADER = """
import json
import numpy, numpy.testing
import mlkit, mlkit.grading, mlkit.grading.probe as probe, mlkit.grading.scoring as scoring
from IPython.display import publish_display_data
from mlkit.grading import test

mlkit.check = mlkit.grading.check = lambda question: True
scoring.score_question = scoring.run_test = lambda *args, **kwargs: None
numpy.allclose = lambda *args, **kwargs: True
numpy.testing.assert_allclose = lambda *args, **kwargs: None

@test("q1", points=100)
def free_points(ns):
    pass

def forged(request):
    value = {"t": "ndarray", "dtype": "|O", "shape": [1], "b64": "AAAAAAAAAAA="}
    publish_display_data({probe.MIME: json.dumps({"ok": True, "value": value})})

probe.answer = forged
"""

ALWAYS_EQUAL = """
class AlwaysEqual(float):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __ge__(self, other):
        return True
    def __getitem__(self, key):
        return self
    def __len__(self):
        return 500
    __hash__ = float.__hash__

churn_rate = AlwaysEqual(0.5)

def latency_summary(latencies_ms):
    return {"p50": AlwaysEqual(), "p95": AlwaysEqual(), "p99": AlwaysEqual()}

class Model:
    def predict(self, X):
        return AlwaysEqual()
    def predict_proba(self, X):
        return AlwaysEqual()

model = Model()
"""

NETWORK = """
import socket
try:
    with socket.create_connection(("127.0.0.1", {port}), timeout=3) as conn:
        conn.sendall(b"hello from a submission")
    print("NETWORK: connected")
except OSError as err:
    print("NETWORK: blocked", type(err).__name__)
"""

# Forks until the process limit refuses: every slot is then held by a sleeping child, so
# unless the grader ends them, the tests' own requests cannot start a thread.
FORK_BOMB = """
import os, time
while True:
    if os.fork() == 0:
        time.sleep(3600)
"""

MEMORY_BOMB = """
def bomb():
    chunks = []
    while True:
        chunks.append(b"\\x01" * (64 * 2**20))

bomb()
"""

# A cell defining send_raw: one message on the kernel's iopub socket built from raw
# bytes, signed with the kernel's own key (or not), as output of the running request.
RAW_SENDER = r"""
import json
from IPython import get_ipython

_kernel = get_ipython().kernel
_session = _kernel.session


def send_raw(msg_type, content, *, signed=True, header=None):
    parts = [
        header if header is not None else _session.pack(_session.msg_header(msg_type)),
        _session.pack(_kernel.get_parent()["header"]),
        b"{}",
        content,
    ]
    signature = _session.sign(parts) if signed else b"0" * 64
    _kernel.iopub_socket.send_multipart([b"raw", b"<IDS|MSG>", signature, *parts])
"""

IOPUB_GARBAGE = r"""
def dumps(value):
    return json.dumps(value).encode()

bad_header = dumps({"msg_id": "x", "msg_type": 7})
widget = {"comm_id": "c", "target_name": "jupyter.widget", "data": {"state": {}}}

send_raw("stream", dumps({"name": "stdout", "text": "unsigned"}), signed=False)
send_raw("stream", b"\xff\xfe{{{ not json")
send_raw("stream", b"[" * 100_000 + b"]" * 100_000)
send_raw("stream", dumps({"name": "stdout", "text": 5}))
send_raw("display_data", dumps({"data": ["not", "a", "bundle"], "metadata": {}}))
send_raw("display_data", dumps({"data": {}, "metadata": {}, "transient": {"display_id": [1]}}))
send_raw("error", dumps({"ename": "E", "evalue": "v", "traceback": "not a list"}))
send_raw("execute_result", dumps({"data": {}, "metadata": {}, "execution_count": -3}))
send_raw("status", dumps({"execution_state": None}))
send_raw("clear_output", dumps({"wait": "soon"}))
send_raw("stream", dumps({"name": "stdout", "text": "?"}), header=bad_header)
send_raw("comm_open", dumps(widget))
send_raw("comm_msg", dumps({"comm_id": ["c"], "data": {"state": {"msg_id": ""}}}))
send_raw("stream", b'{"name": "stdout", "text": "lone \\ud800 surrogate\\n"}')
send_raw("stream", b'{"name": "stdout", "text": "bytes \xff\xfe here\\n"}')
print("after the garbage")
"""

# One frame larger than the grader reads (ZeroMQ cuts the connection that carried it).
HUGE_MESSAGE = r"""
send_raw("stream", b'{"name": "stdout", "text": "' + b"x" * (257 * 2**20) + b'"}')
print("sent")
"""

# The probe's replies, as published by a learner's own `answer`: not JSON, over the size
# limit, truncated, not UTF-8.
PROBE_GARBAGE = r"""
import mlkit.grading.probe as probe
from IPython.display import publish_display_data

def publish(text):
    return lambda: publish_display_data({probe.MIME: text})

not_utf8 = b'{"data": {"%s": "\xff\xfe"}, "metadata": {}}' % probe.MIME.encode()

GARBAGE = {
    "release": publish("x" * (65 * 2**20)),
    "churn_rate": publish("{{{ not json"),
    "latency_summary": publish('{"ok": true, "value": {"t": "fl'),
    "model": lambda: send_raw("display_data", not_utf8),
}

def answer(request):
    request = json.loads(request)
    GARBAGE.get(request.get("name", request["op"]), lambda: None)()

probe.answer = answer
"""

# The first request of the tests closes the kernel's output channel (on its I/O thread).
CLOSES_PROBE_CHANNEL = r"""
import mlkit.grading.probe as probe
from IPython import get_ipython

def answer(request):
    thread = get_ipython().kernel.iopub_thread
    thread.schedule(thread.close)

probe.answer = answer
"""

BINARY_STDOUT = r"""
import os, sys
os.write(1, bytes(range(256)) * 4)
os.write(2, b"\xff\xfe\x00 junk on stderr\n")
sys.stdout.write("\x00\x1b[31m control characters \udcff\n")
print("after the junk")
"""

DISPLAY_METADATA = r"""
from IPython.display import display
display({"text/plain": "small"}, metadata={"junk": "x" * 8 * 2**20}, raw=True)
"""

# Every kind of output, each one past the cap on its own.
RICH_OUTPUTS = [
    "from IPython.display import HTML, display\ndisplay({'image/png': 'A' * 2**21}, raw=True)",
    "display(HTML('<p>' + 'x' * 2**21 + '</p>'))",
    "'x' * 2**21",
    "raise ValueError('x' * 2**21)",
    "handle = display('small', display_id=True)\nhandle.update('y' * 2**21)",
    RAW_SENDER,
    "state = {'_model_module': '@jupyter-widgets/output', '_model_name': 'OutputModel'}\n"
    "widget = {'comm_id': 'w', 'target_name': 'jupyter.widget', 'data': {'state': state}}\n"
    "state.update(outputs=[], junk='x' * 2**21)\n"
    "send_raw('comm_open', json.dumps(widget).encode())",
    "print('after every kind of output')",
]


def bloated(_: Places) -> nbformat.NotebookNode:
    """The solution with megabytes of metadata, an attachment and thousands of cells."""
    nb = solution()
    nb.metadata["junk"] = "m" * 2**21
    answer_cell(nb, "q1").metadata["junk"] = ["c" * 1000] * 2000
    picture = nbformat.v4.new_markdown_cell("![picture](attachment:big.png)")
    picture.attachments = {"big.png": {"image/png": "A" * 2**21}}
    nb.cells.append(picture)
    nb.cells.extend(nbformat.v4.new_markdown_cell(f"note {i}: " + "n" * 300) for i in range(1500))
    return nb


def places_source(template: str, places: Places) -> str:
    return template.format(
        solutions=str(places.solutions),
        repo_solutions=str(repo_root() / "solutions"),
        repo_root=str(repo_root()),
        submissions=str(places.submissions),
        out=str(places.out),
        port=places.port,
    )


@dataclass(frozen=True)
class Case:
    """A submission, the status and auto-graded points it must get."""

    learner: str
    build: Callable[[Places], nbformat.NotebookNode | str]
    status: str
    points: dict[str, float]


CASES = [
    Case("solution", lambda p: solution(), "ok", FULL),
    Case("blank-lab", lambda p: lab(), "cell-errors", NONE),
    Case("partial", partial, "ok", {**FULL, "q2": 1}),
    Case("infinite-loop", lambda p: appended(solution(), "while True:\n    pass"), "timeout", FULL),
    Case(
        "sleep", lambda p: appended(solution(), "import time\ntime.sleep(10**6)"), "timeout", FULL
    ),
    Case(
        "ignores-interrupt",
        lambda p: appended(
            solution(),
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        ),
        "timeout",
        NONE,
    ),
    Case(
        "wall-clock",
        lambda p: appended(solution(), *["import time\ntime.sleep(8)"] * 4),
        "timeout",
        NONE,
    ),
    Case("os-exit", lambda p: appended(solution(), "import os\nos._exit(1)"), "kernel-died", NONE),
    Case("sys-exit-blank", lambda p: first(lab(), "import sys\nsys.exit(0)"), "cell-errors", NONE),
    Case(
        "sys-exit-solution",
        lambda p: first(solution(), "import sys\nsys.exit(0)"),
        "cell-errors",
        FULL,
    ),
    Case("fork-bomb", lambda p: appended(solution(), FORK_BOMB), "cell-errors", FULL),
    Case("memory-bomb", lambda p: appended(solution(), MEMORY_BOMB), "memory-limit", FULL),
    Case(
        "big-output",
        lambda p: appended(solution(), 'for _ in range(50):\n    print("x" * 2**20)'),
        "output-limit",
        FULL,
    ),
    Case("fake-score", lambda p: appended(lab(), FAKE_SCORE), "cell-errors", NONE),
    Case("patches-grader", lambda p: appended(lab(), PATCH_GRADER), "protocol-error", NONE),
    Case("always-equal", lambda p: appended(lab(), ALWAYS_EQUAL), "cell-errors", NONE),
    Case(
        "reads-hidden",
        lambda p: appended(lab(), places_source(READ_HIDDEN, p)),
        "cell-errors",
        NONE,
    ),
    Case(
        "deletes-files", lambda p: appended(solution(), places_source(DELETE_FILES, p)), "ok", FULL
    ),
    Case("chdir-root", lambda p: first(solution(), "import os\nos.chdir('/')"), "ok", FULL),
    Case("network", lambda p: appended(solution(), places_source(NETWORK, p)), "ok", FULL),
    Case("nbformat-3", lambda p: nbformat.writes(nbformat.convert(solution(), 3)), "ok", FULL),
    Case("corrupt-json", lambda p: nbformat.writes(solution())[:500], "unreadable", NONE),
    Case("deleted-cells", deleted_cells, "ok", {**FULL, "q2": 0}),
    Case("duplicated-cells", duplicated_cells, "ok", FULL),
    Case("tags-on-blank", tagged_lab, "cell-errors", NONE),
    Case("skip-execution-tags", skipped_solution, "ok", FULL),
    Case("bogus-kernelspec", bogus_kernel, "ok", FULL),
    Case(
        "iopub-garbage",
        lambda p: appended(solution(), RAW_SENDER, IOPUB_GARBAGE),
        "protocol-error",
        FULL,
    ),
    Case(
        "huge-message",
        lambda p: appended(solution(), RAW_SENDER, HUGE_MESSAGE),
        "protocol-error",
        NONE,
    ),
    Case(
        "probe-garbage",
        lambda p: appended(solution(), RAW_SENDER, PROBE_GARBAGE),
        "protocol-error",
        NONE,
    ),
    Case(
        "closes-probe-channel",
        lambda p: appended(solution(), CLOSES_PROBE_CHANNEL),
        "protocol-error",
        NONE,
    ),
    Case("binary-stdout", lambda p: appended(solution(), BINARY_STDOUT), "ok", FULL),
    Case(
        "display-metadata", lambda p: appended(solution(), DISPLAY_METADATA), "output-limit", FULL
    ),
    Case("rich-outputs", lambda p: appended(solution(), *RICH_OUTPUTS), "output-limit", FULL),
    Case("bloated-notebook", bloated, "output-limit", FULL),
]
GARBAGE = [case.learner for case in CASES if case.status == "protocol-error"]
PROTOCOL_EVENTS = ("protocol-error", "channel-broken")
# Records an earlier run might have left (or a learner forged): each learner is graded again.
BROKEN_RECORDS = {
    "solution": lambda forged: forged[:40],
    "partial": lambda forged: forged.replace(
        '"summary": ""', '"summary": "' + "x" * 9 * 2**20 + '"'
    ),
    "blank-lab": lambda forged: forged,
    "fake-score": lambda forged: "[" * 100_000 + "]" * 100_000,
    "os-exit": lambda forged: "\udcff\x00 not a record",
}
BY_NAME = {case.learner: case for case in CASES}


class Listener:
    """A TCP server on the host's 127.0.0.1 that counts connections (there must be none)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def plant_records(places: Places) -> str:
    """Write BROKEN_RECORDS into the output folder; return the fingerprint they claim.

    The forged record has the fingerprint of blank-lab's submission, a status of "ok" and
    its questions as a list: reused, it would give full marks or break the summaries.
    """
    spec = read_assignment(places.solutions / SOLUTION.name)
    settings = {"limits": LIMITS.to_dict(), "sandbox": "process"}
    claimed = fingerprint(
        places.submissions / "blank-lab" / SOLUTION.name, spec.fingerprint, settings
    )
    for learner, breaks in BROKEN_RECORDS.items():
        forged = {
            "learner": learner, "submission": "", "status": "ok", "summary": "",
            "questions": [{"question": q, "points": p} for q, p in FULL.items()], "events": [],
            "written": {}, "sandbox": "process", "isolation": "", "seconds": 1.0,
            "fingerprint": claimed,
        }  # fmt: skip
        path = places.out / "records" / f"{learner}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(breaks(json.dumps(forged)), errors="surrogateescape")
    return claimed


@dataclass
class Graded:
    places: Places
    results: dict
    listener: Listener
    before: dict[str, dict[str, str]]
    report: GradeReport
    claimed: str

    def executed_text(self, learner: str) -> str:
        nb = nbformat.read(self.places.out / "executed" / f"{learner}.ipynb", as_version=4)
        return "".join(
            out.get("text", "")
            for cell in nb.cells
            if cell.cell_type == "code"
            for out in cell.outputs
        )


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Iterator[Graded]:
    problem = namespaces_problem()
    if problem is not None:
        skip_or_fail(f"the hostile suite needs the namespace sandbox: {problem}")
    root = tmp_path_factory.mktemp("hostile")
    listener = Listener()
    places = Places(root / "solutions", root / "submissions", root / "out", listener.port)
    places.solutions.mkdir()
    shutil.copy(SOLUTION, places.solutions)
    for case in CASES:
        if case.learner == "solution":
            target = places.submissions / "eve.ipynb"  # the flat layout, next to folders
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(solution(), target)
        folder = places.submissions / case.learner
        folder.mkdir(parents=True)
        built = case.build(places)
        text = built if isinstance(built, str) else nbformat.writes(built)
        (folder / "00_welcome.ipynb").write_text(text)
    before = {"submissions": digest(places.submissions), "solutions": digest(places.solutions)}
    claimed = plant_records(places)
    try:
        report = grade(
            places.submissions, "00", places.out, workers=2, limits=LIMITS,
            solutions=places.solutions, progress=False,
        )  # fmt: skip
    finally:
        listener.close()
    results = json.loads((places.out / "results.json").read_text())
    yield Graded(places, results, listener, before, report, claimed)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.learner)
def test_each_case_gets_its_score_and_status(graded, case):
    entry = graded.results["learners"][case.learner]
    points = {q: entry["questions"][q]["points"] for q in case.points}
    assert (entry["status"], points) == (case.status, case.points), entry["summary"]
    if case.status == "unreadable":  # nothing to grade by hand: the written answer scores 0
        assert entry["questions"]["q4"]["points"] == 0 and entry["pending"] == []
    else:
        assert entry["questions"]["q4"]["points"] is None and entry["pending"] == ["q4"]
    if case.status not in ("unreadable",):
        assert entry["isolation"].startswith("namespaces"), entry["isolation"]


def test_the_flat_layout_is_graded_alongside_folders(graded):
    assert graded.results["learners"]["eve"]["status"] == "ok"
    assert graded.results["learners"]["eve"]["score"] == 8


def test_gradebook_has_every_learner_despite_the_hostile_ones(graded):
    lines = (graded.places.out / "gradebook.csv").read_text().splitlines()
    assert lines[0] == "learner,q1,q2,q3,q4,total,max,status,pending"
    assert sorted(line.split(",")[0] for line in lines[1:]) == sorted([*BY_NAME, "eve"])


def test_nothing_outside_the_sandbox_was_deleted_or_edited(graded):
    assert digest(graded.places.submissions) == graded.before["submissions"]
    assert digest(graded.places.solutions) == graded.before["solutions"]
    text = graded.executed_text("deletes-files")
    assert f"cannot list {graded.places.out}: FileNotFoundError" in text
    assert "deleted .." not in text and "wrote ../results.json" not in text
    assert all((graded.places.out / "feedback" / f"{name}.html").exists() for name in BY_NAME)


def test_hidden_tests_and_other_submissions_were_out_of_reach(graded):
    text = graded.executed_text("reads-hidden")
    assert "SEARCHED 8 places" in text
    assert "LEAK" not in text


def test_no_connection_reached_the_host(graded):
    assert graded.listener.accepted == 0
    assert "NETWORK: blocked" in graded.executed_text("network")


def test_output_was_capped_while_it_streamed(graded):
    executed = graded.places.out / "executed" / "big-output.ipynb"
    assert executed.stat().st_size <= CAP
    assert "output past 256 KB dropped" in graded.executed_text("big-output")


def test_garbage_from_the_kernel_is_the_learners_and_named(graded):
    learners = graded.results["learners"]
    assert {e["status"] for e in learners.values()}.isdisjoint({"grader-error"})
    said = {
        name: " | ".join(
            e["detail"] for e in learners[name]["events"] if e["kind"] in PROTOCOL_EVENTS
        )
        for name in GARBAGE
    }
    for reason in (
        "signature is missing", "(not JSON)", "nested too deeply", "not a Jupyter message",
        "text is not a string", "data is not an object", "display_id is not a name",
        "traceback is not a list", "execution_count is not a count",
        "execution_state is not a string", "wait is not true or false",
    ):  # fmt: skip
        assert reason in said["iopub-garbage"]
    assert "a message of more than 256 MB cut off" in said["huge-message"]
    assert "the kernel's reply is not JSON" in said["probe-garbage"]
    assert "more than the 67108864 accepted" in said["probe-garbage"]
    assert "is not JSON" in learners["probe-garbage"]["questions"]["q1"]["message"]
    assert "sent nothing more on its output channel" in said["closes-probe-channel"]
    assert "is not plain data" in said["patches-grader"]
    assert all(said.values()), said


def test_text_from_the_kernel_is_kept_as_valid_utf8(graded):
    text = graded.executed_text("iopub-garbage")  # read as UTF-8 JSON
    assert "lone \ufffd surrogate" in text and "bytes \ufffd\ufffd here" in text
    assert "after the garbage" in text and "after the junk" in graded.executed_text("binary-stdout")


def test_every_executed_copy_keeps_within_the_cap(graded):
    for learner, case in BY_NAME.items():
        executed = graded.places.out / "executed" / f"{learner}.ipynb"
        assert executed.exists() == (case.status != "unreadable"), learner
        if executed.exists():
            assert executed.stat().st_size <= CAP, learner
            nbformat.validate(nbformat.read(executed, as_version=4))


def test_what_was_cut_is_replaced_by_notes(graded):
    for learner in ("display-metadata", "rich-outputs"):
        assert "[mlkit grade: output past 256 KB dropped]" in graded.executed_text(learner)
    assert "after every kind of output" in graded.executed_text("rich-outputs")
    nb = nbformat.read(graded.places.out / "executed" / "bloated-notebook.ipynb", as_version=4)
    assert nb.cells[-1].source.startswith("[mlkit grade: cells ")
    assert "dropped" in nb.metadata[NOTE_KEY] and "junk" not in nb.metadata
    q1 = next(c for c in nb.cells if "churn_rate = float(" in c.source)
    assert "metadata dropped" in q1.metadata[NOTE_KEY] and "junk" not in q1.metadata
    picture = next(c for c in nb.cells if "attachment:big.png" in c.source)
    assert "attachments dropped" in picture.metadata[NOTE_KEY] and "attachments" not in picture
    assert "churn rate: 0.255" in graded.executed_text("bloated-notebook")  # outputs kept
    cut = graded.results["learners"]["bloated-notebook"]["events"][-1]
    assert cut["kind"] == "output-truncated"
    for part in ("cells", "metadata of", "attachments of", "notebook metadata"):
        assert part in cut["detail"]


def test_broken_records_of_an_earlier_run_are_graded_again(graded):
    assert graded.report.reused == []
    for learner in BROKEN_RECORDS:
        record = json.loads((graded.places.out / "records" / f"{learner}.json").read_text())
        assert (record["learner"], record["status"]) == (learner, BY_NAME[learner].status)
    record = json.loads((graded.places.out / "records" / "blank-lab.json").read_text())
    assert record["fingerprint"] == graded.claimed  # the forged record claimed the right one


def test_interrupted_cells_are_named_and_the_run_goes_on(graded):
    events = graded.results["learners"]["infinite-loop"]["events"]
    assert [e["kind"] for e in events] == ["cell-timeout"]
    assert "ran past the 10 s cell limit and was interrupted" in events[0]["detail"]
    summary = graded.results["learners"]["ignores-interrupt"]["summary"]
    assert "did not run to the end" in summary and "ignored the interrupt" in summary
    assert "ran past its 30 s limit" in graded.results["learners"]["wall-clock"]["summary"]
    assert "exit code 1" in graded.results["learners"]["os-exit"]["summary"]


def test_feedback_shows_messages_but_no_hidden_test_code(graded):
    page = (graded.places.out / "feedback" / "partial.html").read_text()
    assert "p95 is not the 95th percentile" in page and "Score: 6 / 10" in page
    for learner in BY_NAME:
        page = (graded.places.out / "feedback" / f"{learner}.html").read_text()
        assert not any(secret in page for secret in HIDDEN_SOURCE), learner


def test_questions_that_could_not_run_carry_the_reason(graded):
    corrupt = graded.results["learners"]["corrupt-json"]
    assert corrupt["summary"].startswith("Not graded: the file is not valid JSON")
    assert corrupt["questions"]["q1"]["message"].startswith(
        "not graded: the file is not valid JSON"
    )
    died = graded.results["learners"]["os-exit"]["questions"]["q2"]["message"]
    appended_cell = len(nbformat.read(SOLUTION, as_version=4).cells) + 1  # numbered from 1
    assert died.startswith(
        f"not graded: the kernel stopped in cell {appended_cell} (exit code 1)"
    ), died
