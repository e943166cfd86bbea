"""Finding submissions: learner folders, flat files, and what is wrong with a folder."""

import pytest

from mlkit.grading.assignment import read_assignment
from mlkit.grading.exceptions import SubmissionLayoutError
from mlkit.grading.submissions import find_submissions
from mlkit.settings import repo_root

SPEC = read_assignment(repo_root() / "solutions" / "00_welcome.ipynb")


def test_folders_and_flat_files_both_count(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "00_welcome.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "00_mine.ipynb").write_text("{}")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "01_other.ipynb").write_text("{}")
    (tmp_path / "dave.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "notes.txt").write_text("")
    found = {s.learner: s for s in find_submissions(tmp_path, SPEC)}
    assert sorted(found) == ["alice", "bob", "carol", "dave"]
    assert found["alice"].path.name == "00_welcome.ipynb"
    assert found["bob"].path.name == "00_mine.ipynb"
    assert found["carol"].path is None and "no 00_*.ipynb" in found["carol"].problem
    assert found["dave"].path == tmp_path / "dave.ipynb"


def test_several_candidates_are_reported_not_guessed(tmp_path):
    (tmp_path / "erin").mkdir()
    for name in ("00_a.ipynb", "00_b.ipynb"):
        (tmp_path / "erin" / name).write_text("{}")
    (submission,) = find_submissions(tmp_path, SPEC)
    assert submission.path is None and "00_a.ipynb, 00_b.ipynb" in submission.problem


def test_layout_errors_name_the_folder(tmp_path):
    with pytest.raises(SubmissionLayoutError, match="nothing to grade"):
        find_submissions(tmp_path, SPEC)
    with pytest.raises(SubmissionLayoutError, match="is not a folder"):
        find_submissions(tmp_path / "nope", SPEC)
    (tmp_path / "frank").mkdir()
    (tmp_path / "frank.ipynb").write_text("{}")
    with pytest.raises(SubmissionLayoutError, match="both a folder and a frank.ipynb"):
        find_submissions(tmp_path, SPEC)
