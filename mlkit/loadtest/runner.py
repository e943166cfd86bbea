"""Run Locust from a notebook and read its statistics back (introduced in module 04).

Locust patches Python's networking with gevent when it is imported, which does not
belong inside a Jupyter kernel, so `run_locust` starts it as a separate process:
`locust --headless` with a fixed number of users for a fixed time (or a `StepLoad`),
against 127.0.0.1 only, its CSV and JSON statistics written under a prefix and read
back into pandas. The run is bounded in users, requests and seconds, and the process is
killed if it outlives its time budget or the cell is interrupted.

While it runs, the CPU time of the Locust process (and of any server processes passed
in `watch`) is sampled with psutil (`mlkit.loadtest.cpu`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from mlkit._runtime.logs import tail_lines
from mlkit._runtime.process import LoggedProcess
from mlkit.errors import LoggedError
from mlkit.loadtest.cpu import CpuSampler
from mlkit.loadtest.report import LoadTestResult, read_history, stats_table
from mlkit.loadtest.scenario import (
    ERRORS_ENV,
    MAX_REQUESTS,
    MAX_REQUESTS_ENV,
    MAX_RUN_SECONDS,
    MAX_USERS,
    PERCENTILE_WINDOW_S,
    STARTED_ENV,
    STEPS_ENV,
    STOP_ENV,
    WINDOW_ENV,
    StepLoad,
    bad_int,
    check_spawn_rate,
    local_host,
)
from mlkit.settings import scratch_dir

ADDON_FILE = Path(__file__).with_name("addon.py")
_STARTUP_BUDGET_S = 30.0
_CPU_SAMPLE_S = 0.5


class LoadTestError(LoggedError):
    """Locust failed, or ran past its time budget and was killed.

    Attributes: `command`, `exit_code` (None when it was killed), `log_path`, `log_tail`.
    """

    def __init__(
        self, reason: str, command: list[str], exit_code: int | None, log_path: Path, log_tail: str
    ) -> None:
        self.command = command
        self.exit_code = exit_code
        advice = (
            "Fix the locustfile error shown above (running `python locustfile.py` shows import "
            "errors directly), or give the run fewer users or seconds, then run it again."
        )
        super().__init__(f"The load test did not complete: {reason}", log_tail, log_path, advice)


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
    stop_file: str | os.PathLike[str] | None = None,
) -> LoadTestResult:
    """Run `locust --headless` against `host` (127.0.0.1 only) and read back its statistics.

    Give `users` (at most `MAX_USERS`) and `run_time` (whole seconds), started at `spawn_rate`
    users a second (default: all within a second), or `shape=StepLoad(...)` instead. Files go to
    `csv_prefix` (default `<scratch>/locust/run-<time>`): `_stats.csv`, `_stats_history.csv`
    (every second, every endpoint), `.json`, `_errors.json` and `.log` (which starts with the
    command). `stop_timeout` seconds let running requests finish at the end; the run stops early
    after `max_requests` requests (give or take the ones in flight: up to about two per user),
    or once the file `stop_file` exists (looked for every 0.2 s: a caller that knows when
    enough was seen ends the run).
    `watch` names processes whose CPU is sampled with Locust's, e.g. `{"server":
    svc.process.pid}`; `user_classes` picks some of the locustfile's User classes (default:
    all); `env` adds environment variables for the locustfile. Locust is killed if it runs past
    its time budget (raising `LoadTestError`) or the caller is interrupted. Introduced in
    module 04.
    """
    path = _check_locustfile(locustfile)
    target = local_host(host)
    duration, spawn_rate = _check_load(shape, users, spawn_rate, run_time)
    for name in user_classes or []:
        if not (isinstance(name, str) and name.isidentifier()):
            raise ValueError(
                f"user_classes: got {user_classes!r}, expected names of User classes in "
                f"{path.name}, e.g. ['ChurnClient']."
            )
    if bad_int(stop_timeout, 0, 60):
        raise ValueError(f"stop_timeout: got {stop_timeout!r}, expected whole seconds in 0..60.")
    if bad_int(max_requests, 1, MAX_REQUESTS):
        raise ValueError(f"max_requests: got {max_requests!r}, expected 1..{MAX_REQUESTS}.")

    prefix = Path(csv_prefix) if csv_prefix else scratch_dir("locust") / f"run-{time.time_ns()}"
    files = _RunFiles(prefix.expanduser().resolve())
    command = [sys.executable, "-m", "locust", "-f", f"{path},{ADDON_FILE}", "--headless"]
    command += ["--host", target, "--csv", str(files.prefix), "--csv-full-history"]
    command += ["--json-file", str(files.prefix), "--stop-timeout", str(stop_timeout)]
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
            STARTED_ENV: str(files.started),
            ERRORS_ENV: str(files.errors),
        },
        PYTHONUNBUFFERED="1",
    )
    if shape is not None:
        process_env[STEPS_ENV] = shape.to_json()
    if stop_file is not None:
        process_env[STOP_ENV] = str(Path(stop_file).expanduser().resolve())

    budget = duration + stop_timeout + _STARTUP_BUDGET_S
    locust = LoggedProcess(command, files.log, cwd=path.parent, env=process_env, show_command=True)
    try:
        sampler, wall, timed_out = _sample_until_exit(locust, files.started, budget, watch or {})
    finally:
        locust.stop(grace=5.0)  # SIGTERM first: Locust writes its reports as it quits
        files.started.unlink(missing_ok=True)
    if timed_out:
        raise LoadTestError(
            f"Locust was still running after {budget:.0f} s and was stopped",
            command,
            None,
            files.log,
            tail_lines(files.log, 25),
        )
    if locust.returncode != 0 or not files.json.exists():
        raise LoadTestError(
            f"Locust exited with code {locust.returncode}"
            + ("" if files.json.exists() else " and wrote no statistics"),
            command,
            locust.returncode,
            files.log,
            tail_lines(files.log, 25),
        )
    entries = json.loads(files.json.read_text())
    errors = json.loads(files.errors.read_text()) if files.errors.exists() else []
    return LoadTestResult(
        stats=stats_table(entries),
        history=read_history(files.history),
        failures=pd.DataFrame(errors, columns=["method", "name", "error", "occurrences"]),
        entries=entries,
        cpu=sampler.frame(),
        cpu_seconds=dict(sampler.totals),
        wall_seconds=wall,
        csv_prefix=files.prefix,
        log_path=files.log,
        max_requests=max_requests,
        settings={"users": users, "spawn_rate": spawn_rate, "run_time": run_time, "shape": shape},
    )


class _RunFiles:
    """The files of one run, all named after its prefix."""

    def __init__(self, prefix: Path) -> None:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.log = self._named(".log")
        self.json = self._named(".json")
        self.errors = self._named("_errors.json")
        self.history = self._named("_stats_history.csv")
        self.started = self._named(".started")  # written by the addon when the test starts
        self.started.unlink(missing_ok=True)

    def _named(self, suffix: str) -> Path:
        return self.prefix.with_name(self.prefix.name + suffix)


def _check_load(
    shape: StepLoad | None, users: int | None, spawn_rate: float | None, run_time: int | None
) -> tuple[int, float | None]:
    """The run's duration and spawn rate, after checking the load arguments."""
    if shape is not None:
        if not isinstance(shape, StepLoad):
            raise TypeError(f"shape: got {type(shape).__name__}, expected a StepLoad or None.")
        if (users, spawn_rate, run_time) != (None, None, None):
            raise ValueError(
                "users, spawn_rate, run_time: a StepLoad sets users and duration itself; "
                f"got users={users!r}, spawn_rate={spawn_rate!r}, run_time={run_time!r}, "
                "expected all three None when shape= is given."
            )
        return shape.duration, None
    if bad_int(users, 1, MAX_USERS):
        raise ValueError(
            f"users: got {users!r}, expected a whole number of users in 1..{MAX_USERS} "
            "(or shape=StepLoad(...))."
        )
    if bad_int(run_time, 1, MAX_RUN_SECONDS):
        raise ValueError(
            f"run_time: got {run_time!r}, expected whole seconds in 1..{MAX_RUN_SECONDS}."
        )
    assert users is not None and run_time is not None  # noqa: S101 (types only: checked above)
    spawn_rate = users if spawn_rate is None else spawn_rate
    check_spawn_rate(spawn_rate)
    return run_time, spawn_rate


def _sample_until_exit(
    locust: LoggedProcess, started: Path, budget: float, watch: Mapping[str, int]
) -> tuple[CpuSampler, float, bool]:
    """Sample CPU from the moment the test starts until Locust exits or `budget` runs out.

    Returns the sampler, the seconds it covered, and whether Locust was still running at
    the end of the budget.
    """
    sampler = CpuSampler({"locust": locust.pid, **watch})
    deadline = time.monotonic() + budget
    counting = False
    while locust.is_running() and time.monotonic() < deadline:
        time.sleep(_CPU_SAMPLE_S if counting else 0.05)
        if not counting and started.exists():
            sampler.restart()
            counting = True
        elif counting and locust.is_running():
            sampler.sample()
    return sampler, time.monotonic() - sampler.started, locust.is_running()
