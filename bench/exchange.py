"""Benchmark the class exchange: a class submitting a lab at once, on SQLite and PostgreSQL.

For each store, a real JupyterHub (with its proxy) runs the exchange on 127.0.0.1; an
instructor releases lab 00 and N learners (default 50), each with their own hub token,
submit their copy of it at the same moment through the proxy, R times each (default 3),
one asyncio task per learner. It prints, per store, the p50 and p99 latency of a submit
(request sent to receipt received), submissions per second over the whole burst, and
the lost count: receipts whose row is not in the database or whose notebook on disk does
not hash to the receipt's sha256 (it must be 0). Every request has a timeout, and the hub,
the exchange and the PostgreSQL server are stopped at the end.

Run: `.venv/bin/python bench/exchange.py [--learners N] [--rounds R] [--stores sqlite,postgresql]`.
Needs `npm ci` (JupyterHub's proxy) and, for PostgreSQL, Debian's `postgresql`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import nbformat

from mlkit._runtime.net import free_port
from mlkit.hub.client import Exchange
from mlkit.hub.config import HubSettings
from mlkit.hub.postgres import PostgresServer, start_postgres
from mlkit.hub.running import start_hub
from mlkit.hub.store import ExchangeStore
from mlkit.settings import repo_root

LAB = repo_root() / "labs" / "00_welcome.ipynb"
TIMEOUT_S = 120.0  # one submit; a request that takes longer counts as failed


def admin_service(token: str) -> str:
    """Hub config lines for the benchmark's service that creates users and their tokens."""
    return (
        f"c.JupyterHub.services.append({{'name': 'bench-admin', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'bench-admin', 'services': ['bench-admin'],"
        " 'scopes': ['admin:users', 'tokens']})\n"
    )


def learner_notebook(name: str, round_: int) -> bytes:
    """The released lab with one answer cell of the learner's own (so every blob differs)."""
    notebook = nbformat.reads(LAB.read_text(), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(f"# {name}, attempt {round_}\nanswer = 42"))
    return nbformat.writes(notebook).encode()


def make_learners(api: str, admin: str, count: int) -> dict[str, str]:
    """Create learners on the hub and one API token each: {name: token}."""
    headers = {"Authorization": f"token {admin}"}
    names = [f"learner{n:03d}" for n in range(count)]
    with httpx.Client(base_url=api, headers=headers, timeout=60) as hub:
        made = hub.post("users", json={"usernames": names})
        if made.status_code != 201:
            raise SystemExit(f"creating learners failed: {made.status_code} {made.text}")
        tokens = {}
        for name in names:
            answer = hub.post(f"users/{name}/tokens", json={"note": "bench"})
            answer.raise_for_status()
            tokens[name] = answer.json()["token"]
    return tokens


async def burst(
    exchange_url: str, tokens: dict[str, str], rounds: int
) -> tuple[list[float], list[dict], list[str], float]:
    """Every learner submits `rounds` times, all learners at once. Returns latencies (s),
    receipts, errors and the wall time of the whole burst."""
    latencies: list[float] = []
    receipts: list[dict] = []
    errors: list[str] = []
    url = f"{exchange_url}api/labs/00/submissions"
    start = asyncio.Event()
    limits = httpx.Limits(max_connections=len(tokens) + 10)
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits) as client:

        async def learner(name: str, token: str) -> None:
            bodies = [learner_notebook(name, r) for r in range(rounds)]
            await start.wait()
            for body in bodies:
                began = time.perf_counter()
                try:
                    answer = await client.post(
                        url, content=body, headers={"Authorization": f"token {token}"}
                    )
                except httpx.HTTPError as err:
                    errors.append(f"{name}: {type(err).__name__}: {err}")
                    continue
                if answer.status_code != 201:
                    errors.append(f"{name}: {answer.status_code} {answer.text[:200]}")
                    continue
                latencies.append(time.perf_counter() - began)
                receipts.append(answer.json())

        tasks = [asyncio.create_task(learner(n, t)) for n, t in tokens.items()]
        await asyncio.sleep(0.5)  # every learner has its notebooks ready
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
    return latencies, receipts, errors, wall


def lost_receipts(data: Path, db_url: str | None, receipts: list[dict]) -> int:
    """How many receipts have no row in the database or no whole notebook on disk."""
    store = ExchangeStore(data, db_url)
    try:
        rows = {(row.learner, row.sha256) for row in store.all_submissions()}
    finally:
        store.engine.dispose()
    lost = 0
    for receipt in receipts:
        blob = store.blobs.path(receipt["sha256"])
        whole = blob.exists() and hashlib.sha256(blob.read_bytes()).hexdigest() == receipt["sha256"]
        lost += (receipt["learner"], receipt["sha256"]) not in rows or not whole
    return lost


def run_store(
    store: str, learners: int, rounds: int, folder: Path, postgres: PostgresServer | None
) -> dict[str, float | int | str]:
    """One burst against a fresh hub whose exchange keeps its rows in store."""
    db_url = postgres.create_database("exchange_bench") if postgres is not None else None
    settings = HubSettings(
        folder=folder / store,
        port=free_port(),
        hub_port=free_port(),
        proxy_api_port=free_port(),
        exchange_port=free_port(),
        instructors=["ines"],
        authenticator="null",
        exchange_db_url=db_url,
    )
    admin = secrets.token_hex(32)
    hub = start_hub(settings, admin_service(admin))
    try:
        api = f"{settings.url}/hub/api/"
        tokens = make_learners(api, admin, learners)
        ines = instructor_token(api, admin, "ines")
        Exchange(settings.exchange_url, ines).release(LAB, due="2100-01-01T00:00:00+00:00")
        latencies, receipts, errors, wall = asyncio.run(
            burst(settings.exchange_url, tokens, rounds)
        )
        lost = lost_receipts(settings.folder / "exchange", db_url, receipts)
    finally:
        hub.stop()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if latencies else [0.0] * 99
    return {
        "store": store,
        "submitted": learners * rounds,
        "receipts": len(receipts),
        "failed": len(errors),
        "p50_ms": 1000 * cuts[49],
        "p99_ms": 1000 * cuts[98],
        "per_s": len(receipts) / wall if wall else 0.0,
        "lost": lost,
        "first_error": errors[0] if errors else "",
    }


def instructor_token(api: str, admin: str, name: str) -> str:
    """A token for an existing hub user (the instructor, made by the instructors group)."""
    with httpx.Client(base_url=api, headers={"Authorization": f"token {admin}"}) as hub:
        answer = hub.post(f"users/{name}/tokens", json={"note": "bench"}, timeout=60)
        answer.raise_for_status()
        return str(answer.json()["token"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args()
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    unknown = set(stores) - {"sqlite", "postgresql"}
    if unknown or not 1 <= args.learners <= 200 or not 1 <= args.rounds <= 20:
        parser.error("expected --stores from sqlite,postgresql, 1-200 learners, 1-20 rounds")
    size = len(learner_notebook("learner000", 0))
    print(
        f"{args.learners} learners x {args.rounds} submissions of lab 00 ({size} bytes) at once, "
        "through the hub's proxy to the exchange on 127.0.0.1"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="mlkit-bench-exchange-") as tmp:
        for store in stores:
            if store == "postgresql":
                with start_postgres() as postgres:
                    results.append(
                        run_store(store, args.learners, args.rounds, Path(tmp), postgres)
                    )
            else:
                results.append(run_store(store, args.learners, args.rounds, Path(tmp), None))
    print(f"{'store':<11} {'receipts':>9} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'subm/s':>7} {'lost':>5}")  # fmt: skip
    for r in results:
        print(
            f"{r['store']:<11} {r['receipts']:>5}/{r['submitted']:<3} {r['failed']:>6} "
            f"{r['p50_ms']:>8.0f} {r['p99_ms']:>8.0f} {r['per_s']:>7.1f} {r['lost']:>5}"
        )
        if r["first_error"]:
            print(f"  first failure ({r['store']}): {r['first_error']}")
    if any(r["lost"] for r in results):
        raise SystemExit("a receipt was lost: its row or its notebook is not stored")


if __name__ == "__main__":
    main()
