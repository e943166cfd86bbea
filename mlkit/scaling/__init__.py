"""Replicas behind a real load balancer, and what happens to them under load (module 05).

- `balancer`: HAProxy's config from a template, `haproxy -c`, its process, its runtime API;
- `replicas`: N replicas of a BentoML service; stop, kill (SIGKILL), hang (SIGSTOP), drain;
- `runtime`: a replica as a process or as a Docker container (kill, pause, unpause);
- `service`: the churn service each replica runs, and a locustfile for it;
- `image`: that service as a container image, built once (`replica_image`);
- `faults`: a Locust load through the balancer while replicas fail, as a per-second timeline;
- `rolling`: a rolling update, one slot at a time, drained before its old replica stops;
- `autoscale`: the Kubernetes HPA algorithm adding and removing replicas, and its manifest;
- `cluster`: all of it started and stopped together (`mlkit serve --replicas N`);
- `cache`: a Redis prediction cache shared by every replica (import it from
  `mlkit.scaling.cache`).
"""

from mlkit.scaling.autoscale import (
    Autoscaler,
    MetricTarget,
    ScalingPolicy,
    desired_replicas,
    stabilized_replicas,
)
from mlkit.scaling.balancer import (
    Balancer,
    BalancerConfigError,
    BalancerSettings,
    BalancerStartError,
    HAProxyNotFoundError,
    ServerState,
    check_config,
    duration_ms,
    haproxy_problem,
    render_config,
    require_haproxy,
    start_balancer,
    write_config,
)
from mlkit.scaling.cluster import BALANCERS, Cluster, ClusterStartError, serve_replicas
from mlkit.scaling.faults import Fault, FaultRun, Note, failover_drill, run_under_faults
from mlkit.scaling.image import image_tag, replica_image
from mlkit.scaling.replicas import Replica, ReplicaSet
from mlkit.scaling.rolling import Rollout, rolling_update, versions_per_second
from mlkit.scaling.runtime import RUNTIMES
from mlkit.scaling.service import (
    VERSION_HEADER,
    ReplicaService,
    write_locustfile,
    write_replica_service,
)

__all__ = [
    "BALANCERS",
    "RUNTIMES",
    "Autoscaler",
    "VERSION_HEADER",
    "Balancer",
    "BalancerConfigError",
    "BalancerSettings",
    "BalancerStartError",
    "Cluster",
    "ClusterStartError",
    "Fault",
    "FaultRun",
    "HAProxyNotFoundError",
    "MetricTarget",
    "Note",
    "Replica",
    "ReplicaService",
    "ReplicaSet",
    "Rollout",
    "ScalingPolicy",
    "ServerState",
    "check_config",
    "desired_replicas",
    "duration_ms",
    "failover_drill",
    "haproxy_problem",
    "image_tag",
    "render_config",
    "replica_image",
    "require_haproxy",
    "rolling_update",
    "run_under_faults",
    "serve_replicas",
    "stabilized_replicas",
    "start_balancer",
    "versions_per_second",
    "write_config",
    "write_locustfile",
    "write_replica_service",
]
