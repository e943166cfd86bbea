"""A rolling update behind a real HAProxy under a Locust load: v1 to v2 one slot at a time
with no failed request, the answers' version switching in the timeline, and a v2 that never
gets ready stopping the rollout while v1 goes on serving."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import skip_or_fail

from mlkit import churn_model, data
from mlkit.loadtest import MAX_RUN_SECONDS
from mlkit.scaling import (
    VERSION_HEADER,
    Autoscaler,
    Balancer,
    MetricTarget,
    ReplicaSet,
    ScalingPolicy,
    haproxy_problem,
    rolling_update,
    run_under_faults,
    start_balancer,
    versions_per_second,
    write_locustfile,
    write_replica_service,
)

pytestmark = pytest.mark.slow

REPLICAS = 2
USERS = 4
# Seconds of load after a rollout returns: Locust's requests/s of each name is an average
# over its last 10 s, so v1's falls to 0 only about 12 s after its last answer.
TAIL_S = 13
CUSTOMER = data.make_dataset(n_rows=5, seed=1)[data.FEATURES].to_dict(orient="records")[0]


@pytest.fixture
def fleet(tmp_path) -> Iterator[tuple[Balancer, ReplicaSet, dict, dict, float]]:
    """Two v1 replicas behind HAProxy; the v2 environment; how long one start took."""
    if (problem := haproxy_problem()) is not None:
        skip_or_fail(f"needs HAProxy: {problem}")
    folder = tmp_path / "service"
    v1 = write_replica_service(folder, version="v1", n_rows=1_000)
    other = churn_model.train_reference_model(seed=7, n_rows=1_000).model
    v2 = write_replica_service(folder, other, version="v2")
    with ReplicaSet(v1.service_file, env=v1.env, log_dir=tmp_path / "logs") as replicas:
        began = time.monotonic()
        replicas.start(REPLICAS)
        start_s = time.monotonic() - began
        with start_balancer(replicas.ports, workdir=tmp_path / "balancer") as balancer:
            assert balancer.wait_healthy(REPLICAS), balancer.servers()
            yield balancer, replicas, v1.env, v2.env, start_s


def versions_through(balancer: Balancer, n: int = 12) -> set[str]:
    with httpx.Client(base_url=balancer.url, timeout=30) as client:
        answers = [client.post("/predict", json={"customer": CUSTOMER}) for _ in range(n)]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return {a.headers[VERSION_HEADER] for a in answers}


def test_a_rolling_update_under_load_fails_no_request_and_switches_every_slot(fleet, tmp_path):
    balancer, replicas, _, v2_env, start_s = fleet
    old = dict(replicas.ports)
    # The load must outlast the rollout: one new replica after the other, each about as
    # slow to start as the first ones were, plus the seconds before and after. That is an
    # upper bound: the load ends TAIL_S after the rollout returns.
    run_time = min(MAX_RUN_SECONDS, max(60, math.ceil(REPLICAS * 4 * start_s) + 30))
    run = run_under_faults(
        balancer,
        replicas,
        write_locustfile(tmp_path, by_version=True),
        [],
        users=USERS,
        run_time=run_time,
        during=lambda note: rolling_update(balancer, replicas, v2_env, note=note),
        during_at_s=3,
        end_after_during_s=TAIL_S,
    )
    print(run.timeline.to_string())
    rollout = run.during
    print(rollout.table().to_string())
    assert rollout.completed, rollout.reason
    # the load went on after the last step, and ended early because the rollout was done.
    # Locust writes one history row a second and the timeline rounds its time, so the last
    # row can stand up to 2 s before the load stopped (TAIL_S after `during` returned).
    last_second = run.timeline.index.max()
    assert run.events["t_s"].max() + TAIL_S - 3 <= last_second < run_time - 3, run.timeline
    assert run.summary()["failures"] == 0, run.result.failures
    assert set(rollout.moved) == {s.name for s in balancer.servers()}
    # every slot now points at a new replica, and every old one is stopped
    ports = {s.port for s in balancer.servers()}
    assert ports.isdisjoint(old.values())
    assert ports == {replicas.get(name).port for name in rollout.moved.values()}
    assert all(replicas.get(name).state == "stopped" for name in old)
    assert versions_through(balancer) == {"v2"}
    # one slot at a time: each slot is drained before it switches, and never two at once
    actions = [a for a in rollout.table()["action"] if a.startswith(("drain", "switched"))]
    assert actions == ["drain", "switched to v2"] * REPLICAS
    # the timeline shows the switch: v1 only at first, both during, v2 only at the end
    versions = versions_per_second(run.result)
    assert {"v1", "v2"} <= set(versions.columns), versions
    assert versions["v1"].iloc[0] > 0 and versions["v2"].iloc[0] == 0
    assert versions["v2"].iloc[-1] > 0 and versions["v1"].iloc[-1] == 0


def test_a_v2_that_never_gets_ready_stops_the_rollout_and_v1_keeps_serving(fleet, tmp_path):
    balancer, replicas, _, v2_env, _ = fleet
    broken = tmp_path / "broken-v2.skops"
    broken.write_bytes(b"not a model")
    bad_env = {**v2_env, "CHURN_MODEL_FILE": str(broken)}
    before = {s.name: s.address for s in balancer.servers()}
    run = run_under_faults(
        balancer,
        replicas,
        write_locustfile(tmp_path, by_version=True),
        [],
        users=USERS,
        run_time=30,
        during=lambda note: rolling_update(balancer, replicas, bad_env, note=note),
        during_at_s=2,
        end_after_during_s=2,  # v1 only: no version has to fade out of the history
    )
    rollout = run.during
    print(rollout.table().to_string())
    assert not rollout.completed and not rollout.moved
    assert "v2 did not get ready" in rollout.reason, rollout.reason
    assert list(rollout.table()["action"]) == ["stopped: new version not ready"]
    assert {s.name: s.address for s in balancer.servers()} == before
    assert run.summary()["failures"] == 0, run.result.failures
    assert set(versions_per_second(run.result).columns) == {"v1"}
    assert versions_through(balancer) == {"v1"}
    assert len(replicas.ports) == REPLICAS  # the failed start left no replica behind
    with pytest.raises(TypeError, match="balancer: got str"):
        rolling_update("http://127.0.0.1:1", replicas, v2_env)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="env: got list"):
        rolling_update(balancer, replicas, [("CHURN_MODEL_VERSION", "v2")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="drain_timeout"):
        rolling_update(balancer, replicas, v2_env, drain_timeout=0)
    locustfile = write_locustfile(tmp_path)
    with pytest.raises(ValueError, match="end_after_during_s: got 3, .* a `during`"):
        run_under_faults(balancer, replicas, locustfile, [], end_after_during_s=3)
    with pytest.raises(ValueError, match="end_after_during_s: got -1"):
        run_under_faults(balancer, replicas, locustfile, [], during=print, end_after_during_s=-1)


def test_after_a_rollout_that_replaced_a_killed_replica_new_replicas_and_the_autoscaler_follow(
    fleet,
):
    balancer, replicas, _, v2_env, _ = fleet
    dead = next(iter(replicas.ports))
    replicas.kill(dead)
    rollout = rolling_update(balancer, replicas, v2_env)
    print(rollout.table().to_string())
    assert rollout.completed, rollout.reason
    assert set(rollout.moved) == {s.name for s in balancer.servers()}
    steps = rollout.table()
    # the dead slot is put back without a drain; the live one is drained as usual
    assert list(steps["action"]).count("drain") == REPLICAS - 1
    assert dead not in set(steps["detail"])
    assert replicas.get(dead).state == "killed"
    assert balancer.wait_healthy(REPLICAS), balancer.servers()
    assert versions_through(balancer) == {"v2"}
    # the set's environment is v2's now: a replica started later (an autoscaler's) runs v2
    assert replicas.env["CHURN_MODEL_VERSION"] == "v2"
    later = replicas.add()
    answer = httpx.post(f"{later.url}/predict", json={"customer": CUSTOMER}, timeout=30)
    assert answer.status_code == 200 and answer.headers[VERSION_HEADER] == "v2"
    # the servers keep their slot names, not their new replicas': an autoscaler still finds
    # its members by address, and scales down by the server's name
    one = ScalingPolicy((MetricTarget("in_flight", 4),), min_replicas=1, max_replicas=1)
    with Autoscaler(balancer, replicas, one) as scaler:
        assert {r.name for r in scaler.members()} == set(rollout.moved.values())
        scaler.sample()
        decision = scaler.sync()
    assert decision["action"] == f"scale down {REPLICAS}->1", decision
    assert len(balancer.servers()) == 1
    newest = max(rollout.moved.values(), key=lambda name: replicas.get(name).started_at)
    assert replicas.get(newest).state == "stopped"
