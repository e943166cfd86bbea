"""`mlkit assign`: write labs/NN_*.ipynb from solutions/NN_*.ipynb, or check they match.

A lab is its solution with assign_steps() applied, in order; the steps are small
transforms in mlkit.grading.transforms, one of which writes the rubric table from the
solution's questions and tests. The output is a pure function of the solution
file, so rerunning gives byte-identical labs and CI can run `mlkit assign --check`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import nbformat

from mlkit.grading.assignment import Assignment, list_solutions, read_assignment
from mlkit.grading.atomic import write_atomic
from mlkit.grading.transforms import (
    add_rubric,
    clear_hidden_tests,
    clear_outputs,
    clear_solutions,
    lock_cells,
    number_cells,
)
from mlkit.settings import repo_root

Transform = Callable[[nbformat.NotebookNode], nbformat.NotebookNode]


def assign_steps(assignment: Assignment) -> tuple[Transform, ...]:
    """The transforms that make a lab from the solution `assignment` was read from."""
    return (
        clear_solutions,
        clear_hidden_tests,
        clear_outputs,
        lock_cells,
        partial(add_rubric, assignment=assignment),
        number_cells,
    )


@dataclass
class AssignResult:
    """What `assign` wrote (or, with check=True, found out of date)."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)


def apply_steps(nb: nbformat.NotebookNode, steps: Sequence[Transform]) -> nbformat.NotebookNode:
    """Run each transform on nb in order and return the result."""
    for step in steps:
        nb = step(nb)
    return nb


def lab_text(solution: Path) -> str:
    """The lab notebook generated from one solution notebook, as file text."""
    assignment = read_assignment(solution)  # validate the authoring format first
    nb = nbformat.read(solution, as_version=4)
    lab = apply_steps(nb, assign_steps(assignment))
    nbformat.validate(lab)
    text: str = nbformat.writes(lab)
    return text.rstrip("\n") + "\n"


def assign(
    solutions_dir: Path | None = None, labs_dir: Path | None = None, *, check: bool = False
) -> AssignResult:
    """Generate every lab from its solution; with check=True write nothing, report differences.

    `differing` lists labs that are missing, differ from what their solution generates, or
    have no solution at all.
    """
    solutions_dir = Path(solutions_dir or repo_root() / "solutions")
    labs_dir = Path(labs_dir or repo_root() / "labs")
    result = AssignResult()
    solutions = list_solutions(solutions_dir)
    for solution in solutions:
        target = labs_dir / solution.name
        text = lab_text(solution)
        if target.exists() and target.read_bytes() == text.encode("utf-8"):
            result.unchanged.append(target)
        elif check:
            state = "differs from" if target.exists() else "is missing, expected from"
            result.differing.append(f"labs/{solution.name} {state} solutions/{solution.name}")
        else:
            write_atomic(target, text)
            result.written.append(target)
    generated = {s.name for s in solutions}
    for lab in sorted(labs_dir.glob("*.ipynb")):
        if lab.name not in generated:
            result.differing.append(f"labs/{lab.name} has no solutions/{lab.name}")
    return result
