"""Where a grading cluster runs: SLURM (dask-jobqueue) and Kubernetes (the Dask operator).

`mlkit grade --cluster ADDRESS` needs a Dask scheduler and workers with this kit. On a few
machines an instructor starts them by hand (README.md, "Grading on a cluster"); on one
machine `mlkit cluster local` does (mlkit.grading.loopback_cluster). This module covers the
two places universities run them:

- SLURM: `slurm_cluster` starts the scheduler in the calling process (on the login node)
  with dask-jobqueue's SLURMCluster and submits one batch job per worker; every connection
  is TLS with the certificates of `mlkit cluster certs`. `mlkit cluster slurm` runs it;
  `--dry-run` prints the batch script and submits nothing.
- Kubernetes: `kubernetes_cluster` writes a DaskCluster resource (kubernetes.dask.org/v1,
  for the Dask Kubernetes operator) whose scheduler and workers run an image of this kit
  and talk TLS with certificates mounted from a Secret. Its pod and service specs are
  checked offline against the Kubernetes schema (mlkit.k8s). `mlkit cluster k8s` writes it.

Workers that need Docker (labs 03 and 09) get the `docker` resource on SLURM with
`docker=True` (nodes with a Docker engine); on Kubernetes, where a worker would need a
privileged Docker-in-Docker sidecar (learners' code with root on the node), those labs are
left to machines started by hand.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlkit.grading.cluster import DOCKER, ClusterTLS
from mlkit.grading.exceptions import ClusterError
from mlkit.settings import repo_root

SCHEDULER_PORT = 8786
DASHBOARD_PORT = 8787
WORKER_DASHBOARD_PORT = 8788
CERTS_MOUNT = "/etc/mlkit-certs"  # where the Secret with the certificates is mounted
SCRATCH_MOUNT = "/scratch"  # an emptyDir per pod: the grader's scratch folder
JOBQUEUE_PIN = "dask-jobqueue==0.9.0"
GRADER_UID = 1000  # the user of the grading image (deploy/grading-worker/Dockerfile)


def cluster_security(certs: str | Path) -> Any:
    """Dask's Security for all three roles (scheduler, worker, client) from a folder that
    `mlkit cluster certs` wrote: mutual TLS, encryption required."""
    from distributed import Security

    roles = {
        role: ClusterTLS.from_folder(certs, role) for role in ("scheduler", "worker", "client")
    }
    return Security(
        tls_ca_file=str(roles["client"].ca),
        **{f"tls_{role}_cert": str(tls.cert) for role, tls in roles.items()},
        **{f"tls_{role}_key": str(tls.key) for role, tls in roles.items()},
        require_encryption=True,
    )


@dataclass(frozen=True)
class SlurmSettings:
    """What each SLURM job asks for and how the scheduler is reached.

    host: the login node's address, as compute nodes reach it (the scheduler listens there);
    cores: threads per worker, so submissions it grades at once; docker: the nodes have a
    Docker engine (the worker gets the `docker` resource, one per core); prologue: shell
    lines run before the worker (e.g. `module load python/3.11`).
    """

    host: str
    jobs: int = 4
    cores: int = 2
    memory: str = "8GB"
    walltime: str = "02:00:00"
    queue: str | None = None
    account: str | None = None
    docker: bool = False
    port: int = SCHEDULER_PORT
    python: str = sys.executable
    prologue: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in ("jobs", "cores"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: got {value!r}, expected a whole number >= 1")
        if not self.host:
            raise ValueError("host: expected the login node's address, as compute nodes see it")


def slurm_cluster(certs: str | Path, settings: SlurmSettings) -> Any:
    """A dask-jobqueue SLURMCluster for grading: its scheduler runs here on
    settings.host:settings.port over TLS; call `.scale(jobs=N)` to submit the workers'
    batch jobs and `.close()` to cancel them. ClusterError when dask-jobqueue is missing."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ClusterError(
            "a grading cluster on SLURM needs dask-jobqueue on the login node: "
            f"`.venv/bin/pip install {JOBQUEUE_PIN}` (or `pip install -e '.[slurm]'`)"
        ) from None
    extra = ["--resources", f"{DOCKER}={settings.cores}"] if settings.docker else []
    return SLURMCluster(
        cores=settings.cores,
        processes=1,  # one worker per job, grading `cores` submissions at once
        memory=settings.memory,
        walltime=settings.walltime,
        queue=settings.queue,
        account=settings.account,
        job_name="mlkit-grader",
        protocol="tls://",
        security=cluster_security(certs),
        scheduler_options={
            "host": settings.host,
            "port": settings.port,
            "dashboard_address": f"{settings.host}:{DASHBOARD_PORT}",
        },
        worker_extra_args=extra,
        job_script_prologue=[f"cd {shlex.quote(str(repo_root()))}", *settings.prologue],
        python=settings.python,
    )


@dataclass(frozen=True)
class KubernetesSettings:
    """The DaskCluster to write: its name and namespace, the image of this kit, the name of
    the Secret holding the certificates (ca.pem, scheduler*.pem, worker*.pem), workers and
    their size."""

    image: str
    name: str = "mlkit-grading"
    namespace: str = "default"
    certificates: str = "mlkit-grading-certs"  # the Secret's name
    workers: int = 4
    cores: int = 2
    memory: str = "8Gi"

    def __post_init__(self) -> None:
        for name in ("workers", "cores"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: got {value!r}, expected a whole number >= 1")
        if not self.image or ":" not in self.image.rsplit("/", 1)[-1]:
            raise ValueError(
                f"image: got {self.image!r}, expected an image with a tag that your cluster can "
                "pull, e.g. registry.example.edu/course/mlkit-grader:0.1.0"
            )

    @property
    def scheduler_address(self) -> str:
        """The scheduler's address inside the cluster (the operator's Service)."""
        service = f"{self.name}-scheduler.{self.namespace}.svc.cluster.local"
        return f"tls://{service}:{SCHEDULER_PORT}"


def _tls_args(role: str) -> list[str]:
    return [
        "--tls-ca-file", f"{CERTS_MOUNT}/ca.pem",
        "--tls-cert", f"{CERTS_MOUNT}/{role}.pem",
        "--tls-key", f"{CERTS_MOUNT}/{role}-key.pem",
    ]  # fmt: skip


def _pod(settings: KubernetesSettings, container: dict[str, Any]) -> dict[str, Any]:
    """A pod spec running container, not as root, with the certificates mounted read-only
    (readable by the pod's group, `fsGroup`) and an empty scratch folder (MLKIT_SCRATCH:
    the scheduler imports mlkit too, to read the tasks it is sent)."""
    container["volumeMounts"] = [
        {"name": "certs", "mountPath": CERTS_MOUNT, "readOnly": True},
        {"name": "scratch", "mountPath": SCRATCH_MOUNT},
    ]
    container["securityContext"] = {"allowPrivilegeEscalation": False, "runAsNonRoot": True}
    container["env"] = [
        *container.get("env", []),
        {"name": "MLKIT_SCRATCH", "value": SCRATCH_MOUNT},
    ]
    size = {"cpu": str(settings.cores), "memory": settings.memory}
    container["resources"] = {"requests": dict(size), "limits": dict(size)}
    return {
        "securityContext": {"fsGroup": GRADER_UID},
        "containers": [container],
        "volumes": [
            {
                "name": "certs",
                "secret": {"secretName": settings.certificates, "defaultMode": 0o440},
            },
            {"name": "scratch", "emptyDir": {}},
        ],
    }


def kubernetes_cluster(settings: KubernetesSettings) -> dict[str, Any]:
    """The DaskCluster resource (kubernetes.dask.org/v1) of a grading cluster."""
    scheduler = {
        "name": "scheduler",
        "image": settings.image,
        "args": [
            "dask", "scheduler", "--protocol", "tls", "--port", str(SCHEDULER_PORT),
            "--dashboard-address", f":{DASHBOARD_PORT}", *_tls_args("scheduler"),
        ],
        "ports": [
            {"name": "tls-comm", "containerPort": SCHEDULER_PORT, "protocol": "TCP"},
            {"name": "http-dashboard", "containerPort": DASHBOARD_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "httpGet": {"port": "http-dashboard", "path": "/health"},
            "periodSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"port": "http-dashboard", "path": "/health"},
            "initialDelaySeconds": 15,
            "periodSeconds": 20,
        },
    }  # fmt: skip
    worker = {
        "name": "worker",
        "image": settings.image,
        "args": [
            "dask", "worker", "--name", "$(DASK_WORKER_NAME)", "--nthreads", str(settings.cores),
            "--dashboard-address", f":{WORKER_DASHBOARD_PORT}", *_tls_args("worker"),
        ],
        "env": [{"name": "DASK_SCHEDULER_ADDRESS", "value": settings.scheduler_address}],
        "ports": [
            {"name": "http-dashboard", "containerPort": WORKER_DASHBOARD_PORT, "protocol": "TCP"}
        ],
    }  # fmt: skip
    labels = {"dask.org/cluster-name": settings.name, "dask.org/component": "scheduler"}
    service = {
        "type": "ClusterIP",
        "selector": labels,
        "ports": [
            {"name": "tls-comm", "protocol": "TCP", "port": SCHEDULER_PORT,
             "targetPort": "tls-comm"},
            {"name": "http-dashboard", "protocol": "TCP", "port": DASHBOARD_PORT,
             "targetPort": "http-dashboard"},
        ],
    }  # fmt: skip
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "metadata": {"name": settings.name, "namespace": settings.namespace},
        "spec": {
            "worker": {"replicas": settings.workers, "spec": _pod(settings, worker)},
            "scheduler": {"spec": _pod(settings, scheduler), "service": service},
        },
    }


def check_kubernetes_cluster(resource: dict[str, Any]) -> list[str]:
    """Check the DaskCluster's scheduler and worker pods and its Service offline against
    the Kubernetes schema (strict); ManifestError naming each problem."""
    from mlkit.k8s import validate_manifests

    spec, meta = resource["spec"], resource["metadata"]
    name = meta["name"]
    objects = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{name}-scheduler"},
         "spec": spec["scheduler"]["spec"]},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{name}-worker"},
         "spec": spec["worker"]["spec"]},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"{name}-scheduler"},
         "spec": spec["scheduler"]["service"]},
    ]  # fmt: skip
    return validate_manifests(objects, consistency=False)
