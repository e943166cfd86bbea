"""Benchmark: replicas of the churn service behind HAProxy (module 05), on 127.0.0.1.

1. throughput: 1, 2 and 3 replicas behind the balancer under the same Locust load
   (`--users` users of `mlkit.scaling.write_locustfile`, 20 ms between requests, for
   `--seconds`), each after a warm-up run: requests/s, p50, p99 and failed requests.
   On a 2-core machine the replicas share the cores with HAProxy and Locust, so more
   replicas add fault tolerance sooner than throughput; the CPU columns say where the
   machine's time went;
2. failover: three replicas, one killed (SIGKILL) a third of the way into the run:
   failed requests, the worst second's p99 and the fewest healthy replicas;
3. rolling update: v1 to v2 across the replicas under the same load: failed requests and
   how long the rollout took;
4. containers, when a Docker engine answers: three replicas as containers of the replica
   service's image (`replica_image`, built once) behind HAProxy under the same load, and
   the failover run with one container killed (`docker kill --signal KILL`). Without an
   engine the table says why these rows are missing.

Run: .venv/bin/python bench/replicas.py [--users N] [--seconds T] [--quick]
(`bench/serving.py` runs it after its own table.) Targets: 0 failed requests in the
failover and rollout runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import pandas as pd

import mlkit
from mlkit import churn_model
from mlkit.containers import docker_problem
from mlkit.loadtest import run_locust
from mlkit.scaling import (
    Fault,
    FaultRun,
    Note,
    ReplicaService,
    ReplicaSet,
    Rollout,
    replica_image,
    rolling_update,
    run_under_faults,
    start_balancer,
    write_locustfile,
    write_replica_service,
)

REPLICAS = (1, 2, 3)
WARM_UP_S = 3


def kind_of(replicas: ReplicaSet) -> str:
    """How the table names one replica of this set."""
    return "container replica" if replicas.image else "replica"


def throughput_rows(
    replicas: ReplicaSet,
    locustfile: Path,
    users: int,
    seconds: int,
    folder: Path,
    counts: tuple[int, ...] = REPLICAS,
) -> list[dict]:
    """One row per replica count: the same load through a balancer in front of the first N."""
    names = list(replicas.ports)
    kind = kind_of(replicas)
    rows = []
    for count in counts:
        chosen = {name: replicas.ports[name] for name in names[:count]}
        with start_balancer(chosen, workdir=folder / f"balancer-{count}") as balancer:
            if not balancer.wait_healthy(count):
                raise RuntimeError(f"{count} replicas never all passed their checks")
            run_locust(locustfile, balancer.url, users, users, WARM_UP_S)
            watch = {"haproxy": balancer.process.pid}
            for name in chosen:
                pid = replicas.get(name).service.pid
                if pid is not None:
                    watch[name] = pid
            result = run_locust(
                locustfile,
                balancer.url,
                users,
                users,
                seconds,
                csv_prefix=folder / f"throughput-{count}",
                watch=watch,
            )
        summary = result.summary()
        rows.append(
            {
                "run": f"{count} {kind}{'s' * (count > 1)} behind HAProxy",
                "requests/s": summary["rps"],
                "p50 ms": summary["p50_ms"],
                "p99 ms": summary["p99_ms"],
                "failed": int(summary["failures"]),
                "CPU replicas": sum(result.cpu_share(name) for name in chosen),
                "CPU haproxy": result.cpu_share("haproxy"),
                "CPU locust": result.cpu_share("locust"),
            }
        )
        print(f"measured {rows[-1]['run']}", flush=True)
    return rows


def failover_row(
    replicas: ReplicaSet, locustfile: Path, users: int, seconds: int, folder: Path
) -> dict:
    """Three replicas, the first killed a third of the way in."""
    victim, count = next(iter(replicas.ports)), len(replicas.ports)
    with start_balancer(replicas.ports, workdir=folder / "balancer-failover") as balancer:
        balancer.wait_healthy(count)
        run = run_under_faults(
            balancer,
            replicas,
            locustfile,
            [Fault(seconds / 3, "kill", victim)],
            users=users,
            run_time=seconds,
            csv_prefix=folder / "failover",
        )
    print(run.timeline.to_string())
    return fault_run_row(f"failover: 1 of {count} {kind_of(replicas)}s killed", run)


def fault_run_row(name: str, run: FaultRun) -> dict:
    """One row of the table for a run under faults."""
    summary = run.summary()
    return {
        "run": name,
        "requests/s": run.result.summary()["rps"],
        "p99 ms": summary["p99_ms"],
        "worst second p99 ms": summary["worst_second_p99_ms"],
        "fewest healthy": summary["fewest_healthy"],
        "failed": int(summary["failures"]),
    }


def rollout_row(
    replicas: ReplicaSet, locustfile: Path, users: int, seconds: int, folder: Path
) -> dict:
    """v1 to v2 on every replica behind the balancer, under load."""
    other = churn_model.train_reference_model(seed=7, n_rows=5_000).model
    v2 = write_replica_service(folder / "service", other, version="v2")
    with start_balancer(replicas.ports, workdir=folder / "balancer-rollout") as balancer:
        balancer.wait_healthy(len(replicas.ports))
        began = time.monotonic()
        rollout_s: list[float] = []

        def update(note: Note) -> Rollout:
            rollout = rolling_update(balancer, replicas, v2.env, note=note)
            rollout_s.append(time.monotonic() - began)
            return rollout

        run = run_under_faults(
            balancer,
            replicas,
            locustfile,
            [],
            users=users,
            run_time=seconds,
            csv_prefix=folder / "rollout",
            during=update,
            during_at_s=2,
        )
    if not run.during.completed:
        raise RuntimeError(f"the rollout did not complete: {run.during.reason}")
    row = fault_run_row(f"rolling update v1 -> v2 on {len(replicas.ports)} replicas", run)
    return row | {"rollout s": rollout_s[0] if rollout_s else float("nan")}


def container_rows(
    service: ReplicaService, locustfile: Path, users: int, seconds: int, folder: Path
) -> list[dict]:
    """Three container replicas behind HAProxy, then one of them killed under load."""
    began = time.monotonic()
    image = replica_image(service, log_dir=folder / "image")
    print(f"image {image} ready in {time.monotonic() - began:.0f} s", flush=True)
    with ReplicaSet(
        service.service_file, env=service.env, log_dir=folder / "logs", image=image
    ) as replicas:
        replicas.start(max(REPLICAS))
        rows = throughput_rows(replicas, locustfile, users, seconds, folder, (max(REPLICAS),))
        rows.append(failover_row(replicas, locustfile, users, max(seconds, 9), folder))
    return rows


def measure(users: int, seconds: int, folder: Path, containers: bool) -> pd.DataFrame:
    """Every run above, as one table (the container rows only with `containers`)."""
    service = write_replica_service(folder / "service", version="v1", n_rows=5_000)
    locustfile = write_locustfile(folder)
    with ReplicaSet(service.service_file, env=service.env, log_dir=folder / "logs") as replicas:
        replicas.start(max(REPLICAS))
        rows = throughput_rows(replicas, locustfile, users, seconds, folder)
        rows.append(failover_row(replicas, locustfile, users, max(seconds, 9), folder))
        replicas.start(1)  # back to three
        rows.append(rollout_row(replicas, locustfile, users, max(3 * seconds, 60), folder))
    if containers:  # the same service and v1 model, in containers
        rows += container_rows(service, locustfile, users, seconds, folder / "containers")
    return pd.DataFrame(rows).set_index("run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=None, help="default 20 (6 in quick mode)")
    parser.add_argument("--quick", action="store_true", help="as with MLKIT_QUICK=1")
    parser.add_argument(
        "--no-containers", action="store_true", help="leave out the container replicas"
    )
    args = parser.parse_args()
    seconds = args.seconds or (6 if args.quick or mlkit.quick_mode() else 20)
    run(args.users, seconds, containers=not args.no_containers)


def run(users: int, seconds: int, containers: bool = True) -> None:
    """Measure and print the replicas table (with container replicas when Docker answers)."""
    folder = mlkit.scratch_dir("bench_replicas")
    shutil.rmtree(folder)
    folder = mlkit.scratch_dir("bench_replicas")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    problem = docker_problem() if containers else "left out (--no-containers)"
    table = measure(users, seconds, folder, containers=problem is None)
    print(
        f"\n{users} users, 20 ms between requests, {seconds} s per throughput run; load average "
        f"after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    )
    shown = table.round(2).round({"requests/s": 0}).astype(object).where(table.notna(), "")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(shown.to_string())
    failed = table.loc[~table.index.str.contains("behind"), "failed"]
    for name, count in failed.items():
        print(f"  {'met' if count == 0 else 'MISSED'}: 0 failed requests in {name} ({count})")
    if problem is not None:
        print(f"  container replicas not measured: {problem}")
    shutil.rmtree(folder)  # kept when a step fails, with the replicas' and Locust's logs


if __name__ == "__main__":
    main()
