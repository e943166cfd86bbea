"""mlkit.lessons.churn_project: the lab's project folder and the build configurations it accepts."""

from __future__ import annotations

import json
from importlib.metadata import version

import nbformat
import pandas as pd
import pytest
import skops.io
import yaml

from mlkit import api_guard
from mlkit.lessons import churn_project
from mlkit.settings import repo_root

GOOD = {
    "service": "service.py:Churn",
    "include": ["service.py", "api_guard.py", "model.skops"],
    "python": {"packages": ["scikit-learn==1.9.1", "numpy==2.4.6"], "lock_packages": False},
}


def test_project_holds_service_model_and_clutter(tmp_path):
    trained = churn_project.write_project(tmp_path / "p", n_rows=400)
    files = sorted(p.relative_to(tmp_path / "p").as_posix() for p in (tmp_path / "p").rglob("*"))
    files = [f for f in files if (tmp_path / "p" / f).is_file()]
    assert files == [
        ".env",
        "api_guard.py",
        "data/holdout_customers.csv",
        "model.skops",
        "notebooks/exploration.ipynb",
        "service.py",
        "tests/test_service.py",
    ]
    assert (tmp_path / "p" / "service.py").read_text() == churn_project.SERVICE_SOURCE
    assert (tmp_path / "p" / "api_guard.py").read_text() == api_guard.source()
    model = skops.io.load(tmp_path / "p" / "model.skops")
    holdout = pd.read_csv(tmp_path / "p" / churn_project.HOLDOUT_FILE)
    assert len(holdout) == len(trained.X_test)
    X = trained.X_test.head(20)
    assert (model.predict_proba(X) == trained.model.predict_proba(X)).all()


def test_project_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="is not empty"):
        churn_project.write_project(tmp_path)


def test_course_service_is_the_project_service():
    nb = nbformat.read(repo_root() / "course" / "03_containers.ipynb", as_version=4)
    (cell,) = [c for c in nb.cells if c.source.startswith("%%writefile {project}/service.py")]
    assert cell.source.split("\n", 1)[1].strip() == churn_project.SERVICE_SOURCE.strip()


def test_installed_pins_are_exact():
    pins = churn_project.installed_pins()
    assert f"scikit-learn=={version('scikit-learn')}" in pins
    assert len(pins) == len(churn_project.RUNTIME_PACKAGES)


def test_good_config_is_accepted_as_a_copy():
    checked = churn_project.check_build_config(GOOD)
    assert checked == GOOD and checked is not GOOD


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"docker": {"setup_script": "setup.sh"}}, "keys ['docker']"),
        ({"envs": [{"name": "A", "value": "1"}]}, "keys ['envs']"),
        ({"service": None}, "build_config['service']"),
        ({"include": "service.py"}, "build_config['include']"),
        ({"labels": {"a": 1}}, "build_config['labels']"),
        ({"python": {"packages": ["requests==2.32.0"]}}, "'requests==2.32.0'"),
        ({"python": {"packages": ["scikit-learn>=1.5"]}}, "'scikit-learn>=1.5'"),
        ({"python": {"packages": [], "requirements_txt": "r.txt"}}, "build_config['python']"),
    ],
)
def test_config_that_could_run_other_code_is_refused(change, named):
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("(", r"\(")):
        churn_project.check_build_config({**GOOD, **change})


def test_not_a_dict_is_refused():
    with pytest.raises(ValueError, match="expected a dict, got str"):
        churn_project.check_build_config(json.dumps(GOOD))


def test_write_build_config_round_trips(tmp_path):
    path = churn_project.write_build_config(tmp_path, GOOD)
    assert path.name == "bentofile.yaml" and yaml.safe_load(path.read_text()) == GOOD
