"""Grading clusters on SLURM and Kubernetes (mlkit.grading.cluster_deploy), without either.

SLURM: `mlkit cluster slurm --dry-run` builds dask-jobqueue's SLURMCluster for real (its
scheduler listens on 127.0.0.1 for the length of the command) and prints the batch script
each worker job would run; nothing is submitted. Kubernetes: `mlkit cluster k8s` writes a
DaskCluster whose pods and service pass the Kubernetes schema offline.
"""

from __future__ import annotations

import sys

import pytest
import yaml
from typer.testing import CliRunner

from mlkit.cli import app
from mlkit.grading.cluster_deploy import (
    KubernetesSettings,
    SlurmSettings,
    check_kubernetes_cluster,
    cluster_security,
    kubernetes_cluster,
    slurm_cluster,
)
from mlkit.grading.exceptions import ClusterError
from mlkit.k8s import ManifestError
from mlkit.settings import repo_root

runner = CliRunner()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certs") / "certs"
    made = runner.invoke(app, ["cluster", "certs", str(folder)])
    assert made.exit_code == 0, made.output
    return folder


def test_the_security_holds_each_roles_files(certs):
    security = cluster_security(certs)
    assert security.require_encryption is True
    assert security.tls_ca_file == str(certs / "ca.pem")
    for role in ("scheduler", "worker", "client"):
        assert getattr(security, f"tls_{role}_cert") == str(certs / f"{role}.pem")
        assert getattr(security, f"tls_{role}_key") == str(certs / f"{role}-key.pem")


def test_missing_certificates_say_how_to_make_them(tmp_path):
    with pytest.raises(ClusterError, match="mlkit cluster certs"):
        cluster_security(tmp_path)


def test_the_slurm_batch_script_starts_a_tls_worker_of_this_kit(certs):
    made = runner.invoke(
        app,
        [
            "cluster", "slurm", "--host", "127.0.0.1", "--port", "0", "--certs", str(certs),
            "--jobs", "3", "--cores", "4", "--memory", "16GB", "--walltime", "01:30:00",
            "--queue", "short", "--account", "course-ml", "--docker",
            "--prologue", "module load python/3.11", "--dry-run",
        ],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    script = made.output
    for directive in ("-J mlkit-grader", "-p short", "-A course-ml", "-t 01:30:00", "--mem=15G"):
        assert f"#SBATCH {directive}" in script, directive
    assert "#SBATCH -n 1" in script and "#SBATCH --cpus-per-task=4" in script
    assert f"cd {repo_root()}" in script and "module load python/3.11" in script
    worker = next(line for line in script.splitlines() if "distributed.cli.dask_worker" in line)
    assert worker.startswith(f"{sys.executable} -m distributed.cli.dask_worker tls://127.0.0.1:")
    assert "--nthreads 4" in worker and "--resources docker=4" in worker
    assert f"--tls-ca-file {certs / 'ca.pem'}" in worker
    assert f"--tls-cert {certs / 'worker.pem'} --tls-key {certs / 'worker-key.pem'}" in worker


def test_slurm_workers_without_docker_get_no_docker_resource(certs):
    cluster = slurm_cluster(certs, SlurmSettings(host="127.0.0.1", port=0))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "--resources" not in script
    assert cluster.scheduler_address.startswith("tls://127.0.0.1:")


def test_slurm_without_dask_jobqueue_names_the_package(certs, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # import fails
    with pytest.raises(ClusterError, match=r"pip install dask-jobqueue==0\.9\.0"):
        slurm_cluster(certs, SlurmSettings(host="127.0.0.1", port=0))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"jobs": 0}, "jobs: got 0, expected a whole number >= 1"),
        ({"cores": True}, "cores: got True"),
        ({"host": ""}, "host: expected the login node's address"),
    ],
)
def test_bad_slurm_settings_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        SlurmSettings(**{"host": "127.0.0.1", **changes})


def test_the_kubernetes_cluster_is_written_and_passes_the_schema(tmp_path):
    out = tmp_path / "dask-cluster.yaml"
    image = "registry.example.edu/course/mlkit-grader:0.1.0"
    made = runner.invoke(
        app,
        ["cluster", "k8s", "--image", image, "--out", str(out), "--workers", "6",
         "--namespace", "grading"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "kubectl -n grading port-forward service/mlkit-grading-scheduler 8786:8786" in (
        made.output
    )
    (resource,) = list(yaml.safe_load_all(out.read_text()))
    assert (resource["apiVersion"], resource["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    spec = resource["spec"]
    assert spec["worker"]["replicas"] == 6
    (scheduler,) = spec["scheduler"]["spec"]["containers"]
    (worker,) = spec["worker"]["spec"]["containers"]
    assert scheduler["args"][:4] == ["dask", "scheduler", "--protocol", "tls"]
    assert worker["image"] == scheduler["image"] == image
    env = {item["name"]: item["value"] for item in worker["env"]}
    address = "tls://mlkit-grading-scheduler.grading.svc.cluster.local:8786"
    assert env["DASK_SCHEDULER_ADDRESS"] == address
    assert "--tls-cert" in worker["args"] and "/etc/mlkit-certs/worker.pem" in worker["args"]
    assert worker["securityContext"]["runAsNonRoot"] is True
    assert check_kubernetes_cluster(resource) == [
        "Pod/mlkit-grading-scheduler", "Pod/mlkit-grading-worker", "Service/mlkit-grading-scheduler"
    ]  # fmt: skip


def test_a_broken_kubernetes_cluster_is_refused_naming_the_field():
    resource = kubernetes_cluster(KubernetesSettings(image="mlkit-grader:1"))
    resource["spec"]["worker"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8788"
    field = r"Pod/mlkit-grading-worker: spec\.containers\.0\.ports\.0\.containerPort"
    with pytest.raises(ManifestError, match=field + ": '8788' is not of type 'integer'"):
        check_kubernetes_cluster(resource)


def test_an_image_without_a_tag_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "dask-cluster.yaml"
    made = runner.invoke(app, ["cluster", "k8s", "--image", "mlkit-grader", "--out", str(out)])
    assert made.exit_code == 2
    assert "expected an image with a tag that your cluster can pull" in made.output
    assert not out.exists()
