"""mlkit.churn_project.build_and_run: a project's bento, image and container, checked and removed.

One build, with a careless configuration (no allow-list), so the check must show the
clutter that ships as well as the right predictions.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pandas as pd
import pytest

from mlkit import churn_project


@pytest.mark.docker
def test_build_and_run_reports_files_pins_and_predictions(docker_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml-home"))
    project = tmp_path / "project"
    trained = churn_project.write_project(project, n_rows=400)
    config = {
        "service": churn_project.SERVICE,
        "python": {"packages": churn_project.installed_pins()},
    }
    churn_project.write_build_config(project, churn_project.check_build_config(config))
    customers = trained.X_test.head(5).to_dict("records")

    check = churn_project.build_and_run(project, customers)

    expected = trained.model.predict_proba(pd.DataFrame(customers))[:, 1]
    np.testing.assert_allclose(check.predictions, expected, atol=1e-6)
    assert check.readyz_status == 200
    assert check.image_mb > 0
    for leaked in ("src/.env", "src/data/holdout_customers.csv", "src/notebooks/exploration.ipynb"):
        assert leaked in check.bento_files and leaked in check.image_files
    assert check.requirements["scikit-learn"] and all(check.requirements.values())
    images = subprocess.run(
        ["docker", "images", "--quiet", "--filter", "reference=mlkit-check-churn*"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert images.stdout.strip() == ""
    assert not list((tmp_path / "bentoml-home" / "bentos").glob("churn/*/bento.yaml"))
