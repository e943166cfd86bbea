"""`mlkit assign`: labs generated from solutions, byte-identical on rerun, checked in CI."""

import shutil

import nbformat
from typer.testing import CliRunner

from mlkit.cli import app
from mlkit.grading.labs import assign
from mlkit.settings import repo_root

runner = CliRunner()


def test_committed_labs_match_their_solutions():
    result = runner.invoke(app, ["assign", "--check"])
    assert result.exit_code == 0, result.output
    assert "labs/ matches solutions/" in result.output


def test_rerunning_assign_gives_byte_identical_labs(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    shutil.copy(repo_root() / "solutions" / "00_welcome.ipynb", solutions)
    first = assign(solutions, tmp_path / "labs")
    lab = tmp_path / "labs" / "00_welcome.ipynb"
    before = lab.read_bytes()
    second = assign(solutions, tmp_path / "labs")
    assert [p.name for p in first.written] == ["00_welcome.ipynb"]
    assert second.written == [] and lab.read_bytes() == before
    assert before == (repo_root() / "labs" / "00_welcome.ipynb").read_bytes()


def test_the_lab_keeps_questions_and_drops_answers_hidden_tests_and_outputs():
    text = (repo_root() / "labs" / "00_welcome.ipynb").read_text()
    lab = nbformat.reads(text, as_version=4)
    for secret in (
        "BEGIN SOLUTION",
        "HIDDEN TESTS",
        "p50_is_the_median",
        "seed=2024",
        "LogisticRegression(max",
    ):
        assert secret not in text
    roles = [c.metadata["mlkit"] for c in lab.cells if "mlkit" in c.metadata]
    assert [(r["question"], r["kind"], r.get("points")) for r in roles if "points" in r] == [
        ("q1", "code", 2),
        ("q2", "code", 3),
        ("q3", "code", 3),
        ("q4", "written", 2),
    ]
    assert all(c.outputs == [] for c in lab.cells if c.cell_type == "code")


def test_check_names_every_lab_out_of_date(tmp_path):
    solutions, labs = tmp_path / "solutions", tmp_path / "labs"
    solutions.mkdir()
    labs.mkdir()
    shutil.copy(repo_root() / "solutions" / "00_welcome.ipynb", solutions)
    (labs / "05_orphan.ipynb").write_text("{}")
    result = runner.invoke(
        app, ["assign", "--check", "--solutions", str(solutions), "--labs", str(labs)]
    )
    assert result.exit_code == 1
    assert "labs/00_welcome.ipynb is missing" in result.output
    assert "labs/05_orphan.ipynb has no solutions/05_orphan.ipynb" in result.output
    assign(solutions, labs)
    lab = labs / "00_welcome.ipynb"
    lab.write_text(lab.read_text().replace("Your answer here.", "edited by hand"))
    result = runner.invoke(
        app, ["assign", "--check", "--solutions", str(solutions), "--labs", str(labs)]
    )
    assert result.exit_code == 1 and "labs/00_welcome.ipynb differs from" in result.output
