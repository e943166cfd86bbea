"""Benchmark: the churn model served four ways under the same Locust load (modules 04 and 05).

1. the in-process prediction limit: one-row predictions in a loop, one thread, no HTTP
   (scikit-learn, and the same pipeline in ONNX Runtime);
2. the baseline: module 04's plain FastAPI app under uvicorn (scikit-learn, one worker);
3. the default BentoML service: module 05's service.py with its defaults (scikit-learn,
   one worker, no batching, access log on);
4. the tuned BentoML service: the same file with ONNX Runtime, two workers, adaptive
   batching, a relaxed garbage collector (start-up objects frozen, fewer collections)
   and no access log.

The services, and the locustfile, are read from the course notebooks' `%%writefile`
cells, so the benchmark serves exactly what the course teaches. Every service gets the
same load, one after the other: a warm-up run, then the measured run of `--users` Locust
users (FastHttpUser, no think time) sending one new customer per request for
`--seconds`, on 127.0.0.1 (to `/predict`, or to the batchable `/predict_batch` for the
tuned service, with the same customer in a list of one). For each it prints requests/s,
p50/p95/p99, error rate and the ratios to the baseline, and the CPU that the server,
Locust and every other program used: on a 2-core machine the load generator and anything
else running take CPU from the server, so compare runs made under similar "other" load.
For a server with two workers, "busiest worker" is the share of the server's work that
the busier one did: each of Locust's connections stays with the worker that accepted it,
so the split can be uneven (0.5 is even, 1.0 means one worker did everything).

Run: .venv/bin/python bench/serving.py [--users N] [--seconds T] [--quick]
Target: the tuned BentoML service >= 1.0x the baseline's requests/s, p99 no worse, no errors.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import time
from pathlib import Path

import bentoml
import httpx
import nbformat
import numpy as np
import onnxruntime as ort
import pandas as pd
import psutil

import mlkit
from mlkit import churn_model, data
from mlkit.edge import export_onnx
from mlkit.loadtest import run_locust
from mlkit.serving import RunningService, serve_app_in_background, serve_in_background
from mlkit.settings import repo_root

SETUPS = {  # name: (server, settings, endpoint)
    "FastAPI + uvicorn (baseline)": ("fastapi", {}, "predict"),
    "BentoML, default": ("bentoml", {}, "predict"),
    "BentoML, tuned": (
        "bentoml",
        {"runtime": "onnx", "workers": 2, "access_log": 0, "gc_relaxed": 1},
        "predict_batch",
    ),
}


def notebook_file(notebook: str, name: str) -> str:
    """The body of the cell of course/<notebook> that starts `%%writefile {workdir}/<name>`."""
    path = repo_root() / "course" / notebook
    for cell in nbformat.read(path, as_version=4).cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type == "code" and first.strip() == f"%%writefile {{workdir}}/{name}":
            return body + "\n"
    raise LookupError(f"no `%%writefile {{workdir}}/{name}` cell in {path}")


def in_process_limit(name: str, predict, customers: list[dict], calls: int) -> dict:
    """Time `calls` one-customer predictions in this process (after 20 untimed ones)."""
    for customer in customers[:20]:
        predict([customer])
    times = []
    for i in range(calls):
        start = time.perf_counter()
        predict([customers[i % len(customers)]])
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    return {
        "setup": name,
        "requests/s": calls / sum(times),
        "p50 ms": np.percentile(ms, 50),
        "p95 ms": np.percentile(ms, 95),
        "p99 ms": np.percentile(ms, 99),
        "errors": 0.0,
    }


def wait_for_workers(svc: RunningService, workers: int, timeout: float = 60) -> None:
    """`/readyz` answers once the first worker is up; wait until every worker has loaded."""
    deadline = time.monotonic() + timeout
    while svc.log_tail(200).count("Service ChurnService initialized") < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not every worker started:\n{svc.log_tail()}")
        time.sleep(0.1)


def load_service(
    name: str, svc: RunningService, endpoint: str, customer: dict, args, folder: Path
) -> dict:
    """Warm the endpoint up, then run the measured load; one row of results."""
    body = {"customers": [customer]} if endpoint == "predict_batch" else {"customer": customer}
    with httpx.Client(base_url=svc.url, timeout=30) as client:
        for _ in range(30):
            client.post(f"/{endpoint}", json=body).raise_for_status()
    workers = {
        f"worker {i}": p.pid
        for i, p in enumerate(psutil.Process(svc.process.pid).children(recursive=True))
        if "_bentoml_impl.worker" in " ".join(p.cmdline())
    }
    options = {
        "user_classes": ["OneCustomer"],
        "env": {"ENDPOINT": endpoint},
        "watch": {"server": svc.process.pid, **workers},
    }
    locustfile = folder / "locustfile.py"
    run_locust(locustfile, svc.url, args.users, run_time=3, csv_prefix=folder / "warmup", **options)
    slug = name.split(" (")[0].replace(" ", "").replace(",", "-").replace("+", "")
    result = run_locust(
        locustfile, svc.url, args.users, run_time=args.seconds, csv_prefix=folder / slug, **options
    )
    summary = result.summary()
    cores = {key: seconds / result.wall_seconds for key, seconds in result.cpu_seconds.items()}
    split = [result.cpu_seconds[name] for name in workers]
    return {
        "setup": name,
        "requests/s": summary["rps"],
        "p50 ms": summary["p50_ms"],
        "p95 ms": summary["p95_ms"],
        "p99 ms": summary["p99_ms"],
        "errors": summary["error_rate"],
        "server cores": cores["server"],
        "Locust cores": cores["locust"],
        "other cores": max(0.0, cores["machine"] - cores["server"] - cores["locust"]),
        "busiest worker": max(split) / sum(split) if len(split) > 1 else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=None, help="default 20 (6 in quick mode)")
    parser.add_argument("--quick", action="store_true", help="as with MLKIT_QUICK=1")
    args = parser.parse_args()
    quick = args.quick or mlkit.quick_mode()
    args.seconds = args.seconds or (6 if quick else 20)
    folder = mlkit.scratch_dir("bench_serving")
    shutil.rmtree(folder)
    folder = mlkit.scratch_dir("bench_serving")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    trained = churn_model.train_reference_model(seed=42, n_rows=20_000)
    customers = data.make_dataset(n_rows=2_000, seed=7)[data.FEATURES].to_dict(orient="records")
    onnx_file = export_onnx(trained.model, folder / "churn.onnx")
    (folder / "app.py").write_text(notebook_file("04_load_testing.ipynb", "app.py"))
    (folder / "service.py").write_text(notebook_file("05_scaling.ipynb", "service.py"))
    (folder / "locustfile.py").write_text(notebook_file("05_scaling.ipynb", "locustfile.py"))

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])

    def onnx_predict(rows: list[dict]) -> np.ndarray:
        inputs = {n: np.array([[r[n]] for r in rows], np.float32) for n in data.NUMERIC_FEATURES}
        inputs |= {n: np.array([[r[n]] for r in rows], object) for n in data.CATEGORICAL_FEATURES}
        return session.run(["probabilities"], inputs)[0][:, 1]

    calls = 300 if quick else 2_000
    rows = [
        in_process_limit(
            "in-process limit, scikit-learn",
            lambda rows: trained.model.predict_proba(pd.DataFrame(rows))[:, 1],
            customers,
            calls,
        ),
        in_process_limit("in-process limit, ONNX Runtime", onnx_predict, customers, calls * 10),
    ]

    saved = bentoml.sklearn.save_model("churn", trained.model, labels={"module": "bench"})
    env = {"CHURN_MODEL_TAG": str(saved.tag), "CHURN_ONNX_FILE": str(onnx_file)}
    try:
        for name, (server, settings, endpoint) in SETUPS.items():
            knobs = {f"CHURN_{key.upper()}": str(value) for key, value in settings.items()}
            with contextlib.ExitStack() as stack:
                if server == "fastapi":
                    svc = stack.enter_context(
                        serve_app_in_background(folder / "app.py", env=env, log_dir=folder)
                    )
                else:
                    svc = stack.enter_context(
                        serve_in_background(folder / "service.py", env=env | knobs, log_dir=folder)
                    )
                    wait_for_workers(svc, settings.get("workers", 1))
                rows.append(load_service(name, svc, endpoint, customers[0], args, folder))
            print(f"measured {name}", flush=True)
    finally:
        bentoml.models.delete(saved.tag)

    table = pd.DataFrame(rows).set_index("setup")
    baseline = table.loc["FastAPI + uvicorn (baseline)"]
    table["RPS vs baseline"] = table["requests/s"] / baseline["requests/s"]
    table["p99 vs baseline"] = table["p99 ms"] / baseline["p99 ms"]
    print(
        f"\n{args.users} users, no think time, one customer per request, {args.seconds} s per "
        f"service after a 3 s warm-up; load average after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    )
    shown = table.round(2).round({"requests/s": 0}).astype(object).where(table.notna(), "")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(shown.to_string())
    tuned = table.loc["BentoML, tuned"]
    checks = {
        f"requests/s >= 1.0x the baseline ({tuned['RPS vs baseline']:.2f}x)": tuned[
            "RPS vs baseline"
        ]
        >= 1.0,
        f"p99 no worse than the baseline ({tuned['p99 ms']:.0f} vs {baseline['p99 ms']:.0f} ms)": (
            tuned["p99 ms"] <= baseline["p99 ms"]
        ),
        f"no errors ({tuned['errors']:.2%})": tuned["errors"] == 0,
    }
    print("\ntarget for the tuned BentoML service:")
    for check, ok in checks.items():
        print(f"  {'met' if ok else 'MISSED'}: {check}")
    shutil.rmtree(folder)  # kept when a step fails, with the servers' and Locust's logs


if __name__ == "__main__":
    main()
