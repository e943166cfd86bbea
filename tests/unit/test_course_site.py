"""The course site (mlkit/site.py): built by Sphinx from small notebooks made here, outputs
only from current executed copies and free of machine paths, labs without solutions,
broken links found. tests/browser/test_site_in_browser.py opens the real course's site."""

from __future__ import annotations

from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mlkit.course_outline import TimeEstimate, set_time_estimate
from mlkit.settings import repo_root
from mlkit.site import (
    MachineFacts,
    SiteError,
    broken_links,
    build_site,
    current_executed_copy,
    publishable_outputs,
    released_lab,
    save_executed_copy,
)

pytestmark = pytest.mark.timeout(300)

FACTS = MachineFacts(
    project="/srv/build/mlkit",
    scratch="/srv/build/mlkit/.scratch",
    home="/home/alice",
    host="buildbox7",
    tmp="/tmp",
)


def _notebook(title: str, code: str, minutes_words: int = 400, points: float = 0):
    nb = new_notebook(
        cells=[
            new_markdown_cell(f"# {title}\n\nIntro text."),
            new_markdown_cell(
                "## Before you start\n\n**Learning objectives.** After this module you can:\n\n"
                "- print a word\n\n**Prerequisites.** None.\n"
            ),
            new_code_cell(code),
        ],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    set_time_estimate(nb, TimeEstimate(words=minutes_words, run_s=30, points=points))
    return nb


def _executed(nb, text: str):
    nb = nbformat.from_dict(dict(nb))
    nb.cells[2].outputs = [new_output("stream", name="stdout", text=text)]
    nb.cells[2].execution_count = 1
    return nb


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    """A site of two course notebooks (one with a current executed copy, one whose copy is
    stale), one lab and a guide that links to a second page."""
    root = tmp_path_factory.mktemp("site")
    course, labs, docs, executed = (root / d for d in ("course", "labs", "docs", "executed"))
    for folder in (course, labs, docs):
        folder.mkdir()
    fresh = _notebook("00 · Hello", "print('hello')")
    nbformat.write(fresh, course / "00_hello.ipynb")
    save_executed_copy(
        _executed(fresh, f"hello from {repo_root()}/course\n"), course / "00_hello.ipynb", executed
    )
    stale = _notebook("01 · Later", "print('later')")
    nbformat.write(stale, course / "01_later.ipynb")
    save_executed_copy(_executed(stale, "old output\n"), course / "01_later.ipynb", executed)
    stale.cells[2].source = "print('later, changed')"
    nbformat.write(stale, course / "01_later.ipynb")
    lab = _notebook("00 · Hello lab", "answer = None  # your code here", points=2)
    nbformat.write(lab, labs / "00_hello.ipynb")
    (docs / "guide.md").write_text(
        "# Guide for instructors\n\nSee [the cluster page](more.md#second-part).\n"
    )
    (docs / "more.md").write_text("# More\n\n## Second part\n\nText.\n")
    built = build_site(root / "out", course, labs, docs / "guide.md", executed)
    return built


def _page(built, docname: str) -> str:
    return (built.html_dir / f"{docname}.html").read_text()


def test_a_course_page_shows_the_outputs_of_its_current_executed_copy(small_site):
    assert small_site.without_outputs == ["01_later.ipynb"]
    page = _page(small_site, "course/00_hello")
    assert "hello from &lt;project&gt;/course" in page
    assert str(repo_root()) not in page
    later = _page(small_site, "course/01_later")
    assert "later, changed" in later and "old output" not in later


def test_each_page_shows_objectives_and_time_and_the_index_lists_them(small_site):
    page = _page(small_site, "course/00_hello")
    assert "Learning objectives." in page and "About 3 min" in page
    index = _page(small_site, "index")
    for title in ("00 · Hello", "01 · Later", "Lab 00 · Hello lab", "Guide for instructors"):
        assert title in index
    assert "3 min" in index and "23 min" in index  # course 2 + 1, lab 2 + 1 + 20 (2 points)
    assert (small_site.html_dir / "search.html").is_file()
    assert (small_site.html_dir / "instructors" / "more.html").is_file()
    assert broken_links(small_site.html_dir) == []


def test_execute_runs_a_notebook_without_a_current_copy_and_keeps_it(tmp_path):
    course, executed = tmp_path / "course", tmp_path / "executed"
    course.mkdir()
    nbformat.write(_notebook("03 · Sum", "print(sum(range(5)))"), course / "03_sum.ipynb")
    (tmp_path / "guide.md").write_text("# Guide\n")
    built = build_site(tmp_path / "out", course, tmp_path, tmp_path / "guide.md", executed, True)
    assert built.without_outputs == []
    assert "10" in _page(built, "course/03_sum").split("cell_output")[1]
    assert current_executed_copy(course / "03_sum.ipynb", executed) is not None
    children = psutil.Process().children(recursive=True)
    kernels = [p for p in children if "ipykernel_launcher" in " ".join(p.cmdline())]
    assert kernels == [], "the kernel that ran the notebook was left running"


def test_a_notebook_that_fails_under_execute_is_named(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    nbformat.write(_notebook("04 · Boom", "1 / 0"), course / "04_boom.ipynb")
    (tmp_path / "guide.md").write_text("# Guide\n")
    with pytest.raises(SiteError, match=r"(?s)04_boom.ipynb failed while running.*ZeroDivision"):
        build_site(tmp_path / "out", course, tmp_path, tmp_path / "guide.md", tmp_path, True)
    assert not (tmp_path / "04_boom.ipynb").exists()


def test_machine_paths_are_rewritten_and_container_paths_kept():
    text = (
        "saved /srv/build/mlkit/.scratch/bentos/a.bento and /srv/build/mlkit/course/x.ipynb\n"
        "cache /home/alice/.cache/pip, tmp /tmp/pytest-of-alice/pytest-12/test_x0/log\n"
        "made /tmp/tmpa1b2c3d4/model.onnx on buildbox7 at 2026-12-06 19:58:38,123\n"
        "in the container: /home/bentoml/bentos/churn and /home/alicebob stays\n"
    )
    assert FACTS.rewrite(text) == (
        "saved <scratch>/bentos/a.bento and <project>/course/x.ipynb\n"
        "cache ~/.cache/pip, tmp <tmp>/test_x0/log\n"
        "made <tmp>/model.onnx on <host> at <timestamp>\n"
        "in the container: /home/bentoml/bentos/churn and /home/alicebob stays\n"
    )


def test_every_output_kind_is_rewritten_and_a_private_key_is_refused():
    nb = _notebook("00 · Paths", "x")
    nb.cells[2].outputs = [
        new_output("execute_result", {"text/plain": "'/home/alice/x'"}, execution_count=1),
        new_output("error", ename="E", evalue="/srv/build/mlkit/a", traceback=["/home/alice/b"]),
    ]
    clean = publishable_outputs(nb, "00_paths.ipynb", FACTS)
    assert clean.cells[2].outputs[0].data["text/plain"] == "'~/x'"
    assert clean.cells[2].outputs[1].evalue == "<project>/a"
    assert clean.cells[2].outputs[1].traceback == ["~/b"]
    assert nb.cells[2].outputs[0].data["text/plain"] == "'/home/alice/x'"  # a copy
    nb.cells[2].outputs = [new_output("stream", name="stdout", text="-----BEGIN PRIVATE KEY-----")]
    with pytest.raises(SiteError, match=r"00_paths.ipynb, code cell 0: an output holds a private"):
        publishable_outputs(nb, "00_paths.ipynb", FACTS)


def test_an_executed_copy_counts_only_while_its_source_is_unchanged(tmp_path):
    source = tmp_path / "05_x.ipynb"
    nb = _notebook("05 · X", "1")
    nbformat.write(nb, source)
    save_executed_copy(_executed(nb, "1\n"), source, tmp_path / "executed")
    assert current_executed_copy(source, tmp_path / "executed").cells[2].outputs
    nb.cells[0].source += " More."
    nbformat.write(nb, source)
    assert current_executed_copy(source, tmp_path / "executed") is None


def test_labs_are_published_as_released_and_never_with_solutions():
    solutions = sorted((repo_root() / "solutions").glob("[0-9][0-9]_*.ipynb"))
    labs = sorted((repo_root() / "labs").glob("[0-9][0-9]_*.ipynb"))
    assert labs and solutions
    for path in labs:
        released = released_lab(nbformat.read(path, as_version=4), path.name)
        assert all(not cell.get("outputs") for cell in released.cells)
    refused = 0
    for path in solutions:
        try:
            released_lab(nbformat.read(path, as_version=4), path.name)
        except SiteError as err:
            assert "### BEGIN SOLUTION" in str(err) or "### BEGIN HIDDEN TESTS" in str(err)
            refused += 1
    assert refused == len(solutions)


def test_the_solutions_folder_is_refused_as_labs(tmp_path):
    with pytest.raises(SiteError, match="never solutions/"):
        build_site(tmp_path, labs_dir=repo_root() / "solutions")


def _html(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>")


def test_a_broken_internal_link_or_a_load_from_another_host_is_found(tmp_path):
    _html(tmp_path / "index.html", '<a href="course/a.html#part">a</a> <a href="#">top</a>')
    _html(tmp_path / "course" / "a.html", '<h2 id="part">P</h2><a href="../index.html">up</a>')
    assert broken_links(tmp_path) == []
    _html(
        tmp_path / "course" / "b.html",
        '<a href="missing.html">x</a> <a href="a.html#nowhere">y</a> '
        '<a href="https://example.org/">fine</a> <script src="https://cdn.example/x.js"></script>',
    )
    assert broken_links(tmp_path) == [
        "course/b.html: missing.html (no such file)",
        "course/b.html: a.html#nowhere (no such anchor)",
        "course/b.html: https://cdn.example/x.js (loads from another host)",
    ]


def test_the_command_names_pages_without_outputs_and_reports_a_refusal(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from mlkit import site
    from mlkit.cli import app

    built = site.SiteBuild(
        tmp_path, [site.SitePage("course", "04_x.ipynb", "04 · X", "course/04_x", 9, False)]
    )
    monkeypatch.setattr(site, "build_site", lambda out, execute: built)
    result = CliRunner().invoke(app, ["site", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "published without outputs" in result.output and "04_x.ipynb" in result.output
    assert f"wrote 1 pages: {tmp_path / 'index.html'}" in result.output

    def refuse(out, execute):
        raise site.SiteError("08_x.ipynb, code cell 3: an output holds a private key")

    monkeypatch.setattr(site, "build_site", refuse)
    result = CliRunner().invoke(app, ["site"])
    assert result.exit_code == 1
    assert "mlkit site: 08_x.ipynb, code cell 3: an output holds a private key" in result.output
