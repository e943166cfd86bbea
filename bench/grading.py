"""Benchmark `mlkit grade`: a local pool, a Dask cluster, and what a class of 200 costs.

Part 1 grades K copies of solutions/00_welcome.ipynb four ways, in one run, alternating
the four for a few rounds and keeping each one's best time (the machine may be shared):

1. plain papermill: `papermill.execute_notebook` on each copy in turn, python3 kernel, no
   sandbox and no hidden tests (the baseline);
2. `mlkit grade --workers 1` (process sandbox, hidden tests, every output file);
3. `mlkit grade --workers 2`;
4. `mlkit grade --cluster`: the same submissions as tasks on a Dask cluster of real
   processes on 127.0.0.1 (a TLS scheduler and 2 workers of one thread each, started
   once before the rounds, as an instructor's cluster is already running).

It prints submissions per minute for each and three ratios against their targets: the
overhead of grading with one worker over plain papermill (at most 1.25x), the speed-up of
two workers over one (at least 1.7x), and the cluster of 2 workers against the local pool
of 2 (at least 0.95x its submissions per minute).

Part 2, the class table: for every lab, the seconds to grade one copy of its solution
alone (`mlkit grade --workers 1`; it must get full marks), and a projection of the wall
time for 200 learners on 1, 4 and 16 machines of 2 cores, each grading 2 submissions at
once: 200 x seconds / (machines x the two-worker speed-up measured in part 1). Labs 03 and
09 build and run images and need a Docker engine.

Run: `.venv/bin/python bench/grading.py [--copies K] [--rounds R] [--labs 00,03]`.
24 copies, so that start-up costs do not dominate. MLKIT_QUICK=1 (CI) grades 8 copies in
one round instead of keeping the best of two, and the class table for lab 00 only: a
check that every mode grades the solution with full marks, with rougher figures.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import papermill

from mlkit._runtime.docker import docker_problem
from mlkit.crypto import make_tls_certs
from mlkit.grading import grade
from mlkit.grading.assignment import find_assignment, list_solutions, read_assignment
from mlkit.grading.loopback_cluster import LoopbackCluster
from mlkit.settings import quick_mode, solutions_dir

SOLUTION = solutions_dir() / "00_welcome.ipynb"
OVERHEAD_TARGET = 1.25
SPEEDUP_TARGET = 1.7
CLUSTER_TARGET = 0.95
CLASS_SIZE = 200
MACHINES = (1, 4, 16)
WORKERS_PER_MACHINE = 2  # one grading worker per core of a 2-core machine
PAPERMILL, ONE_WORKER, TWO_WORKERS, CLUSTER = (
    "plain papermill",
    "mlkit grade, 1 worker",
    "mlkit grade, 2 workers",
    "mlkit grade, cluster of 2",
)
MODES = (PAPERMILL, ONE_WORKER, TWO_WORKERS, CLUSTER)


def copies(folder: Path, solution: Path, count: int) -> list[Path]:
    """count learner folders, each holding a copy of solution."""
    paths = []
    for index in range(count):
        learner = folder / f"learner{index:03d}"
        learner.mkdir(parents=True)
        paths.append(Path(shutil.copy(solution, learner / solution.name)))
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


def graded(submissions: Path, assignment: str, out: Path, **how: object) -> float:
    """Seconds for `mlkit grade` to grade every submission (how: workers=, or cluster= and
    tls=); AssertionError unless every one gets the assignment's full automatic points."""
    spec = read_assignment(find_assignment(solutions_dir(), assignment))
    full = sum(q.points for q in spec.questions.values() if not q.manual)
    start = time.perf_counter()
    report = grade(submissions, assignment, out, progress=False, **how)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    scores = {(entry["status"], entry["score"]) for entry in report.learners.values()}
    assert scores == {("ok", full)}, f"every copy of the solution should score {full}: {scores}"
    return seconds


def start_cluster(folder: Path) -> LoopbackCluster:
    """A TLS scheduler and two one-thread workers on 127.0.0.1, as a class's cluster."""
    make_tls_certs(folder / "certs")
    cluster = LoopbackCluster(folder, folder / "certs", {"MLKIT_SCRATCH": str(folder / "scratch")})
    try:
        cluster.start_scheduler()
        cluster.start_workers("bench-1", "bench-2")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def throughput(root: Path, count: int, rounds: int) -> dict[str, float]:
    """Part 1: each mode's best seconds for count copies of lab 00's solution."""
    notebooks = copies(root / "submissions", SOLUTION, count)
    cluster = start_cluster(root / "cluster")
    try:
        runs: dict[str, Callable[[Path], float]] = {
            PAPERMILL: lambda out: plain_papermill(notebooks, out),
            ONE_WORKER: lambda out: graded(root / "submissions", "00", out, workers=1),
            TWO_WORKERS: lambda out: graded(root / "submissions", "00", out, workers=2),
            CLUSTER: lambda out: graded(
                root / "submissions", "00", out, cluster=cluster.address, tls=cluster.tls
            ),
        }
        # Untimed warm-up, so that the first mode timed does not pay for cold caches alone.
        plain_papermill(notebooks[:1], root / "warm-up")
        graded(root / "submissions", "00", root / "warm-up-cluster", cluster=cluster.address,
               tls=cluster.tls)  # fmt: skip
        best = dict.fromkeys(MODES, math.inf)
        for round_ in range(rounds):  # alternate the four, keep each one's best time
            for index, mode in enumerate(MODES):
                best[mode] = min(best[mode], runs[mode](root / f"round{round_}-{index}"))
        return best
    finally:
        cluster.stop()


def lab_seconds(root: Path, labs: list[str]) -> dict[str, float | str]:
    """Part 2: seconds to grade one copy of each lab's solution alone (or why not)."""
    measured: dict[str, float | str] = {}
    engine = docker_problem()
    for lab in labs:
        solution = find_assignment(solutions_dir(), lab)
        if "docker" in read_assignment(solution).needs and engine:
            measured[solution.stem] = f"not measured: {engine}"
            continue
        copies(root / f"lab{lab}", solution, 1)
        measured[solution.stem] = graded(root / f"lab{lab}", lab, root / f"out{lab}", workers=1)
    return measured


def clock(seconds: float) -> str:
    """h:mm:ss."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def print_throughput(count: int, rounds: int, best: dict[str, float], load: float) -> float:
    """Part 1's table and verdicts; returns the two-worker speed-up."""
    rate = {mode: 60 * count / seconds for mode, seconds in best.items()}
    overhead = best[ONE_WORKER] / best[PAPERMILL]
    speedup = rate[TWO_WORKERS] / rate[ONE_WORKER]
    versus_local = rate[CLUSTER] / rate[TWO_WORKERS]
    label = "one round" if rounds == 1 else f"best of {rounds} rounds"
    print(
        f"{count} copies of {SOLUTION.name}, {label}; load average "
        f"{load:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs"
    )
    for mode in MODES:
        print(f"{mode:<26} {best[mode]:7.1f} s  {rate[mode]:6.1f} submissions/min")
    verdict = {True: "meets", False: "MISSES"}
    print(
        f"overhead (1 worker / papermill): {overhead:.2f}x "
        f"({verdict[overhead <= OVERHEAD_TARGET]} the target of at most {OVERHEAD_TARGET}x)"
    )
    print(
        f"speed-up (2 workers / 1 worker): {speedup:.2f}x "
        f"({verdict[speedup >= SPEEDUP_TARGET]} the target of at least {SPEEDUP_TARGET}x)"
    )
    print(
        f"cluster of 2 / local pool of 2 (submissions/min): {versus_local:.2f}x "
        f"({verdict[versus_local >= CLUSTER_TARGET]} the target of at least {CLUSTER_TARGET}x)"
    )
    return speedup


def print_class_table(measured: dict[str, float | str], speedup: float) -> None:
    """Part 2's table: seconds per submission and the projected wall time for a class."""
    machines = "  ".join(f"{m:>2} machine{'s' if m > 1 else ' '}" for m in MACHINES)
    print(
        f"\nclass table: one solution graded alone, and {CLASS_SIZE} learners on machines of "
        f"2 cores grading {WORKERS_PER_MACHINE} at once ({speedup:.2f}x one, from above)"
    )
    print(f"{'lab':<20} {'s/submission':>12}  {machines}")
    for lab, seconds in measured.items():
        if isinstance(seconds, str):
            print(f"{lab:<20} {seconds}")
            continue
        wall = [clock(CLASS_SIZE * seconds / (m * speedup)) for m in MACHINES]
        print(f"{lab:<20} {seconds:12.1f}  " + "  ".join(f"{w:>11}" for w in wall))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8 if quick_mode() else 24)
    parser.add_argument("--rounds", type=int, default=1 if quick_mode() else 2)
    parser.add_argument(
        "--labs",
        default="00" if quick_mode() else "",
        help="labs of the class table, e.g. 00,03 (default: all; 00 in quick mode)",
    )
    args = parser.parse_args()
    labs = args.labs.split(",") if args.labs else [
        path.name[:2] for path in list_solutions(solutions_dir())
    ]  # fmt: skip
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlkit-bench-grading-") as tmp:
        best = throughput(Path(tmp), args.copies, args.rounds)
        speedup = print_throughput(args.copies, args.rounds, best, load)
        print_class_table(lab_seconds(Path(tmp), labs), speedup)


if __name__ == "__main__":
    main()
