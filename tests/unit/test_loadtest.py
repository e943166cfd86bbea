"""mlkit.loadtest: Locust as a bounded subprocess against 127.0.0.1, and capacity from steps."""

from __future__ import annotations

import textwrap

import pandas as pd
import psutil
import pytest

from mlkit import loadtest
from mlkit.lessons.flaky_server import FlakyServer
from mlkit.loadtest import (
    SLO,
    LoadTestError,
    StepLoad,
    find_capacity,
    local_host,
    run_locust,
    runner,
    step_summary,
)

LOCUSTFILE = """
from locust import FastHttpUser, constant, task


class Client(FastHttpUser):
    wait_time = constant(0.01)

    @task
    def predict(self):
        self.client.post("/predict", json={"customer": {"age": 40}})
"""


@pytest.fixture
def locustfile(tmp_path):
    path = tmp_path / "locustfile.py"
    path.write_text(LOCUSTFILE)
    return path


def locust_children() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "locust" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE
    ]


@pytest.mark.parametrize(
    "host",
    [
        "http://10.0.0.5:3000",
        "http://192.168.1.10:3000",
        "https://example.com:443",
        "http://127.0.0.2:3000",
        "ftp://127.0.0.1:21",
        "127.0.0.1:3000",
    ],
)
def test_only_this_machine_may_be_loaded(host, locustfile):
    with pytest.raises(ValueError, match="host: got"):
        run_locust(locustfile, host, users=1, run_time=1)
    assert locust_children() == []


def test_local_hosts_are_normalised():
    assert local_host("http://localhost:3000/") == "http://127.0.0.1:3000"
    assert local_host("http://127.0.0.1:8080/api") == "http://127.0.0.1:8080/api"
    with pytest.raises(ValueError, match="explicit port"):
        local_host("http://127.0.0.1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"users": 0, "run_time": 1}, "users: got 0"),
        ({"users": loadtest.MAX_USERS + 1, "run_time": 1}, "users: got"),
        ({"users": 1, "run_time": 1.5}, "run_time: got 1.5"),
        ({"users": 1, "run_time": 1, "spawn_rate": 0}, "spawn_rate: got 0"),
        ({"users": 1, "run_time": 1, "user_classes": ["Client; rm"]}, "user_classes: got"),
        ({"users": 1, "shape": StepLoad((1, 2), 2)}, "expected all three None"),
    ],
)
def test_bad_arguments_are_named(kwargs, message, locustfile):
    with pytest.raises(ValueError, match=message):
        run_locust(locustfile, "http://127.0.0.1:3000", **kwargs)


def test_locustfile_must_be_a_local_python_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="locustfile: no file at"):
        run_locust("https://example.com/locustfile.py", "http://127.0.0.1:1", 1, run_time=1)
    other = tmp_path / "locustfile.txt"
    other.write_text(LOCUSTFILE)
    with pytest.raises(ValueError, match="ending in .py"):
        run_locust(other, "http://127.0.0.1:1", 1, run_time=1)


def test_step_load_ticks_and_round_trips():
    load = StepLoad((1, 4, 8), step_seconds=5, spawn_rate=10)
    assert load.duration == 15
    assert [load.tick(t) for t in (0, 4.9, 5, 14.9)] == [(1, 10), (1, 10), (4, 10), (8, 10)]
    assert load.tick(15) is None
    assert StepLoad.from_json(load.to_json()) == load
    with pytest.raises(ValueError, match="users: got"):
        StepLoad((), 5)
    with pytest.raises(ValueError, match="step_seconds: got 1"):
        StepLoad((1,), 1)


def test_a_run_reports_requests_failures_history_and_cpu(locustfile, tmp_path):
    with FlakyServer(failure_rate=0.3, seed=1) as server:
        result = run_locust(
            locustfile, server.url, users=2, run_time=2, csv_prefix=tmp_path / "run"
        )
        answered = server.requests
        failed = sum(status == 503 for _, status in server.log)
    summary = result.summary()
    assert 0 < summary["failures"] == failed
    assert summary["error_rate"] == summary["failures"] / summary["requests"]
    assert "503" in result.failures.loc[0, "error"]
    assert result.failures["occurrences"].sum() == summary["failures"]
    assert list(result.stats.index) == ["/predict", "Aggregated"]
    assert result.stats.loc["/predict", "Type"] == "POST"
    assert result.history["elapsed_s"].iloc[0] == 0
    # Locust writes the history once a second, and no row when it stops: on a busy machine a
    # 2 s run may send its first request after the last tick, so /predict rows may be absent.
    assert {"Aggregated"} <= set(result.history["Name"]) <= {"/predict", "Aggregated"}
    assert result.entries[0]["name"] == "/predict"
    assert sum(result.entries[0]["num_reqs_per_sec"].values()) == summary["requests"]
    assert summary["requests"] == answered  # every request answered is counted
    assert result.cpu_seconds["locust"] > 0 and "machine" in result.cpu.columns
    assert (tmp_path / "run_stats.csv").exists() and (tmp_path / "run.json").exists()
    assert locust_children() == []


def test_the_request_cap_stops_the_run(locustfile, tmp_path):
    with FlakyServer() as server:
        result = run_locust(
            locustfile, server.url, users=2, run_time=60, max_requests=40, csv_prefix=tmp_path / "r"
        )
    assert result.stopped_at_request_cap
    # Locust stops its users in a greenlet of its own: until it runs, each of the 2 users may
    # finish the request it had in flight and one more (a 60 s run uncapped makes thousands).
    assert result.summary()["requests"] <= 40 + 2 * 2


def test_a_broken_locustfile_raises_with_its_error(tmp_path):
    broken = tmp_path / "locustfile.py"
    broken.write_text("from locust import HttpUser\nclass Client(HttpUser)\n")
    with pytest.raises(LoadTestError, match="SyntaxError") as caught:
        run_locust(broken, "http://127.0.0.1:9", users=1, run_time=1, csv_prefix=tmp_path / "r")
    assert caught.value.exit_code not in (0, None)


def test_a_locust_that_outlives_its_budget_is_killed(tmp_path, monkeypatch):
    stuck = tmp_path / "locustfile.py"
    stuck.write_text(
        textwrap.dedent(
            """
            import time

            from locust import HttpUser, task

            time.sleep(120)


            class Client(HttpUser):
                @task
                def nothing(self):
                    pass
            """
        )
    )
    monkeypatch.setattr(runner, "_STARTUP_BUDGET_S", 2.0)
    prefix = tmp_path / "run"
    with pytest.raises(LoadTestError, match="still running") as caught:
        run_locust(stuck, "http://127.0.0.1:9", 1, run_time=1, stop_timeout=0, csv_prefix=prefix)
    assert caught.value.exit_code is None
    assert locust_children() == []


def test_a_stepped_run_follows_its_steps(locustfile, tmp_path):
    with FlakyServer() as server:
        shape = StepLoad((1, 3), step_seconds=4)
        result = run_locust(locustfile, server.url, shape=shape, csv_prefix=tmp_path / "s")
    counts = result.history.loc[result.history["Name"] == "Aggregated", "User Count"]
    assert {1, 3} <= set(counts)
    assert list(step_summary(result.history, settle_s=1)["users"]) == [1, 3]


def history(rows: list[tuple[int, int, int, int, float]]) -> pd.DataFrame:
    """Aggregated history rows: (elapsed_s, users, total requests, total failures, p95)."""
    columns = ["elapsed_s", "User Count", "Total Request Count", "Total Failure Count", "95%"]
    frame = pd.DataFrame(rows, columns=columns)
    for p in (50, 66, 75, 80, 90, 98, 99):
        frame[f"{p}%"] = frame["95%"]
    return frame.assign(Name="Aggregated")


def test_step_summary_leaves_out_each_steps_first_seconds():
    rows = [(0, 2, 0, 0, 999.0), (1, 2, 100, 0, 999.0), (2, 2, 200, 0, 10.0), (3, 2, 300, 0, 12.0)]
    rows += [(4, 4, 400, 0, 999.0), (5, 4, 600, 0, 999.0), (6, 4, 800, 1, 30.0)]
    rows += [(7, 4, 1000, 3, 30.0)]
    steps = step_summary(history(rows), settle_s=2)
    assert list(steps["users"]) == [2, 4]
    assert list(steps["rps"]) == [100.0, 200.0]
    assert list(steps["p95_ms"]) == [11.0, 30.0]
    assert steps["error_rate"].tolist() == [0.0, 2 / 200]
    with pytest.raises(ValueError, match="history: expected the `history`"):
        step_summary(pd.DataFrame({"x": [1]}))


def steps_table(p95: list[float], rps: list[float], errors: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"users": [1, 2, 4, 8][: len(p95)], "rps": rps, "p95_ms": p95, "error_rate": errors}
    )


def test_capacity_is_the_best_step_before_the_first_violation():
    steps = steps_table([10, 20, 80, 30], [100, 190, 250, 260], [0, 0, 0, 0])
    capacity = find_capacity(steps, SLO(latency_ms=50))
    assert (capacity.users, capacity.rps, capacity.latency_ms) == (2, 190, 20)
    assert capacity.steps["meets_slo"].tolist() == [True, True, False, True]
    assert "190 requests/s with 2 users" in str(capacity)


def test_errors_break_the_slo_and_no_good_step_means_zero():
    steps = steps_table([10, 20, 30], [100, 190, 250], [0, 0, 0.01])
    assert find_capacity(steps, SLO(latency_ms=50)).users == 2
    assert find_capacity(steps, SLO(latency_ms=50, max_error_rate=0.02)).users == 4
    none = find_capacity(steps, SLO(latency_ms=5))
    assert (none.users, none.rps) == (0, 0.0) and "no step met" in str(none)
    with pytest.raises(ValueError, match="percentile: got 97"):
        SLO(percentile=97)


def entry(name: str, times: dict[str, int], failures: int, start: float, last: float) -> dict:
    """One endpoint of Locust's JSON report."""
    count = sum(times.values())
    return {
        "name": name,
        "method": "POST",
        "start_time": start,
        "last_request_timestamp": last,
        "num_requests": count,
        "num_none_requests": 0,
        "num_failures": failures,
        "total_response_time": float(sum(int(k) * v for k, v in times.items())),
        "max_response_time": float(max(int(k) for k in times)),
        "min_response_time": float(min(int(k) for k in times)),
        "total_content_length": 20 * count,
        "response_times": times,
    }


def test_stats_table_merges_endpoints_into_the_aggregated_row():
    one = entry("/predict", {"2": 90, "3": 8, "40": 2}, failures=1, start=100.0, last=110.0)
    page = entry("/predict_batch", {"10": 10}, failures=0, start=101.0, last=109.0)
    table = loadtest.stats_table([one, page])
    assert list(table.index) == ["/predict", "/predict_batch", "Aggregated"]
    assert table.loc["/predict", "50%"] == 2 and table.loc["/predict", "99%"] == 40
    assert table.loc["/predict", "Requests/s"] == 10.0
    total = table.loc["Aggregated"]
    assert (total["Request Count"], total["Failure Count"]) == (110, 1)
    assert total["Requests/s"] == 11.0  # 110 requests from t=100 to t=110
    assert total["Max Response Time"] == 40 and total["95%"] == 10
    assert loadtest.stats_table([]).loc["Aggregated", "Request Count"] == 0


def test_latency_histogram_sums_endpoints_by_millisecond():
    one = entry("/predict", {"2": 90, "41": 8, "40": 2}, failures=0, start=100.0, last=110.0)
    page = entry("/predict_batch", {"40": 5, "3": 1}, failures=0, start=101.0, last=109.0)
    histogram = loadtest.latency_histogram([one, page])
    assert histogram.to_dict() == {2: 90, 3: 1, 40: 7, 41: 8}
    assert list(histogram.index) == [2, 3, 40, 41] and histogram.index.name == "ms"
    assert loadtest.latency_histogram([]).empty
