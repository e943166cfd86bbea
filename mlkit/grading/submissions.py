"""Find the submissions of one assignment: `<learner>/NN_*.ipynb` or flat `<learner>.ipynb`.

Every visible entry of the submissions folder names a learner (a folder by its name, a
file by its name without the suffix), and every learner gets one Submission: a notebook
to grade, or (path None) why there is none, with the status that earns:

- missing: no notebook for this module: a folder without `NN_*.ipynb`, a flat file that is
  not a notebook, several candidates none of which is named like the lab, or a folder and
  a flat notebook under one name;
- unreadable: the notebook cannot be read safely: it is not a regular file (reading a
  fifo would block the grader), or the learner's folder holds a link leading out of it
  (a symbolic link, or a hard link whose other names are elsewhere), through which a
  submission could hand the grader the solution, another learner's work or a system
  file. A symbolic link that stays inside the learner's own folder is fine.

Files that look like an attempt but were not graded (the other `NN_*.ipynb` candidates,
a flat `alice.txt`) are named in `ignored`, so the instructor can see what was left out.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mlkit.grading.assignment import Assignment
from mlkit.grading.exceptions import SubmissionLayoutError, UnreadableNotebookError
from mlkit.grading.names import display_name

MAX_SCANNED = 10_000  # entries of one learner's folder examined for links; the rest are not
MAX_NAMED = 5  # file names quoted in one message
NOTEBOOK_OF_A_MODULE = re.compile(r"\d\d_.*\.ipynb")
FILE_KINDS = {
    stat.S_IFIFO: "a fifo",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
    stat.S_IFDIR: "a folder",
}


@dataclass(frozen=True)
class Submission:
    """A learner's notebook, or (path None) why none can be graded and the status it gets."""

    learner: str
    path: Path | None
    problem: str | None = None
    status: str = "missing"
    ignored: tuple[str, ...] = ()


def find_submissions(root: Path, assignment: Assignment) -> list[Submission]:
    """One Submission per learner under root, sorted by learner name."""
    root = Path(root)
    module = assignment.name[:2]
    expected = f"expected <learner>/{module}_*.ipynb folders or flat <learner>.ipynb files"
    if not root.exists():
        raise SubmissionLayoutError(f"submissions: {root} does not exist; {expected}")
    if not root.is_dir():
        raise SubmissionLayoutError(f"submissions: {root} is not a folder; {expected}")
    try:
        names = sorted(name for name in os.listdir(root) if not name.startswith("."))
    except OSError as err:
        raise SubmissionLayoutError(f"submissions: cannot list {root} ({err.strerror})") from None
    groups: dict[str, list[str]] = {}
    for name in names:
        learner = name if (root / name).is_dir() else Path(name).stem
        groups.setdefault(learner, []).append(name)
    found = [_one_learner(root, learner, group, assignment) for learner, group in groups.items()]
    if not found:
        raise SubmissionLayoutError(f"submissions: nothing to grade in {root}; {expected}")
    _refuse_another_module(found, root, module, assignment.name)
    return sorted(found, key=lambda s: s.learner)


def open_submission(path: Path) -> BinaryIO:
    """path opened for reading, if it is a regular file and not a link (never blocks)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as err:
        kind = "a link" if os.path.islink(path) else f"not readable ({err.strerror})"
        raise UnreadableNotebookError(str(path), kind) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnreadableNotebookError(str(path), f"not a regular file but {_kind(mode)}")
    return os.fdopen(fd, "rb")


def _one_learner(root: Path, learner: str, group: list[str], assignment: Assignment) -> Submission:
    folders = [name for name in group if (root / name).is_dir()]
    notebooks = [name for name in group if name not in folders and name.endswith(".ipynb")]
    others = tuple(name for name in group if name not in folders and name not in notebooks)
    if folders and notebooks:
        clash = f"both a folder {_named(folders)}/ and a file {_named(notebooks)}; keep one"
        return Submission(learner, None, clash, "missing", tuple(group))
    if folders:
        found = _from_folder(root / folders[0], learner, assignment)
        return Submission(learner, found.path, found.problem, found.status, found.ignored + others)
    if notebooks:
        path = root / notebooks[0]
        problem = _file_problem(path, None)
        if problem is not None:
            return Submission(learner, None, problem, "unreadable", others)
        return Submission(learner, path, ignored=others)
    verb = "is" if len(others) == 1 else "are"
    problem = f"{_named(others)} {verb} not a notebook (expected {display_name(learner)}.ipynb)"
    return Submission(learner, None, problem, "missing", others)


def _from_folder(folder: Path, learner: str, assignment: Assignment) -> Submission:
    module, expected = assignment.name[:2], assignment.path.name
    if folder.is_symlink():
        target = display_name(os.path.realpath(folder))
        link = f"the learner's folder is a link to {target}; links are not graded"
        return Submission(learner, None, link, "unreadable")
    try:
        names = sorted(os.listdir(folder))
    except OSError as err:
        unreadable = f"the learner's folder cannot be read ({err.strerror})"
        return Submission(learner, None, unreadable, "unreadable")
    problem = _link_leaving(folder)
    if problem is not None:
        return Submission(learner, None, problem, "unreadable")
    notebooks = [n for n in names if n.startswith(f"{module}_") and n.endswith(".ipynb")]
    if expected in notebooks or len(notebooks) == 1:
        chosen = expected if expected in notebooks else notebooks[0]
        ignored = tuple(n for n in notebooks if n != chosen)
        problem = _file_problem(folder / chosen, folder)
        if problem is not None:
            return Submission(learner, None, problem, "unreadable", ignored)
        return Submission(learner, Path(os.path.realpath(folder / chosen)), ignored=ignored)
    if notebooks:
        problem = f"several notebooks for module {module} ({_named(notebooks)}); keep one"
        return Submission(learner, None, problem, "missing", tuple(notebooks))
    visible = tuple(n for n in names if not n.startswith("."))
    found = f"found: {_named(visible)}" if visible else "the folder is empty"
    problem = f"no {module}_*.ipynb in the learner's folder ({found})"
    return Submission(learner, None, problem, "missing", visible)


def _file_problem(path: Path, folder: Path | None) -> str | None:
    """Why the notebook at path (in the learner's folder, if any) is not read, or None."""
    name = display_name(path.name)
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(path)
            if folder is None or not _inside(target, os.path.realpath(folder)):
                where = "outside the learner's folder" if folder is not None else "elsewhere"
                return f"{name} is a link to {display_name(target)}, {where}; links are not graded"
            info = os.stat(target)
    except OSError as err:
        return f"{name} cannot be read ({err.strerror})"
    if not stat.S_ISREG(info.st_mode):
        return f"{name} is not a regular file but {_kind(info.st_mode)}"
    if folder is None and info.st_nlink > 1:
        return _hard_link_problem(name, info.st_nlink)
    return None


def _link_leaving(folder: Path) -> str | None:
    """A sentence naming the first link that leads out of folder, or None."""
    base = os.path.realpath(folder)
    seen: dict[tuple[int, int], list[Any]] = {}  # (device, inode) -> [names here, st_nlink, name]
    for path in _entries(folder):
        relative = display_name(os.path.relpath(path, folder))
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            target = os.path.realpath(path)
            if not _inside(target, base):
                return (
                    f"{relative} is a link to {display_name(target)}, outside the learner's "
                    "folder; links that leave the folder are not graded"
                )
        elif stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
            entry = seen.setdefault((info.st_dev, info.st_ino), [0, info.st_nlink, relative])
            entry[0] += 1
    for count, nlink, relative in seen.values():
        if count < nlink:
            return _hard_link_problem(relative, nlink)
    return None


def _entries(folder: Path) -> Iterator[str]:
    """The paths under folder, links not followed, at most MAX_SCANNED of them."""
    scanned = 0
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            scanned += 1
            if scanned > MAX_SCANNED:
                return
            yield os.path.join(parent, name)


def _hard_link_problem(name: str, nlink: int) -> str:
    return (
        f"{name} is a hard link ({nlink} names for one file, some outside the learner's "
        "folder); links are not graded, submit a copy"
    )


def _refuse_another_module(
    found: list[Submission], root: Path, module: str, assignment: str
) -> None:
    """Stop a run in which nobody has this module's notebook but folders hold another's."""
    if any(s.path is not None or s.status != "missing" for s in found):
        return
    elsewhere = [
        f"{s.learner}/{name}"
        for s in found
        for name in s.ignored
        if NOTEBOOK_OF_A_MODULE.fullmatch(name) and not name.startswith(f"{module}_")
    ]
    if elsewhere:
        raise SubmissionLayoutError(
            f"submissions: no learner in {root} has a {module}_*.ipynb for assignment "
            f"{assignment}, but their folders hold other modules' notebooks "
            f"({_named(elsewhere)}); check the assignment asked for, or the submissions folder"
        )


def _named(names: list[str] | tuple[str, ...]) -> str:
    shown = [display_name(name) for name in names[:MAX_NAMED]]
    more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
    return ", ".join(shown) + more


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _kind(mode: int) -> str:
    return FILE_KINDS.get(stat.S_IFMT(mode), "not a file")
