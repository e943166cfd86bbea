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
    assert sorted(found) == ["alice", "bob", "carol", "dave", "notes"]
    assert found["alice"].path.name == "00_welcome.ipynb"
    assert found["bob"].path.name == "00_mine.ipynb"
    assert found["carol"].path is None and "no 00_*.ipynb" in found["carol"].problem
    assert found["carol"].ignored == ("01_other.ipynb",)
    assert found["dave"].path == tmp_path / "dave.ipynb"
    assert found["notes"].path is None and found["notes"].status == "missing"


def test_a_file_that_is_not_a_notebook_is_named_in_both_layouts(tmp_path):
    (tmp_path / "erin.txt").write_text("my answers")
    (tmp_path / "frank").mkdir()
    (tmp_path / "frank" / "00_welcome.txt").write_text("my answers")
    (tmp_path / "gina.ipynb").write_text("{}")
    (tmp_path / "gina.pdf").write_text("")
    found = {s.learner: s for s in find_submissions(tmp_path, SPEC)}
    erin, frank, gina = found["erin"], found["frank"], found["gina"]
    assert (erin.path, erin.status, erin.ignored) == (None, "missing", ("erin.txt",))
    assert erin.problem == "erin.txt is not a notebook (expected erin.ipynb)"
    assert (frank.path, frank.status, frank.ignored) == (None, "missing", ("00_welcome.txt",))
    assert frank.problem == "no 00_*.ipynb in the learner's folder (found: 00_welcome.txt)"
    assert gina.path == tmp_path / "gina.ipynb" and gina.ignored == ("gina.pdf",)


def test_the_notebook_named_like_the_lab_is_graded_and_the_others_named(tmp_path):
    (tmp_path / "hana").mkdir()
    for name in ("00_welcome.ipynb", "00_welcome_v2.ipynb", "00_old.ipynb"):
        (tmp_path / "hana" / name).write_text("{}")
    (submission,) = find_submissions(tmp_path, SPEC)
    assert submission.path == tmp_path / "hana" / "00_welcome.ipynb"
    assert submission.ignored == ("00_old.ipynb", "00_welcome_v2.ipynb")


def test_several_candidates_are_reported_not_guessed(tmp_path):
    (tmp_path / "erin").mkdir()
    for name in ("00_a.ipynb", "00_b.ipynb"):
        (tmp_path / "erin" / name).write_text("{}")
    (submission,) = find_submissions(tmp_path, SPEC)
    assert submission.path is None and "00_a.ipynb, 00_b.ipynb" in submission.problem


def test_layout_errors_name_the_folder(tmp_path):
    with pytest.raises(SubmissionLayoutError, match="nothing to grade"):
        find_submissions(tmp_path, SPEC)
    with pytest.raises(SubmissionLayoutError, match="nope does not exist"):
        find_submissions(tmp_path / "nope", SPEC)
    (tmp_path / "file.ipynb").write_text("{}")
    with pytest.raises(SubmissionLayoutError, match="file.ipynb is not a folder"):
        find_submissions(tmp_path / "file.ipynb", SPEC)


def test_a_folder_and_a_flat_file_of_one_name_stop_only_that_learner(tmp_path):
    (tmp_path / "frank").mkdir()
    (tmp_path / "frank" / "00_welcome.ipynb").write_text("{}")
    (tmp_path / "frank.ipynb").write_text("{}")
    (tmp_path / "gus.ipynb").write_text("{}")
    found = {s.learner: s for s in find_submissions(tmp_path, SPEC)}
    assert found["frank"].path is None
    assert found["frank"].problem == "both a folder frank/ and a file frank.ipynb; keep one"
    assert found["gus"].path == tmp_path / "gus.ipynb"


def test_only_other_modules_notebooks_stop_the_run_before_it_starts(tmp_path):
    for learner in ("alice", "bob"):
        (tmp_path / learner).mkdir()
        (tmp_path / learner / "01_packaging.ipynb").write_text("{}")
    with pytest.raises(
        SubmissionLayoutError,
        match=r"no learner in .* has a 00_\*\.ipynb for assignment 00_welcome, but their "
        r"folders hold other modules' notebooks \(alice/01_packaging.ipynb, bob/01_pack",
    ):
        find_submissions(tmp_path, SPEC)
    (tmp_path / "carol").mkdir()  # one learner who submitted nothing does not change that
    with pytest.raises(SubmissionLayoutError, match="other modules' notebooks"):
        find_submissions(tmp_path, SPEC)
    (tmp_path / "carol" / "00_welcome.ipynb").write_text("{}")
    assert [s.learner for s in find_submissions(tmp_path, SPEC)] == ["alice", "bob", "carol"]
