"""A prediction cache shared by every replica: Redis in front of the model (module 05).

An in-process cache (`mlkit.reliability.LRUCache`) lives inside one replica: with two
replicas behind a balancer each warms up on its own, and after a model update each keeps
its old answers until it is told. A shared cache is one Redis server that every replica
asks before it calls the model:

- `start_redis()` runs Debian's `redis-server` on 127.0.0.1 (a free port, no config file
  from /etc, nothing saved to disk, protected mode on, at most `maxmemory_mb` with LRU
  eviction) and returns a `RedisServer` with `.url`, `.port` and `.client()`; it is
  stopped at the end of a `with` block, by `.stop()`, or at interpreter exit;
- `PredictionCache(client, model_version)` stores one prediction per input under
  `prefix:model_version:sha256(canonical JSON of the input)` for `ttl_s` seconds and
  counts hits and misses. The version in the key is the invalidation: a replica that
  serves a new model reads and writes only the new version's keys, so it never serves
  an old answer; the old version's entries are never read again and leave when their
  TTL runs out, or at once with `invalidate_version(old)` (SCAN + UNLINK of its keys).
  It fails open: with Redis down, a lookup is a miss (counted in `errors`) and the model
  answers;
- `repeating_workload`, `compare_caches` and `staleness_trap` measure it: hit rate and
  latency with no cache, in-process caches and Redis, and how many stale answers each
  setup serves after a model update.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from mlkit import data
from mlkit._runtime.net import LOCALHOST, free_port, is_listening, owns_port
from mlkit._runtime.process import LoggedProcess, find_command
from mlkit.errors import MlkitError, ServerStartError
from mlkit.reliability import LRUCache, customer_key
from mlkit.settings import scratch_dir

__all__ = [
    "KEY_PREFIX",
    "REDIS_PACKAGE",
    "InProcessCache",
    "PredictionCache",
    "RedisServer",
    "RedisStartError",
    "RedisUnavailableError",
    "canonical_json",
    "churn_predictor",
    "compare_caches",
    "prediction_key",
    "probe_redis_server",
    "redis_server_problem",
    "repeating_workload",
    "start_redis",
    "staleness_trap",
]

REDIS_EXECUTABLE = "redis-server"
REDIS_PACKAGE = "redis-server"  # Debian's package that installs it
INSTALL_HINT = f"install Debian's package: `apt-get install {REDIS_PACKAGE}` (as root or with sudo)"
KEY_PREFIX = "mlkit:prediction"
# Versions and prefixes go into keys and into SCAN patterns: no glob characters, and a
# version without ':' so that one version's pattern cannot match another's keys.
_VERSION = re.compile(r"[A-Za-z0-9._+-]{1,128}")
_PREFIX = re.compile(r"[A-Za-z0-9._+:-]{1,128}")
_PORT_TAKEN = re.compile(r"address already in use", re.IGNORECASE)
_START_ATTEMPTS = 3
_SCAN_BATCH = 500


class RedisUnavailableError(MlkitError, RuntimeError):
    """`redis-server` is not installed here; the message says how to install it."""


class RedisStartError(ServerStartError):
    """A `redis-server` started by `start_redis` did not answer PING on its own port.

    Attributes: `reason` (one line), `log_path` and `log_tail`.
    """


def probe_redis_server() -> tuple[str | None, str]:
    """(why `redis-server` cannot run here or None, the version it reports or '')."""
    executable = find_command(REDIS_EXECUTABLE)
    if executable is None:
        return f"`{REDIS_EXECUTABLE}` is not on PATH", ""
    try:
        result = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`{executable} --version` failed: {error}", ""
    if result.returncode != 0:
        return f"`{executable} --version` exited with code {result.returncode}", ""
    found = re.search(r"v=(\S+)", result.stdout)
    return None, found.group(1) if found else ""


def redis_server_problem() -> str | None:
    """Why no `redis-server` can be run here, or None when `redis-server --version` works."""
    return probe_redis_server()[0]


def _require_redis_server() -> str:
    problem = redis_server_problem()
    if problem is not None:
        raise RedisUnavailableError(
            f"the shared cache needs a Redis server, but {problem}. To run it, "
            f"{INSTALL_HINT}, then check with `mlkit doctor`."
        )
    return str(find_command(REDIS_EXECUTABLE))


class RedisServer(LoggedProcess):
    """A `redis-server` started by `start_redis` on 127.0.0.1 (module 05).

    Stop it with `.stop()` or use it in a `with` block; `.client()` connects to it.
    """

    def __init__(self, command: list[str], log_path: Path, *, port: int) -> None:
        self.port = port
        super().__init__(command, log_path, cwd=log_path.parent)

    @property
    def url(self) -> str:
        """The server's address for Redis clients, e.g. redis://127.0.0.1:12345/0."""
        return f"redis://{LOCALHOST}:{self.port}/0"

    def client(self, *, timeout: float = 1.0, retries: int = 1) -> redis.Redis:
        """A new Redis client (its own connection pool) for this server; close it when done.

        A call waits at most `timeout` seconds and is retried `retries` times at once after
        a connection error: a cache must answer fast or not at all (redis-py's default,
        10 retries with backoff, spends seconds on a server that is down).
        """
        if not (isinstance(timeout, int | float) and timeout > 0):
            raise ValueError(f"timeout: got {timeout!r}, expected a number of seconds > 0.")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries: got {retries!r}, expected a whole number >= 0.")
        return redis.Redis(
            host=LOCALHOST,
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), retries),
        )

    def ping(self, timeout: float = 0.5) -> bool:
        """True when the server answers PING within `timeout` seconds (one try, no retries)."""
        with self.client(timeout=timeout, retries=0) as once:
            try:
                return bool(once.ping())
            except redis.RedisError:
                return False

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<RedisServer {self.url} ({state}), log: {self.log_path}>"


def start_redis(
    *,
    port: int | None = None,
    maxmemory_mb: int = 64,
    timeout: float = 30.0,
    log_dir: str | os.PathLike[str] | None = None,
) -> RedisServer:
    """Start `redis-server` on 127.0.0.1 and wait until it answers PING on its own port.

    No config file is read; nothing is saved to disk (`--save ''`, `--appendonly no`);
    protected mode stays on; memory is capped at `maxmemory_mb` MB with least recently
    used keys evicted first, as a cache should. `port` defaults to a free one (when
    another program takes it first, the server starts again on another); the log goes to
    `log_dir` (default `<scratch>/services`). Raises `RedisUnavailableError` when
    `redis-server` is not installed and `RedisStartError` when it does not start.
    Introduced in module 05.
    """
    executable = _require_redis_server()
    if port is not None and not (isinstance(port, int) and 0 < port < 65536):
        raise ValueError(f"port: got {port!r}, expected an int in 1..65535 or None (free port).")
    if port is not None and is_listening(port):
        raise ValueError(f"port: {port} is already in use on {LOCALHOST}; pass port=None.")
    if isinstance(maxmemory_mb, bool) or not isinstance(maxmemory_mb, int) or maxmemory_mb < 1:
        raise ValueError(f"maxmemory_mb: got {maxmemory_mb!r}, expected a whole number >= 1.")
    if not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(f"timeout: got {timeout!r}, expected a number of seconds > 0.")
    folder = Path(log_dir) if log_dir is not None else scratch_dir("services")
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, _START_ATTEMPTS + 1):
        chosen = port if port is not None else free_port()
        command = [executable, "--bind", LOCALHOST, "--port", str(chosen)]
        command += ["--protected-mode", "yes", "--save", "", "--appendonly", "no"]
        command += ["--maxmemory", f"{maxmemory_mb}mb", "--maxmemory-policy", "allkeys-lru"]
        command += ["--dir", str(folder), "--logfile", "", "--daemonize", "no"]
        server = RedisServer(command, folder / f"redis-{chosen}.log", port=chosen)
        answered = _wait_for_ping(server, timeout)
        owned = owns_port(server.family_pids(), chosen)
        if answered and owned and server.is_running():
            return server
        taken = not owned or bool(_PORT_TAKEN.search(server.log_tail(50)))
        exit_code = server.returncode
        server.stop(grace=2.0)
        if port is None and taken and attempt < _START_ATTEMPTS:
            continue
        if answered and not owned:
            reason = f"another program answers on port {chosen}"
        elif exit_code is not None:
            reason = f"redis-server exited with code {exit_code}"
        else:
            reason = f"no answer to PING within {timeout:.0f} s"
        raise RedisStartError(
            "redis-server",
            reason,
            server.log_tail(25),
            server.log_path,
            "Read the log above; if the port was taken, call start_redis() again without port=.",
        )
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _wait_for_ping(server: RedisServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.is_running():
        if server.ping():
            return True
        time.sleep(0.05)
    return False


def _plain(name: str, value: Any) -> Any:
    """One input value in a single spelling: numpy scalars as Python ones, 40.0 as 40."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"customer[{name!r}]: got {value!r}, expected a finite number "
                "(NaN and infinity have no canonical JSON)."
            )
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    raise TypeError(
        f"customer[{name!r}]: got {type(value).__name__}, expected a number, a string, "
        "a boolean or None."
    )


def canonical_json(customer: Mapping[str, Any]) -> str:
    """The input as one JSON text per meaning: keys sorted, no spaces, numpy scalars as
    Python numbers, a whole float as an int (40.0 is 40, as in the contract), other floats
    in Python's shortest round-trip spelling (0.1, not 0.1000000000000000055). Equal
    inputs give equal texts; any changed value gives another text."""
    if not isinstance(customer, Mapping):
        raise TypeError(
            f"customer: got {type(customer).__name__}, expected a dict of feature values."
        )
    names = [name for name in customer if not isinstance(name, str)]
    if names:
        raise TypeError(f"customer: feature names must be strings, got {names[:3]!r}.")
    plain = {name: _plain(name, value) for name, value in customer.items()}
    return json.dumps(plain, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _check_version(model_version: str) -> None:
    if not (isinstance(model_version, str) and _VERSION.fullmatch(model_version)):
        raise ValueError(
            f"model_version: got {model_version!r}, expected 1 to 128 letters, digits or "
            "'._+-' (no ':' and no '*?[]'), e.g. a BentoML tag's version `str(tag.version)`."
        )


def prediction_key(
    customer: Mapping[str, Any], model_version: str | None, prefix: str = KEY_PREFIX
) -> str:
    """`prefix:model_version:sha256-hex of canonical_json(customer)` (without the version
    part when `model_version` is None: the key of the staleness trap)."""
    if not (isinstance(prefix, str) and _PREFIX.fullmatch(prefix)):
        raise ValueError(
            f"prefix: got {prefix!r}, expected 1 to 128 letters, digits or '._+:-' "
            f"(no '*?[]'), e.g. {KEY_PREFIX!r}."
        )
    digest = hashlib.sha256(canonical_json(customer).encode()).hexdigest()
    if model_version is None:
        return f"{prefix}:{digest}"
    _check_version(model_version)
    return f"{prefix}:{model_version}:{digest}"


class PredictionCache:
    """Predictions in Redis, shared by every replica whose client talks to the same server.

    `get(customer)` returns the stored prediction (a hit) or None (a miss); `put` stores a
    JSON-serialisable prediction for `ttl_s` seconds. The cache fails open: when Redis is
    down or slower than the client's timeout, `get` is a miss and `put` does nothing, so
    the model still answers; `errors` counts those calls. Keys carry `model_version`, so a
    replica with a new model never reads the old model's answers (see the module
    docstring); `version_in_key=False` leaves the version out, which is the staleness trap
    that `staleness_trap` shows, and is there for that lesson only. `hits`, `misses`, `errors`
    and `hit_rate` count this object's calls. Introduced in module 05.
    """

    def __init__(
        self,
        client: redis.Redis,
        model_version: str,
        *,
        ttl_s: float = 300.0,
        prefix: str = KEY_PREFIX,
        version_in_key: bool = True,
    ) -> None:
        if not isinstance(client, redis.Redis):
            raise TypeError(
                f"client: got {type(client).__name__}, expected a redis.Redis client "
                "(RedisServer.client())."
            )
        _check_version(model_version)
        if isinstance(ttl_s, bool) or not (isinstance(ttl_s, int | float) and ttl_s >= 0.001):
            raise ValueError(f"ttl_s: got {ttl_s!r}, expected seconds >= 0.001.")
        prediction_key({}, None, prefix)  # checks the prefix
        self.client = client
        self.model_version = model_version
        self.ttl_s = float(ttl_s)
        self.prefix = prefix
        self.version_in_key = bool(version_in_key)
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self._lock = threading.Lock()

    def key(self, customer: Mapping[str, Any]) -> str:
        """The Redis key of this customer's prediction under this cache's model version."""
        version = self.model_version if self.version_in_key else None
        return prediction_key(customer, version, self.prefix)

    def get(self, customer: Mapping[str, Any]) -> Any:
        """The stored prediction for `customer`, or None (counted as a hit or a miss; a
        Redis error is a miss and is counted in `errors` too)."""
        key = self.key(customer)
        try:
            raw = self.client.get(key)
        except redis.RedisError:
            raw = None
            with self._lock:
                self.errors += 1
        with self._lock:
            if raw is None:
                self.misses += 1
                return None
            self.hits += 1
        return json.loads(raw)

    def put(self, customer: Mapping[str, Any], prediction: Any) -> None:
        """Store `prediction` (JSON-serialisable, not None) for `ttl_s` seconds (a Redis
        error is counted in `errors`, not raised)."""
        if prediction is None:
            raise ValueError("prediction: got None, which get() returns for a miss; store a value.")
        try:
            text = json.dumps(prediction, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"prediction: got {prediction!r}, expected a JSON value such as a float "
                f"(convert numpy arrays with .tolist()): {error}"
            ) from error
        try:
            self.client.set(self.key(customer), text, px=max(1, round(self.ttl_s * 1000)))
        except redis.RedisError:
            with self._lock:
                self.errors += 1

    def invalidate_version(self, model_version: str | None = None) -> int:
        """Delete every entry of `model_version` (default: this cache's) now, with SCAN and
        UNLINK (no KEYS, which blocks the server); return how many were deleted.

        Not needed for correctness (a new version never reads old keys) but it frees the
        memory before the TTL does."""
        if not self.version_in_key:
            raise ValueError(
                "invalidate_version: this cache's keys carry no model version "
                "(version_in_key=False), so one version's entries cannot be told apart; "
                "that is the staleness trap. Use version_in_key=True."
            )
        version = self.model_version if model_version is None else model_version
        _check_version(version)
        return _unlink_matching(self.client, f"{self.prefix}:{version}:*")

    @property
    def hit_rate(self) -> float:
        """The share of `get` calls that found a prediction (0.0 before any call)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def __repr__(self) -> str:
        version = self.model_version if self.version_in_key else "(not in key)"
        counts = f"hits {self.hits}, misses {self.misses}, errors {self.errors}"
        return f"<PredictionCache version {version}, ttl {self.ttl_s:g} s, {counts}>"


def _unlink_matching(client: redis.Redis, pattern: str) -> int:
    """UNLINK every key that matches `pattern`, found with SCAN in batches; return how many."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=_SCAN_BATCH):
        batch.append(key)
        if len(batch) >= _SCAN_BATCH:
            deleted += int(client.unlink(*batch))
            batch.clear()
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted


class InProcessCache:
    """One replica's own cache, with `PredictionCache`'s get/put: an `LRUCache` keyed by
    `customer_key(customer)`, which knows nothing of model versions (module 05)."""

    def __init__(self, maxsize: int = 1_024) -> None:
        self.lru = LRUCache(maxsize)

    def get(self, customer: Mapping[str, Any]) -> Any:
        """The stored prediction for `customer`, or None."""
        return self.lru.get(customer_key(customer))

    def put(self, customer: Mapping[str, Any], prediction: Any) -> None:
        """Store `prediction` for `customer` (the least recently used entry goes when full)."""
        self.lru.put(customer_key(customer), prediction)


class Cache(Protocol):
    """What the measurements need of a cache: get (None on a miss) and put, by customer."""

    def get(self, customer: Mapping[str, Any]) -> Any: ...

    def put(self, customer: Mapping[str, Any], prediction: Any) -> None: ...


Predict = Callable[[Mapping[str, Any]], Any]


def churn_predictor(model: Any) -> Predict:
    """`predict(customer)`: a fitted churn pipeline's P(churn) for one customer, as a float."""
    if not hasattr(model, "predict_proba"):
        raise TypeError(
            f"model: got {type(model).__name__}, expected a fitted pipeline with "
            "predict_proba() (churn_model.train_reference_model().model)."
        )

    def predict(customer: Mapping[str, Any]) -> float:
        return float(model.predict_proba(pd.DataFrame([customer], columns=data.FEATURES))[0, 1])

    return predict


def repeating_workload(
    n_requests: int = 2_000, n_customers: int = 200, *, skew: float = 1.1, seed: int = 0
) -> list[dict[str, Any]]:
    """`n_requests` customers drawn with repeats from `n_customers` distinct ones
    (`mlkit.data.make_dataset(n_customers, seed)`): the customer of popularity rank r is
    drawn with probability proportional to 1 / r**skew (Zipf-like), as in module 05."""
    for name, value in (("n_requests", n_requests), ("n_customers", n_customers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: got {value!r}, expected a whole number >= 1.")
    if isinstance(skew, bool) or not (isinstance(skew, int | float) and skew >= 0):
        raise ValueError(f"skew: got {skew!r}, expected a number >= 0 (0: all equally popular).")
    customers = data.make_dataset(n_rows=n_customers, seed=seed)[data.FEATURES]
    records = customers.astype(object).to_dict("records")
    popularity = 1.0 / np.arange(1, n_customers + 1) ** skew
    picks = np.random.default_rng(seed).choice(
        n_customers, size=n_requests, p=popularity / popularity.sum()
    )
    return [{str(k): v for k, v in records[i].items()} for i in picks]


def _serve(
    caches: Sequence[Cache | None],
    predict: Predict,
    requests: Sequence[Mapping[str, Any]],
    check: Predict | None = None,
) -> dict[str, Any]:
    """Send request i to replica i % len(caches); each looks in its cache, calls `predict`
    on a miss and stores the answer. Returns per-request latencies (ms), model calls and,
    with `check`, how many answers differed from `check(customer)` (stale answers)."""
    latencies: list[float] = []
    model_calls = stale = 0
    truth: dict[str, Any] = {}  # check(customer) once per distinct customer
    for i, customer in enumerate(requests):
        cache = caches[i % len(caches)]
        started = time.perf_counter()
        answer = None if cache is None else cache.get(customer)
        if answer is None:
            answer = predict(customer)
            model_calls += 1
            if cache is not None:
                cache.put(customer, answer)
        latencies.append((time.perf_counter() - started) * 1_000)
        if check is not None:
            text = canonical_json(customer)
            if text not in truth:
                truth[text] = check(customer)
            stale += answer != truth[text]
    return {"latencies_ms": latencies, "model_calls": model_calls, "stale": stale}


def _check_replicas(replicas: int) -> None:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas: got {replicas!r}, expected a whole number >= 1.")


def _check_requests(requests: Sequence[Mapping[str, Any]]) -> None:
    if isinstance(requests, Mapping | str) or not isinstance(requests, Sequence) or not requests:
        raise ValueError(
            "requests: expected a non-empty list of customer dicts "
            f"(repeating_workload()), got {type(requests).__name__}."
        )


def compare_caches(
    predict: Predict,
    requests: Sequence[Mapping[str, Any]],
    server: RedisServer,
    *,
    replicas: int = 2,
    lru_size: int = 1_024,
    ttl_s: float = 300.0,
    model_version: str = "v1",
) -> pd.DataFrame:
    """Serve `requests` round-robin over `replicas` replicas three ways, each from cold:
    no cache, an in-process LRU cache per replica, and one Redis cache they all share.

    One row per setup: hit rate, model calls, and latency per request in ms (p50, p95,
    p99, mean; lookup + model call on a miss + store, in this process). Introduced in
    module 05.
    """
    _check_replicas(replicas)
    _check_requests(requests)
    clients = [server.client() for _ in range(replicas)]
    try:
        shared = [PredictionCache(c, model_version, ttl_s=ttl_s) for c in clients]
        shared[0].invalidate_version()  # start cold
        setups: dict[str, Sequence[Cache | None]] = {
            "no cache": [None] * replicas,
            "in-process LRU per replica": [InProcessCache(lru_size) for _ in range(replicas)],
            "Redis, shared": shared,
        }
        rows = []
        for name, caches in setups.items():
            run = _serve(caches, predict, requests)
            ms = np.asarray(run["latencies_ms"])
            rows.append(
                {
                    "setup": name,
                    "replicas": replicas,
                    "requests": len(requests),
                    "model_calls": run["model_calls"],
                    "hit_rate": 1 - run["model_calls"] / len(requests),
                    "p50_ms": float(np.percentile(ms, 50)),
                    "p95_ms": float(np.percentile(ms, 95)),
                    "p99_ms": float(np.percentile(ms, 99)),
                    "mean_ms": float(ms.mean()),
                }
            )
        shared[0].invalidate_version()
    finally:
        for client in clients:
            client.close()
    return pd.DataFrame(rows)


def staleness_trap(
    old_predict: Predict,
    new_predict: Predict,
    requests: Sequence[Mapping[str, Any]],
    server: RedisServer,
    *,
    replicas: int = 2,
    ttl_s: float = 300.0,
) -> pd.DataFrame:
    """Serve `requests` with model v1, update every replica to model v2, serve them again,
    and count the answers that are not what v2 says (stale: v1's answers from a cache).

    Three setups: an in-process cache per replica and a shared Redis cache whose keys
    leave the version out both serve v1's answers until the TTL runs out or someone
    empties the cache; a Redis cache keyed by version serves none (v2 misses, then fills)
    and `invalidate_version("v1")` removes v1's entries. One row per setup: requests after
    the update, stale answers, hit rate after the update, v1 entries removed. Introduced
    in module 05.
    """
    _check_replicas(replicas)
    _check_requests(requests)
    prefix = f"{KEY_PREFIX}:trap"
    clients = [server.client() for _ in range(replicas)]

    def redis_caches(version: str, with_version: bool) -> list[PredictionCache]:
        return [
            PredictionCache(c, version, ttl_s=ttl_s, prefix=prefix, version_in_key=with_version)
            for c in clients
        ]

    rows = []
    try:
        for name in ("in-process, no version", "Redis, no version in key", "Redis, version in key"):
            with_version = name == "Redis, version in key"
            _unlink_matching(clients[0], f"{prefix}:*")  # start cold
            before: Sequence[Cache] = (
                [InProcessCache() for _ in range(replicas)]
                if name.startswith("in-process")
                else redis_caches("v1", with_version)
            )
            _serve(before, old_predict, requests)
            # The update: every replica now runs v2. A replica whose keys carry the version
            # reads and writes v2's keys; the others keep their cache as it is.
            after = redis_caches("v2", True) if with_version else before
            run = _serve(after, new_predict, requests, check=new_predict)
            removed = redis_caches("v1", True)[0].invalidate_version() if with_version else 0
            rows.append(
                {
                    "setup": name,
                    "requests": len(requests),
                    "stale_answers": run["stale"],
                    "hit_rate": 1 - run["model_calls"] / len(requests),
                    "v1_entries_removed": removed,
                }
            )
        _unlink_matching(clients[0], f"{prefix}:*")
    finally:
        for client in clients:
            client.close()
    return pd.DataFrame(rows)
