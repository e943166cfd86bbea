"""The class hub on Kubernetes (deploy/hub-k8s/), checked offline: the chart's values
against the keys of the Zero to JupyterHub chart, the Kubernetes objects in them and the
exchange's manifests against Kubernetes' schemas, and each against the other and mlkit."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

from mlkit.hub.config import EXCHANGE_ACCESS
from mlkit.hub.exchange import INSTRUCT_SCOPE, SERVICE_NAME
from mlkit.k8s import ManifestError, load_manifests, parse_quantity, validate_manifests
from mlkit.settings import repo_root

FOLDER = repo_root() / "deploy" / "hub-k8s"


def values() -> dict[str, Any]:
    return yaml.safe_load((FOLDER / "values.yaml").read_text())


def chart_keys() -> dict[str, Any]:
    return yaml.safe_load((FOLDER / "z2jh-values-keys.yaml").read_text())


def exchange_manifests() -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in load_manifests(FOLDER / "exchange.yaml")}


def chart_problems(config: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(chart_keys())
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(config)]


def test_every_key_of_the_values_is_one_the_chart_knows():
    assert chart_keys()["chartVersion"] in (FOLDER / "values.yaml").read_text()
    assert chart_problems(values()) == []


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        (("singleuser",), "cpus", {"limit": 2}),
        (("singleuser", "cpu"), "limit", "two"),
        (("hub", "networkPolicy"), "enable", True),
        ((), "exchange", {}),
    ],
)
def test_a_misspelt_or_mistyped_key_is_refused(where, key, value):
    config = copy.deepcopy(values())
    node = config
    for step in where:
        node = node[step]
    node[key] = value
    assert chart_problems(config)


def test_the_exchange_manifests_pass_the_kubernetes_schemas():
    listed = validate_manifests(load_manifests(FOLDER / "exchange.yaml"))
    assert set(listed) == {
        "PersistentVolumeClaim/mlkit-exchange-notebooks",
        "Deployment/mlkit-exchange",
        "Service/mlkit-exchange",
        "NetworkPolicy/mlkit-exchange",
    }
    broken = exchange_manifests()["Deployment"]
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    with pytest.raises(ManifestError, match="containerPort"):
        validate_manifests([broken])


def test_the_kubernetes_objects_inside_the_values_pass_their_schemas():
    config = values()
    rules = {
        "hub": config["hub"]["networkPolicy"]["egress"],
        "proxy": config["proxy"]["chp"]["networkPolicy"]["egress"],
    }
    policies = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"{name}-egress"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress},
        }
        for name, egress in rules.items()
    ]
    env = [{"name": k, "value": v} for k, v in config["singleuser"]["extraEnv"].items()]
    containers = [
        {"name": name, "image": "x", "resources": resources, "env": env}
        for name, resources in (
            ("hub", config["hub"]["resources"]),
            ("proxy", config["proxy"]["chp"]["resources"]),
        )
    ]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    pod["spec"] = {"containers": containers}
    assert validate_manifests([*policies, pod], consistency=False)


def test_the_hub_reaches_the_exchange_and_the_exchange_only_the_hub_and_its_database():
    config, manifests = values(), exchange_manifests()
    service, deployment = manifests["Service"], manifests["Deployment"]
    url = urlparse(config["hub"]["services"][SERVICE_NAME]["url"])
    assert url.hostname == service["metadata"]["name"]
    assert url.port == service["spec"]["ports"][0]["port"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container_port = container["ports"][0]["containerPort"]
    for egress in (
        config["hub"]["networkPolicy"]["egress"],
        config["proxy"]["chp"]["networkPolicy"]["egress"],
    ):
        (rule,) = egress
        assert rule["to"][0]["podSelector"]["matchLabels"].items() <= pod_labels.items()
        assert rule["ports"] == [{"port": container_port}]
    policy = manifests["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    allowed = [
        peer["podSelector"]["matchLabels"]["component"] for peer in policy["ingress"][0]["from"]
    ]
    assert sorted(allowed) == ["hub", "proxy"]
    env = {e["name"]: e for e in container["env"]}
    assert env["JUPYTERHUB_SERVICE_PREFIX"]["value"] == f"/services/{SERVICE_NAME}/"
    token = env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token == {"name": "hub", "key": f"hub.services.{SERVICE_NAME}.apiToken"}
    assert "valueFrom" in env["MLKIT_EXCHANGE_DB_URL"]  # the password stays in a Secret
    health = container["readinessProbe"]["httpGet"]["path"]
    assert health == f"/services/{SERVICE_NAME}/api/health"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert manifests["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_roles_and_scopes_are_the_ones_the_exchange_checks():
    hub = values()["hub"]
    assert INSTRUCT_SCOPE in hub["config"]["JupyterHub"]["custom_scopes"]
    assert "instructors" in hub["config"]["JupyterHub"]["load_groups"]
    roles = hub["loadRoles"]
    assert EXCHANGE_ACCESS in roles["user"]["scopes"]
    assert INSTRUCT_SCOPE not in roles["user"]["scopes"]
    assert {EXCHANGE_ACCESS, INSTRUCT_SCOPE} <= set(roles["exchange-instructor"]["scopes"])
    assert roles["exchange-instructor"]["groups"] == ["instructors"]
    assert {EXCHANGE_ACCESS, INSTRUCT_SCOPE} <= set(hub["config"]["Spawner"]["server_token_scopes"])


def test_learner_pods_are_bounded_and_reach_the_exchange_through_the_proxy():
    single = values()["singleuser"]
    assert single["cpu"]["guarantee"] <= single["cpu"]["limit"]
    assert parse_quantity(single["memory"]["guarantee"]) <= parse_quantity(
        single["memory"]["limit"]
    )
    exchange = urlparse(single["extraEnv"]["MLKIT_EXCHANGE_URL"])
    assert exchange.hostname == "proxy-public" and exchange.path == f"/services/{SERVICE_NAME}/"
    rules = single["networkPolicy"]["egressAllowRules"]
    assert single["networkPolicy"]["enabled"] and not rules["privateIPs"]
    assert not rules["cloudMetadataServer"]
