"""mlkit.k8s: manifests for an image, checked offline against the Kubernetes schema."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from mlkit import k8s
from mlkit.cli import app

IMAGE = "mlkit-03-churn:abc123"


@pytest.fixture()
def manifests() -> list[dict]:
    return k8s.service_manifests("churn", IMAGE)


def container_of(manifests: list[dict]) -> dict:
    return manifests[0]["spec"]["template"]["spec"]["containers"][0]


def problems_of(manifests: list[dict]) -> list[str]:
    with pytest.raises(k8s.ManifestError) as caught:
        k8s.validate_manifests(manifests)
    return caught.value.problems


def test_generated_manifests_pass_the_schema_and_point_at_each_other(manifests):
    assert k8s.validate_manifests(manifests) == [
        "Deployment/churn",
        "Service/churn",
        "HorizontalPodAutoscaler/churn",
    ]
    deployment, service, autoscaler = manifests
    container = container_of(manifests)
    assert container["image"] == IMAGE
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "churn"
    assert autoscaler["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_startup_probe_allows_for_the_cold_start():
    container = container_of(k8s.service_manifests("churn", IMAGE, startup_seconds=15))
    probe = container["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 15


def test_sizes_and_replicas_are_passed_through():
    objects = k8s.service_manifests(
        "churn",
        IMAGE,
        port=8080,
        replicas=3,
        memory_request="640Mi",
        memory_limit="1280Mi",
        min_replicas=3,
        max_replicas=5,
        target_cpu_percent=50,
    )
    assert k8s.validate_manifests(objects)
    assert objects[0]["spec"]["replicas"] == 3
    assert container_of(objects)["ports"][0]["containerPort"] == 8080
    assert container_of(objects)["resources"]["requests"]["memory"] == "640Mi"
    assert objects[2]["spec"]["minReplicas"] == 3 and objects[2]["spec"]["maxReplicas"] == 5


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("250m", Decimal("0.25")),
        ("2", Decimal(2)),
        (2, Decimal(2)),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1G", Decimal(10**9)),
        ("1e3", Decimal(1000)),
    ],
)
def test_parse_quantity(quantity, expected):
    assert k8s.parse_quantity(quantity) == expected


@pytest.mark.parametrize("quantity", ["1GB", "512 Mi", "", "lots"])
def test_parse_quantity_rejects_what_kubernetes_rejects(quantity):
    with pytest.raises(ValueError, match="expected a Kubernetes quantity"):
        k8s.parse_quantity(quantity)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"name": "Churn_Model"}, "name:"),
        ({"name": "x" * 64}, "name:"),
        ({"image": ""}, "image:"),
        ({"port": 0}, "port:"),
        ({"replicas": True}, "replicas:"),
        ({"min_replicas": 5, "max_replicas": 2}, "min_replicas:"),
        ({"memory_limit": "1GB"}, "memory_limit:"),
        ({"target_cpu_percent": 0}, "target_cpu_percent:"),
        ({"startup_seconds": 0}, "startup_seconds:"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, named):
    arguments = {"name": "churn", "image": IMAGE, **kwargs}
    with pytest.raises(ValueError, match=named):
        k8s.service_manifests(arguments.pop("name"), arguments.pop("image"), **arguments)


def test_unknown_field_is_a_schema_error_with_its_path(manifests):
    container_of(manifests)["livenessProbe"]["initialDelaySecond"] = 5
    (problem,) = problems_of(manifests)
    assert problem.startswith("Deployment/churn: spec.template.spec.containers.0.livenessProbe")
    assert "'initialDelaySecond' was unexpected" in problem


def test_wrong_type_is_a_schema_error(manifests):
    manifests[0]["spec"]["replicas"] = "two"
    (problem,) = problems_of(manifests)
    assert "spec.replicas" in problem and "'two'" in problem


def test_object_without_a_name_is_refused(manifests):
    del manifests[1]["metadata"]["name"]
    assert problems_of(manifests) == [
        "Service/<no name>: metadata.name is missing; every object needs a name"
    ]


def test_unknown_kind_is_reported(manifests):
    manifests.append({"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "g"}})
    (problem,) = problems_of(manifests)
    assert problem.startswith("Gadget/g:") and "Couldn't find schema" in problem


def test_service_that_selects_no_pods_is_reported(manifests):
    manifests[1]["spec"]["selector"] = {"app": "churn"}
    assert problems_of(manifests) == [
        "Service/churn: spec.selector {'app': 'churn'} selects no pods"
    ]


def test_service_target_port_must_be_a_declared_port_name(manifests):
    manifests[1]["spec"]["ports"][0]["targetPort"] = "web"
    (problem,) = problems_of(manifests)
    assert "targetPort 'web'" in problem and "['http']" in problem


def test_autoscaler_must_target_the_deployment(manifests):
    manifests[2]["spec"]["scaleTargetRef"]["name"] = "churn-v2"
    (problem,) = problems_of(manifests)
    assert problem.startswith("HorizontalPodAutoscaler/churn: spec.scaleTargetRef")


def test_request_above_limit_and_bad_quantity_and_missing_probe_are_all_listed(manifests):
    container = container_of(manifests)
    container["resources"]["requests"]["memory"] = "2Gi"
    container["resources"]["limits"]["cpu"] = "1 core"
    del container["livenessProbe"]
    problems = problems_of(manifests)
    assert len(problems) == 3
    assert any("memory request 2Gi is above its limit 1Gi" in p for p in problems)
    assert any("cpu: quantity: got '1 core'" in p for p in problems)
    assert any(p.endswith("no livenessProbe") for p in problems)


def test_probe_on_an_undeclared_port_is_reported(manifests):
    container_of(manifests)["readinessProbe"]["httpGet"]["port"] = "metrics"
    (problem,) = problems_of(manifests)
    assert "readinessProbe uses port 'metrics'" in problem


def test_selector_that_misses_the_pod_labels_is_reported(manifests):
    manifests[0]["spec"]["selector"]["matchLabels"] = {"app": "other"}
    assert any("does not match the pod labels" in p for p in problems_of(manifests))


def test_error_message_says_what_to_do(manifests):
    manifests[0]["spec"]["replicas"] = -1.5
    with pytest.raises(k8s.ManifestError) as caught:
        k8s.validate_manifests(manifests)
    assert caught.value.version == k8s.KUBERNETES_VERSION
    assert "Fix each field named above" in str(caught.value)


def test_validation_arguments_are_checked(manifests):
    with pytest.raises(ValueError, match="manifests: got none"):
        k8s.validate_manifests([])
    with pytest.raises(ValueError, match="version: got '1.4'"):
        k8s.validate_manifests(manifests, version="1.4")
    assert k8s.validate_manifests(manifests, version="1.30.0")


def test_yaml_round_trip_without_anchors(manifests, tmp_path):
    text = k8s.manifests_yaml(manifests)
    assert text.count("\n---\n") == 2 and "&id" not in text
    path = tmp_path / "churn.yaml"
    path.write_text(text)
    assert k8s.load_manifests(path) == manifests


def test_validation_does_not_change_the_manifests(manifests):
    before = copy.deepcopy(manifests)
    k8s.validate_manifests(manifests)
    assert manifests == before


def test_cli_writes_validated_manifests(tmp_path):
    out = tmp_path / "churn.yaml"
    result = CliRunner().invoke(
        app, ["manifests", IMAGE, "--name", "churn", "--memory-request", "768Mi", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    objects = k8s.load_manifests(out)
    assert [m["kind"] for m in objects] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    assert container_of(objects)["resources"]["requests"]["memory"] == "768Mi"


def test_cli_refuses_bad_sizes_with_the_reason():
    result = CliRunner().invoke(
        app, ["manifests", IMAGE, "--name", "churn", "--memory-request", "2Gi"]
    )
    assert result.exit_code == 1
    assert "memory request 2Gi is above its limit 1Gi" in result.output
