"""Loaded into the Locust process by `mlkit.loadtest.run_locust`, next to your locustfile.

Locust imports every file given to `-f`; this one adds six things, each switched on by
an environment variable that `run_locust` sets (module 04):

- the stepped load shape `MlkitStepLoad`, active only when a `StepLoad` was passed;
- a request cap: the run stops after `max_requests` requests;
- a stop file: the run stops early once the file `run_locust(stop_file=...)` names exists;
- a short window for Locust's "current" percentiles (a documented Locust stats setting),
  so that each second of the history describes the last 2 s rather than the last 10 s,
  and each step of a stepped run can be read on its own;
- a marker file written when the test starts, so CPU is measured from then on;
- the failures by kind, written when Locust exits (its `_failures.csv` is rewritten once a
  second and can miss the last one).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import gevent
import locust.stats
from locust import LoadTestShape, events
from locust.env import Environment

from mlkit.loadtest.scenario import (
    ERRORS_ENV,
    MAX_REQUESTS_ENV,
    STARTED_ENV,
    STEPS_ENV,
    STOP_ENV,
    WINDOW_ENV,
    StepLoad,
)

_STOP_POLL_S = 0.2

if WINDOW_ENV in os.environ:
    locust.stats.CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW = int(os.environ[WINDOW_ENV])


class MlkitStepLoad(LoadTestShape):
    """The `StepLoad` given to `run_locust(shape=...)`: a number of users per step."""

    abstract = STEPS_ENV not in os.environ  # Locust only runs shapes that are not abstract

    def __init__(self) -> None:
        super().__init__()
        self.load = StepLoad.from_json(os.environ[STEPS_ENV])

    def tick(self) -> tuple[int, float] | None:
        return self.load.tick(self.get_run_time())


@events.init.add_listener
def _stop_after_max_requests(environment: Environment, **_: object) -> None:
    cap = int(os.environ.get(MAX_REQUESTS_ENV, "0"))
    if cap <= 0:
        return
    count = 0

    def count_request(**_: object) -> None:
        nonlocal count
        count += 1
        if count == cap:
            logging.warning("mlkit: %d requests sent (max_requests), stopping the run", cap)
            if environment.runner is not None:
                gevent.spawn(environment.runner.quit)

    environment.events.request.add_listener(count_request)


@events.init.add_listener
def _stop_when_file_exists(environment: Environment, **_: object) -> None:
    path = os.environ.get(STOP_ENV)
    if not path:
        return

    def watch() -> None:
        while not Path(path).exists():
            gevent.sleep(_STOP_POLL_S)
        logging.warning("mlkit: %s exists, stopping the run", path)
        if environment.runner is not None:
            environment.runner.quit()

    gevent.spawn(watch)


@events.test_start.add_listener
def _mark_start(**_: object) -> None:
    if STARTED_ENV in os.environ:
        Path(os.environ[STARTED_ENV]).touch()


@events.quitting.add_listener
def _write_failures(environment: Environment, **_: object) -> None:
    if ERRORS_ENV in os.environ:
        errors = list(environment.stats.serialize_errors().values())
        Path(os.environ[ERRORS_ENV]).write_text(json.dumps(errors))
