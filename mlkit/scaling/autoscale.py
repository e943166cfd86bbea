"""An autoscaler that runs: the Kubernetes HPA algorithm adding and removing replicas.

Introduced in module 05. A `ScalingPolicy` says what a HorizontalPodAutoscaler says:
`min_replicas`, `max_replicas`, one or more `MetricTarget`s (an average per replica), a
`tolerance` and a scale-down stabilization window. Every `sync_period_s` an `Autoscaler`
does what the HPA controller does:

1. average each metric over the replicas, from samples taken since the last sync:
   `cpu` (percent of one core, from the replica's processes) and `in_flight` (requests
   in progress, from the service's own Prometheus `/metrics`,
   `bentoml_service_request_in_progress`);
2. for each metric, `desired = ceil(current × value / target)`, unless value / target
   is within `tolerance` of 1 (then: no change); with several metrics, the largest wins;
3. scale up at once, but scale down only to the highest recommendation of the last
   `scale_down_window_s` seconds (a short dip does not remove replicas), then clamp
   to `min_replicas..max_replicas`;
4. act through the balancer's runtime API: new replicas are started, and added once
   ready (`add server`); a removed one is drained, deleted from the balancer
   (`del server`) once its requests are answered, and then stopped.

`ScalingPolicy.hpa_manifest` writes the same policy as an `autoscaling/v2`
HorizontalPodAutoscaler (a `Resource` metric for CPU, a `Pods` metric for requests in
progress), which `mlkit.k8s.validate_manifests` checks offline.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import httpx
import pandas as pd
import psutil

from mlkit.observability.metrics import parse_metrics
from mlkit.scaling.balancer import Balancer
from mlkit.scaling.faults import Note
from mlkit.scaling.replicas import Replica, ReplicaSet

__all__ = [
    "IN_FLIGHT_METRIC",
    "Autoscaler",
    "MetricTarget",
    "ScalingPolicy",
    "desired_replicas",
    "stabilized_replicas",
]

MetricName = Literal["cpu", "in_flight"]
IN_FLIGHT_METRIC = "bentoml_service_request_in_progress"
"""The service's Prometheus gauge behind the `in_flight` metric (endpoint `/predict`)."""
_ENDPOINT = "/predict"
_MAX_REPLICAS = 16


@dataclass(frozen=True)
class MetricTarget:
    """Keep `metric` at `average` per replica: `cpu` in percent of one core (70: 0.7 of a
    core), `in_flight` in requests in progress."""

    metric: MetricName
    average: float

    def __post_init__(self) -> None:
        if self.metric not in get_args(MetricName):
            raise ValueError(
                f"metric: got {self.metric!r}, expected one of {get_args(MetricName)}."
            )
        if isinstance(self.average, bool) or not (
            isinstance(self.average, int | float) and self.average > 0
        ):
            raise ValueError(
                f"average: got {self.average!r}, expected a target per replica > 0 "
                "(cpu: percent of one core, e.g. 70; in_flight: requests, e.g. 2)."
            )


def _whole(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: got {value!r}, expected a whole number in {low}..{high}.")
    return value


def _seconds(name: str, value: object, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
        raise ValueError(f"{name}: got {value!r}, expected seconds >= {low}.")
    return float(value)


@dataclass(frozen=True)
class ScalingPolicy:
    """What a HorizontalPodAutoscaler says, with Kubernetes' defaults for `tolerance`
    (0.1), `scale_down_window_s` (300) and `sync_period_s` (15). Lessons shorten the
    window and the period to seconds."""

    targets: tuple[MetricTarget, ...]
    min_replicas: int = 1
    max_replicas: int = 4
    tolerance: float = 0.1
    scale_down_window_s: float = 300.0
    sync_period_s: float = 15.0

    def __post_init__(self) -> None:
        targets = tuple(self.targets) if isinstance(self.targets, list | tuple) else ()
        if not targets or not all(isinstance(t, MetricTarget) for t in targets):
            raise ValueError(
                f"targets: got {self.targets!r}, expected one or more MetricTarget, e.g. "
                "(MetricTarget('in_flight', 2),)."
            )
        if len({t.metric for t in targets}) != len(targets):
            raise ValueError(f"targets: each metric at most once, got {targets!r}.")
        object.__setattr__(self, "targets", targets)
        _whole("min_replicas", self.min_replicas, 1, _MAX_REPLICAS)
        _whole("max_replicas", self.max_replicas, 1, _MAX_REPLICAS)
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas: got {self.max_replicas}, expected at least min_replicas "
                f"({self.min_replicas})."
            )
        if isinstance(self.tolerance, bool) or not (
            isinstance(self.tolerance, int | float) and 0 <= self.tolerance < 1
        ):
            raise ValueError(f"tolerance: got {self.tolerance!r}, expected a fraction in 0..1.")
        _seconds("scale_down_window_s", self.scale_down_window_s, 0.0)
        _seconds("sync_period_s", self.sync_period_s, 0.2)

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> ScalingPolicy:
        """A policy from plain data: `targets` as a dict of metric -> average per replica,
        e.g. {"targets": {"in_flight": 4, "cpu": 60}, "min_replicas": 2, "max_replicas": 6}."""
        if not isinstance(fields, Mapping):
            raise TypeError(f"fields: got {type(fields).__name__}, expected a dict.")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"fields: unknown {unknown}; a ScalingPolicy has {sorted(known)}.")
        targets = fields.get("targets")
        if not isinstance(targets, Mapping) or not targets:
            raise ValueError(
                f"targets: got {targets!r}, expected a dict of metric -> target per replica, "
                'e.g. {"in_flight": 4, "cpu": 60}.'
            )
        made = tuple(MetricTarget(metric, average) for metric, average in targets.items())
        return cls(**{**fields, "targets": made})

    def hpa_manifest(self, deployment: str) -> dict[str, Any]:
        """This policy as an `autoscaling/v2` HorizontalPodAutoscaler of the Deployment
        `deployment`. CPU becomes a `Resource` metric (Kubernetes counts it in percent
        of the pod's CPU request: with a request of one CPU the numbers agree); requests
        in progress become a `Pods` metric named after the service's gauge, which a
        metrics adapter (for example prometheus-adapter) serves to the cluster."""
        metrics: list[dict[str, Any]] = []
        for target in self.targets:
            if target.metric == "cpu":
                metrics.append(
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {
                                "type": "Utilization",
                                "averageUtilization": max(1, round(target.average)),
                            },
                        },
                    }
                )
            else:
                metrics.append(
                    {
                        "type": "Pods",
                        "pods": {
                            "metric": {"name": IN_FLIGHT_METRIC},
                            "target": {
                                "type": "AverageValue",
                                "averageValue": _quantity(target.average),
                            },
                        },
                    }
                )
        tolerance = _quantity(self.tolerance)
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": deployment, "labels": {"app.kubernetes.io/name": deployment}},
            "spec": {
                "scaleTargetRef": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": deployment,
                },
                "minReplicas": self.min_replicas,
                "maxReplicas": self.max_replicas,
                "metrics": metrics,
                "behavior": {
                    "scaleUp": {"stabilizationWindowSeconds": 0, "tolerance": tolerance},
                    "scaleDown": {
                        "stabilizationWindowSeconds": math.ceil(self.scale_down_window_s),
                        "tolerance": tolerance,
                    },
                },
            },
        }


def _quantity(value: float) -> str:
    """A number as a Kubernetes quantity: 2 -> '2', 0.1 -> '100m', 1.5 -> '1500m'."""
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value * 1000)}m"


def desired_replicas(
    current: int, values: dict[str, float], policy: ScalingPolicy
) -> dict[str, int]:
    """Replicas each metric asks for, by the HPA formula: `ceil(current × value / target)`,
    or `current` when value / target is within `policy.tolerance` of 1. `values`: each
    metric's average per replica (a metric without a value asks for no change)."""
    _whole("current", current, 1, _MAX_REPLICAS)
    wanted: dict[str, int] = {}
    for target in policy.targets:
        value = values.get(target.metric, float("nan"))
        ratio = value / target.average
        if math.isnan(ratio) or abs(ratio - 1.0) <= policy.tolerance:
            wanted[target.metric] = current
        else:
            wanted[target.metric] = math.ceil(current * ratio)
    return wanted


def stabilized_replicas(current: int, recent: list[int], policy: ScalingPolicy) -> int:
    """The replicas to run, from the recommendations of the last `scale_down_window_s`
    seconds (`recent`, the newest last): the newest if it scales up, at most the highest
    of them if it scales down (a short dip removes nothing), within min..max replicas."""
    if not recent:
        raise ValueError("recent: got no recommendation, expected at least the newest one.")
    newest = recent[-1]
    desired = newest if newest >= current else min(current, max(recent))
    return max(policy.min_replicas, min(policy.max_replicas, desired))


@dataclass
class _Sampler:
    """Per-replica samples of CPU and requests in flight between two syncs."""

    cpu_seconds: dict[str, tuple[float, float]] = field(default_factory=dict)
    samples: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=1.0))

    def sample(self, replica: Replica) -> None:
        row: dict[str, float] = {}
        busy = _cpu_seconds(replica)
        now = time.monotonic()
        last = self.cpu_seconds.get(replica.name)
        self.cpu_seconds[replica.name] = (busy, now)
        if last is not None and now > last[1]:
            row["cpu"] = 100.0 * max(0.0, busy - last[0]) / (now - last[1])
        row["in_flight"] = self._in_flight(replica)
        self.samples.setdefault(replica.name, []).append(row)

    def _in_flight(self, replica: Replica) -> float:
        try:
            response = self.client.get(f"{replica.url}/metrics")
            response.raise_for_status()
        except httpx.HTTPError:
            return float("nan")  # no answer this time: the metric is missing, not zero
        table = parse_metrics(response.text)
        if "endpoint" not in table:
            return 0.0
        rows = table[(table["name"] == IN_FLIGHT_METRIC) & (table["endpoint"] == _ENDPOINT)]
        return float(rows["value"].sum())

    def averages(self, names: list[str]) -> dict[str, float]:
        """Each metric averaged over the samples of each replica, then over the replicas."""
        per_replica: dict[str, list[float]] = {"cpu": [], "in_flight": []}
        for name in names:
            rows = pd.DataFrame(self.samples.get(name, []), columns=["cpu", "in_flight"])
            for metric, values in per_replica.items():
                mean = rows[metric].mean()
                if pd.notna(mean):
                    values.append(float(mean))
        self.samples = {}
        return {
            metric: sum(values) / len(values) if values else float("nan")
            for metric, values in per_replica.items()
        }

    def forget(self, name: str) -> None:
        self.cpu_seconds.pop(name, None)
        self.samples.pop(name, None)


def _cpu_seconds(replica: Replica) -> float:
    total = 0.0
    for proc in replica.service.family() or []:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class Autoscaler:
    """The HPA control loop over a `ReplicaSet` behind a `Balancer` (module 05).

    `sync()` makes one decision from the samples taken since the last one and acts on
    it; `run(duration_s)` samples every `sample_s` and syncs every
    `policy.sync_period_s` until `duration_s` has passed (or `stop()`); `history()` is
    every decision as a table. The replicas it manages are the balancer's servers.
    """

    def __init__(
        self,
        balancer: Balancer,
        replicas: ReplicaSet,
        policy: ScalingPolicy,
        *,
        sample_s: float = 0.25,
        drain_timeout: float = 10.0,
    ) -> None:
        if not isinstance(balancer, Balancer):
            raise TypeError(
                f"balancer: got {type(balancer).__name__}, expected a started Balancer."
            )
        if not isinstance(replicas, ReplicaSet):
            raise TypeError(f"replicas: got {type(replicas).__name__}, expected a ReplicaSet.")
        if not isinstance(policy, ScalingPolicy):
            raise TypeError(f"policy: got {type(policy).__name__}, expected a ScalingPolicy.")
        if not isinstance(sample_s, int | float) or not 0.05 <= sample_s <= policy.sync_period_s:
            raise ValueError(
                f"sample_s: got {sample_s!r}, expected seconds in 0.05..{policy.sync_period_s} "
                "(the policy's sync period)."
            )
        self.balancer = balancer
        self.replicas = replicas
        self.policy = policy
        self.sample_s = float(sample_s)
        self.drain_timeout = _seconds("drain_timeout", drain_timeout, 0.1)
        self.decisions: list[dict[str, Any]] = []
        self._recommendations: list[tuple[float, int]] = []
        self._sampler = _Sampler()
        self._stopping = threading.Event()
        self._started = time.monotonic()

    def members(self) -> list[Replica]:
        """The live replicas behind the balancer now, oldest first."""
        return [replica for _, replica in self._slots()]

    def _slots(self) -> list[tuple[str, Replica]]:
        """(balancer server, live replica it points at), oldest replica first. A server's
        name need not be its replica's (after a rolling update it is not); a server whose
        replica died is no member."""
        pairs = []
        for state in self.balancer.servers():
            try:
                pairs.append((state.name, self.replicas.by_port(state.port)))
            except ValueError:
                continue
        return sorted(pairs, key=lambda pair: pair[1].started_at)

    def sample(self) -> None:
        """Take one sample of every member's CPU and requests in flight."""
        for replica in self.members():
            self._sampler.sample(replica)

    def sync(self, note: Note | None = None) -> dict[str, Any]:
        """Decide from the samples since the last sync, act, and return the decision."""
        slots = self._slots()
        members = [replica for _, replica in slots]
        current = len(members)
        now = time.monotonic()
        values = self._sampler.averages([r.name for r in members])
        wanted = desired_replicas(max(current, 1), values, self.policy)
        recommended = max(wanted.values())
        self._recommendations.append((now, recommended))
        window = self.policy.scale_down_window_s
        self._recommendations = [(t, n) for t, n in self._recommendations if now - t <= window]
        recent = [n for _, n in self._recommendations]
        desired = stabilized_replicas(current, recent, self.policy)
        action = "hold"
        if desired > current:
            action = f"scale up {current}->{desired}"
        elif desired < current:
            action = f"scale down {current}->{desired}"
        decision = {
            "t_s": round(now - self._started, 2),
            "replicas": current,
            **{f"{metric}": round(value, 2) for metric, value in values.items()},
            **{f"wants_{metric}": n for metric, n in wanted.items()},
            "recommended": recommended,
            "desired": desired,
            "action": action,
        }
        self.decisions.append(decision)
        if desired != current and note is not None:
            note(action, "")
        if desired > current:
            self._scale_up(desired - current, note)
        elif desired < current:
            self._scale_down(slots[desired:], note)
        return decision

    def _scale_up(self, count: int, note: Note | None) -> None:
        for replica in self.replicas.start(count):
            self.balancer.add_server(replica.name, replica.port)
            if note is not None:
                note("added", replica.name)

    def _scale_down(self, leaving: list[tuple[str, Replica]], note: Note | None) -> None:
        for server, replica in reversed(leaving):  # the newest first
            self.balancer.remove_server(server, self.drain_timeout)
            self.replicas.stop_one(replica.name)
            self._sampler.forget(replica.name)
            if note is not None:
                note("removed", replica.name)

    def run(self, duration_s: float, note: Note | None = None) -> pd.DataFrame:
        """Sample and sync until `duration_s` seconds have passed (or `stop()`); return
        `history()`. Give `note` (from `run_under_faults(during=...)`) to put each
        scaling step in the load's timeline."""
        _seconds("duration_s", duration_s, 0.0)
        self._stopping.clear()
        self._started = time.monotonic()
        end = self._started + duration_s
        next_sync = time.monotonic() + self.policy.sync_period_s
        while not self._stopping.is_set() and time.monotonic() < end:
            self.sample()
            if time.monotonic() >= next_sync:
                self.sync(note)
                next_sync = time.monotonic() + self.policy.sync_period_s
            self._stopping.wait(self.sample_s)
        return self.history()

    def stop(self) -> None:
        """Make `run` return after its current step."""
        self._stopping.set()

    def history(self) -> pd.DataFrame:
        """Every decision: `t_s` (seconds since `run` began), `replicas` before it, each
        metric's average, what each metric asked for (`wants_<metric>`), `recommended`,
        `desired` and `action`."""
        return pd.DataFrame(self.decisions)

    def close(self) -> None:
        """Close the HTTP client used to read the replicas' metrics."""
        self._sampler.client.close()

    def __enter__(self) -> Autoscaler:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Autoscaler {len(self.members())} replicas, {self.policy}>"
