"""CPU seconds of named processes and of the whole machine, sampled during a load test.

On a 2-core machine the load generator takes CPU from the server it measures; sampling
both (and every process on the machine) shows how much. Module 04.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import pandas as pd
import psutil

MACHINE = "machine"  # the cpu column with every process on the machine, ours included


class CpuSampler:
    """CPU seconds of named processes (each with its children) between start and stop."""

    def __init__(self, processes: Mapping[str, int]) -> None:
        self.roots = {name: _process(pid) for name, pid in processes.items()}
        self.restart()

    def restart(self) -> None:
        """Count from now on (Locust's start-up, importing its libraries, is left out)."""
        self.last: dict[tuple[str, int], float] = {}
        self.totals = dict.fromkeys([*self.roots, MACHINE], 0.0)
        self.rows: list[dict[str, float]] = []
        self.started = time.monotonic()
        self.previous = self.started
        self.sample(record=False)

    def sample(self, record: bool = True) -> None:
        now = time.monotonic()
        row = {"elapsed_s": round(now - self.started, 2)}
        for name, root in self.roots.items():
            used = 0.0
            for proc in _family(root):
                try:
                    times = proc.cpu_times()
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                key = (name, proc.pid)
                current = times.user + times.system
                used += max(0.0, current - self.last.get(key, current if not record else 0.0))
                self.last[key] = current
            self.totals[name] += used
            row[name] = 100 * used / max(now - self.previous, 1e-6)
        busy = _machine_busy_seconds()
        used = max(0.0, busy - self.last.get((MACHINE, 0), busy if not record else 0.0))
        self.last[(MACHINE, 0)] = busy
        self.totals[MACHINE] += used
        row[MACHINE] = 100 * used / max(now - self.previous, 1e-6)
        self.previous = now
        if record:
            self.rows.append(row)

    def frame(self) -> pd.DataFrame:
        columns = ["elapsed_s", *self.roots, MACHINE]
        return pd.DataFrame(self.rows, columns=columns).set_index("elapsed_s")


def _machine_busy_seconds() -> float:
    """CPU seconds all processes on this machine have used, summed over its cores."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def _family(root: psutil.Process | None) -> list[psutil.Process]:
    if root is None:
        return []
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
