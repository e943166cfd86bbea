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


def test_the_solution_writes_the_reference_service_in_parts():
    if not SOLUTION.is_file():
        pytest.fail(f"{SOLUTION} is missing")
    nb = nbformat.read(SOLUTION, as_version=4)
    written = {}
    for cell in nb.cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type == "code" and first.startswith("%%writefile {SERVICE_PARTS}/"):
            lines = body.splitlines(keepends=True)
            markers = ("### BEGIN SOLUTION", "### END SOLUTION")
            kept = [line for line in lines if not any(m in line for m in markers)]
            written[first.rsplit("/", 1)[1]] = "".join(kept)
    assert sorted(written) == sorted(capstone.PART_FILES.values())
    for name, file in capstone.PART_FILES.items():
        # a cell's last line has no newline of its own; the parts are joined stripped
        assert written[file].strip("\n") == capstone.REFERENCE_PARTS[name].strip("\n"), (
            name,
            json.dumps(written[file])[:200],
        )


def test_parts_join_into_the_service_and_each_is_checked_with_the_others_reference(tmp_path):
    for name, file in capstone.PART_FILES.items():
        (tmp_path / file).write_text(capstone.REFERENCE_PARTS[name])
    target = capstone.write_service(tmp_path, tmp_path / "service.py")
    assert target.read_text() == capstone.SERVICE_SOURCE
    compile(capstone.SERVICE_SOURCE, "service.py", "exec")

    mine = {**capstone.read_parts(tmp_path), "q2b": "class ApiKeyMiddleware:  # mine\n    pass\n"}
    hybrid = capstone.with_reference_parts(mine, keep="q2b")
    assert "# mine" in hybrid and capstone.REFERENCE_PARTS["q2a"].strip("\n") in hybrid
    assert capstone.with_reference_parts(mine, keep="q2a") == capstone.SERVICE_SOURCE
    with pytest.raises(ValueError, match="keep"):
        capstone.with_reference_parts(mine, keep="header")


def test_an_unfinished_or_missing_part_is_named(tmp_path):
    placeholder = '    raise NotImplementedError("Replace this line with your answer to q2a.")\n'
    parts = {"header": "import os\n", "q2a": "class Order:\n" + placeholder, "q2b": ""}
    assert "q2a still raises NotImplementedError" in capstone.unfinished_part(parts, "q2a")
    assert "q2b.py was not written" in capstone.unfinished_part(parts, "q2b")
    assert capstone.unfinished_part(capstone.REFERENCE_PARTS, "q2a") is None
    assert capstone.read_parts(tmp_path) == dict.fromkeys(capstone.REFERENCE_PARTS, "")
    with pytest.raises(FileNotFoundError, match="header.py, q2a.py, q2b.py"):
        capstone.write_service(tmp_path, tmp_path / "service.py")


def test_bento_tag_is_read_through_rich_colour_codes():
    # What `bentoml build --output tag` printed for this module's service: rich coloured
    # "e:a" (it looks like an IPv6 address), which once made an invalid image tag.
    from mlkit import containers

    line = "__tag__:delivery_tim\x1b[1;92me:a\x1b[0mrcu4yxi6kpe2ax4\n"
    text = containers._ANSI_CODE.sub("", line)
    assert containers._BENTO_TAG_LINE.search(text).group(1) == "delivery_time:arcu4yxi6kpe2ax4"
