"""Load tests with Locust, run from a notebook and read back as tables (module 04).

- `scenario`: what to run: a fixed load or a `StepLoad`, an `SLO`, a target on 127.0.0.1;
- `runner`: `run_locust`, Locust as a bounded subprocess with `addon` loaded beside the
  learner's locustfile;
- `report`: the statistics as pandas tables, `step_summary`, `find_capacity`,
  `latency_histogram`;
- `cpu`: the CPU the load generator and the server took while the test ran.
"""

from mlkit.loadtest.report import (
    Capacity,
    LoadTestResult,
    find_capacity,
    latency_histogram,
    stats_table,
    step_summary,
)
from mlkit.loadtest.runner import ADDON_FILE, LoadTestError, run_locust
from mlkit.loadtest.scenario import (
    LOCAL_HOSTS,
    MAX_REQUESTS,
    MAX_RUN_SECONDS,
    MAX_USERS,
    SLO,
    StepLoad,
    local_host,
)

__all__ = [
    "ADDON_FILE",
    "LOCAL_HOSTS",
    "MAX_REQUESTS",
    "MAX_RUN_SECONDS",
    "MAX_USERS",
    "SLO",
    "Capacity",
    "LoadTestError",
    "LoadTestResult",
    "StepLoad",
    "find_capacity",
    "latency_histogram",
    "local_host",
    "run_locust",
    "stats_table",
    "step_summary",
]
