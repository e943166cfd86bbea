"""Find the submissions of one assignment: `<learner>/NN_*.ipynb` or flat `<learner>.ipynb`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlkit.grading.assignment import Assignment
from mlkit.grading.exceptions import SubmissionLayoutError


@dataclass(frozen=True)
class Submission:
    """A learner's notebook, or (path None) why none could be found."""

    learner: str
    path: Path | None
    problem: str | None = None


def find_submissions(root: Path, assignment: Assignment) -> list[Submission]:
    """One Submission per learner under root, sorted by learner name."""
    root = Path(root)
    if not root.is_dir():
        raise SubmissionLayoutError(f"submissions: {root} is not a folder")
    module = assignment.name[:2]
    found: dict[str, Submission] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            submission = _from_folder(entry, module, assignment.path.name)
        elif entry.suffix == ".ipynb":
            submission = Submission(entry.stem, entry)
        else:
            continue
        if submission.learner in found:
            raise SubmissionLayoutError(
                f"submissions: learner {submission.learner!r} has both a folder and a "
                f"{submission.learner}.ipynb file in {root}; keep one"
            )
        found[submission.learner] = submission
    if not found:
        raise SubmissionLayoutError(
            f"submissions: nothing to grade in {root}; expected <learner>/{module}_*.ipynb "
            "folders or flat <learner>.ipynb files"
        )
    return list(found.values())


def _from_folder(folder: Path, module: str, expected_name: str) -> Submission:
    notebooks = sorted(folder.glob(f"{module}_*.ipynb"))
    exact = [p for p in notebooks if p.name == expected_name]
    if exact or len(notebooks) == 1:
        return Submission(folder.name, (exact or notebooks)[0])
    if not notebooks:
        return Submission(folder.name, None, f"no {module}_*.ipynb in the learner's folder")
    names = ", ".join(p.name for p in notebooks)
    return Submission(folder.name, None, f"several notebooks for module {module} ({names})")
