"""Measure each course notebook and lab, and write its time estimate (mlkit.course_outline).

Runs every course and solution notebook top to bottom in quick mode (MLKIT_QUICK=1) with
nbval, one pytest process each, times it, and writes the figures into the notebook's
metadata and its "Before you start" time line: the course notebook's own words; for a
lab, the solution's run time with the generated lab's words and the lab's points. Then
run `mlkit assign` so that labs/ gets the figures. Prints a table of the figures.

Run: .venv/bin/python bench/course_times.py [NOTEBOOK ...]
     .venv/bin/python bench/course_times.py --measured FILE   (lines "path seconds", from a run)
A notebook whose run fails keeps its old figures, and the script exits 1 naming it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from mlkit.course_outline import TimeEstimate, set_time_estimate, word_count
from mlkit.grading.assignment import read_assignment
from mlkit.grading.labs import lab_text
from mlkit.settings import repo_root


def run_seconds(notebook: Path) -> float | None:
    """Wall-clock seconds to run notebook under nbval in quick mode, None if it failed."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(notebook),
        "--nbval-lax",
        "--nbval-current-env",
        "--nbval-cell-timeout=600",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=repo_root(), env={**os.environ, "MLKIT_QUICK": "1"}, capture_output=True
    )
    seconds = time.perf_counter() - start
    return seconds if done.returncode == 0 else None


def estimate_for(notebook: Path, seconds: float) -> TimeEstimate:
    """The estimate of a course notebook, or of the lab a solution notebook generates."""
    if notebook.parent.name == "solutions":
        lab = nbformat.reads(lab_text(notebook), as_version=4)
        points = read_assignment(notebook).max_points
        return TimeEstimate(words=word_count(lab), run_s=seconds, points=points)
    return TimeEstimate(words=word_count(nbformat.read(notebook, as_version=4)), run_s=seconds)


def record(notebook: Path, seconds: float) -> TimeEstimate:
    """Write the estimate into notebook (twice for a lab: its words include the time line)."""
    for _ in range(2):
        estimate = estimate_for(notebook, seconds)
        nb = nbformat.read(notebook, as_version=4)
        set_time_estimate(nb, estimate)
        nbformat.write(nb, notebook)
    return estimate


def main() -> int:
    """Measure (or read measurements), write the estimates, print them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--measured", type=Path, help='lines "path seconds" from a run')
    args = parser.parse_args()
    root = repo_root()
    measured: dict[Path, float | None] = {}
    if args.measured:
        for line in args.measured.read_text().splitlines():
            path, seconds, *_ = [*line.split(), ""]
            if path.endswith(".ipynb"):
                measured[root / path] = float(seconds)
    else:
        notebooks = args.notebooks or sorted(
            [*root.glob("course/[0-9][0-9]_*.ipynb"), *root.glob("solutions/[0-9][0-9]_*.ipynb")]
        )
        for notebook in notebooks:
            measured[notebook.resolve()] = run_seconds(notebook.resolve())
    failed = []
    print(f"{'notebook':34} {'words':>6} {'read':>5} {'run':>5} {'solve':>6} {'total':>6}  (min)")
    for notebook, seconds in measured.items():
        if seconds is None:
            failed.append(str(notebook.relative_to(root)))
            continue
        e = record(notebook, seconds)
        print(
            f"{str(notebook.relative_to(root)):34} {e.words:>6} {e.reading_min:>5} "
            f"{e.run_min:>5} {e.solving_min:>6} {e.total_min:>6}   run {seconds:.1f} s"
        )
    if failed:
        print("failed to run, figures kept:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
