"""Where the kit keeps its files, and the quick-mode switch CI sets.

Introduced in module 00. Everything a notebook writes goes under the scratch folder,
which git ignores; BentoML's home lives there too, outside any bento build context.
"""

from __future__ import annotations

import os
from pathlib import Path

QUICK_ENV = "MLKIT_QUICK"
SCRATCH_ENV = "MLKIT_SCRATCH"
SOLUTIONS_ENV = "MLKIT_SOLUTIONS"
GRADING_ENV = "MLKIT_GRADING"  # set in the kernel of a notebook the grader runs


def repo_root() -> Path:
    """The folder that holds `mlkit/`, `course/` and `labs/` (the project root)."""
    return Path(__file__).resolve().parent.parent


def solutions_dir() -> Path:
    """The solution notebooks (`MLKIT_SOLUTIONS`, default `<project>/solutions`).

    `mlkit grade` reads the assignment from here; a grading cluster's worker compares its
    own copy with the instructor's (mlkit.grading.cluster).
    """
    return Path(os.environ.get(SOLUTIONS_ENV) or repo_root() / "solutions")


def quick_mode() -> bool:
    """True when `MLKIT_QUICK` is set to 1/true/yes: shrink data sizes and load durations.

    CI sets it; learners get the full-size runs. Every code path still runs.
    """
    return os.environ.get(QUICK_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def in_grader() -> bool:
    """True in a notebook that the grader runs (`MLKIT_GRADING` set by its sandbox)."""
    return os.environ.get(GRADING_ENV) == "1"


def default_scratch() -> Path:
    """`<project>/.scratch` in a checkout of the project; for a kit installed as a package
    (a grading cluster's image, where the folder above `mlkit/` is site-packages),
    `$XDG_CACHE_HOME/mlkit` (default `~/.cache/mlkit`)."""
    root = repo_root()
    if (root / "pyproject.toml").is_file():
        return root / ".scratch"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlkit"


def scratch_dir(*parts: str) -> Path:
    """A folder under the scratch area (`MLKIT_SCRATCH`, default `default_scratch()`).

    The folder is created if needed. Notebooks keep servers' logs, bentos and
    temporary files here so that nothing lands in the course folders.
    """
    base = Path(os.environ.get(SCRATCH_ENV) or default_scratch())
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def bentoml_home() -> Path:
    """BentoML's home (`BENTOML_HOME` if set, else `<scratch>/bentoml`).

    Kept outside every folder that gets built into a bento, so a bento never
    contains the model store.
    """
    env = os.environ.get("BENTOML_HOME")
    path = Path(env) if env else scratch_dir("bentoml")
    path.mkdir(parents=True, exist_ok=True)
    return path
