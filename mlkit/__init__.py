"""mlkit: the helper package of the course kit (take a scikit-learn model to production).

Notebooks import plumbing from here; what a lesson teaches stays visible in its cells.
"""

import os

from mlkit.settings import bentoml_home, quick_mode, scratch_dir

# BentoML picks its home the first time a store is used: point it at the scratch folder
# before any notebook touches bentoml, so notebooks and the services they start agree.
os.environ.setdefault("BENTOML_HOME", str(bentoml_home()))

__version__ = "0.1.0"

__all__ = ["__version__", "quick_mode", "scratch_dir", "doctor", "check", "submit"]


def doctor(*, require_docker: bool = False) -> bool:
    """Check this machine for the course (module 00); print one line per check.

    Returns True when everything required is there.
    """
    from mlkit.checkup import run_doctor

    return run_doctor(require_docker=require_docker)


def check(question: str) -> bool:
    """Run the public self-check of a lab question and print pass/fail with a hint."""
    from mlkit.grading.selfcheck import check as _check

    return _check(question)


def submit(path: str | os.PathLike[str] | None = None) -> dict[str, object]:
    """Submit a lab notebook (default: this one) to the class exchange; print the receipt.

    Works in a server started by the class hub (see README, "A class on JupyterHub").
    """
    from mlkit.hub.client import submit as _submit

    return _submit(path)
