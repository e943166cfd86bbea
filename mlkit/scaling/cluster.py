"""The whole set-up in one call: the churn service as N replicas behind HAProxy (module 05).

`serve_replicas(3)` writes the replica service and its model, starts the replicas,
starts HAProxy in front of them and waits until its health checks see every replica
up; `stop()` (or the end of a `with` block) stops the balancer, then the replicas.
With `runtime="container"` the replicas are containers of the service's image
(`replica_image`, built once). `mlkit serve --replicas 3 --balancer haproxy
[--runtime container]` runs it until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mlkit._runtime.docker import require_docker
from mlkit._runtime.process import Stoppable
from mlkit.errors import MlkitError
from mlkit.scaling.balancer import Balancer, BalancerSettings, require_haproxy, start_balancer
from mlkit.scaling.image import replica_image
from mlkit.scaling.replicas import ReplicaSet
from mlkit.scaling.runtime import RUNTIMES
from mlkit.scaling.service import ReplicaService, write_replica_service
from mlkit.settings import scratch_dir

__all__ = ["BALANCERS", "Cluster", "ClusterStartError", "serve_replicas"]

BALANCERS = ("haproxy",)


class Cluster(Stoppable):
    """Replicas of the churn service behind a balancer: `url` for clients, `replicas`
    (a `ReplicaSet`), `balancer` (a `Balancer`), `service` (the files they run)."""

    def __init__(self, service: ReplicaService, replicas: ReplicaSet, balancer: Balancer) -> None:
        self.service = service
        self.replicas = replicas
        self.balancer = balancer
        self._stop_at_exit()

    @property
    def url(self) -> str:
        """The balancer's address: where clients send requests."""
        return self.balancer.url

    def stop(self) -> None:
        """Stop the balancer first (no new requests), then every replica."""
        self._forget_at_exit()
        try:
            self.balancer.stop(grace=5.0)
        finally:
            self.replicas.stop()

    def __repr__(self) -> str:
        kind = f"container replicas of {self.replicas.image}" if self.replicas.image else "replicas"
        return f"<Cluster {self.url}: {len(self.replicas.ports)} {kind}>"


def serve_replicas(
    replicas: int = 3,
    *,
    balancer: str = "haproxy",
    folder: str | os.PathLike[str] | None = None,
    settings: BalancerSettings | None = None,
    port: int | None = None,
    version: str = "v1",
    n_rows: int = 2_000,
    timeout: float = 120.0,
    runtime: str = "process",
) -> Cluster:
    """Start `replicas` replicas of the churn service behind HAProxy on 127.0.0.1.

    `runtime` is "process" (each replica a BentoML process) or "container" (each a
    container of the service's image, built by `replica_image` when missing; needs a
    Docker engine). Files (service, model, configs, logs) go to `folder` (default
    `<scratch>/scaling`); `settings` tune HAProxy's checks and retries; `port` is the
    balancer's (default: a free one). Returns once every replica passes HAProxy's health
    check. Introduced in module 05.
    """
    if balancer not in BALANCERS:
        raise ValueError(f"balancer: got {balancer!r}, expected one of {BALANCERS}.")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 1 <= replicas <= 16:
        raise ValueError(f"replicas: got {replicas!r}, expected a whole number in 1..16.")
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime: got {runtime!r}, expected one of {RUNTIMES}.")
    require_haproxy()  # before minutes of work that would need them
    if runtime == "container":
        require_docker("runtime='container' needs a Docker engine")
    workdir = Path(folder) if folder is not None else scratch_dir("scaling")
    service = write_replica_service(workdir / "service", version=version, n_rows=n_rows)
    image = None
    if runtime == "container":
        image = replica_image(service, log_dir=workdir / "image")
    replica_set = ReplicaSet(
        service.service_file,
        env=service.env,
        log_dir=workdir / "replicas",
        timeout=timeout,
        image=image,
    )
    with contextlib.ExitStack() as undo:
        undo.callback(replica_set.stop)
        replica_set.start(replicas)
        front = start_balancer(
            replica_set.ports, settings=settings, port=port, workdir=workdir / "balancer"
        )
        undo.callback(front.stop)
        if not front.wait_healthy(replicas, timeout=30.0):
            states = ", ".join(f"{s.name} {s.status} ({s.check})" for s in front.servers())
            raise ClusterStartError(
                f"HAProxy did not see all {replicas} replicas pass their health check on "
                f"/readyz within 30 s: {states}. Read the replicas' logs in {workdir / 'replicas'}."
            )
        undo.pop_all()
    return Cluster(service, replica_set, front)


class ClusterStartError(MlkitError, RuntimeError):
    """The replicas started, but the balancer's health checks did not pass on all of them."""
