"""lessons.capstone: the project folder module 09's grader rebuilds, and its reference service."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error

from mlkit import bundle, data
from mlkit.lessons import capstone
from mlkit.lessons.service_calls import call_service
from mlkit.settings import repo_root

SOLUTION = repo_root() / "solutions" / "09_capstone.ipynb"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> capstone.Project:
    return capstone.write_project(tmp_path_factory.mktemp("capstone") / "project", n_rows=800)


def test_project_holds_the_service_a_verified_bundle_and_clutter(project):
    folder = project.folder
    assert (folder / "service.py").read_text() == capstone.SERVICE_SOURCE
    metadata = bundle.verify_bundle(folder / capstone.BUNDLE_FOLDER)
    assert metadata["training_data"]["rows"] == 800
    assert (folder / ".env").is_file() and (folder / "notebooks" / "exploration.ipynb").is_file()
    assert list(project.orders.columns) == data.DELIVERY_FEATURES


def test_project_refuses_a_folder_with_files(project):
    with pytest.raises(FileExistsError, match="not empty"):
        capstone.write_project(project.folder)


def test_baseline_beats_the_mean_and_not_the_truth():
    train, test = data.make_deliveries(3000, seed=1), data.make_deliveries(1000, seed=2)
    model = capstone.baseline_model().fit(
        train[data.DELIVERY_FEATURES], train[data.DELIVERY_TARGET]
    )
    y = test[data.DELIVERY_TARGET]
    baseline = mean_absolute_error(y, model.predict(test[data.DELIVERY_FEATURES]))
    mean_only = mean_absolute_error(y, np.full(len(y), train[data.DELIVERY_TARGET].mean()))
    truth = mean_absolute_error(y, data.expected_delivery_minutes(test))
    assert truth + 0.5 < baseline < mean_only - 2


def test_reference_service_checks_the_key_and_answers_the_model(project):
    orders = project.orders.head(3).to_dict(orient="records")
    key = {capstone.API_KEY_HEADER: "right-key"}
    steps = [
        {"get": "/readyz"},
        {"post": "/predict", "json": {"orders": orders}},
        {"post": "/predict", "json": {"orders": orders}, "headers": {"x-api-key": "wrong"}},
        {"post": "/predict", "json": {"orders": orders}, "headers": key},
        {"post": "/predict", "json": {"orders": [{**orders[0], "hour": 24}]}, "headers": key},
    ]
    env = {
        capstone.API_KEY_ENV: "right-key",
        capstone.BUNDLE_ENV: str(project.folder / capstone.BUNDLE_FOLDER),
    }
    ready, missing, wrong, good, bad = call_service(project.folder / "service.py", steps, env=env)
    assert ready["status"] == 200
    assert (missing["status"], wrong["status"]) == (401, 401)
    expected = project.model.predict(project.orders.head(3)).round(2)
    assert good["status"] == 200 and np.allclose(good["json"], expected, atol=0.011)
    assert bad["status"] == 400 and "hour" in bad["text"]


def test_call_service_refuses_headers_that_are_not_strings(project):
    with pytest.raises(ValueError, match="headers must map names to values"):
        call_service(project.folder / "service.py", [{"get": "/readyz", "headers": {"a": 1}}])


def test_build_and_run_wants_an_api_key(project):
    with pytest.raises(ValueError, match="api_key"):
        capstone.build_and_run(project.folder, [], api_key="")


def test_the_solution_writes_the_reference_service():
    if not SOLUTION.is_file():
        pytest.fail(f"{SOLUTION} is missing")
    nb = nbformat.read(SOLUTION, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("mlkit", {}).get("question") == "q2")
    lines = cell.source.splitlines(keepends=True)[1:]  # after the %%writefile line
    source = "".join(line for line in lines if "### BEGIN SOLUTION" not in line)
    source = "".join(line for line in source.splitlines(True) if "### END SOLUTION" not in line)
    # a cell's last line has no newline of its own; the written file's text is the same
    assert source.rstrip("\n") == capstone.SERVICE_SOURCE.rstrip("\n"), json.dumps(source)[:200]


def test_bento_tag_is_read_through_rich_colour_codes():
    # What `bentoml build --output tag` printed for this module's service: rich coloured
    # "e:a" (it looks like an IPv6 address), which once made an invalid image tag.
    from mlkit import containers

    line = "__tag__:delivery_tim\x1b[1;92me:a\x1b[0mrcu4yxi6kpe2ax4\n"
    text = containers._ANSI_CODE.sub("", line)
    assert containers._BENTO_TAG_LINE.search(text).group(1) == "delivery_time:arcu4yxi6kpe2ax4"
