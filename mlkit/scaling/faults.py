"""A steady Locust load through the balancer while replicas fail: a per-second timeline.

Introduced in module 05. `run_under_faults` runs `mlkit.loadtest.run_locust` against
the balancer in a background thread; from the moment Locust starts its users it samples
the balancer's view of the replicas (runtime API) every `sample_s` seconds and applies
each `Fault` at its time: `kill` (SIGKILL), `hang` (SIGSTOP), `resume` (SIGCONT),
`stop` (SIGTERM), `drain`/`undrain` (`/readyz` answers 503/200). A longer procedure,
such as a rolling update, runs as `during`: it starts at `during_at_s` in a thread of its
own and notes its steps, which join the faults in the timeline. The result is a
`FaultRun`: a `timeline` with one row per second (requests/s, p99, failures, healthy
replicas, the faults and steps of that second), ready to print or plot, and the Locust
result.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from mlkit.loadtest import LoadTestResult, StepLoad, run_locust
from mlkit.scaling.balancer import Balancer, BalancerSettings, start_balancer
from mlkit.scaling.replicas import ReplicaSet
from mlkit.settings import scratch_dir

__all__ = ["CUT_ANSWER_ERRORS", "Fault", "FaultRun", "Note", "failover_drill", "run_under_faults"]

Note = Callable[[str, str], None]
"""What a `during` procedure calls to record a step: note(action, replica)."""

Action = Literal["kill", "hang", "resume", "stop", "drain", "undrain"]
_STARTUP_WAIT_S = 60.0

CUT_ANSWER_ERRORS = ("Incomplete response", "IncompleteRead")
"""How a Locust client reports an answer cut off mid-way: "Incomplete response" from
FastHttpUser (geventhttpclient), "IncompleteRead" from HttpUser (requests/urllib3)."""


@dataclass(frozen=True)
class Fault:
    """`action` applied to `replica` `at_s` seconds after Locust started its users."""

    at_s: float
    action: Action
    replica: str

    def __post_init__(self) -> None:
        if isinstance(self.at_s, bool) or not isinstance(self.at_s, int | float) or self.at_s < 0:
            raise ValueError(f"at_s: got {self.at_s!r}, expected seconds >= 0 into the run.")
        if self.action not in get_args(Action):
            raise ValueError(f"action: got {self.action!r}, expected one of {get_args(Action)}.")

    def apply(self, replicas: ReplicaSet) -> None:
        """Do it to the replica set."""
        if self.action == "kill":
            replicas.kill(self.replica)
        elif self.action == "hang":
            replicas.hang(self.replica)
        elif self.action == "resume":
            replicas.resume(self.replica)
        elif self.action == "stop":
            replicas.stop_one(self.replica)
        else:
            replicas.drain(self.replica, draining=self.action == "drain")


@dataclass
class FaultRun:
    """What `run_under_faults` measured.

    - `timeline`: one row per second of the load (index `second`, from Locust's start):
      `users`, `rps`, `p95_ms` and `p99_ms` (Locust's current values, percentiles over
      the last 2 s),
      `failures` (failed requests in that second), `healthy` (fewest replicas the balancer
      sent traffic to during that second) and `events` (the faults applied in it);
    - `health`: every sample of the balancer (`t_s`, `healthy`, and each replica's status);
    - `events`: the faults as applied and the steps `during` noted (`t_s`, `action`,
      `replica`);
    - `result`: the Locust run (`result.summary()`: requests, failures, p99 over the run);
    - `during`: what the `during` procedure returned (None without one).
    """

    timeline: pd.DataFrame
    health: pd.DataFrame
    events: pd.DataFrame
    result: LoadTestResult
    during: Any = None

    def cut_answers(self) -> int:
        """Failed requests whose answer was cut off mid-way: the replica had begun to send
        it when it was killed or hung. HAProxy had already passed its first bytes to the
        client, so no balancer can resend it; only a request in flight at that instant can
        end this way, so there are at most as many as the users (one in flight each)."""
        failures = self.result.failures
        if failures.empty:
            return 0
        cut = (
            failures["error"]
            .astype(str)
            .map(lambda error: any(pattern in error for pattern in CUT_ANSWER_ERRORS))
        )
        return int(failures.loc[cut, "occurrences"].sum())

    def summary(self) -> dict[str, float]:
        """Requests, failures (and how many of them were `cut_answers`), overall p99, and
        the worst second's p99 and fewest healthy."""
        total = self.result.summary()
        return {
            "requests": total["requests"],
            "failures": total["failures"],
            "cut_answers": self.cut_answers(),
            "p99_ms": total["p99_ms"],
            "worst_second_p99_ms": float(self.timeline["p99_ms"].max()),
            "fewest_healthy": float(self.timeline["healthy"].min()),
        }


def run_under_faults(
    balancer: Balancer,
    replicas: ReplicaSet,
    locustfile: str | os.PathLike[str],
    faults: list[Fault],
    *,
    users: int = 4,
    run_time: int = 15,
    shape: StepLoad | None = None,
    sample_s: float = 0.25,
    csv_prefix: str | os.PathLike[str] | None = None,
    user_classes: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    during: Callable[[Note], Any] | None = None,
    during_at_s: float = 0.0,
    end_after_during_s: float | None = None,
) -> FaultRun:
    """Load `balancer.url` with `users` Locust users for `run_time` s, applying `faults`.

    `shape=StepLoad(...)` gives a stepped load instead of `users` and `run_time` (an
    autoscaler under low, high, low load).
    Each fault names a replica of `replicas` and a time in seconds after Locust started
    its users (before `run_time`). `user_classes` and `env` go to `run_locust` (which of
    the locustfile's classes run, its environment variables). `during(note)`, if given,
    starts `during_at_s` seconds in, in a thread of its own; each `note(action, replica)`
    it makes is an event of the timeline, and the run waits for it to return (its error
    is raised). `end_after_during_s`, if given, ends the load that many seconds after
    `during` returned instead of at `run_time` (which is then an upper bound: give one
    long enough for the slowest machine, and the run takes only what it needs). Module 05.
    """
    if not isinstance(balancer, Balancer):
        raise TypeError(f"balancer: got {type(balancer).__name__}, expected a started Balancer.")
    if shape is not None:
        if not isinstance(shape, StepLoad):
            raise TypeError(f"shape: got {type(shape).__name__}, expected a StepLoad.")
        run_time = shape.duration
    for fault in faults:
        if not isinstance(fault, Fault):
            raise TypeError(f"faults: got {fault!r}, expected Fault(at_s, action, replica) items.")
        replicas.get(fault.replica)  # raises with the known names
        if fault.at_s >= run_time:
            raise ValueError(f"faults: {fault} comes after the run ends (run_time={run_time} s).")
    if during is not None and not callable(during):
        raise TypeError(f"during: got {type(during).__name__}, expected a function of note.")
    if isinstance(during_at_s, bool) or not 0 <= during_at_s < run_time:
        raise ValueError(f"during_at_s: got {during_at_s!r}, expected seconds in 0..{run_time}.")
    if not 0.05 <= sample_s <= 1.0:
        raise ValueError(f"sample_s: got {sample_s!r}, expected seconds in 0.05..1.0.")
    if end_after_during_s is not None and (
        isinstance(end_after_during_s, bool)
        or not isinstance(end_after_during_s, int | float)
        or end_after_during_s < 0
        or during is None
    ):
        raise ValueError(
            f"end_after_during_s: got {end_after_during_s!r}, expected seconds >= 0 of load "
            "left after `during` returns (and a `during` to wait for)."
        )
    prefix = Path(csv_prefix) if csv_prefix else scratch_dir("faults") / f"run-{time.time_ns()}"
    prefix = prefix.expanduser().resolve()
    started_marker = prefix.with_name(prefix.name + ".started")  # written by mlkit.loadtest.addon
    stop_file = prefix.with_name(prefix.name + ".stop")  # looked for by mlkit.loadtest.addon
    stop_file.unlink(missing_ok=True)
    ended_at: float | None = None  # when `during` returned
    pending = sorted(faults, key=lambda f: f.at_s)
    samples: list[dict[str, Any]] = []
    applied: list[dict[str, Any]] = []
    procedure: Future[Any] | None = None

    def note(action: str, replica: str) -> None:
        applied.append({"t_s": time.time() - start, "action": action, "replica": replica})

    with ThreadPoolExecutor(max_workers=2) as pool:
        steady = shape is None
        future = pool.submit(
            run_locust,
            locustfile,
            balancer.url,
            users if steady else None,
            users if steady else None,
            run_time if steady else None,
            shape=shape,
            csv_prefix=prefix,
            user_classes=user_classes,
            env=env,
            stop_file=stop_file if end_after_during_s is not None else None,
        )
        deadline = time.monotonic() + _STARTUP_WAIT_S
        while not started_marker.exists() and not future.done() and time.monotonic() < deadline:
            time.sleep(0.02)
        start = time.time()
        while not future.done():
            now = time.time() - start
            while pending and pending[0].at_s <= now:
                fault = pending.pop(0)
                applied.append(
                    {"t_s": time.time() - start, "action": fault.action, "replica": fault.replica}
                )
                fault.apply(replicas)
            if during is not None and procedure is None and now >= during_at_s:
                procedure = pool.submit(during, note)
            if end_after_during_s is not None and procedure is not None and procedure.done():
                ended_at = now if ended_at is None else ended_at
                if now >= ended_at + end_after_during_s and not stop_file.exists():
                    stop_file.touch()
            samples.append(_sample(balancer, time.time() - start))
            time.sleep(sample_s)
        stop_file.unlink(missing_ok=True)
        result = future.result()
        outcome = procedure.result() if procedure is not None else None
    health = pd.DataFrame(samples)
    applied.sort(key=lambda event: event["t_s"])
    events = pd.DataFrame(applied, columns=["t_s", "action", "replica"])
    return FaultRun(_timeline(result, start, health, events), health, events, result, outcome)


def _settings(settings: BalancerSettings | Mapping[str, Any] | None) -> BalancerSettings:
    if settings is None or isinstance(settings, BalancerSettings):
        return settings or BalancerSettings()
    if not isinstance(settings, Mapping):
        raise TypeError(
            f"settings: got {type(settings).__name__}, expected BalancerSettings or a dict of "
            "its fields, e.g. {'check_interval': '500ms', 'fall': 2, 'retries': 3}."
        )
    known = set(BalancerSettings.__dataclass_fields__)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(
            f"settings: unknown field(s) {unknown}; BalancerSettings has {sorted(known)}."
        )
    return BalancerSettings(**settings)


def failover_drill(
    service_file: str | os.PathLike[str],
    locustfile: str | os.PathLike[str],
    *,
    settings: BalancerSettings | Mapping[str, Any] | None = None,
    replicas: int = 2,
    users: int = 4,
    run_time: int = 8,
    kill_at_s: float = 3.0,
    env: Mapping[str, str] | None = None,
    locust_env: Mapping[str, str] | None = None,
    user_classes: list[str] | None = None,
    image: str | None = None,
) -> FaultRun:
    """A failover drill: `replicas` copies of the BentoML service in `service_file` (started
    with `env`) behind HAProxy with `settings` (a `BalancerSettings` or a dict of its
    fields), `users` Locust users of `locustfile` (with `locust_env`) for `run_time` s, and
    the first replica killed (SIGKILL) `kill_at_s` s in. Everything is stopped before it
    returns the run: `run.summary()["failures"]` is what the clients saw. With `image`
    (`replica_image`), the replicas are containers of it. Module 05, lab 09.
    """
    chosen = _settings(settings)
    if isinstance(replicas, bool) or not isinstance(replicas, int) or not 2 <= replicas <= 8:
        raise ValueError(f"replicas: got {replicas!r}, expected 2..8 (one is killed).")
    workdir = scratch_dir("faults") / f"drill-{time.time_ns()}"
    with ReplicaSet(service_file, env=env, log_dir=workdir / "logs", image=image) as fleet:
        fleet.start(replicas)
        first = next(iter(fleet.ports))
        with start_balancer(fleet.ports, settings=chosen, workdir=workdir / "balancer") as lb:
            if not lb.wait_healthy(replicas):
                raise RuntimeError(
                    f"the balancer did not see {replicas} healthy replicas: {lb.servers()}; "
                    f"each replica's /readyz must answer 200 (logs in {workdir})."
                )
            return run_under_faults(
                lb,
                fleet,
                locustfile,
                [Fault(kill_at_s, "kill", first)],
                users=users,
                run_time=run_time,
                csv_prefix=workdir / "locust",
                user_classes=user_classes,
                env=locust_env,
            )


def _sample(balancer: Balancer, t_s: float) -> dict[str, Any]:
    try:
        states = balancer.servers()
    except OSError:  # the runtime API did not answer this time
        return {"t_s": t_s, "healthy": float("nan")}
    return {
        "t_s": t_s,
        "healthy": sum(state.healthy for state in states),
        **{state.name: state.status for state in states},
    }


def _timeline(
    result: LoadTestResult, start: float, health: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """One row per second of Locust's history, with the balancer's samples beside it."""
    history = result.history
    columns = ["second", "users", "rps", "p95_ms", "p99_ms", "failures", "healthy", "events"]
    if history.empty:
        return pd.DataFrame(columns=columns).set_index("second")
    rows = history[history["Name"] == "Aggregated"].sort_values("Timestamp")
    rows = rows[rows["User Count"] > 0]
    failures = rows["Total Failure Count"].diff().fillna(rows["Total Failure Count"])
    table = []
    previous = -float("inf")  # each row covers the time since the row before it
    for (_, row), failed in zip(rows.iterrows(), failures, strict=True):
        second = float(row["Timestamp"]) - start  # Locust stamps the end of each second
        window = health[(health["t_s"] > max(previous, second - 1)) & (health["t_s"] <= second)]
        these = events[(events["t_s"] > previous) & (events["t_s"] <= second)]
        previous = second
        table.append(
            {
                "second": round(second),
                "users": int(row["User Count"]),
                "rps": float(row["Requests/s"]),
                "p95_ms": float(row["95%"]) if pd.notna(row["95%"]) else float("nan"),
                "p99_ms": float(row["99%"]) if pd.notna(row["99%"]) else float("nan"),
                "failures": int(failed),
                "healthy": window["healthy"].min() if len(window) else float("nan"),
                "events": "; ".join(f"{e.action} {e.replica}".strip() for e in these.itertuples()),
            }
        )
    return pd.DataFrame(table, columns=columns).set_index("second")
