"""Run Locust from a notebook and read its statistics back (introduced in module 04).

Locust patches Python's networking with gevent when it is imported, which does not
belong inside a Jupyter kernel, so `run_locust` starts it as a separate process:
`locust --headless` with a fixed number of users for a fixed time (or a `StepLoad`),
against 127.0.0.1 only, its CSV and JSON statistics written under a prefix and read
back into pandas. The run is bounded in users, requests and seconds, and the process is
killed if it outlives its time budget or the cell is interrupted.

While it runs, the CPU time of the Locust process (and of any server processes passed
in `watch`) is sampled with psutil: on a 2-core machine the load generator takes CPU
from the server it measures, and the result says how much.

`step_summary` and `find_capacity` turn the per-second history of a stepped run into
one row per step and the highest load that met a latency SLO.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import psutil

from mlkit.ports import LOCALHOST
from mlkit.settings import scratch_dir

MAX_USERS = 200
MAX_RUN_SECONDS = 600
MAX_REQUESTS = 500_000
LOCAL_HOSTS = (LOCALHOST, "localhost")
ADDON_FILE = Path(__file__).with_name("locust_addon.py")
STEPS_ENV = "MLKIT_LOCUST_STEPS"
MAX_REQUESTS_ENV = "MLKIT_LOCUST_MAX_REQUESTS"
WINDOW_ENV = "MLKIT_LOCUST_WINDOW"
STARTED_ENV = "MLKIT_LOCUST_STARTED"
ERRORS_ENV = "MLKIT_LOCUST_ERRORS"
PERCENTILES = (50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100)
# Locust's "current" percentiles in the history cover the last 10 s; stepped runs need a
# window shorter than a step, so run_locust narrows it (stats setting documented by Locust).
PERCENTILE_WINDOW_S = 2
_STARTUP_BUDGET_S = 30.0
_CPU_SAMPLE_S = 0.5
MACHINE = "machine"  # the cpu column with every process on the machine, ours included


class LoadTestError(RuntimeError):
    """Locust failed, or ran past its time budget and was killed.

    Attributes: `command`, `exit_code` (None when it was killed), `log_path`, `log_tail`.
    """

    def __init__(
        self, reason: str, command: list[str], exit_code: int | None, log_path: Path, log_tail: str
    ) -> None:
        self.command = command
        self.exit_code = exit_code
        self.log_path = log_path
        self.log_tail = log_tail
        shown = "\n".join("    " + line for line in log_tail.splitlines()) or "    (log is empty)"
        super().__init__(
            f"The load test did not complete: {reason}.\nLast lines of Locust's output "
            f"({log_path}):\n{shown}\nFix the locustfile error shown above (running "
            "`python locustfile.py` shows import errors directly), or give the run fewer "
            "users or seconds, then run it again."
        )


@dataclass(frozen=True)
class StepLoad:
    """A stepped load: `users[i]` users for `step_seconds` seconds each, in order.

    Users are added or removed at `spawn_rate` per second at the start of each step.
    Introduced in module 04 (finding the capacity under an SLO).
    """

    users: tuple[int, ...]
    step_seconds: int
    spawn_rate: float = 50.0

    def __post_init__(self) -> None:
        users = tuple(self.users)
        object.__setattr__(self, "users", users)
        if not users or any(_bad_int(u, 1, MAX_USERS) for u in users):
            raise ValueError(
                f"users: got {self.users!r}, expected a non-empty sequence of whole numbers "
                f"of users in 1..{MAX_USERS}, e.g. (1, 2, 4, 8)."
            )
        if _bad_int(self.step_seconds, 2, MAX_RUN_SECONDS):
            raise ValueError(
                f"step_seconds: got {self.step_seconds!r}, expected whole seconds in "
                f"2..{MAX_RUN_SECONDS} (Locust's run times are whole seconds)."
            )
        _check_spawn_rate(self.spawn_rate)
        if self.duration > MAX_RUN_SECONDS:
            raise ValueError(
                f"StepLoad lasts {self.duration} s ({len(users)} steps of {self.step_seconds} s),"
                f" more than {MAX_RUN_SECONDS} s; use fewer or shorter steps."
            )

    @property
    def duration(self) -> int:
        """Seconds from the first step's start to the last step's end."""
        return len(self.users) * self.step_seconds

    def tick(self, elapsed_s: float) -> tuple[int, float] | None:
        """(users, spawn_rate) `elapsed_s` seconds into the run, or None once it is over."""
        step = int(elapsed_s // self.step_seconds)
        return (self.users[step], self.spawn_rate) if 0 <= step < len(self.users) else None

    def to_json(self) -> str:
        """The load as JSON (how `run_locust` hands it to the Locust process)."""
        return json.dumps(
            {"users": self.users, "step_seconds": self.step_seconds, "spawn_rate": self.spawn_rate}
        )

    @classmethod
    def from_json(cls, text: str) -> StepLoad:
        """The load `to_json` wrote."""
        values = json.loads(text)
        return cls(tuple(values["users"]), values["step_seconds"], values["spawn_rate"])


@dataclass(frozen=True)
class SLO:
    """A latency objective: the `percentile` of latency at most `latency_ms`, and at most
    `max_error_rate` of requests failing (0.0: none). Introduced in module 04."""

    latency_ms: float = 50.0
    percentile: int = 95
    max_error_rate: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.latency_ms, int | float) and self.latency_ms > 0):
            raise ValueError(f"latency_ms: got {self.latency_ms!r}, expected milliseconds > 0.")
        if self.percentile not in (50, 66, 75, 80, 90, 95, 98, 99):
            raise ValueError(
                f"percentile: got {self.percentile!r}, expected one that Locust reports: "
                "50, 66, 75, 80, 90, 95, 98 or 99."
            )
        if not (isinstance(self.max_error_rate, int | float) and 0 <= self.max_error_rate < 1):
            raise ValueError(
                f"max_error_rate: got {self.max_error_rate!r}, expected a fraction in [0, 1), "
                "e.g. 0.0 for no errors or 0.001 for one in a thousand."
            )

    def __str__(self) -> str:
        errors = "no errors" if self.max_error_rate == 0 else f"errors <= {self.max_error_rate:.2%}"
        return f"p{self.percentile} <= {self.latency_ms:g} ms, {errors}"


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

    @property
    def stopped_at_request_cap(self) -> bool:
        """True when the run reached `max_requests` and Locust stopped it early."""
        return int(self.stats.loc["Aggregated", "Request Count"]) >= self.max_requests


def _bad_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high


def _check_spawn_rate(spawn_rate: object) -> None:
    if isinstance(spawn_rate, bool) or not isinstance(spawn_rate, int | float) or spawn_rate <= 0:
        raise ValueError(
            f"spawn_rate: got {spawn_rate!r}, expected users started per second, a number > 0."
        )


def local_host(host: str) -> str:
    """`host` as `http://127.0.0.1:PORT`; raises ValueError for any other machine.

    The course only ever loads services on this machine (module 04).
    """
    parts = urlsplit(host) if isinstance(host, str) else None
    if parts is None or parts.scheme not in ("http", "https") or parts.hostname is None:
        raise ValueError(
            f"host: got {host!r}, expected the URL of a service on this machine, such as "
            "'http://127.0.0.1:3000' (svc.url of a running service)."
        )
    if parts.hostname not in LOCAL_HOSTS:
        raise ValueError(
            f"host: got {host!r}, which points at {parts.hostname!r}. Load tests here only run "
            f"against this machine: use http://{LOCALHOST}:PORT (another machine's service "
            "needs its owner's permission and a load generator on another machine)."
        )
    if parts.port is None:
        raise ValueError(
            f"host: got {host!r}, expected an explicit port, e.g. http://{LOCALHOST}:3000."
        )
    netloc = f"{LOCALHOST}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _check_locustfile(locustfile: str | os.PathLike[str]) -> Path:
    text = str(locustfile)
    path = Path(locustfile).expanduser().resolve()
    if "://" in text or not path.is_file():
        raise FileNotFoundError(
            f"locustfile: no file at {text!r}. Expected the path of a local .py file that "
            "defines a Locust User class (write it with %%writefile locustfile.py)."
        )
    if path.suffix != ".py":
        raise ValueError(f"locustfile: got '{path.name}', expected a Python file ending in .py.")
    return path


def _percentile(response_times: dict[int, int], count: int, percent: float) -> int:
    """Locust's percentile of its rounded response-time histogram (stats.py, same rule)."""
    wanted = int(count * percent)
    processed = 0
    for response_time in sorted(response_times, reverse=True):
        processed += response_times[response_time]
        if count - processed <= wanted:
            return response_time
    return 0


def _stats_row(entries: list[dict[str, Any]]) -> dict[str, Any]:
    histogram: dict[int, int] = {}
    for entry in entries:
        for key, count in entry["response_times"].items():
            histogram[int(key)] = histogram.get(int(key), 0) + count
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


def _read_history(path: Path) -> pd.DataFrame:
    history = _read_csv(path)
    if history.empty:
        return history
    history["Name"] = history["Name"].astype(str)
    history["elapsed_s"] = history["Timestamp"] - history["Timestamp"].iloc[0]
    return history


class _CpuSampler:
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


def _stop(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM Locust's process group (it writes its reports), then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, n: int = 25) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:])


def run_locust(
    locustfile: str | os.PathLike[str],
    host: str,
    users: int | None = None,
    spawn_rate: float | None = None,
    run_time: int | None = None,
    *,
    shape: StepLoad | None = None,
    csv_prefix: str | os.PathLike[str] | None = None,
    stop_timeout: int = 5,
    max_requests: int = MAX_REQUESTS,
    watch: Mapping[str, int] | None = None,
    user_classes: list[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> LoadTestResult:
    """Run `locust --headless` against `host` (127.0.0.1 only) and read back its statistics.

    Give `users` (at most `MAX_USERS`) and `run_time` (whole seconds), started at `spawn_rate`
    users a second (default: all within a second), or `shape=StepLoad(...)` instead. Files go to
    `csv_prefix` (default `<scratch>/locust/run-<time>`): `_stats.csv`, `_stats_history.csv`
    (every second, every endpoint), `.json`, `_errors.json` and `.log` (which starts with the
    command). `stop_timeout` seconds let running requests finish at the end; the run stops early
    after `max_requests` requests (give or take the ones in flight: up to about two per user).
    `watch` names processes whose CPU is sampled with Locust's, e.g. `{"server":
    svc.process.pid}`; `user_classes` picks some of the locustfile's User classes (default:
    all); `env` adds environment variables for the locustfile. Locust is killed if it runs past
    its time budget (raising `LoadTestError`) or the caller is interrupted. Introduced in
    module 04.
    """
    path = _check_locustfile(locustfile)
    target = local_host(host)
    if shape is not None:
        if not isinstance(shape, StepLoad):
            raise TypeError(f"shape: got {type(shape).__name__}, expected a StepLoad or None.")
        if (users, spawn_rate, run_time) != (None, None, None):
            raise ValueError(
                "users, spawn_rate, run_time: a StepLoad sets users and duration itself; "
                f"got users={users!r}, spawn_rate={spawn_rate!r}, run_time={run_time!r}, "
                "expected all three None when shape= is given."
            )
        duration = shape.duration
    else:
        if _bad_int(users, 1, MAX_USERS):
            raise ValueError(
                f"users: got {users!r}, expected a whole number of users in 1..{MAX_USERS} "
                "(or shape=StepLoad(...))."
            )
        if _bad_int(run_time, 1, MAX_RUN_SECONDS):
            raise ValueError(
                f"run_time: got {run_time!r}, expected whole seconds in 1..{MAX_RUN_SECONDS}."
            )
        spawn_rate = users if spawn_rate is None else spawn_rate
        _check_spawn_rate(spawn_rate)
        duration = run_time
    for name in user_classes or []:
        if not (isinstance(name, str) and name.isidentifier()):
            raise ValueError(
                f"user_classes: got {user_classes!r}, expected names of User classes in "
                f"{path.name}, e.g. ['ChurnClient']."
            )
    if _bad_int(stop_timeout, 0, 60):
        raise ValueError(f"stop_timeout: got {stop_timeout!r}, expected whole seconds in 0..60.")
    if _bad_int(max_requests, 1, MAX_REQUESTS):
        raise ValueError(f"max_requests: got {max_requests!r}, expected 1..{MAX_REQUESTS}.")

    prefix = Path(csv_prefix) if csv_prefix else scratch_dir("locust") / f"run-{time.time_ns()}"
    prefix = prefix.expanduser().resolve()
    prefix.parent.mkdir(parents=True, exist_ok=True)
    log_path = prefix.with_name(prefix.name + ".log")
    started_marker = prefix.with_name(prefix.name + ".started")
    started_marker.unlink(missing_ok=True)
    command = [sys.executable, "-m", "locust", "-f", f"{path},{ADDON_FILE}", "--headless"]
    command += ["--host", target, "--csv", str(prefix), "--csv-full-history"]
    command += ["--json-file", str(prefix), "--stop-timeout", str(stop_timeout)]
    command += ["--only-summary", "--exit-code-on-error", "0"]
    if shape is None:
        command += ["--users", str(users), "--spawn-rate", str(spawn_rate)]
        command += ["--run-time", f"{run_time}s"]
    command += list(user_classes or [])
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("LOCUST_")}
    process_env.update(env or {})
    process_env.update(
        {
            MAX_REQUESTS_ENV: str(max_requests),
            WINDOW_ENV: str(PERCENTILE_WINDOW_S),
            STARTED_ENV: str(started_marker),
            ERRORS_ENV: str(prefix.with_name(prefix.name + "_errors.json")),
        },
        PYTHONUNBUFFERED="1",
    )
    if shape is not None:
        process_env[STEPS_ENV] = shape.to_json()

    budget = duration + stop_timeout + _STARTUP_BUDGET_S
    with log_path.open("wb") as log:
        log.write(f"$ {shlex.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command,
            cwd=path.parent,
            env=process_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            sampler = _CpuSampler({"locust": process.pid, **(watch or {})})
            deadline = time.monotonic() + budget
            counting = False
            while process.poll() is None and time.monotonic() < deadline:
                time.sleep(_CPU_SAMPLE_S if counting else 0.05)
                if not counting and started_marker.exists():
                    sampler.restart()
                    counting = True
                elif counting and process.poll() is None:
                    sampler.sample()
            wall = time.monotonic() - sampler.started
        finally:
            timed_out = process.poll() is None
            _stop(process)
            started_marker.unlink(missing_ok=True)
    if timed_out:
        raise LoadTestError(
            f"Locust was still running after {budget:.0f} s and was stopped",
            command,
            None,
            log_path,
            _tail(log_path),
        )
    json_path = prefix.with_name(prefix.name + ".json")
    if process.returncode != 0 or not json_path.exists():
        raise LoadTestError(
            f"Locust exited with code {process.returncode}"
            + ("" if json_path.exists() else " and wrote no statistics"),
            command,
            process.returncode,
            log_path,
            _tail(log_path),
        )
    entries = json.loads(json_path.read_text())
    errors_path = prefix.with_name(prefix.name + "_errors.json")
    errors = json.loads(errors_path.read_text()) if errors_path.exists() else []
    return LoadTestResult(
        stats=stats_table(entries),
        history=_read_history(prefix.with_name(prefix.name + "_stats_history.csv")),
        failures=pd.DataFrame(errors, columns=["method", "name", "error", "occurrences"]),
        entries=entries,
        cpu=sampler.frame(),
        cpu_seconds=dict(sampler.totals),
        wall_seconds=wall,
        csv_prefix=prefix,
        log_path=log_path,
        max_requests=max_requests,
        settings={"users": users, "spawn_rate": spawn_rate, "run_time": run_time, "shape": shape},
    )


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
