"""Every course notebook and lab opens with objectives, prerequisites and a measured time
estimate (mlkit.course_outline), and every lab's rubric table is what its solution's tests
give (mlkit.grading.transforms.add_rubric)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from support.rubric_check import rubric_problems

from mlkit.course_outline import (
    TimeEstimate,
    outline_problems,
    set_time_estimate,
    time_estimate,
    word_count,
)
from mlkit.grading.assignment import read_assignment
from mlkit.grading.exceptions import AuthoringError
from mlkit.grading.labs import lab_text
from mlkit.settings import repo_root

ROOT = repo_root()
COURSE = sorted(ROOT.glob("course/[0-9][0-9]_*.ipynb"))
LABS = sorted(ROOT.glob("labs/[0-9][0-9]_*.ipynb"))


def test_there_are_ten_modules_and_ten_labs():
    assert len(COURSE) == 10 and len(LABS) == 10


@pytest.mark.parametrize("path", COURSE + LABS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_opens_with_objectives_prerequisites_and_its_measured_time(path: Path):
    assert outline_problems(path) == []


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_lab_time_counts_solving_its_points(path: Path):
    estimate = time_estimate(nbformat.read(path, as_version=4), path.name)
    assert estimate.points == read_assignment(ROOT / "solutions" / path.name).max_points
    assert estimate.run_s > 0 and estimate.solving_min > 0


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.name)
def test_lab_rubric_matches_the_points_of_its_hidden_and_public_tests(path: Path):
    assert rubric_problems(path, ROOT / "solutions" / path.name) == []


def _lab_00(tmp_path: Path) -> Path:
    lab = tmp_path / "00_welcome.ipynb"
    lab.write_text(lab_text(ROOT / "solutions" / "00_welcome.ipynb"))
    return lab


def test_a_rubric_that_drifted_from_the_tests_is_reported(tmp_path):
    lab = _lab_00(tmp_path)
    nb = nbformat.read(lab, as_version=4)
    (cell,) = [c for c in nb.cells if c.source.startswith("## Rubric")]
    assert "| q2 | 3 (3 hidden) |" in cell.source
    cell.source = cell.source.replace("| q2 | 3 (3 hidden) |", "| q2 | 4 (4 hidden) |")
    nbformat.write(nb, lab)
    problems = rubric_problems(lab, ROOT / "solutions" / "00_welcome.ipynb")
    assert any(p.startswith("q2: the rubric says '4 hidden'") for p in problems)
    assert "the rows add up to 11, not 10" in problems


def test_a_question_added_without_a_rubric_line_stops_assign(tmp_path):
    nb = nbformat.read(ROOT / "solutions" / "00_welcome.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("mlkit", {}).get("question") == "q3":
            cell.metadata["mlkit"].pop("rubric", None)
    solution = tmp_path / "00_welcome.ipynb"
    nbformat.write(nb, solution)
    with pytest.raises(AuthoringError, match="'q3' has no rubric line: add \"rubric\""):
        lab_text(solution)


def _notebook(header: str, words: int = 0) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 99 · A module\n\n" + "word " * words),
        nbformat.v4.new_markdown_cell(header),
    ]
    return nb


HEADER = (
    "## Before you start\n\n**Learning objectives.** You can:\n\n- one\n\n"
    "**Prerequisites.** none.\n\n**Time.** later"
)


def test_set_time_estimate_writes_metadata_and_the_time_line(tmp_path):
    nb = _notebook(HEADER, words=396)
    set_time_estimate(nb, TimeEstimate(words=word_count(nb), run_s=61.0))
    path = tmp_path / "99_module.ipynb"
    nbformat.write(nb, path)
    assert outline_problems(path) == []
    assert nb.metadata["mlkit"]["time_estimate"] == {"words": 411, "run_s": 61.0}
    assert "**Time.** About 5 min: 3 min reading (411 words at 200 words a minute), 2 min" in (
        nb.cells[1].source
    )


def test_missing_paragraphs_stale_time_and_changed_words_are_reported(tmp_path):
    nb = _notebook(HEADER.replace("**Prerequisites.** none.", ""), words=100)
    set_time_estimate(nb, TimeEstimate(words=word_count(nb), run_s=30.0))
    nb.metadata["mlkit"]["time_estimate"]["run_s"] = 300.0  # measured again, line not rewritten
    nb.cells[0].source += " word" * 200  # the text grew by far more than a quarter
    path = tmp_path / "99_module.ipynb"
    nbformat.write(nb, path)
    problems = outline_problems(path)
    assert any("no **Prerequisites.** paragraph" in p for p in problems)
    assert any("time line does not match" in p for p in problems)
    assert any("run bench/course_times.py" in p for p in problems)


def test_a_notebook_without_the_cell_or_the_figures_is_reported(tmp_path):
    path = tmp_path / "99_module.ipynb"
    nbformat.write(_notebook("## Something else"), path)
    (problem,) = outline_problems(path)
    assert "no '## Before you start' markdown cell" in problem
    nbformat.write(_notebook(HEADER), path)
    (problem,) = outline_problems(path)
    assert "metadata mlkit.time_estimate must be" in problem
