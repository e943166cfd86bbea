"""Replicas as Docker containers behind a real HAProxy (mlkit.scaling, module 05).

The replica service's image is built once for the module (`replica_image`: reused when it
exists, removed afterwards only if this module built it), three containers of it run
behind a balancer per test, and the faults are Docker's own: `docker kill --signal KILL`
(every process of the container gone mid-request), `docker pause` (the cgroup freezer:
the port still accepts connections, nothing answers) and `docker unpause`. What is
asserted, and why it holds, is what `tests/unit/test_scaling_balancer.py` says for
processes: a kill under load fails no request (HAProxy retries elsewhere and its health
check takes the replica out); a pause is taken out by the health check, and at most
USERS requests fail, each an answer cut off mid-way.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import skip_or_fail

from mlkit import churn_model, data
from mlkit._runtime.docker import docker
from mlkit.containers import remove_image, run_container
from mlkit.errors import DockerUnavailableError
from mlkit.scaling import (
    VERSION_HEADER,
    Balancer,
    Fault,
    ReplicaSet,
    haproxy_problem,
    image_tag,
    replica_image,
    rolling_update,
    run_under_faults,
    serve_replicas,
    start_balancer,
    write_locustfile,
    write_replica_service,
)
from mlkit.scaling.runtime import MOUNT_ROOT, inside_path

REPLICAS = 3
USERS = 4
CUSTOMER = data.make_dataset(n_rows=5, seed=1)[data.FEATURES].to_dict(orient="records")[0]


@pytest.fixture(scope="module", autouse=True)
def private_bentoml_home(tmp_path_factory):
    """Keep this module's bentos out of the kit's store."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENTOML_HOME", str(tmp_path_factory.mktemp("bentoml-home")))
        yield


@pytest.fixture(scope="module")
def haproxy() -> None:
    problem = haproxy_problem()
    if problem is not None:
        skip_or_fail(f"needs HAProxy: {problem}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("container-replicas")


@pytest.fixture(scope="module")
def image(docker_engine, folder) -> Iterator[str]:
    """The replica service's image: reused if it exists, else built (and then removed)."""
    service = write_replica_service(folder / "service", n_rows=1_000)
    existed = docker("image", "inspect", image_tag(service)).returncode == 0
    tag = replica_image(service, log_dir=folder / "image")
    yield tag
    if not existed:
        remove_image(tag)


@pytest.fixture(scope="module")
def replica_set(haproxy, image, folder) -> Iterator[ReplicaSet]:
    service = write_replica_service(folder / "service", n_rows=1_000)
    with ReplicaSet(
        service.service_file, env=service.env, log_dir=folder / "replicas", image=image
    ) as replicas:
        replicas.start(REPLICAS)
        yield replicas


@pytest.fixture
def balancer(replica_set, tmp_path) -> Iterator[Balancer]:
    """HAProxy in front of three live container replicas (new ones replace killed ones)."""
    missing = REPLICAS - len(replica_set.ports)
    if missing:
        replica_set.start(missing)
    with start_balancer(replica_set.ports, workdir=tmp_path / "balancer") as front:
        assert front.wait_healthy(REPLICAS), front.servers()
        yield front


def predict(url: str) -> httpx.Response:
    response = httpx.post(f"{url}/predict", json={"customer": CUSTOMER}, timeout=30)
    assert response.status_code == 200, response.text
    return response


def containers_of(image: str) -> list[str]:
    """Every container of `image`, running or not: `docker ps -a`."""
    listed = docker("ps", "-a", "--filter", f"ancestor={image}", "--format", "{{.Names}}")
    return listed.stdout.split()


# --- without Docker -------------------------------------------------------------------


def test_bad_runtime_image_and_mounts_name_the_argument(tmp_path):
    service = write_replica_service(tmp_path / "service", n_rows=300)
    with pytest.raises(ValueError, match="runtime: got 'vm', expected one of"):
        serve_replicas(1, runtime="vm", folder=tmp_path)
    with pytest.raises(ValueError, match="image: got ''"):
        ReplicaSet(service.service_file, image="")
    with pytest.raises(FileNotFoundError, match="mounts: no folder at"):
        run_container("churn-replica:x", mounts={tmp_path / "missing": "/models"})
    with pytest.raises(ValueError, match=r"mounts\[.*\]: got 'models', expected an absolute"):
        run_container("churn-replica:x", mounts={tmp_path: "models"})
    with pytest.raises(FileNotFoundError, match="has no service.py, api_guard.py, bentofile"):
        replica_image(tmp_path)


def test_the_replica_service_folder_is_a_bento_project_without_mlkit(tmp_path):
    service = write_replica_service(tmp_path / "service", n_rows=300)
    source = service.service_file.read_text()
    assert not re.search(r"^\s*(from|import) mlkit", source, re.MULTILINE)
    assert "from api_guard import guard_api" in source
    assert (tmp_path / "service" / "api_guard.py").is_file()
    bentofile = (tmp_path / "service" / "bentofile.yaml").read_text()
    assert "service.py:ChurnReplica" in bentofile and ".skops" not in bentofile
    assert f"scikit-learn=={churn_model.runtime_pins()[0].split('==')[1]}" in bentofile
    # a new model version changes no file that goes into the image
    before = image_tag(service, base_image="no-such-base:1")
    write_replica_service(tmp_path / "service", n_rows=300, version="v2", seed=3)
    assert image_tag(service, base_image="no-such-base:1") == before
    assert inside_path("/a/b") == f"{MOUNT_ROOT}/a/b"


def test_container_replicas_without_docker_say_so(haproxy, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # HAProxy is still found in sbin
    with pytest.raises(DockerUnavailableError, match="runtime='container' needs a Docker"):
        serve_replicas(1, runtime="container", folder=tmp_path)
    assert not (tmp_path / "service").exists()  # refused before any work


# --- three containers behind HAProxy ---------------------------------------------------


@pytest.mark.docker
def test_the_image_is_reused_when_nothing_changed(image, folder):
    began = time.monotonic()
    assert replica_image(folder / "service", log_dir=folder / "image") == image
    assert time.monotonic() - began < 10
    assert image.startswith("churn-replica:")


@pytest.mark.docker
def test_container_replicas_answer_through_haproxy_and_drain(balancer, replica_set, image):
    answers = [predict(balancer.url) for _ in range(2 * REPLICAS)]
    assert {r.headers["X-Replica"] for r in answers} == set(replica_set.ports)
    assert {r.headers[VERSION_HEADER] for r in answers} == {"v1"}
    for replica in replica_set.replicas.values():
        if replica.state == "running":
            assert replica.service.is_running()
            family = replica.service.family()  # what the autoscaler reads the CPU from
            assert family, "the host sees the container's processes"
            assert sum(proc.cpu_times().user for proc in family) > 0
    names = {replica_set.get(name).service.name for name in replica_set.ports}
    assert names <= set(containers_of(image))

    first = sorted(replica_set.ports)[0]
    replica_set.drain(first)  # the file appears in the container's read-only mount
    try:
        assert balancer.wait_healthy(REPLICAS - 1)
        assert {s.name: s.status for s in balancer.servers()}[first] == "DOWN"
        assert first not in {predict(balancer.url).headers["X-Replica"] for _ in range(4)}
        assert httpx.get(f"{replica_set.get(first).url}/readyz", timeout=10).status_code == 503
    finally:
        replica_set.drain(first, draining=False)
    assert balancer.wait_healthy(REPLICAS)


@pytest.mark.docker
def test_a_paused_container_is_taken_out_by_the_health_check(balancer, replica_set, tmp_path):
    victim = sorted(replica_set.ports)[-1]
    schedule = [Fault(2, "hang", victim), Fault(7, "resume", victim)]
    run = run_under_faults(
        balancer, replica_set, write_locustfile(tmp_path), schedule, users=USERS, run_time=9
    )
    print(run.timeline.to_string())
    assert run.result.summary()["requests"] > 0
    summary = run.summary()
    assert summary["failures"] == summary["cut_answers"] <= USERS, run.result.failures
    paused_from, resumed_at = run.events["t_s"]
    while_paused = run.health[(run.health["t_s"] > paused_from) & (run.health["t_s"] < resumed_at)]
    assert (while_paused[victim] == "DOWN").any()
    assert (while_paused["healthy"] == REPLICAS - 1).any()
    assert replica_set.get(victim).state == "running"
    assert balancer.wait_healthy(REPLICAS)


@pytest.mark.docker
def test_killing_a_container_replica_under_load_fails_no_request(balancer, replica_set, tmp_path):
    victim = sorted(replica_set.ports)[0]
    run = run_under_faults(
        balancer,
        replica_set,
        write_locustfile(tmp_path),
        [Fault(3, "kill", victim)],
        users=USERS,
        run_time=8,
    )
    print(run.timeline.to_string())
    summary = run.summary()
    assert summary["requests"] > 0
    # only answers cut off mid-way, at most one per user (tests/unit/test_scaling_balancer.py)
    assert summary["failures"] == summary["cut_answers"] <= USERS, run.result.failures
    assert {s.name: s.status for s in balancer.servers()}[victim] == "DOWN"
    assert replica_set.get(victim).state == "killed"
    assert not replica_set.get(victim).service.is_running()


@pytest.mark.docker
def test_a_rolling_update_moves_every_container_to_a_model_in_another_folder(
    replica_set, folder, tmp_path
):
    """Over the replicas still alive (two after the kill test: fewer starts on 2 cores)."""
    v1_env = dict(replica_set.env)
    other = churn_model.train_reference_model(seed=7, n_rows=1_000).model
    v2 = write_replica_service(folder / "service-v2", other, version="v2")
    live = dict(replica_set.ports)
    try:
        with start_balancer(live, workdir=tmp_path / "balancer") as balancer:
            assert balancer.wait_healthy(len(live)), balancer.servers()
            rollout = rolling_update(balancer, replica_set, v2.env)
            assert rollout.completed, rollout.table()
            assert set(rollout.moved) == set(live)
            answers = [predict(balancer.url) for _ in range(2 * len(live))]
            assert {r.headers[VERSION_HEADER] for r in answers} == {"v2"}
    finally:
        replica_set.env.update(v1_env)


@pytest.mark.docker
def test_stopping_the_set_removes_every_container(replica_set, image, folder):
    names = [replica.service.name for replica in replica_set.replicas.values()]
    replica_set.stop()
    left = set(containers_of(image)) & set(names)
    assert not left, f"containers left after stop(): {left}"
    assert all(r.state in ("stopped", "killed") for r in replica_set.replicas.values())
    logs = folder / "replicas"
    assert all((logs / f"{name}.log").is_file() for name in replica_set.replicas)
    assert not list(logs.glob("*.draining"))


@pytest.mark.docker
def test_mlkit_serve_runs_container_replicas_until_stopped(haproxy, image, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MLKIT_SCRATCH": str(tmp_path / "scratch")}
    command = [sys.executable, "-m", "mlkit.cli", "serve", "--replicas", "1"]
    command += ["--runtime", "container", "--folder", str(tmp_path)]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        lines = []
        assert server.stdout is not None
        for line in server.stdout:
            lines.append(line)
            if line.startswith("serving "):
                break
        url = re.search(r"http://127\.0\.0\.1:\d+", lines[-1])
        assert url, "".join(lines)
        assert "1 container replicas behind haproxy" in lines[-1]
        container = re.search(r"\(container (\S+)\)", "".join(lines))
        assert container, "".join(lines)
        answers = [predict(url[0]) for _ in range(3)]
        assert {r.headers["X-Replica"] for r in answers} == {"replica-1"}
        server.send_signal(signal.SIGTERM)
        rest = server.communicate(timeout=90)[0]
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, "".join(lines) + rest
    assert docker("inspect", container[1]).returncode != 0  # stopped and removed
