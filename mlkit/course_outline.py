"""The course's outline: each notebook's "Before you start" cell and its time estimate.

Every course notebook and every lab opens with a markdown cell headed `## Before you
start` that states the learning objectives, the prerequisites and a time estimate. The
estimate's figures live in one place, the notebook's metadata, and the cell's time line
is written from them (`time_line`), so the notebook and the course site say the same:

    {"mlkit": {"time_estimate": {"words": 2400, "run_s": 48.7}}}             a course notebook
    {"mlkit": {"time_estimate": {"words": 900, "run_s": 20.1, "points": 15}}}  a lab

- reading: the words of every cell (markdown and code, as the learner gets them) at
  READING_WORDS_PER_MIN;
- running: the notebook executed top to bottom in quick mode (MLKIT_QUICK=1) on 2
  cores, measured by bench/course_times.py, which also rewrites these figures;
- solving (labs only): SOLVING_MIN_PER_POINT for each point; an allowance, not a
  measurement.

A lab's figures are written in its solution's metadata and reach the lab through
`mlkit assign`; the words are the lab's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from mlkit.errors import MlkitError

READING_WORDS_PER_MIN = 200
SOLVING_MIN_PER_POINT = 10
BEFORE_YOU_START = "## Before you start"
TIME_LINE_START = "**Time.**"
SECTIONS = ("**Learning objectives.**", "**Prerequisites.**", TIME_LINE_START)


class OutlineError(MlkitError, ValueError):
    """A notebook's "Before you start" cell or time estimate is missing or malformed."""

    def __init__(self, notebook: str, problem: str) -> None:
        self.notebook = notebook
        self.problem = problem
        super().__init__(
            f"{notebook}: {problem}. Every course notebook and lab opens with a "
            f"'{BEFORE_YOU_START}' cell (mlkit/course_outline.py says what it holds)."
        )


@dataclass(frozen=True)
class TimeEstimate:
    """A notebook's measured time: words to read, seconds to run, points to solve (labs)."""

    words: int
    run_s: float
    points: float = 0

    @property
    def reading_min(self) -> int:
        """Minutes to read every cell at READING_WORDS_PER_MIN."""
        return math.ceil(self.words / READING_WORDS_PER_MIN)

    @property
    def run_min(self) -> int:
        """Minutes to run the notebook top to bottom (quick mode), rounded up."""
        return math.ceil(self.run_s / 60)

    @property
    def solving_min(self) -> int:
        """The allowance for solving a lab's questions (0 for a course notebook)."""
        return math.ceil(self.points * SOLVING_MIN_PER_POINT)

    @property
    def total_min(self) -> int:
        """Reading, running and solving, in minutes."""
        return self.reading_min + self.run_min + self.solving_min


def word_count(nb: nbformat.NotebookNode) -> int:
    """The words of every markdown and code cell (whitespace-separated tokens that hold a
    letter or a digit), outputs not counted."""
    return sum(
        sum(1 for token in cell.source.split() if re.search(r"\w", token))
        for cell in nb.cells
        if cell.cell_type in ("markdown", "code")
    )


def time_estimate(nb: nbformat.NotebookNode, name: str = "notebook") -> TimeEstimate:
    """The estimate in nb's metadata (mlkit.time_estimate); OutlineError if it is missing."""
    role = nb.metadata.get("mlkit", {})
    raw: Any = role.get("time_estimate") if isinstance(role, dict) else None
    try:
        words, run_s = int(raw["words"]), float(raw["run_s"])
        points = float(raw.get("points", 0))
    except (TypeError, KeyError, ValueError):
        raise OutlineError(
            name,
            "metadata mlkit.time_estimate must be {'words': int, 'run_s': seconds"
            f"[, 'points': lab points]}}, got {raw!r}",
        ) from None
    return TimeEstimate(words=words, run_s=run_s, points=points)


def set_time_estimate(nb: nbformat.NotebookNode, estimate: TimeEstimate) -> None:
    """Write estimate into nb's metadata and its "Before you start" cell's time line."""
    figures: dict[str, Any] = {"words": estimate.words, "run_s": round(estimate.run_s, 1)}
    if estimate.points:
        figures["points"] = estimate.points
    nb.metadata.setdefault("mlkit", {})["time_estimate"] = figures
    cell = before_you_start(nb)
    lines = cell.source.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith(TIME_LINE_START)]
    if at:
        lines[at[0]] = time_line(estimate)
    else:
        lines += ["", time_line(estimate)]
    cell.source = "\n".join(lines)


def time_line(estimate: TimeEstimate) -> str:
    """The "Before you start" cell's time line for estimate."""
    parts = [
        f"{estimate.reading_min} min reading ({estimate.words:,} words at "
        f"{READING_WORDS_PER_MIN} words a minute)",
        f"{estimate.run_min} min running it (measured top to bottom in quick mode, "
        "`MLKIT_QUICK=1`, on 2 cores; full-size runs take longer)",
    ]
    if estimate.points:
        parts.append(
            f"{estimate.solving_min} min solving ({SOLVING_MIN_PER_POINT} min a point, "
            "an allowance)"
        )
    return f"{TIME_LINE_START} About {estimate.total_min} min: " + ", ".join(parts) + "."


def before_you_start(nb: nbformat.NotebookNode, name: str = "notebook") -> Any:
    """The notebook's "Before you start" cell: the first cell or the one after it."""
    for cell in nb.cells[:3]:
        if cell.cell_type == "markdown" and cell.source.startswith(BEFORE_YOU_START):
            return cell
    raise OutlineError(name, f"no '{BEFORE_YOU_START}' markdown cell among the first cells")


def outline_problems(path: Path) -> list[str]:
    """What is missing or stale in a notebook's "Before you start" cell, as sentences."""
    nb = nbformat.read(path, as_version=4)
    try:
        cell = before_you_start(nb, path.name)
        estimate = time_estimate(nb, path.name)
    except OutlineError as err:
        return [str(err)]
    problems = [
        f"{path.name}: the '{BEFORE_YOU_START}' cell has no {section} paragraph"
        for section in SECTIONS
        if section not in cell.source
    ]
    if time_line(estimate) not in cell.source.splitlines():
        problems.append(
            f"{path.name}: the time line does not match metadata mlkit.time_estimate; "
            f"expected {time_line(estimate)!r}"
        )
    words = word_count(nb)
    if abs(words - estimate.words) > 0.25 * estimate.words:
        problems.append(
            f"{path.name}: the estimate counts {estimate.words} words but the notebook has "
            f"{words}; run bench/course_times.py to measure it again"
        )
    return problems
