"""Region markers inside cells, the nbgrader convention authors already know.

    ### BEGIN SOLUTION            ### BEGIN HIDDEN TESTS
    ...the model answer...        ...tests the learner never sees...
    ### END SOLUTION              ### END HIDDEN TESTS

A marker is a line that holds only the marker text (leading spaces allowed: they give
the indentation of whatever replaces the region).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Markers:
    """The begin and end lines of one kind of region."""

    begin: str
    end: str


SOLUTION = Markers("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TESTS = Markers("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def has_region(source: str, markers: Markers) -> bool:
    """True when source contains a begin or an end line of markers."""
    return any(line.strip() in (markers.begin, markers.end) for line in source.splitlines())


def split_regions(source: str, markers: Markers) -> list[tuple[bool, list[str], str]]:
    """Cut source into (inside_region, lines, indent) parts; marker lines are dropped.

    Raises ValueError naming the line when markers are unbalanced or nested.
    """
    parts: list[tuple[bool, list[str], str]] = [(False, [], "")]
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == markers.begin:
            if inside:
                raise ValueError(f"line {number}: {markers.begin!r} inside an open region")
            inside = True
            parts.append((True, [], line[: len(line) - len(line.lstrip())]))
        elif stripped == markers.end:
            if not inside:
                raise ValueError(f"line {number}: {markers.end!r} without {markers.begin!r}")
            inside = False
            parts.append((False, [], ""))
        else:
            parts[-1][1].append(line)
    if inside:
        raise ValueError(f"{markers.begin!r} is never closed by {markers.end!r}")
    return [part for part in parts if part[0] or part[1]]


def replace_regions(source: str, markers: Markers, replacement: Callable[[str], list[str]]) -> str:
    """Source with each region replaced by replacement(indent) lines."""
    lines: list[str] = []
    for inside, part, indent in split_regions(source, markers):
        lines.extend(replacement(indent) if inside else part)
    return "\n".join(lines)
