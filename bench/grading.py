"""Benchmark `mlkit grade`: throughput with 1 and 2 workers, and overhead over plain papermill.

Grades K copies of solutions/00_welcome.ipynb three ways, in one run, alternating the
three for a few rounds and keeping each one's best time (the machine may be shared):

1. plain papermill: `papermill.execute_notebook` on each copy in turn, python3 kernel, no
   sandbox and no hidden tests (the baseline);
2. `mlkit grade --workers 1` (process sandbox, hidden tests, every output file);
3. `mlkit grade --workers 2`.

It prints submissions per minute for each, the overhead ratio (grading with one worker
against plain papermill; target at most 1.25x) and the speed-up of two workers over one
(target at least 1.7x). Run: `.venv/bin/python bench/grading.py [--copies K] [--rounds R]`.
24 copies, so that start-up costs do not dominate; MLKIT_QUICK=1 (CI) runs one round
instead of keeping the best of two.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import papermill

from mlkit.grading import grade
from mlkit.settings import quick_mode, repo_root

SOLUTION = repo_root() / "solutions" / "00_welcome.ipynb"
OVERHEAD_TARGET = 1.25
SPEEDUP_TARGET = 1.7
PAPERMILL, ONE_WORKER, TWO_WORKERS = (
    "plain papermill",
    "mlkit grade, 1 worker",
    "mlkit grade, 2 workers",
)
MODES = {PAPERMILL: None, ONE_WORKER: 1, TWO_WORKERS: 2}  # mode: grading workers


def copies(folder: Path, count: int) -> list[Path]:
    """count learner folders, each holding a copy of the solution."""
    paths = []
    for index in range(count):
        learner = folder / f"learner{index:03d}"
        learner.mkdir(parents=True)
        paths.append(Path(shutil.copy(SOLUTION, learner / SOLUTION.name)))
    return paths


def plain_papermill(notebooks: list[Path], out: Path) -> float:
    """Seconds to execute every notebook with papermill, one after the other."""
    out.mkdir()
    start = time.perf_counter()
    for index, notebook in enumerate(notebooks):
        papermill.execute_notebook(
            notebook, out / f"{index}.ipynb", kernel_name="python3", progress_bar=False
        )
    return time.perf_counter() - start


def graded(submissions: Path, out: Path, workers: int) -> float:
    """Seconds for `mlkit grade` to grade every submission with workers workers."""
    start = time.perf_counter()
    report = grade(submissions, "00", out, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    scores = {entry["score"] for entry in report.learners.values()}
    assert scores == {8}, f"every copy of the solution should score 8 of 8 auto points: {scores}"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=1 if quick_mode() else 2)
    args = parser.parse_args()
    count = args.copies
    load_before = os.getloadavg()[0]
    best = dict.fromkeys(MODES, float("inf"))
    with tempfile.TemporaryDirectory(prefix="mlkit-bench-grading-") as tmp:
        root = Path(tmp)
        notebooks = copies(root / "submissions", count)
        # Untimed warm-up, so that the first mode timed does not pay for cold caches alone.
        plain_papermill(notebooks[:1], root / "warm-up")
        for round_ in range(args.rounds):  # alternate the three, keep each one's best time
            for index, (mode, workers) in enumerate(MODES.items()):
                out = root / f"round{round_}-{index}"
                if workers is None:
                    seconds = plain_papermill(notebooks, out)
                else:
                    seconds = graded(root / "submissions", out, workers=workers)
                best[mode] = min(best[mode], seconds)
    rate = {mode: 60 * count / seconds for mode, seconds in best.items()}
    overhead = best[ONE_WORKER] / best[PAPERMILL]
    speedup = rate[TWO_WORKERS] / rate[ONE_WORKER]
    rounds = "one round" if args.rounds == 1 else f"best of {args.rounds} rounds"
    print(
        f"{count} copies of {SOLUTION.name}, {rounds}; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
    )
    for mode in MODES:
        print(f"{mode:<23} {best[mode]:7.1f} s  {rate[mode]:6.1f} submissions/min")
    verdict = {True: "meets", False: "MISSES"}
    print(
        f"overhead (1 worker / papermill): {overhead:.2f}x "
        f"({verdict[overhead <= OVERHEAD_TARGET]} the target of at most {OVERHEAD_TARGET}x)"
    )
    print(
        f"speed-up (2 workers / 1 worker): {speedup:.2f}x "
        f"({verdict[speedup >= SPEEDUP_TARGET]} the target of at least {SPEEDUP_TARGET}x)"
    )


if __name__ == "__main__":
    main()
