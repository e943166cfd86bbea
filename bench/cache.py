"""Benchmark: a shared Redis prediction cache against no cache and in-process caches (module 05).

The reference churn model answers a repeating workload (`mlkit.scaling.cache.
repeating_workload`: customers drawn Zipf-like, skew 1.1, from a fixed set) sent
round-robin to two replicas in this process, three ways: no cache, an LRU cache inside
each replica, and one Redis server (Debian's `redis-server`, started here on 127.0.0.1)
that both replicas share. For each it prints the hit rate, the model calls and the
latency per request (lookup, model call on a miss, store). Then the staleness trap: the
model is retrained and every replica updated; it prints how many answers after the update
were the old model's, for caches keyed without the model version and with it.

Run: .venv/bin/python bench/cache.py [--requests N] [--customers K] [--quick]
Target: the shared cache's hit rate >= the per-replica caches', its mean latency below no
cache's, and no stale answer once keys carry the model version.
"""

from __future__ import annotations

import argparse
import os

import pandas as pd

import mlkit
from mlkit import churn_model
from mlkit.scaling.cache import (
    churn_predictor,
    compare_caches,
    repeating_workload,
    staleness_trap,
    start_redis,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=None, help="default 10,000 (1,000 quick)")
    parser.add_argument("--customers", type=int, default=None, help="default 2,000 (200 quick)")
    parser.add_argument("--quick", action="store_true", help="as with MLKIT_QUICK=1")
    args = parser.parse_args()
    quick = args.quick or mlkit.quick_mode()
    n_requests = args.requests or (1_000 if quick else 10_000)
    n_customers = args.customers or (200 if quick else 2_000)
    n_rows = 5_000 if quick else 20_000
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    old = churn_predictor(churn_model.train_reference_model(seed=42, n_rows=n_rows).model)
    new = churn_predictor(churn_model.train_reference_model(seed=43, n_rows=n_rows).model)
    requests = repeating_workload(n_requests, n_customers, skew=1.1, seed=0)
    with start_redis(log_dir=mlkit.scratch_dir("bench_cache")) as server:
        table = compare_caches(old, requests, server, replicas=2).set_index("setup")
        trap = staleness_trap(old, new, requests[: n_requests // 5], server, replicas=2)

    print(
        f"\n{n_requests:,} requests over {n_customers:,} customers, round-robin over 2 "
        f"replicas; load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round({"hit_rate": 3}).round(3).to_string())
        print(f"\nafter a model update ({len(requests) // 5:,} requests):")
        print(trap.set_index("setup").round(3).to_string())
    shared, local = table.loc["Redis, shared"], table.loc["in-process LRU per replica"]
    stale = trap.set_index("setup")["stale_answers"]
    checks = {
        f"shared hit rate >= per-replica ({shared['hit_rate']:.3f} vs {local['hit_rate']:.3f})": (
            shared["hit_rate"] >= local["hit_rate"]
        ),
        f"shared mean latency below no cache ({shared['mean_ms']:.2f} vs "
        f"{table.loc['no cache', 'mean_ms']:.2f} ms)": shared["mean_ms"]
        < table.loc["no cache", "mean_ms"],
        f"no stale answer with the version in the key ({stale['Redis, version in key']})": (
            stale["Redis, version in key"] == 0
        ),
    }
    print("\ntarget:")
    for check, ok in checks.items():
        print(f"  {'met' if ok else 'MISSED'}: {check}")


if __name__ == "__main__":
    main()
