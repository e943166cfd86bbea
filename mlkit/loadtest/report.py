"""What a Locust run measured, as tables: per endpoint, per second, per step, capacity.

`stats_table` rebuilds Locust's `_stats.csv` from its JSON report; `step_summary` and
`find_capacity` turn the per-second history of a stepped run into one row per step and
the highest load that met a latency SLO. Module 04.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from mlkit.loadtest.scenario import PERCENTILE_WINDOW_S, SLO

PERCENTILES = (50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100)


@dataclass
class LoadTestResult:
    """What one Locust run measured.

    - `stats`: one row per endpoint plus "Aggregated" (index: Name), with the columns of
      Locust's `_stats.csv`, computed from its final JSON report (see `stats_table`);
    - `history`: `_stats_history.csv`, one row a second (and endpoint) with the current
      requests/s and percentiles and the running totals; `elapsed_s` added;
    - `failures`: one row per kind of failure (method, name, error, occurrences);
    - `entries`: Locust's JSON report (per endpoint: latency histogram, requests per second);
    - `cpu`: CPU use sampled every half second, in % of one core (index: elapsed_s), for
      Locust, each watched process (with its children), and "machine": every process on
      the machine, so that what other programs took is visible too;
    - `cpu_seconds`: the same as totals over the run, in CPU seconds.
    """

    stats: pd.DataFrame
    history: pd.DataFrame
    failures: pd.DataFrame
    entries: list[dict[str, Any]]
    cpu: pd.DataFrame
    cpu_seconds: dict[str, float]
    wall_seconds: float
    csv_prefix: Path
    log_path: Path
    max_requests: int
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Requests, failures, error rate, requests/s and p50/p95/p99/max latency (ms)."""
        total = self.stats.loc["Aggregated"]
        requests = int(total["Request Count"])
        failures = int(total["Failure Count"])
        return {
            "requests": requests,
            "failures": failures,
            "error_rate": failures / requests if requests else 0.0,
            "rps": float(total["Requests/s"]),
            "p50_ms": float(total["50%"]),
            "p95_ms": float(total["95%"]),
            "p99_ms": float(total["99%"]),
            "max_ms": float(total["Max Response Time"]),
        }

    def cpu_share(self, name: str = "locust") -> float:
        """The share of the whole machine's CPU that process `name` used during the run."""
        if name not in self.cpu_seconds:
            raise KeyError(f"name: got {name!r}, expected one of {sorted(self.cpu_seconds)}.")
        return self.cpu_seconds[name] / (self.wall_seconds * (psutil.cpu_count() or 1))

    def latency_histogram(self) -> pd.Series:
        """How many requests took each response time (whole ms, as Locust rounds them; index
        `ms`), over every endpoint. A stall of fixed length shows as a spike at that time
        that does not move with the load: ~40 ms is TCP's delayed ACK (module 05)."""
        return latency_histogram(self.entries)

    @property
    def stopped_at_request_cap(self) -> bool:
        """True when the run reached `max_requests` and Locust stopped it early."""
        return int(self.stats.loc["Aggregated", "Request Count"]) >= self.max_requests


def _percentile(response_times: dict[int, int], count: int, percent: float) -> int:
    """Locust's percentile of its rounded response-time histogram (stats.py, same rule)."""
    wanted = int(count * percent)
    processed = 0
    for response_time in sorted(response_times, reverse=True):
        processed += response_times[response_time]
        if count - processed <= wanted:
            return response_time
    return 0


def _merged_response_times(entries: list[dict[str, Any]]) -> dict[int, int]:
    histogram: dict[int, int] = {}
    for entry in entries:
        for key, count in entry["response_times"].items():
            histogram[int(key)] = histogram.get(int(key), 0) + count
    return histogram


def latency_histogram(entries: list[dict[str, Any]]) -> pd.Series:
    """Requests per response time (ms, Locust's rounding), summed over the endpoints of a
    Locust JSON report (`LoadTestResult.entries`), sorted by time. Module 05."""
    histogram = _merged_response_times(entries)
    return pd.Series(histogram, dtype="int64", name="requests").rename_axis("ms").sort_index()


def _stats_row(entries: list[dict[str, Any]]) -> dict[str, Any]:
    histogram = _merged_response_times(entries)
    requests = sum(e["num_requests"] for e in entries)
    timed = requests - sum(e["num_none_requests"] for e in entries)
    failures = sum(e["num_failures"] for e in entries)
    mins = [e["min_response_time"] for e in entries if e["min_response_time"] is not None]
    seconds = max(e["last_request_timestamp"] or 0 for e in entries) - min(
        e["start_time"] for e in entries
    )
    return {
        "Request Count": requests,
        "Failure Count": failures,
        "Average Response Time": sum(e["total_response_time"] for e in entries) / max(timed, 1),
        "Min Response Time": min(mins, default=0.0),
        "Max Response Time": max(e["max_response_time"] for e in entries),
        "Average Content Size": sum(e["total_content_length"] for e in entries) / max(requests, 1),
        "Requests/s": requests / seconds if seconds > 0 else 0.0,
        "Failures/s": failures / seconds if seconds > 0 else 0.0,
        **{f"{p:g}%": _percentile(histogram, timed, p / 100) for p in PERCENTILES},
    }


def stats_table(entries: list[dict[str, Any]]) -> pd.DataFrame:
    """Locust's request statistics, one row per endpoint plus "Aggregated", from its JSON
    report (`--json-file`), with the columns of its `_stats.csv`.

    The JSON report is written once, when Locust exits, so it holds every request; the
    CSV file is rewritten once a second and can miss the last one. Module 04.
    """
    rows = [{"Type": e["method"], "Name": e["name"], **_stats_row([e])} for e in entries]
    if entries:
        rows.append({"Type": "", "Name": "Aggregated", **_stats_row(entries)})
    else:  # no request was sent
        rows.append({"Type": "", "Name": "Aggregated", "Request Count": 0, "Failure Count": 0})
    return pd.DataFrame(rows).set_index("Name").fillna(0.0)


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, na_values=["N/A"], keep_default_na=False)


def read_history(path: Path) -> pd.DataFrame:
    history = _read_csv(path)
    if history.empty:
        return history
    history["Name"] = history["Name"].astype(str)
    history["elapsed_s"] = history["Timestamp"] - history["Timestamp"].iloc[0]
    return history


def step_summary(history: pd.DataFrame, settle_s: float = PERCENTILE_WINDOW_S) -> pd.DataFrame:
    """One row per step of a stepped run, from its per-second history.

    A step is a run of seconds with the same user count; its first `settle_s` seconds
    (users starting, and the percentile window still holding the previous step) are left
    out. Columns: users, start_s, seconds, requests, rps, error_rate, p50_ms, p95_ms,
    p99_ms (the median of the step's per-second percentiles). Introduced in module 04.
    """
    needed = {"User Count", "Name", "elapsed_s", "Total Request Count", "Total Failure Count"}
    if not isinstance(history, pd.DataFrame) or not needed <= set(history.columns):
        got = sorted(history.columns) if isinstance(history, pd.DataFrame) else type(history)
        raise ValueError(
            f"history: expected the `history` of a LoadTestResult (columns {sorted(needed)}), "
            f"got {got}."
        )
    rows = history[history["Name"] == "Aggregated"].sort_values("elapsed_s")
    rows = rows[rows["User Count"] > 0]
    step_id = (rows["User Count"] != rows["User Count"].shift()).cumsum()
    steps = []
    for _, step in rows.groupby(step_id):
        settled = step[step["elapsed_s"] >= step["elapsed_s"].iloc[0] + settle_s]
        if len(settled) < 2:
            continue
        first, last = settled.iloc[0], settled.iloc[-1]
        seconds = float(last["elapsed_s"] - first["elapsed_s"])
        requests = int(last["Total Request Count"] - first["Total Request Count"])
        failures = int(last["Total Failure Count"] - first["Total Failure Count"])
        steps.append(
            {
                "users": int(first["User Count"]),
                "start_s": float(step["elapsed_s"].iloc[0]),
                "seconds": seconds,
                "requests": requests,
                "rps": requests / seconds,
                "error_rate": failures / requests if requests else 0.0,
                **{
                    f"p{p}_ms": float(settled[f"{p}%"].astype(float).median())
                    for p in (50, 66, 75, 80, 90, 95, 98, 99)
                },
            }
        )
    if not steps:
        raise ValueError(
            f"history: no step lasted longer than settle_s={settle_s} s plus 2 s, so there is "
            "nothing to summarise; use longer steps (StepLoad(step_seconds=...)) or a smaller "
            "settle_s."
        )
    return pd.DataFrame(steps)


@dataclass(frozen=True)
class Capacity:
    """The highest load of a stepped run that met `slo` (users and requests/s), and
    every step with a `meets_slo` column. `users == 0` when even the first step failed."""

    users: int
    rps: float
    latency_ms: float
    slo: SLO
    steps: pd.DataFrame

    def __str__(self) -> str:
        if self.users == 0:
            return f"no step met the SLO ({self.slo})"
        return (
            f"capacity under the SLO ({self.slo}): {self.rps:.0f} requests/s with "
            f"{self.users} users (p{self.slo.percentile} {self.latency_ms:.0f} ms)"
        )


def find_capacity(history: pd.DataFrame, slo: SLO | None = None) -> Capacity:
    """The capacity under `slo` (default p95 <= 50 ms, no errors) of a stepped run.

    Steps come from `step_summary(history)` (a table of steps is accepted as it is).
    The capacity is the step with the most requests/s among those before the first step
    that broke the SLO: past that point the service is overloaded, whatever a later step
    happens to show. Introduced in module 04.
    """
    slo = SLO() if slo is None else slo
    if not isinstance(slo, SLO):
        raise TypeError(f"slo: got {type(slo).__name__}, expected an SLO(...) or None.")
    is_table = isinstance(history, pd.DataFrame) and "rps" in history.columns
    steps = history.copy() if is_table else step_summary(history)
    latency = steps[f"p{slo.percentile}_ms"]
    steps["meets_slo"] = (latency <= slo.latency_ms) & (steps["error_rate"] <= slo.max_error_rate)
    broken = (~steps["meets_slo"]).cumsum() > 0
    good = steps[~broken]
    if good.empty:
        return Capacity(0, 0.0, math.nan, slo, steps)
    best = good.loc[good["rps"].idxmax()]
    return Capacity(int(best["users"]), float(best["rps"]), float(latency[best.name]), slo, steps)
