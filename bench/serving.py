"""Benchmark: the churn model served several ways under the same Locust load (modules 04 and 05).

1. the in-process prediction limit: one-row predictions in a loop, one thread, no HTTP
   (scikit-learn, and the same pipeline in ONNX Runtime);
2. the baseline: module 04's plain FastAPI app under uvicorn (scikit-learn, one worker);
3. the default BentoML service: module 05's service.py with its defaults (scikit-learn,
   one worker, no batching, access log on);
4. the tuned BentoML service: the same file with ONNX Runtime, two workers, adaptive
   batching, a relaxed garbage collector (start-up objects frozen, fewer collections)
   and no access log;
5. the fair comparison for it: FastAPI serving the same ONNX file with as many workers
   as the tuned service (`ONNX_APP` below: module 04's app with module 05's ONNX scoring),
   and a no-op endpoint with that many workers (`NOOP_APP`: it answers without reading
   the request), the most requests/s that this machine's HTTP stack gives this load.
6. the same scikit-learn model as the baseline behind other servers, all with two worker
   processes: module 04's FastAPI app under Gunicorn with uvicorn workers, and module 02's
   Flask app (`%%writefile flask_app.py`, the same contract) under Gunicorn's sync workers,
   its gthread workers (4 threads each) and uWSGI (`pyuwsgi`).

The services, and the locustfile, are read from the course notebooks' `%%writefile`
cells, so the benchmark serves exactly what the course teaches. Every service gets the
same load, one after the other: a warm-up run, then the measured run of `--users` Locust
users (FastHttpUser, no think time) sending one new customer per request for
`--seconds`, on 127.0.0.1 (to `/predict`, or to the batchable `/predict_batch` for the
tuned service, with the same customer in a list of one). For each it prints requests/s,
p50/p95/p99, error rate, the ratios to the baseline, to FastAPI-ONNX and to the no-op
limit, and the CPU that the server, Locust and every other program used: on a 2-core
machine the load generator and anything else running take CPU from the server, so
compare runs made under similar "other" load.
For a server with two workers, "busiest worker" is the share of the server's work that
the busier one did: each of Locust's connections stays with the worker that accepted it,
so the split can be uneven (0.5 is even, 1.0 means one worker did everything).

The FastAPI rows with several workers run under Gunicorn with uvicorn workers
(`serve_app_in_background(workers=N)`), not `uvicorn --workers N`, which gives a flat
~44 ms p50 for any app, the no-op one included, with the server almost idle. The cause,
seen with `strace -f -e setsockopt,sendto` on the workers: with `--workers`, uvicorn binds
the listening socket itself with `socket.socket(AF_INET)` (uvicorn/config.py,
`bind_socket`), whose `proto` is 0; asyncio sets TCP_NODELAY on an accepted connection
only when `sock.proto == IPPROTO_TCP` (asyncio/base_events.py, `_set_nodelay`), so the
workers never call setsockopt(TCP_NODELAY) and Nagle's algorithm stays on. uvicorn then
writes each response in two `sendto` calls, the headers and then the body. Nagle holds
the small second write until the first is acknowledged, and the client (Locust's
geventhttpclient, or any client, which sends its request in one write and then only
waits) delays that acknowledgement by Linux's delayed-ACK timer, 40 ms, because it has
nothing to send back. With one worker, uvicorn lets asyncio create the socket from
getaddrinfo (`proto` 6), so TCP_NODELAY is set and there is no stall. Gunicorn sets
TCP_NODELAY on its listening socket, and Linux copies it to every accepted connection.
In a latency histogram the stall is a spike just above 40 ms that does not move with the
load (module 05 shows it).

The same care for the WSGI rows: Gunicorn sets TCP_NODELAY on its listening socket for
every worker class (sync, gthread), and neither Gunicorn nor uWSGI shows the stall: their
p50 under load stays far below 40 ms. Gunicorn's sync worker and uWSGI (`--http-socket`
with `Connection: close`) close the connection after every answer (no keep-alive), so
their rows pay a TCP handshake per request, as they would behind no proxy. uWSGI's
keep-alive socket (`--http11-socket`) is not used: each worker stays with one client's
connection, so with 16 users and 2 workers two users got every answer and the other 14
waited until the run ended, requests Locust never counts (a p50 of 4 ms at 413
requests/s, where Little's law says 16 / 413 = 39 ms). `serve_wsgi_in_background` starts
uWSGI with `--die-on-term` (without it SIGTERM reloads the workers instead of stopping them).

Then it prints the replicas table of `bench/replicas.py` (1, 2, 3 replicas behind HAProxy,
a failover run and a rolling update; `--no-replicas` skips it).

Run: .venv/bin/python bench/serving.py [--users N] [--seconds T] [--quick] [--no-replicas]
Targets for the tuned BentoML service, no errors, and: >= 1.0x the baseline's
requests/s with p99 no worse; >= 1.0x FastAPI-ONNX at equal workers; >= 0.6x the no-op
limit. Where it misses, the table says by how much; module 05 says what BentoML gives
instead (adaptive batching, runners, bento packaging).
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
import replicas  # bench/replicas.py, beside this file

import mlkit
from mlkit import churn_model, data
from mlkit.edge import export_onnx
from mlkit.loadtest import run_locust
from mlkit.serving import (
    RunningService,
    serve_app_in_background,
    serve_in_background,
    serve_wsgi_in_background,
)
from mlkit.settings import repo_root

TUNED_WORKERS = 2
SETUPS = {  # name: (server, settings, endpoint)
    "FastAPI + uvicorn (baseline)": ("fastapi", {"app": "app.py"}, "predict"),
    "BentoML, default": ("bentoml", {}, "predict"),
    "BentoML, tuned": (
        "bentoml",
        {"runtime": "onnx", "workers": TUNED_WORKERS, "access_log": 0, "gc_relaxed": 1},
        "predict_batch",
    ),
    f"FastAPI, ONNX, {TUNED_WORKERS} workers": (
        "fastapi",
        {"app": "app_onnx.py", "workers": TUNED_WORKERS},
        "predict",
    ),
    f"no-op endpoint, {TUNED_WORKERS} workers": (
        "fastapi",
        {"app": "app_noop.py", "workers": TUNED_WORKERS},
        "predict",
    ),
    f"FastAPI, Gunicorn + uvicorn workers, {TUNED_WORKERS} workers": (
        "fastapi",
        {"app": "app.py", "workers": TUNED_WORKERS},
        "predict",
    ),
    f"Flask, Gunicorn sync, {TUNED_WORKERS} workers": (
        "wsgi",
        {"server": "gunicorn", "workers": TUNED_WORKERS},
        "predict",
    ),
    f"Flask, Gunicorn gthread, {TUNED_WORKERS} workers x 4 threads": (
        "wsgi",
        {"server": "gunicorn", "workers": TUNED_WORKERS, "threads": 4},
        "predict",
    ),
    f"Flask, uWSGI, {TUNED_WORKERS} workers": (
        "wsgi",
        {"server": "uwsgi", "workers": TUNED_WORKERS},
        "predict",
    ),
}
FASTAPI_ONNX = f"FastAPI, ONNX, {TUNED_WORKERS} workers"
NOOP = f"no-op endpoint, {TUNED_WORKERS} workers"

# Module 04's FastAPI app with module 05's ONNX scoring (one ONNX Runtime thread a worker).
ONNX_APP = """\
import os
from contextlib import asynccontextmanager
from typing import Annotated

import numpy as np
import onnxruntime as ort
from fastapi import Body, FastAPI, Response

from mlkit.contract import MAX_BATCH_SIZE, Customer
from mlkit.data import CATEGORICAL_FEATURES, NUMERIC_FEATURES

sessions = {}


@asynccontextmanager
async def lifespan(app: FastAPI):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sessions["churn"] = ort.InferenceSession(
        os.environ["CHURN_ONNX_FILE"], options, providers=["CPUExecutionProvider"]
    )
    yield
    sessions.clear()


app = FastAPI(title="churn", lifespan=lifespan)


def score(rows: list[dict]) -> list[float]:
    inputs = {n: np.array([[r[n]] for r in rows], dtype=np.float32) for n in NUMERIC_FEATURES}
    inputs |= {n: np.array([[r[n]] for r in rows], dtype=object) for n in CATEGORICAL_FEATURES}
    return sessions["churn"].run(["probabilities"], inputs)[0][:, 1].tolist()


@app.get("/readyz")
def readyz(response: Response) -> str:
    if "churn" not in sessions:
        response.status_code = 503
        return "model not loaded"
    return "ok"


@app.post("/predict")
def predict(customer: Annotated[Customer, Body(embed=True)]) -> float:
    return score([customer.model_dump()])[0]


@app.post("/predict_batch")
def predict_batch(
    customers: Annotated[list[Customer], Body(embed=True, min_length=1, max_length=MAX_BATCH_SIZE)],
) -> list[float]:
    return score([c.model_dump() for c in customers])
"""

# The same routes answered without reading the request: what HTTP alone costs.
NOOP_APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/readyz")
async def readyz() -> str:
    return "ok"


@app.post("/predict")
async def predict() -> float:
    return 0.5


@app.post("/predict_batch")
async def predict_batch() -> list[float]:
    return [0.5]
"""


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
    children = psutil.Process(svc.process.pid).children(recursive=True)
    if svc.command[2] == "gunicorn" or Path(svc.command[0]).name == "uwsgi":
        children = psutil.Process(svc.process.pid).children()  # the master's are its workers
    else:
        children = [p for p in children if "_bentoml_impl.worker" in " ".join(p.cmdline())]
    workers = {f"worker {i}": p.pid for i, p in enumerate(children)}
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
    parser.add_argument(
        "--no-replicas", action="store_true", help="skip the replicas table (bench/replicas.py)"
    )
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
    (folder / "app_onnx.py").write_text(ONNX_APP)
    (folder / "app_noop.py").write_text(NOOP_APP)
    (folder / "service.py").write_text(notebook_file("05_scaling.ipynb", "service.py"))
    (folder / "flask_app.py").write_text(notebook_file("02_serving.ipynb", "flask_app.py"))
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
                    app_file = folder / settings["app"]
                    workers = settings.get("workers", 1)
                    svc = stack.enter_context(
                        serve_app_in_background(app_file, workers=workers, env=env, log_dir=folder)
                    )
                elif server == "wsgi":
                    svc = stack.enter_context(
                        serve_wsgi_in_background(
                            folder / "flask_app.py", env=env, log_dir=folder, **settings
                        )
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
    table["RPS vs FastAPI-ONNX"] = table["requests/s"] / table.loc[FASTAPI_ONNX, "requests/s"]
    table["RPS vs no-op"] = table["requests/s"] / table.loc[NOOP, "requests/s"]
    print(
        f"\n{args.users} users, no think time, one customer per request, {args.seconds} s per "
        f"service after a 3 s warm-up; load average after: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n"
    )
    shown = table.round(2).round({"requests/s": 0}).astype(object).where(table.notna(), "")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
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
        f"requests/s >= 1.0x FastAPI-ONNX with {TUNED_WORKERS} workers "
        f"({tuned['RPS vs FastAPI-ONNX']:.2f}x)": tuned["RPS vs FastAPI-ONNX"] >= 1.0,
        f"requests/s >= 0.6x the no-op limit with {TUNED_WORKERS} workers "
        f"({tuned['RPS vs no-op']:.2f}x)": tuned["RPS vs no-op"] >= 0.6,
        f"no errors ({tuned['errors']:.2%})": tuned["errors"] == 0,
    }
    print("\ntarget for the tuned BentoML service:")
    for check, ok in checks.items():
        print(f"  {'met' if ok else 'MISSED'}: {check}")
    failed = table.index[table["errors"] > 0].tolist()
    if failed:
        print(f"errors in: {', '.join(failed)} (the comparison is not fair until they are gone)")
    shutil.rmtree(folder)  # kept when a step fails, with the servers' and Locust's logs
    if not args.no_replicas:
        print("\nreplicas behind HAProxy (bench/replicas.py):", flush=True)
        replicas.run(args.users, args.seconds)


if __name__ == "__main__":
    main()
