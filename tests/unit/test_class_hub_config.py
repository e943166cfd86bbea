"""The class hub's config text and the learners' Docker statement (no hub started)."""

from __future__ import annotations

from mlkit._runtime.docker import CLASS_HUB_ENV, ON_CLASS_HUB, docker_problem
from mlkit.hub.config import LEARNER_HOME, HubSettings, LearnerServers, hub_config


def test_a_class_hub_isolates_and_caps_each_learner(tmp_path):
    learners = LearnerServers("mlkit-learner:x", mem_limit="1G", cpu_limit=0.5, prefix="cls")
    text = hub_config(HubSettings(tmp_path, 8000, 8001, 8002, 8003, ["ines"], learners=learners))
    assert "c.JupyterHub.spawner_class = 'mlkit.hub.spawner.LearnerSpawner'" in text
    assert f"c.DockerSpawner.volumes = {{'cls-home-{{username}}': '{LEARNER_HOME}'}}" in text
    assert "c.DockerSpawner.mem_limit = '1G'" in text and "cpu_limit = 0.5" in text
    assert "'cap_drop': ['ALL']" in text and "docker.sock" not in text
    assert "c.NativeAuthenticator.open_signup = False" in text
    assert "c.Authenticator.admin_users = set(['ines'])" in text
    assert "jupyterhub_idle_culler" in text
    compile(text, "jupyterhub_config.py", "exec")


def test_a_hub_without_learner_servers_has_no_spawner(tmp_path):
    text = hub_config(HubSettings(tmp_path, 8000, 8001, 8002, 8003, ["ines"]))
    assert "DockerSpawner" not in text and "NativeAuthenticator" not in text


def test_on_the_hub_the_docker_labs_say_why_there_is_no_docker(monkeypatch):
    monkeypatch.setenv(CLASS_HUB_ENV, "1")
    assert docker_problem() == ON_CLASS_HUB
    assert "make lab" in ON_CLASS_HUB and "root" in ON_CLASS_HUB
    monkeypatch.delenv(CLASS_HUB_ENV)
    assert docker_problem() != ON_CLASS_HUB
