"""The HPA algorithm as an autoscaler: its formula, tolerance and stabilization window, its
HorizontalPodAutoscaler manifest checked against the Kubernetes schema, and the loop itself
adding and removing replicas behind a real HAProxy under a low, high, low Locust load."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from conftest import skip_or_fail

from mlkit import k8s
from mlkit.loadtest import StepLoad
from mlkit.scaling import (
    Autoscaler,
    Balancer,
    MetricTarget,
    ReplicaSet,
    ScalingPolicy,
    desired_replicas,
    haproxy_problem,
    run_under_faults,
    stabilized_replicas,
    start_balancer,
    write_locustfile,
    write_replica_service,
)

IN_FLIGHT = MetricTarget("in_flight", 2)
CPU = MetricTarget("cpu", 70)


def policy(**changes: object) -> ScalingPolicy:
    values: dict = {"targets": (IN_FLIGHT,), "min_replicas": 1, "max_replicas": 5}
    return ScalingPolicy(**{**values, **changes})


@pytest.mark.parametrize(
    ("current", "value", "expected"),
    [
        (1, 2.0, 1),  # on target
        (2, 2.1, 2),  # 5% above: within the 10% tolerance, no change
        (2, 2.3, 3),  # 15% above: ceil(2 x 1.15) = 3
        (1, 7.0, 4),  # ceil(1 x 3.5)
        (4, 0.5, 1),  # ceil(4 x 0.25)
        (3, 1.7, 3),  # ceil(3 x 0.85) = 3: a small dip removes nothing by itself
        (3, 0.0, 0),  # nothing in flight: as few as allowed (min_replicas clamps later)
    ],
)
def test_desired_replicas_follows_the_hpa_formula_with_its_tolerance(current, value, expected):
    assert desired_replicas(current, {"in_flight": value}, policy()) == {"in_flight": expected}


def test_several_metrics_each_ask_and_a_missing_metric_asks_for_no_change():
    both = policy(targets=(IN_FLIGHT, CPU))
    assert desired_replicas(2, {"in_flight": 1.0, "cpu": 140.0}, both) == {"in_flight": 1, "cpu": 4}
    assert desired_replicas(2, {"in_flight": 1.0}, both) == {"in_flight": 1, "cpu": 2}
    assert desired_replicas(2, {"in_flight": math.nan, "cpu": 70}, both) == {
        "in_flight": 2,
        "cpu": 2,
    }
    assert desired_replicas(2, {"in_flight": 2.2}, policy(tolerance=0.0)) == {"in_flight": 3}


def test_the_stabilization_window_delays_scale_down_but_not_scale_up():
    rules = policy(max_replicas=4)
    assert stabilized_replicas(2, [2, 2, 4], rules) == 4  # up at once
    assert stabilized_replicas(2, [2, 9], rules) == 4  # clamped to max_replicas
    assert stabilized_replicas(3, [3, 1], rules) == 3  # a dip within the window: hold
    assert stabilized_replicas(3, [4, 3, 2, 2], rules) == 3  # the window's highest is >= 3
    assert stabilized_replicas(3, [2, 1, 1], rules) == 2  # down to the window's highest
    assert stabilized_replicas(3, [1], rules) == 1
    assert stabilized_replicas(2, [0], policy(min_replicas=2)) == 2  # clamped to min_replicas
    with pytest.raises(ValueError, match="recent"):
        stabilized_replicas(2, [], rules)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"targets": ()}, "targets: got"),
        ({"targets": (IN_FLIGHT, IN_FLIGHT)}, "each metric at most once"),
        ({"min_replicas": 0}, "min_replicas: got 0"),
        ({"min_replicas": 3, "max_replicas": 2}, "max_replicas: got 2, expected at least"),
        ({"tolerance": 1.5}, "tolerance: got 1.5"),
        ({"sync_period_s": 0}, "sync_period_s: got 0"),
        ({"scale_down_window_s": -1}, "scale_down_window_s: got -1"),
    ],
)
def test_a_bad_policy_is_refused_with_the_field_it_names(changes, message):
    with pytest.raises(ValueError, match=message):
        policy(**changes)


def test_a_policy_from_plain_data_names_what_is_wrong():
    made = ScalingPolicy.from_dict(
        {"targets": {"in_flight": 4, "cpu": 60}, "min_replicas": 2, "max_replicas": 15}
    )
    assert made.targets == (MetricTarget("in_flight", 4), MetricTarget("cpu", 60))
    assert (made.min_replicas, made.max_replicas, made.tolerance) == (2, 15, 0.1)
    with pytest.raises(ValueError, match=r"unknown \['window'\]"):
        ScalingPolicy.from_dict({"targets": {"cpu": 60}, "window": 300})
    with pytest.raises(ValueError, match="targets: got \\[\\('cpu', 60\\)\\]"):
        ScalingPolicy.from_dict({"targets": [("cpu", 60)]})
    with pytest.raises(ValueError, match="metric: got 'memory'"):
        ScalingPolicy.from_dict({"targets": {"memory": 60}})
    with pytest.raises(TypeError, match="fields: got list"):
        ScalingPolicy.from_dict([])  # type: ignore[arg-type]


def test_bad_metric_targets_are_refused():
    with pytest.raises(ValueError, match="metric: got 'memory'"):
        MetricTarget("memory", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="average: got 0"):
        MetricTarget("cpu", 0)


def test_the_policy_as_an_hpa_manifest_passes_the_kubernetes_schema():
    rules = policy(targets=(IN_FLIGHT, CPU), max_replicas=3, scale_down_window_s=12.5)
    hpa = rules.hpa_manifest("churn")
    deployment, service, _ = k8s.service_manifests("churn", "churn:v1")
    assert k8s.validate_manifests([deployment, service, hpa])[-1] == (
        "HorizontalPodAutoscaler/churn"
    )
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 3)
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 13
    assert spec["behavior"]["scaleDown"]["tolerance"] == "100m"
    pods = next(m for m in spec["metrics"] if m["type"] == "Pods")["pods"]
    assert pods == {
        "metric": {"name": "bentoml_service_request_in_progress"},
        "target": {"type": "AverageValue", "averageValue": "2"},
    }
    cpu = next(m for m in spec["metrics"] if m["type"] == "Resource")["resource"]
    assert cpu["target"] == {"type": "Utilization", "averageUtilization": 70}
    # the schema catches what the loop cannot: a misspelt field, a target of another kind
    spec["behavior"]["scaleDown"]["stabilizationWindow"] = 30
    with pytest.raises(k8s.ManifestError, match="stabilizationWindow' was unexpected"):
        k8s.validate_manifests([deployment, service, hpa])
    other = rules.hpa_manifest("churn")
    other["spec"]["scaleTargetRef"]["name"] = "elsewhere"
    with pytest.raises(k8s.ManifestError, match="scaleTargetRef"):
        k8s.validate_manifests([deployment, service, other])


# --- the loop itself, behind HAProxy, under a stepped Locust load -------------------------

LOW, HIGH = 1, 16
STEP_S = (8, 30, 24)  # low, high, low: long enough to start replicas and to let them go
LOOP_POLICY = ScalingPolicy(
    (IN_FLIGHT, CPU), min_replicas=1, max_replicas=3, scale_down_window_s=6, sync_period_s=1
)


@pytest.fixture
def single(tmp_path) -> Iterator[tuple[Balancer, ReplicaSet]]:
    """One replica behind HAProxy: where an autoscaler starts."""
    if (problem := haproxy_problem()) is not None:
        skip_or_fail(f"needs HAProxy: {problem}")
    service = write_replica_service(tmp_path / "service", n_rows=1_000)
    with ReplicaSet(service.service_file, env=service.env, log_dir=tmp_path / "logs") as replicas:
        replicas.start(LOOP_POLICY.min_replicas)
        with start_balancer(replicas.ports, workdir=tmp_path / "balancer") as balancer:
            assert balancer.wait_healthy(LOOP_POLICY.min_replicas), balancer.servers()
            yield balancer, replicas


@pytest.mark.slow
def test_the_autoscaler_adds_replicas_under_load_and_removes_them_after(single, tmp_path):
    balancer, replicas = single
    # A StepLoad has steps of one length: the low, high, low shape is built from 2 s steps.
    step_s = 2
    users = tuple(u for n, s in zip((LOW, HIGH, LOW), STEP_S, strict=True) for u in [n] * (s // 2))
    shape = StepLoad(users, step_seconds=step_s)
    high_from, high_to = STEP_S[0], STEP_S[0] + STEP_S[1]
    with Autoscaler(balancer, replicas, LOOP_POLICY) as scaler:
        run = run_under_faults(
            balancer,
            replicas,
            write_locustfile(tmp_path),
            [],
            shape=shape,
            during=lambda note: scaler.run(shape.duration - 1, note=note),
        )
    decisions = run.during
    print(decisions.to_string())
    print(run.timeline.to_string())
    assert run.summary()["failures"] == 0, run.result.failures
    up = decisions[decisions["action"].str.startswith("scale up")]
    down = decisions[decisions["action"].str.startswith("scale down")]
    assert not up.empty and not down.empty, decisions
    # nothing moves while the load is low at first; it scales up in the high step ...
    assert decisions[decisions["t_s"] < high_from - 2]["action"].eq("hold").all(), decisions
    assert high_from - 2 <= up["t_s"].iloc[0] <= high_to, up
    assert up["in_flight"].iloc[0] > IN_FLIGHT.average * (1 + LOOP_POLICY.tolerance)
    assert decisions["cpu"].max() > 0  # CPU is measured (the test of its use is above)
    # ... within max_replicas, as the balancer saw it, never below min_replicas
    assert decisions["desired"].max() <= LOOP_POLICY.max_replicas
    assert run.timeline["healthy"].max() >= 2
    assert run.health["healthy"].dropna().max() <= LOOP_POLICY.max_replicas
    assert run.health["healthy"].dropna().min() >= LOOP_POLICY.min_replicas
    # ... and back down once the load is low again, not before the window has passed
    first_down = down["t_s"].iloc[0]
    assert first_down >= up["t_s"].iloc[0] + LOOP_POLICY.scale_down_window_s, decisions
    assert decisions["desired"].iloc[-1] == LOOP_POLICY.min_replicas, decisions
    assert len(balancer.servers()) == LOOP_POLICY.min_replicas
    stopped = [r for r in replicas.replicas.values() if r.state == "stopped"]
    assert len(stopped) == len(replicas.replicas) - LOOP_POLICY.min_replicas
    events = set(run.events["action"])
    assert {"added", "removed"} <= events, run.events


def test_the_autoscaler_checks_its_arguments(single):
    balancer, replicas = single
    with pytest.raises(TypeError, match="policy: got dict"):
        Autoscaler(balancer, replicas, {"min_replicas": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="balancer: got str"):
        Autoscaler("http://127.0.0.1:1", replicas, LOOP_POLICY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_s: got 5"):
        Autoscaler(balancer, replicas, LOOP_POLICY, sample_s=5)
    with Autoscaler(balancer, replicas, LOOP_POLICY) as scaler:
        assert [r.name for r in scaler.members()] == list(replicas.ports)
        scaler.sample()
        decision = scaler.sync()  # idle: one replica, nothing in flight
        assert decision["action"] == "hold" and decision["in_flight"] == 0
        assert decision["replicas"] == 1 and decision["desired"] == 1
