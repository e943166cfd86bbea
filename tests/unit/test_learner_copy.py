"""What learners get: a copy of the kit without the instructor's material, installed quietly."""

import importlib.metadata
import io
import shutil
import subprocess
import tarfile

from conftest import skip_or_fail

from mlkit.settings import repo_root

INSTRUCTOR_FOLDERS = ("solutions/", "tests/", "bench/")


def test_git_archive_leaves_out_solutions_tests_and_benchmarks():
    if shutil.which("git") is None or not (repo_root() / ".git").exists():
        skip_or_fail("needs a git checkout of the kit to make a learner's copy")
    archive = subprocess.run(
        ["git", "archive", "--worktree-attributes", "--format=tar", "HEAD"],
        cwd=repo_root(),
        capture_output=True,
        check=True,
    ).stdout
    names = tarfile.open(fileobj=io.BytesIO(archive)).getnames()
    assert {"course/00_welcome.ipynb", "labs/01_packaging.ipynb", "mlkit/serving.py"} <= set(names)
    assert {"Makefile", "jupyter-config/jupyter_server_config.py"} <= set(names)
    leaked = [name for name in names if name.startswith(INSTRUCTOR_FOLDERS)]
    assert not leaked, f"a learner's copy would hold {leaked[:5]}"


def test_editable_install_is_a_plain_path_entry():
    """`pip install -e .` put the project folder on sys.path with a .pth file.

    Without `package-dir` in pyproject.toml, setuptools installs an import hook instead
    and warns on every `make setup` that folders named like the package may take
    precedence during imports.
    """
    dist = importlib.metadata.distribution("mlkit")
    pth_files = [f for f in dist.files or [] if f.name.startswith("__editable__")]
    assert pth_files, "mlkit is not installed editable: run `make setup` (pip install -e .)"
    entries = [dist.locate_file(f).read_text().strip() for f in pth_files if f.suffix == ".pth"]
    assert entries == [str(repo_root())], f"the editable install's .pth holds {entries}"
