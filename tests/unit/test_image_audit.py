"""mlkit.image_audit: what a bento carries, what must not ship, and whether it is pinned.

Bentos here are folders laid out as `bentoml build` lays them out, made in tmp_path;
the image listing needs Docker and is tested in tests/containers/test_images.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkit.containers import BuiltBento
from mlkit.image_audit import bento_files, bento_requirements, unwanted_files


def make_bento(
    root: Path, requirements: str, sources: tuple[str, ...] = ("service.py",)
) -> BuiltBento:
    path = root / "bentos" / "churn" / "v1"
    (path / "env" / "python").mkdir(parents=True)
    (path / "bento.yaml").write_text("service: service:Churn\n")
    (path / "env" / "python" / "requirements.txt").write_text(requirements)
    for source in sources:
        (path / "src" / source).parent.mkdir(parents=True, exist_ok=True)
        (path / "src" / source).write_text("")
    return BuiltBento(tag="churn:v1", path=path)


def test_clean_paths_are_not_flagged():
    assert unwanted_files(["src/service.py", "src/model.skops", "env/docker/Dockerfile"]) == {}


def test_each_kind_is_flagged_with_its_paths():
    found = unwanted_files(
        [
            "src/service.py",
            "src/.env",
            "src/keys/server.PEM",
            "src/.git/config",
            "src/notebooks/explore.ipynb",
            "src/.ipynb_checkpoints/service-checkpoint.py",
            "src/data/test_customers.csv",
            "src/holdout.parquet",
            "src/tests/helpers.py",
            "src/test_service.py",
        ]
    )
    assert found == {
        "secret": ["src/.env", "src/keys/server.PEM", "src/.git/config"],
        "notebook": ["src/notebooks/explore.ipynb", "src/.ipynb_checkpoints/service-checkpoint.py"],
        "data": ["src/data/test_customers.csv", "src/holdout.parquet"],
        "tests": ["src/tests/helpers.py", "src/test_service.py"],
    }


def test_a_single_string_is_refused():
    with pytest.raises(TypeError, match="paths: got the string"):
        unwanted_files("src/.env")


def test_bento_files_lists_every_file_relative_to_the_bento(tmp_path):
    bento = make_bento(tmp_path, "bentoml==1.4.40\n", ("service.py", "data/test.csv"))
    assert bento_files(bento) == [
        "bento.yaml",
        "env/python/requirements.txt",
        "src/data/test.csv",
        "src/service.py",
    ]


def test_requirements_pinned_and_unpinned(tmp_path):
    bento = make_bento(
        tmp_path,
        "# pins\nscikit-learn==1.9.1\nScipy==1.17.1  # comment\nnumpy>=2\npandas\n"
        "skops==0.*\n-r other.txt\n\nbentoml==1.4.40\n",
    )
    assert bento_requirements(bento) == {
        "scikit-learn": "1.9.1",
        "scipy": "1.17.1",
        "numpy": None,
        "pandas": None,
        "skops": None,
        "bentoml": "1.4.40",
    }


def test_unreadable_requirement_names_the_file(tmp_path):
    bento = make_bento(tmp_path, "scikit-learn===\n")
    with pytest.raises(ValueError, match="requirements.txt: cannot read requirement"):
        bento_requirements(bento)


def test_deleted_bento_and_wrong_type_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no bento.yaml"):
        bento_files(BuiltBento(tag="churn:gone", path=tmp_path / "gone"))
    with pytest.raises(TypeError, match="bento: got str"):
        bento_requirements("churn:v1")
