"""Kubernetes manifests for a model image, checked against the Kubernetes schema (module 03).

`service_manifests` writes the three objects a model service needs on a cluster: a
Deployment (replicas, resource requests and limits, startup/liveness/readiness probes on
BentoML's `/readyz` and `/livez`), a Service in front of its pods, and a
HorizontalPodAutoscaler that adds pods when CPU use rises. `validate_manifests` checks
them offline against the OpenAPI-derived JSON schemas that `kubernetes-validate` ships
(strict: unknown fields are errors), then checks what a schema cannot see: that the
Service and the autoscaler point at the Deployment, that the probes use a port the
container declares, and that no request exceeds its limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from mlkit.errors import MlkitError

KUBERNETES_VERSION = kubernetes_validate.latest_version()
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_QUANTITY = re.compile(
    r"([+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?"
)
_SUFFIX: dict[str | None, Decimal] = {
    None: Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    **{suffix: Decimal(10) ** (3 * i) for i, suffix in enumerate("kMGTPE", start=1)},
    **{
        suffix: Decimal(2) ** (10 * i)
        for i, suffix in enumerate(["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"], start=1)
    },
}


class ManifestError(MlkitError, ValueError):
    """Manifests that Kubernetes would reject, or that would not work together.

    Attributes: `problems`, one line per problem, each naming the object and the field.
    """

    def __init__(self, problems: list[str], version: str) -> None:
        self.problems = problems
        self.version = version
        listed = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"{len(problems)} problem(s) in the manifests, checked against the Kubernetes "
            f"{version} schema (strict) and against each other:\n{listed}\n"
            "Fix each field named above and validate again."
        )


def parse_quantity(quantity: str | int | float) -> Decimal:
    """A Kubernetes quantity as a number: '250m' -> 0.25 (CPUs), '512Mi' -> 536870912 (bytes)."""
    found = _QUANTITY.fullmatch(str(quantity))
    if found is None:
        raise ValueError(
            f"quantity: got {quantity!r}, expected a Kubernetes quantity such as '500m' or "
            "'2' (CPUs) or '512Mi', '1Gi' (bytes; Mi and Gi are powers of 2, M and G of 10)."
        )
    return Decimal(found.group(1)) * _SUFFIX[found.group(2)]


def _check_arguments(
    name: str, image: str, port: int, replicas: int, min_replicas: int, max_replicas: int
) -> None:
    if not (isinstance(name, str) and len(name) <= 63 and _DNS_LABEL.fullmatch(name)):
        raise ValueError(
            f"name: got {name!r}, expected a DNS label: at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit (e.g. 'churn-model')."
        )
    if not (isinstance(image, str) and image.strip() and " " not in image):
        raise ValueError(f"image: got {image!r}, expected an image reference such as 'churn:1'.")
    for label, value, low, high in (
        ("port", port, 1, 65535),
        ("replicas", replicas, 1, 1000),
        ("min_replicas", min_replicas, 1, 1000),
        ("max_replicas", max_replicas, 1, 1000),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{label}: got {value!r}, expected a whole number in {low}..{high}.")
    if min_replicas > max_replicas:
        raise ValueError(
            f"min_replicas: got {min_replicas}, more than max_replicas={max_replicas}; "
            "expected min_replicas <= max_replicas."
        )


def service_manifests(
    name: str,
    image: str,
    *,
    port: int = 3000,
    replicas: int = 2,
    cpu_request: str = "500m",
    cpu_limit: str = "1",
    memory_request: str = "512Mi",
    memory_limit: str = "1Gi",
    startup_seconds: float = 60.0,
    min_replicas: int = 2,
    max_replicas: int = 10,
    target_cpu_percent: int = 70,
) -> list[dict[str, Any]]:
    """A Deployment, a Service and a HorizontalPodAutoscaler for a BentoML image.

    `port` is the container's port (BentoML's default 3000). `startup_seconds` is how
    long the startup probe waits for `/readyz` before the pod is restarted: give it a few
    times the cold start you measured. Introduced in module 03.
    """
    _check_arguments(name, image, port, replicas, min_replicas, max_replicas)
    for label, value in (
        ("cpu_request", cpu_request),
        ("cpu_limit", cpu_limit),
        ("memory_request", memory_request),
        ("memory_limit", memory_limit),
    ):
        try:
            parse_quantity(value)
        except ValueError as err:
            raise ValueError(f"{label}: {err}") from None
    if not 1 <= target_cpu_percent <= 100:
        raise ValueError(f"target_cpu_percent: got {target_cpu_percent!r}, expected 1..100.")
    if not startup_seconds > 0:
        raise ValueError(f"startup_seconds: got {startup_seconds!r}, expected seconds > 0.")

    def labels() -> dict[str, str]:  # a new dict each time, so the YAML has no &anchors
        return {"app.kubernetes.io/name": name}

    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": failures,
        }

    container = {
        "name": name,
        "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": cpu_request, "memory": memory_request},
            "limits": {"cpu": cpu_limit, "memory": memory_limit},
        },
        "startupProbe": probe("/readyz", 2, max(1, math.ceil(startup_seconds / 2))),
        "readinessProbe": probe("/readyz", 5, 3),
        "livenessProbe": probe("/livez", 10, 3),
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels()},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels()},
            "template": {
                "metadata": {"labels": labels()},
                "spec": {"containers": [container], "terminationGracePeriodSeconds": 30},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels()},
        "spec": {
            "type": "ClusterIP",
            "selector": labels(),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    autoscaler = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": labels()},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": target_cpu_percent},
                    },
                }
            ],
        },
    }
    return [deployment, service, autoscaler]


def _label(manifest: dict[str, Any]) -> str:
    return f"{manifest['kind']}/{(manifest['metadata'] or {}).get('name', '<no name>')}"


def _schema_problems(manifest: dict[str, Any], version: str) -> list[str]:
    if not isinstance(manifest, dict) or not {"apiVersion", "kind", "metadata"} <= manifest.keys():
        return [f"{str(manifest)[:80]}: expected a mapping with apiVersion, kind and metadata"]
    if not isinstance(manifest["metadata"], dict) or not manifest["metadata"].get("name"):
        return [f"{_label(manifest)}: metadata.name is missing; every object needs a name"]
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        field = ".".join(str(part) for part in err.absolute_path) or "(top level)"
        return [f"{_label(manifest)}: {field}: {err.message}"]
    except kubernetes_validate.SchemaNotFoundError as err:
        return [f"{_label(manifest)}: {err.message}"]
    return []


def _pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return deployment["spec"]["template"].get("metadata", {}).get("labels") or {}


def _container_problems(where: str, container: dict[str, Any]) -> list[str]:
    problems = []
    declared = container.get("ports") or []
    ports = {p.get("name") for p in declared} | {p["containerPort"] for p in declared}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        port = (container.get(kind) or {}).get("httpGet", {}).get("port")
        if port is not None and port not in ports:
            problems.append(
                f"{where}: {kind} uses port {port!r}, which the container does not declare"
            )
    for kind in ("readinessProbe", "livenessProbe"):
        if kind not in container:
            problems.append(f"{where}: no {kind}")
    resources = container.get("resources") or {}
    for resource in ("cpu", "memory"):
        request = (resources.get("requests") or {}).get(resource)
        limit = (resources.get("limits") or {}).get(resource)
        if request is None or limit is None:
            problems.append(f"{where}: resources need both a {resource} request and limit")
            continue
        try:
            if parse_quantity(request) > parse_quantity(limit):
                problems.append(f"{where}: {resource} request {request} is above its limit {limit}")
        except ValueError as err:
            problems.append(f"{where}: {resource}: {err}")
    return problems


def _consistency_problems(manifests: list[dict[str, Any]]) -> list[str]:
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    problems = []
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"].get("matchLabels") or {}
        if not selector.items() <= _pod_labels(deployment).items():
            problems.append(
                f"Deployment/{name}: spec.selector.matchLabels {selector} does not match the "
                f"pod labels {_pod_labels(deployment)}"
            )
        for container in deployment["spec"]["template"].get("spec", {}).get("containers", []):
            where = f"Deployment/{name}: container {container['name']}"
            problems += _container_problems(where, container)
    for manifest in manifests:
        spec = manifest.get("spec") or {}
        if manifest["kind"] == "Service":
            selector = spec.get("selector") or {}
            selected = [
                d for d in deployments.values() if selector.items() <= _pod_labels(d).items()
            ]
            if not selector or not selected:
                problems.append(f"{_label(manifest)}: spec.selector {selector} selects no pods")
            names = {
                port.get("name")
                for d in selected
                for container in d["spec"]["template"]["spec"]["containers"]
                for port in container.get("ports") or []
            }
            for port in spec.get("ports") or []:
                target = port.get("targetPort")
                if selected and isinstance(target, str) and target not in names:
                    problems.append(
                        f"{_label(manifest)}: targetPort {target!r} is not a port name of the "
                        f"selected containers {sorted(n for n in names if n)}"
                    )
        if manifest["kind"] == "HorizontalPodAutoscaler":
            target = spec.get("scaleTargetRef") or {}
            if target.get("kind") != "Deployment" or target.get("name") not in deployments:
                problems.append(
                    f"{_label(manifest)}: spec.scaleTargetRef {target} is not one of the "
                    f"Deployments {sorted(deployments)}"
                )
    return problems


def validate_manifests(
    manifests: Iterable[dict[str, Any]],
    *,
    version: str = KUBERNETES_VERSION,
    consistency: bool = True,
) -> list[str]:
    """Check manifests against the Kubernetes schema (strict) and, with `consistency`,
    against each other (a model service's Deployment, Service and autoscaler).

    Returns 'Kind/name' of each manifest when all is well; raises `ManifestError` with
    one line per problem otherwise. Needs no cluster and no network. Introduced in module 03.
    """
    manifests = list(manifests)
    if not manifests:
        raise ValueError("manifests: got none, expected Kubernetes objects (dicts).")
    known = list(dict.fromkeys(kubernetes_validate.utils.all_versions()))
    if version not in known:
        raise ValueError(
            f"version: got {version!r}, expected one of the Kubernetes versions whose "
            f"schemas kubernetes-validate ships: {', '.join(known)}."
        )
    problems = [problem for m in manifests for problem in _schema_problems(m, version)]
    if not problems and consistency:
        problems = _consistency_problems(manifests)
    if problems:
        raise ManifestError(problems, version)
    return [_label(m) for m in manifests]


def manifests_yaml(manifests: Iterable[dict[str, Any]]) -> str:
    """The manifests as one YAML file, documents separated by '---' (for `kubectl apply -f`)."""
    return yaml.safe_dump_all(list(manifests), sort_keys=False)


def load_manifests(path: str | Path) -> list[dict[str, Any]]:
    """The objects of a YAML file of manifests (empty documents skipped)."""
    return [doc for doc in yaml.safe_load_all(Path(path).read_text()) if doc]
