"""Read a lab's rubric table back and compare it with its solution's tests (test_course_outline)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from mlkit.grading.assignment import read_assignment
from mlkit.grading.transforms.add_rubric import RUBRIC_HEADING

ROW = re.compile(r"^\| (?P<q>[^|*]+?) \| (?P<points>[\d.]+) \((?P<how>[^)]*)\) \| (?P<text>.+) \|$")
TOTAL = re.compile(r"^\| \*\*total\*\* \| \*\*(?P<points>[\d.]+)\*\* \|")
SHARE = re.compile(r"([\d.]+) (self-check|hidden)")


def rubric_rows(lab: nbformat.NotebookNode) -> tuple[dict[str, tuple[float, str, str]], float]:
    """{question: (points, how, text)} and the total, read from the lab's rubric cell."""
    (cell,) = [c for c in lab.cells if c.source.startswith(RUBRIC_HEADING)]
    rows: dict[str, tuple[float, str, str]] = {}
    total = float("nan")
    for line in cell.source.splitlines():
        if match := ROW.match(line):
            rows[match["q"]] = (float(match["points"]), match["how"], match["text"].strip())
        elif match := TOTAL.match(line):
            total = float(match["points"])
    return rows, total


def rubric_problems(lab_path: Path, solution_path: Path) -> list[str]:
    """Where the lab's rubric disagrees with the points its solution's tests give."""
    assignment = read_assignment(solution_path)
    rows, total = rubric_rows(nbformat.read(lab_path, as_version=4))
    problems = []
    if set(rows) != set(assignment.questions):
        problems.append(f"rows {sorted(rows)} but questions {sorted(assignment.questions)}")
    for question in assignment.questions.values():
        if question.id not in rows:
            continue
        points, how, text = rows[question.id]
        tests = [t for t in assignment.tests if t.question == question.id]
        if question.manual:
            expected = {"by hand": question.points}
        else:
            expected = {
                "self-check": sum(t.points for t in tests if not t.hidden),
                "hidden": sum(t.points for t in tests if t.hidden),
            }
        stated = {kind: float(value) for value, kind in SHARE.findall(how)}
        if how == "by hand":
            stated = {"by hand": points}
        if {k: v for k, v in expected.items() if v} != stated:
            problems.append(f"{question.id}: the rubric says {how!r}, the tests give {expected}")
        if abs(points - sum(expected.values())) > 1e-9:
            problems.append(
                f"{question.id}: {points:g} points in the rubric, tests give "
                f"{sum(expected.values()):g}"
            )
        if not text:
            problems.append(f"{question.id}: no 'what earns them' text")
    if abs(total - assignment.max_points) > 1e-9:
        problems.append(f"total {total:g}, the lab is worth {assignment.max_points:g}")
    rows_total = sum(points for points, _how, _text in rows.values())
    if abs(rows_total - total) > 1e-9:
        problems.append(f"the rows add up to {rows_total:g}, not {total:g}")
    return problems
