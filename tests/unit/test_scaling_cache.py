"""mlkit.scaling.cache against a real redis-server: keys, hits, TTL, versions, measurements.

Without `redis-server` these tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
from conftest import skip_or_fail

from mlkit import checkup
from mlkit._runtime.net import LOCALHOST, listener_pids, owns_port
from mlkit.errors import MlkitError
from mlkit.scaling import cache as cache_module
from mlkit.scaling.cache import (
    KEY_PREFIX,
    PredictionCache,
    RedisStartError,
    RedisUnavailableError,
    canonical_json,
    compare_caches,
    prediction_key,
    redis_server_problem,
    repeating_workload,
    staleness_trap,
    start_redis,
)

CUSTOMER = {
    "age": 40,
    "income": 52_000.5,
    "tenure_months": 12,
    "monthly_spend": 61.25,
    "support_calls": 2,
    "last_login_days": 3,
    "plan": "basic",
    "region": "north",
    "device": "mobile",
}


def customer(**changes: object) -> dict[str, object]:
    return {**CUSTOMER, **changes}


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """One redis-server for this module's tests (each test empties it first)."""
    problem = redis_server_problem()
    if problem is not None:
        skip_or_fail(f"needs Redis's server: {problem}; `apt-get install redis-server`")
    with start_redis(log_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def client(redis_server):
    with redis_server.client() as client:
        client.flushdb()
        yield client


def test_the_server_is_private_to_this_process_on_loopback(redis_server, client):
    assert redis_server.command[1].startswith("--")  # no config file from /etc
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert owns_port(redis_server.family_pids(), redis_server.port)
    settings = {
        name: client.config_get(name)[name]
        for name in ("bind", "protected-mode", "save", "appendonly", "maxmemory-policy")
    }
    assert settings == {
        "bind": LOCALHOST,
        "protected-mode": "yes",
        "save": "",
        "appendonly": "no",
        "maxmemory-policy": "allkeys-lru",
    }


def test_stop_ends_the_server_and_frees_its_port(tmp_path):
    if redis_server_problem() is not None:
        skip_or_fail("needs Redis's server: `apt-get install redis-server`")
    with start_redis(log_dir=tmp_path) as server:
        assert server.ping()
        pid = server.pid
    assert not server.is_running() and server.family() == []
    assert pid not in listener_pids(server.port)


def test_a_taken_port_means_a_start_on_another_port(redis_server, tmp_path, monkeypatch):
    with socket.socket() as holder:
        holder.bind((LOCALHOST, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(ValueError, match=f"port: {taken} is already in use"):
            start_redis(port=taken, log_dir=tmp_path)
        ports = iter([taken])
        real_free_port = cache_module.free_port
        monkeypatch.setattr(
            cache_module, "free_port", lambda: next(ports, None) or real_free_port()
        )
        with start_redis(log_dir=tmp_path) as server:
            assert server.port != taken and server.ping()
        assert "Address already in use" in (tmp_path / f"redis-{taken}.log").read_text()


def test_a_server_that_exits_at_start_is_an_error_with_its_log(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "redis-server"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\n[ "$1" = --version ] && echo "Redis server v=9.9.9" && exit 0\n'
        'echo "FATAL CONFIG FILE ERROR: no such option"; exit 1\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    with pytest.raises(RedisStartError, match="exited with code 1") as raised:
        start_redis(log_dir=tmp_path)
    assert "FATAL CONFIG FILE ERROR" in str(raised.value)
    assert isinstance(raised.value, MlkitError)


def test_keys_are_the_same_for_the_same_input_and_differ_for_another():
    key = prediction_key(CUSTOMER, "v1")
    prefix, version, digest = key.rsplit(":", 2)
    assert (prefix, version, len(digest)) == (KEY_PREFIX, "v1", 64)
    same = dict(reversed(list(CUSTOMER.items())))
    same.update(age=40.0, tenure_months=np.int64(12), monthly_spend=np.float64(61.25))
    assert prediction_key(same, "v1") == key
    assert prediction_key(customer(monthly_spend=61.26), "v1") != key
    assert prediction_key(CUSTOMER, "v2") != key
    assert prediction_key(CUSTOMER, None) == f"{KEY_PREFIX}:{digest}"
    assert canonical_json({"b": 0.1, "a": 2.0}) == '{"a":2,"b":0.1}'


@pytest.mark.parametrize(
    ("value", "version", "error", "message"),
    [
        (customer(age=float("nan")), "v1", ValueError, r"customer\['age'\]: got nan"),
        (customer(plan=["basic"]), "v1", TypeError, r"customer\['plan'\]: got list"),
        ([("age", 40)], "v1", TypeError, "customer: got list, expected a dict"),
        (CUSTOMER, "churn:v1", ValueError, "model_version: got 'churn:v1'"),
        (CUSTOMER, "v*", ValueError, "model_version: got 'v\\*'"),
    ],
)
def test_bad_inputs_and_versions_are_named(value, version, error, message):
    with pytest.raises(error, match=message):
        prediction_key(value, version)


def test_a_miss_then_a_hit_shared_by_every_replica(redis_server, client):
    replica_a = PredictionCache(client, "v1")
    assert replica_a.get(CUSTOMER) is None
    replica_a.put(CUSTOMER, 0.25)
    assert replica_a.get(CUSTOMER) == 0.25
    assert (replica_a.hits, replica_a.misses, replica_a.hit_rate) == (1, 1, 0.5)
    with redis_server.client() as other_connection:
        replica_b = PredictionCache(other_connection, "v1")
        assert replica_b.get(customer(age=40.0)) == 0.25
        assert replica_b.get(customer(age=41)) is None
        assert (replica_b.hits, replica_b.misses) == (1, 1)
    assert json.loads(client.get(replica_a.key(CUSTOMER))) == 0.25


def test_the_cache_fails_open_when_redis_is_down(tmp_path):
    if redis_server_problem() is not None:
        skip_or_fail("needs Redis's server: `apt-get install redis-server`")
    with start_redis(log_dir=tmp_path) as server, server.client() as client:
        cache = PredictionCache(client, "v1")
        cache.put(CUSTOMER, 0.25)
        assert cache.get(CUSTOMER) == 0.25
        server.stop()
        assert cache.get(CUSTOMER) is None  # a miss: the model answers instead
        cache.put(CUSTOMER, 0.25)
        assert (cache.hits, cache.misses, cache.errors) == (1, 1, 2)


def test_entries_carry_the_ttl_and_are_gone_after_it(client):
    cache = PredictionCache(client, "v1", ttl_s=60)
    cache.put(CUSTOMER, 0.5)
    assert 0 < client.pttl(cache.key(CUSTOMER)) <= 60_000
    brief = PredictionCache(client, "v1", ttl_s=0.05)
    brief.put(customer(age=50), 0.5)
    time.sleep(0.2)  # past the 50 ms TTL on the server's clock
    assert brief.get(customer(age=50)) is None and brief.misses == 1
    assert client.exists(brief.key(customer(age=50))) == 0
    assert brief.get(CUSTOMER) == 0.5  # the 60 s entry is still there


def test_a_new_model_version_never_reads_the_old_answers(client):
    old = PredictionCache(client, "v1", ttl_s=60)
    customers = [customer(age=age) for age in (30, 40, 50)]
    for one in customers:
        old.put(one, 0.1)
    new = PredictionCache(client, "v2", ttl_s=60)
    assert [new.get(one) for one in customers] == [None] * 3
    assert new.misses == 3 and new.hits == 0
    # Left alone, the old entries leave with their TTL; meanwhile v1 still reads them.
    assert all(0 < client.pttl(old.key(one)) <= 60_000 for one in customers)
    assert old.get(customers[0]) == 0.1


def test_invalidate_version_removes_that_version_only(client):
    old, new = PredictionCache(client, "v1"), PredictionCache(client, "v2")
    for age in range(18, 1_018):  # more keys than one SCAN batch
        old.put(customer(age=age), 0.1)
    new.put(CUSTOMER, 0.9)
    assert new.invalidate_version("v1") == 1_000
    assert old.get(customer(age=18)) is None
    assert client.dbsize() == 1 and new.get(CUSTOMER) == 0.9
    assert old.invalidate_version() == 0


def test_a_cache_without_the_version_in_its_keys_cannot_invalidate(client):
    cache = PredictionCache(client, "v1", version_in_key=False)
    with pytest.raises(ValueError, match="keys carry no model version"):
        cache.invalidate_version()


def test_bad_cache_arguments_are_named(client):
    with pytest.raises(TypeError, match="client: got str"):
        PredictionCache("redis://127.0.0.1", "v1")
    with pytest.raises(ValueError, match="ttl_s: got 0"):
        PredictionCache(client, "v1", ttl_s=0)
    with pytest.raises(ValueError, match=r"prefix: got 'bad\*'"):
        PredictionCache(client, "v1", prefix="bad*")
    cache = PredictionCache(client, "v1")
    with pytest.raises(ValueError, match="prediction: got None"):
        cache.put(CUSTOMER, None)
    with pytest.raises(TypeError, match="prediction: got"):
        cache.put(CUSTOMER, object())


def test_a_missing_redis_server_is_a_clear_error_and_a_doctor_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RedisUnavailableError, match="apt-get install redis-server") as raised:
        start_redis(log_dir=tmp_path)
    assert isinstance(raised.value, MlkitError)
    assert "`redis-server` is not on PATH" in str(raised.value)
    check = checkup.check_redis()
    assert not check.ok and not check.required
    assert check.line().startswith("WARN  redis-server")
    assert "apt-get install redis-server" in check.line()


def test_doctor_reports_an_installed_redis_server(redis_server):
    check = checkup.check_redis()
    assert check.ok and check.line().startswith("PASS  redis-server")
    assert check.detail.endswith("on PATH") and check.detail[0].isdigit()


def test_the_workload_repeats_popular_customers_and_is_seeded():
    requests = repeating_workload(500, 50, seed=3)
    assert requests == repeating_workload(500, 50, seed=3)
    counts = sorted(
        (
            sum(r == one for r in requests)
            for one in {canonical_json(r): r for r in requests}.values()
        ),
        reverse=True,
    )
    assert len(counts) <= 50 and sum(counts) == 500
    assert counts[0] > 500 / 50 * 3  # the most popular customer is far above a fair share
    assert set(requests[0]) == set(CUSTOMER)
    with pytest.raises(ValueError, match="n_customers: got 0"):
        repeating_workload(10, 0)


class CountingModel:
    """A stand-in model: a prediction from the customer's age, and a count of calls."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift
        self.calls = 0

    def __call__(self, one) -> float:
        self.calls += 1
        return one["age"] / 200 + self.shift


def distinct(requests) -> int:
    return len({canonical_json(one) for one in requests})


def test_compare_caches_counts_model_calls_per_setup(redis_server, client):
    requests = repeating_workload(300, 40, seed=1)
    model = CountingModel()
    table = compare_caches(model, requests, redis_server, replicas=2).set_index("setup")
    per_replica = distinct(requests[0::2]) + distinct(requests[1::2])
    assert table["model_calls"].to_dict() == {
        "no cache": 300,
        "in-process LRU per replica": per_replica,
        "Redis, shared": distinct(requests),
    }
    assert model.calls == 300 + per_replica + distinct(requests)
    assert table.loc["Redis, shared", "hit_rate"] == 1 - distinct(requests) / 300
    assert (table["p50_ms"] <= table["p95_ms"]).all() and (table["p95_ms"] <= table["p99_ms"]).all()
    assert client.dbsize() == 0  # the run cleans up after itself


def test_the_staleness_trap_serves_old_answers_unless_keys_carry_the_version(redis_server, client):
    requests = repeating_workload(200, 30, seed=2)
    table = staleness_trap(
        CountingModel(), CountingModel(shift=0.5), requests, redis_server, replicas=2
    ).set_index("setup")
    assert table["stale_answers"].to_dict() == {
        "in-process, no version": 200,
        "Redis, no version in key": 200,
        "Redis, version in key": 0,
    }
    assert table.loc["Redis, version in key", "hit_rate"] == 1 - distinct(requests) / 200
    assert table.loc["Redis, version in key", "v1_entries_removed"] == distinct(requests)
    assert client.dbsize() == 0


def test_churn_predictor_is_the_pipelines_probability():
    from mlkit.churn_model import train_reference_model
    from mlkit.scaling.cache import churn_predictor

    trained = train_reference_model(n_rows=1_000)
    one = trained.X_test.iloc[[0]]
    predict = churn_predictor(trained.model)
    assert predict(one.iloc[0].to_dict()) == trained.model.predict_proba(one)[0, 1]
    with pytest.raises(TypeError, match="model: got str"):
        churn_predictor("model.pkl")
