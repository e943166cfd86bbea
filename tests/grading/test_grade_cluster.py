"""`mlkit grade --cluster`: a class graded on a real Dask cluster matches a local run.

A real `dask scheduler` and two real `dask worker` processes on 127.0.0.1, talking TLS with
certificates from `mlkit cluster certs` (mlkit/grading/loopback_cluster.py), grade lab 00's
solution, blank lab, half-right copy and a few hostile notebooks; gradebook.csv,
results.json (but for timings and the worker) and the feedback pages equal a local run's.
Then: a worker killed mid-run, a submission that every worker dies on, a worker with other
tests (at the start, and joining mid-run), lab 03 with and without a `docker` worker (its
solution graded end to end on one), a scheduler that goes away and a rerun that resumes,
`mlkit cluster check` and `mlkit cluster local`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import pytest
from support.lab_scores import notebook, write_half_right
from test_grade_cli import INTERRUPTED
from test_grade_hostile import BY_NAME as HOSTILE
from test_lab_scores import CASES as LAB_CASES
from typer.testing import CliRunner

import mlkit
import mlkit.grading.cluster as cluster_module
from mlkit.cli import app
from mlkit.grading import grade
from mlkit.grading.assignment import read_assignment
from mlkit.grading.cluster import ClusterTLS, check_address, cluster_job
from mlkit.grading.cluster_worker import KitVersion, grade_on_worker, source_hash
from mlkit.grading.exceptions import ClusterError
from mlkit.grading.job import Task
from mlkit.grading.loopback_cluster import LoopbackCluster

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

SOLUTION, LAB = notebook("solutions", "00"), notebook("labs", "00")
HALF_RIGHT = next(case for case in LAB_CASES if case.assignment == "00").half_right
HOSTILE_CASES = ("os-exit", "fake-score", "nbformat-3", "corrupt-json")
TIMING = "seconds"
runner = CliRunner()


def solutions(folder: Path, *learners: str) -> Path:
    """A submissions folder with a copy of lab 00's solution per learner."""
    folder.mkdir(parents=True)
    for learner in learners:
        shutil.copy(SOLUTION, folder / f"{learner}.ipynb")
    return folder


def a_class(folder: Path) -> Path:
    """Lab 00's solution, blank lab and half-right copy, hostile notebooks, a missing one."""
    folder.mkdir(parents=True)
    shutil.copy(SOLUTION, folder / "solution.ipynb")
    shutil.copy(LAB, folder / "blank.ipynb")
    write_half_right("00", folder / "half_right.ipynb", HALF_RIGHT)
    for name in HOSTILE_CASES:
        built = HOSTILE[name].build(None)
        text = built if isinstance(built, str) else nbformat.writes(built)
        (folder / f"{name}.ipynb").write_text(text)
    (folder / "nobody").mkdir()
    (folder / "nobody" / "notes.txt").write_text("nothing submitted")
    return folder


def without_timings(results: dict) -> dict:
    """results.json without what differs between two runs: seconds and the worker."""
    for entry in results["learners"].values():
        entry.pop(TIMING)
        entry.pop("worker")
        for question in entry["questions"].values():
            question.pop(TIMING)
    return results


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.html"))}


def rows(out: Path) -> list[dict[str, str]]:
    with (out / "gradebook.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[LoopbackCluster]:
    """A TLS scheduler and workers w1, w2 on 127.0.0.1, certificates by `mlkit cluster certs`."""
    folder = tmp_path_factory.mktemp("cluster")
    made = runner.invoke(app, ["cluster", "certs", str(folder / "certs")])
    assert made.exit_code == 0, made.output
    running = LoopbackCluster(folder, folder / "certs", {"MLKIT_SCRATCH": str(folder / "scratch")})
    try:
        running.start_scheduler()
        running.start_workers("w1", "w2")
        yield running
    finally:
        running.stop()


@pytest.fixture
def two_workers(cluster) -> Iterator[LoopbackCluster]:
    """The cluster with exactly w1 and w2 before and after the test."""
    yield cluster
    for name in set(cluster.workers) - {"w1", "w2"}:
        cluster.stop_worker(name)
    missing = sorted({"w1", "w2"} - set(cluster.workers))
    if missing:
        cluster.start_workers(*missing)


def kill_a_busy_worker(cluster: LoopbackCluster, timeout: float = 60) -> tuple[str, int]:
    """Wait until a worker grades a submission for a second, SIGKILL it; its name and pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [a for a, keys in cluster.client().processing().items() if keys]
        if busy:
            time.sleep(1.0)  # its kernel is running the notebook
            names = {address: name for name, address in cluster.worker_addresses().items()}
            return names[busy[0]], cluster.kill_worker(names[busy[0]])
        time.sleep(0.1)
    raise AssertionError("no worker started grading")


def sandboxes(cluster: LoopbackCluster) -> list[str]:
    """The command lines of the kernels the workers run now."""
    found = []
    for worker in cluster.workers.values():
        for process in worker.family():
            with contextlib.suppress(psutil.Error):  # it ended meanwhile
                if "ipykernel_launcher" in process.cmdline():
                    found.append(" ".join(process.cmdline()))
    return found


def in_background(**kwargs) -> tuple[threading.Thread, dict]:
    """grade(**kwargs) in a thread; the dict gets its report or its exception."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["report"] = grade(progress=False, **kwargs)
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_class_graded_on_the_cluster_matches_a_local_run_and_resumes(two_workers, tmp_path):
    cluster = two_workers
    subs = a_class(tmp_path / "subs")
    local, remote = tmp_path / "local", tmp_path / "remote"
    grade(subs, "00", local, workers=2, progress=False)
    command = ["grade", str(subs), "-a", "00", "-o", str(remote), "--cluster", cluster.address]
    result = runner.invoke(app, [*command, "--certs", str(cluster.certs)])
    assert result.exit_code == 0, result.output
    assert f"cluster {cluster.address}, dashboard: http://127.0.0.1:" in result.output
    assert "done 8, running 0, failed 0, workers in use 0/2" in result.output
    assert "graded 8, reused 0" in result.output

    assert (remote / "gradebook.csv").read_text() == (local / "gradebook.csv").read_text()
    assert files(remote / "feedback") == files(local / "feedback")
    assert (remote / "manual_grades.csv").read_text() == (local / "manual_grades.csv").read_text()
    there = json.loads((remote / "results.json").read_text())
    here = json.loads((local / "results.json").read_text())
    assert {e["worker"] for e in here["learners"].values()} == {"local"}
    workers = set(cluster.worker_addresses().values())
    assert {e["worker"] for e in there["learners"].values()} <= workers
    assert without_timings(there) == without_timings(here)
    statuses = {learner: entry["status"] for learner, entry in there["learners"].items()}
    assert statuses == {
        "solution": "ok", "blank": "cell-errors", "half_right": "ok", "os-exit": "kernel-died",
        "fake-score": "cell-errors", "nbformat-3": "ok", "corrupt-json": "unreadable",
        "nobody": "missing",
    }  # fmt: skip
    assert sorted(p.name for p in (remote / "executed").iterdir()) == sorted(
        p.name for p in (local / "executed").iterdir()
    )

    again = grade(subs, "00", remote, cluster=cluster.address, tls=cluster.tls, progress=False)
    assert again.graded == [] and len(again.reused) == 8


def test_a_worker_killed_mid_run_loses_nothing(two_workers, tmp_path):
    cluster = two_workers
    subs = solutions(tmp_path / "subs", "a", "b", "c")
    out = tmp_path / "out"
    thread, outcome = in_background(
        submissions=subs, assignment="00", out=out, cluster=cluster.address, tls=cluster.tls
    )
    killed, pid = kill_a_busy_worker(cluster)
    thread.join(timeout=120)
    assert "error" not in outcome, outcome
    assert killed not in cluster.worker_addresses()
    assert [(r["learner"], r["total"], r["status"]) for r in rows(out)] == [
        ("a", "8", "ok"), ("b", "8", "ok"), ("c", "8", "ok"),
    ]  # fmt: skip
    # The killed worker's folders went with the next submission graded on this machine.
    assert list((cluster.folder / "scratch" / "grading").iterdir()) == []


def test_a_submission_every_worker_dies_on_ends_as_worker_lost(two_workers, tmp_path):
    cluster = two_workers
    client = cluster.client()
    client.run_on_scheduler(lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 0))
    subs = solutions(tmp_path / "subs", "a", "b")
    out = tmp_path / "out"
    try:
        thread, outcome = in_background(
            submissions=subs, assignment="00", out=out, cluster=cluster.address, tls=cluster.tls
        )
        kill_a_busy_worker(cluster)  # no other try is allowed: its submissions are lost
        thread.join(timeout=120)
    finally:
        client.run_on_scheduler(
            lambda dask_scheduler: setattr(dask_scheduler, "allowed_failures", 3)
        )
    assert "error" not in outcome, outcome
    graded = {r["learner"]: (r["total"], r["status"]) for r in rows(out)}
    assert sorted(graded) == ["a", "b"]
    assert ("0", "worker-lost") in graded.values(), graded
    assert set(graded.values()) <= {("0", "worker-lost"), ("8", "ok")}
    results = json.loads((out / "results.json").read_text())["learners"]
    lost = [learner for learner, (_, status) in graded.items() if status == "worker-lost"]
    assert (
        "every worker that tried to grade it died while it ran (1 tries)"
        in (results[lost[0]]["reason"])
    )

    cluster.start_workers(*sorted({"w1", "w2"} - set(cluster.workers)))
    again = grade(subs, "00", out, cluster=cluster.address, tls=cluster.tls, progress=False)
    assert again.graded == lost  # a lost submission is graded again, the others reused
    assert {r["status"] for r in rows(out)} == {"ok"}


def test_ctrl_c_stops_the_runs_tasks_and_the_same_command_resumes(two_workers, tmp_path):
    cluster = two_workers
    subs, out = solutions(tmp_path / "subs", "a", "b"), tmp_path / "out"
    slow = nbformat.read(SOLUTION, as_version=4)
    slow.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(100)"))
    for learner in ("c", "d", "e"):  # graded after a and b, and still running at Ctrl-C
        nbformat.write(slow, subs / f"{learner}.ipynb")
    command = [
        sys.executable, "-m", "mlkit.cli", "grade", str(subs), "-a", "00", "-o", str(out),
        "--cluster", cluster.address, "--certs", str(cluster.certs), "--no-progress",
    ]  # fmt: skip
    process = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            len(list((out / "records").glob("*.json"))) == 2 and len(sandboxes(cluster)) == 2
        ):
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130, stderr
    assert stderr.strip() == INTERRUPTED
    deadline = time.monotonic() + 5  # the two sleeping notebooks are stopped, not left to run
    while sandboxes(cluster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandboxes(cluster) == []
    deadline = time.monotonic() + 10  # and the run's tasks leave the cluster
    while any(cluster.client().processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(cluster.client().processing().values())
    assert sorted(p.stem for p in (out / "records").glob("*.json")) == ["a", "b"]

    for learner in ("c", "d", "e"):  # they hand in a notebook that ends, and it is graded
        shutil.copy(SOLUTION, subs / f"{learner}.ipynb")
    again = grade(subs, "00", out, cluster=cluster.address, tls=cluster.tls, progress=False)
    assert (again.reused, again.graded) == (["a", "b"], ["c", "d", "e"])
    assert [r["total"] for r in rows(out)] == ["8"] * 5


def test_a_run_whose_workers_all_left_stops_and_says_how_to_go_on(
    two_workers, tmp_path, monkeypatch
):
    cluster = two_workers
    monkeypatch.setattr(cluster_module, "NO_WORKER_GRACE", 2.0)
    subs, out = solutions(tmp_path / "subs", "a", "b"), tmp_path / "out"
    thread, outcome = in_background(
        submissions=subs, assignment="00", out=out, cluster=cluster.address, tls=cluster.tls
    )
    deadline = time.monotonic() + 60
    while not any(cluster.client().processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for name in ("w1", "w2"):
        cluster.kill_worker(name)
    thread.join(timeout=60)
    assert isinstance(outcome.get("error"), ClusterError), outcome
    message = str(outcome["error"])
    assert f"no worker has been in the cluster at {cluster.address} for 2 s" in message
    assert f"start a worker (`dask worker {cluster.address} --tls-ca-file" in message
    assert not (out / "records").exists() or len(list((out / "records").iterdir())) < 2


def test_a_worker_with_other_tests_is_refused(two_workers, tmp_path):
    cluster = two_workers
    other = other_solutions(tmp_path / "other-solutions")
    cluster.start_workers("odd", env={"MLKIT_SOLUTIONS": str(other)})
    odd = cluster.worker_addresses()["odd"]
    subs, out = solutions(tmp_path / "subs", "a"), tmp_path / "out"
    with pytest.raises(ClusterError) as refused:
        grade(subs, "00", out, cluster=cluster.address, tls=cluster.tls, progress=False)
    message = str(refused.value)
    assert f"the worker {odd} runs mlkit 0.1.0 (source " in message
    assert message.count("00_welcome tests ") == 2  # its hash and ours, which differ
    assert "install the same mlkit (and the same solutions/) on every worker" in message
    assert not out.exists()


def test_a_task_sent_to_a_worker_of_another_kit_is_refused_there(two_workers, tmp_path):
    """A worker that joins after the run's checks refuses the task itself (grade_on_worker)."""
    cluster = two_workers
    spec = read_assignment(SOLUTION)
    ours = KitVersion(mlkit.__version__, source_hash(), "0" * 64)  # tests the workers lack
    task = Task("a", None, "nothing submitted", str(SOLUTION), "", "", "process", {}, "key")
    job = cluster_job(task, spec, ours, SOLUTION.read_bytes())
    answer = cluster.client().submit(grade_on_worker, job, pure=False).result(timeout=60)
    assert set(answer) == {"refused", "worker"}
    theirs = f"00_welcome tests {spec.tests_hash[:12]}, but this grader runs mlkit "
    assert theirs in answer["refused"]
    assert "00_welcome tests 000000000000: install the same mlkit" in answer["refused"]


def other_solutions(folder: Path) -> Path:
    """A solutions folder whose lab 00 has tests edited on one machine only."""
    folder.mkdir()
    nb = nbformat.read(SOLUTION, as_version=4)
    tests = next(c for c in nb.cells if c.metadata.get("mlkit", {}).get("kind") == "tests")
    tests.source += "\n# a test edited on one machine only"
    nbformat.write(nb, folder / SOLUTION.name)
    return folder


def test_a_worker_of_another_kit_that_joins_mid_run_is_left_out(two_workers, tmp_path, capsys):
    """Its tasks go back to the workers that passed the checks; the run goes on."""
    cluster = two_workers
    learners = [f"l{index:02d}" for index in range(12)]
    subs, out = solutions(tmp_path / "subs", *learners), tmp_path / "out"
    thread, outcome = in_background(
        submissions=subs, assignment="00", out=out, cluster=cluster.address, tls=cluster.tls
    )
    deadline = time.monotonic() + 60
    while not any(cluster.client().processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)  # the run passed its checks and w1, w2 took their first tasks
    env = {"MLKIT_SOLUTIONS": str(other_solutions(tmp_path / "other"))}
    cluster.start_workers("odd", env=env)  # the scheduler's queue feeds it at once
    odd = cluster.worker_addresses()["odd"]
    thread.join(timeout=300)
    assert "error" not in outcome, outcome
    assert [(r["learner"], r["total"], r["status"]) for r in rows(out)] == [
        (learner, "8", "ok") for learner in learners
    ]
    graded_by = {entry["worker"] for entry in outcome["report"].learners.values()}
    assert odd not in graded_by
    assert graded_by <= set(cluster.worker_addresses().values())
    said = capsys.readouterr().err
    assert said.count("mlkit grade: leaving out a worker: ") == 1, said
    assert f"the worker {odd} runs mlkit {mlkit.__version__} (source " in said


def nothing_submitted(folder: Path) -> Path:
    """A submissions folder whose one learner handed in no notebook (nothing runs: fast)."""
    (folder / "alice").mkdir(parents=True)
    (folder / "alice" / "notes.txt").write_text("nothing submitted")
    return folder


def test_a_docker_lab_without_a_docker_worker_fails_at_once(two_workers, tmp_path):
    cluster = two_workers
    subs, out = nothing_submitted(tmp_path / "subs"), tmp_path / "out"
    start = time.monotonic()
    with pytest.raises(ClusterError) as refused:
        grade(subs, "03", out, cluster=cluster.address, tls=cluster.tls, progress=False)
    assert time.monotonic() - start < 20
    message = str(refused.value)
    assert "03_containers needs a Docker engine on the worker" in message
    assert "no worker of the cluster at" in message
    assert f"`dask worker {cluster.address} --tls-ca-file " in message
    assert "--resources docker=1`" in message
    assert not out.exists()


def test_a_docker_worker_without_an_engine_is_refused(two_workers, tmp_path):
    cluster = two_workers
    no_docker = tmp_path / "bin"  # a PATH where no `docker` command is found
    no_docker.mkdir()
    cluster.start_workers("fake-docker", resources="docker=1", env={"PATH": str(no_docker)})
    subs, out = nothing_submitted(tmp_path / "subs"), tmp_path / "out"
    with pytest.raises(ClusterError) as refused:
        grade(subs, "03", out, cluster=cluster.address, tls=cluster.tls, progress=False)
    worker = cluster.worker_addresses()["fake-docker"]
    assert f"the worker {worker} has the `docker` resource but cannot run containers" in str(
        refused.value
    )
    assert "the `docker` command is not installed" in str(refused.value)
    assert not out.exists()


@pytest.mark.docker
def test_a_docker_lab_is_graded_end_to_end_on_the_docker_worker(
    two_workers, tmp_path, docker_engine
):
    """Lab 03's solution (its hidden tests build and run an image) and a learner who handed
    in nothing: both go to the one worker with the `docker` resource; full marks and 0."""
    cluster = two_workers
    cluster.start_workers("docker-1", resources="docker=1")
    subs, out = nothing_submitted(tmp_path / "subs"), tmp_path / "out"
    shutil.copy(notebook("solutions", "03"), subs / "solver.ipynb")
    report = grade(subs, "03", out, cluster=cluster.address, tls=cluster.tls, progress=False)
    docker_worker = cluster.worker_addresses()["docker-1"]
    spec = read_assignment(notebook("solutions", "03"))
    full = sum(q.points for q in spec.questions.values() if not q.manual)
    solver, alice = report.learners["solver"], report.learners["alice"]
    assert (solver["status"], solver["score"]) == ("ok", full), solver["summary"]
    assert alice["status"] == "missing"
    assert solver["worker"] == alice["worker"] == docker_worker


@pytest.mark.parametrize(
    "address, tls, message",
    [
        ("tcp://10.0.0.5:8786", False, "the scheduler is not on this machine's loopback"),
        ("10.0.0.5:8786", False, "connect over TLS with certificates, tls://10.0.0.5:8786"),
        ("tcp://grader.example.edu:8786", False, "not on this machine's loopback"),
        ("tls://10.0.0.5:8786", False, "a tls:// scheduler needs certificates: pass --certs"),
        ("tcp://127.0.0.1:8786", True, "certificates were given but the address is tcp://"),
        ("udp://127.0.0.1:8786", False, "expected a tls:// or tcp:// address"),
    ],
)
def test_an_address_off_loopback_needs_tls(tmp_path, address, tls, message):
    certs = ClusterTLS(tmp_path / "ca.pem", tmp_path / "c.pem", tmp_path / "k.pem") if tls else None
    with pytest.raises(ClusterError, match="--cluster") as refused:
        check_address(address, certs)  # reads the address only: nothing is sent
    assert message in str(refused.value)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tcp://localhost:8786"])
def test_loopback_is_allowed_without_tls(address):
    check_address(address, None)


def test_the_cli_refuses_a_plain_address_off_loopback_before_writing(tmp_path):
    subs, out = solutions(tmp_path / "subs", "a"), tmp_path / "out"
    command = ["grade", str(subs), "-a", "00", "-o", str(out), "--cluster", "tcp://10.0.0.5:8786"]
    result = runner.invoke(app, command)
    assert result.exit_code == 2
    assert "the scheduler is not on this machine's loopback" in result.output
    assert not out.exists()


def test_a_scheduler_gone_stops_the_run_and_the_same_command_resumes(cluster, tmp_path):
    subs = solutions(tmp_path / "subs", "a", "b", "c")
    out = tmp_path / "out"
    thread, outcome = in_background(
        submissions=subs, assignment="00", out=out, cluster=cluster.address, tls=cluster.tls
    )
    deadline = time.monotonic() + 120
    while not list((out / "records").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    port = cluster.port
    assert cluster.scheduler is not None
    cluster.scheduler.stop(grace=2.0)
    thread.join(timeout=60)
    cluster.stop()  # the workers, which lost their scheduler, and the test's client
    assert isinstance(outcome.get("error"), ClusterError), outcome
    assert f"the scheduler at {cluster.address} went away" in str(outcome["error"])
    assert "run the same command to grade the rest" in str(outcome["error"])
    finished = sorted(p.stem for p in (out / "records").glob("*.json"))
    assert 1 <= len(finished) < 3
    assert sorted(r["learner"] for r in rows(out)) == finished

    cluster.start_scheduler(port)  # the same address again
    cluster.start_workers("w1", "w2")
    again = grade(subs, "00", out, cluster=cluster.address, tls=cluster.tls, progress=False)
    assert again.reused == finished
    assert again.graded == sorted(set("abc") - set(finished))
    assert [r["total"] for r in rows(out)] == ["8"] * 3


def test_cluster_check_lists_the_workers_and_what_they_can_grade(two_workers):
    cluster = two_workers
    base = ["cluster", "check", cluster.address, "--certs", str(cluster.certs)]
    checked = runner.invoke(app, [*base, "-a", "00"])
    assert checked.exit_code == 0, checked.output
    assert f"scheduler {cluster.address}, dashboard http" in checked.output
    for name, address in cluster.worker_addresses().items():
        assert (
            f"worker {name} at {address}: 1 thread(s), resources: none; grades with its own "
            "copy of the tests"
        ) in checked.output
    assert f"ready to grade 00_welcome (mlkit {mlkit.__version__} (source " in checked.output
    assert "2 of 2 worker(s) can take its submissions" in checked.output
    docker = runner.invoke(app, [*base, "-a", "03"])
    assert docker.exit_code == 2
    assert "03_containers needs a Docker engine on the worker" in docker.output


def test_cluster_local_grades_and_stops_everything_on_ctrl_c(tmp_path):
    env = {**os.environ, "MLKIT_SCRATCH": str(tmp_path / "scratch")}
    command = [sys.executable, "-m", "mlkit.cli", "cluster", "local", "--workers", "2"]
    local = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        said = []
        for line in local.stdout:  # type: ignore[union-attr]
            said.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        address = said[0].split()[1]
        assert address.startswith("tcp://127.0.0.1:"), said
        assert f"  mlkit grade SUBMISSIONS -a NN -o OUT --cluster {address}\n" in said
        family = psutil.Process(local.pid).children(recursive=True)
        assert len([p for p in family if "dask" in " ".join(p.cmdline())]) == 3
        subs, out = solutions(tmp_path / "subs", "a"), tmp_path / "out"
        report = grade(subs, "00", out, cluster=address, progress=False)
        assert report.learners["a"]["score"] == 8
        local.send_signal(signal.SIGINT)
        assert local.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(family, timeout=30)
        assert alive == [], alive
    finally:
        if local.poll() is None:
            local.kill()
