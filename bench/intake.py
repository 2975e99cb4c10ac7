"""Intake throughput: POST /api/v1/actions against a bare single-INSERT view, same server, same client.

Serves the app with the production server settings (uvicorn, WEB_CONCURRENCY workers) on loopback
against PostgreSQL, drives both endpoints with the same concurrent client in alternating rounds,
and prints the median rates and their ratio. Goal: intake >= 0.5 x bare.

The client's keep-alive connections are opened once, spread evenly over the workers, and carry
every series, so that each series meets the same server.

    make bench            # or: .venv/bin/python bench/intake.py --requests 2000 --rounds 5
"""

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.databases import database_url, fresh_database, manage  # noqa: E402
from bench.loadgen import Request, connections_held, open_balanced, run_load, worker_pids  # noqa: E402
from demo import data as demo  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(db_name: str) -> dict:
    """The environment of a benchmark's server and manage.py: production settings (bench.settings)
    on database `db_name` and the Redis at REDIS_URL."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url(db_name),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "PYTHONPATH": str(ROOT),
    }


@contextmanager
def serving(env, workers: int):
    """uvicorn serving hitl.asgi:application on a free loopback port with `env`, as in production
    (no access log); yields (the server process, its port) once /healthz answers."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "hitl.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        for _ in range(200):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield server, port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def prepare(env, db_name: str) -> str:
    """A fresh database, migrated and seeded, with the bare view's table; returns an agent token."""
    fresh_database(db_name, env)
    with psycopg.connect(database_url(db_name), autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_bare (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
    return manage({**env, "DATABASE_URL": database_url(db_name)}, "create_agent", "bench-bot").strip().splitlines()[-1]


async def drive(connections, path: str, bodies: list[bytes], token: str, keyed: bool) -> float:
    """Send every body once over `connections`, one request in flight on each; return requests per second."""
    requests = [
        Request(
            "POST",
            path,
            body,
            {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",  # the bare view ignores it; both take the same middleware path
                **({"Idempotency-Key": f"{secrets.token_hex(8)}-{i}"} if keyed else {}),
            },
        )
        for i, body in enumerate(bodies)
    ]
    rate, _ = await run_load(connections, requests, check=lambda status: status == 201)
    return rate


async def measure(port: int, workers: list[int], token: str, args) -> dict[str, list[float]]:
    """Warm up, then run every series once per round over one set of connections; the rates."""
    connections = await open_balanced("127.0.0.1", port, args.concurrency, workers, Request("GET", "/healthz"))
    held = sorted(connections_held(port, connections, workers).values())
    print(f"{len(connections)} connections over {len(workers)} workers: {held}", flush=True)
    rng = random.Random(7)
    bodies = [json.dumps(demo.proposal(rng, i)).encode() for i in range(args.requests)]
    series = [
        ("bare", "/bench/bare", False),
        ("intake", "/api/v1/actions", False),
        ("keyed", "/api/v1/actions", True),
    ]
    for _, path, keyed in series:  # warm-up
        await drive(connections, path, bodies[:200], token, keyed)
    rates = {name: [] for name, _, _ in series}
    for round_ in range(args.rounds):
        # Alternate the order, so that drift in a shared machine's load favours neither side.
        for name, path, keyed in series if round_ % 2 == 0 else reversed(series):
            rates[name].append(await drive(connections, path, bodies, token, keyed))
        bare, intake, keyed = (rates[name][-1] for name in ("bare", "intake", "keyed"))
        print(
            f"round {round_ + 1}: bare {bare:5.0f} req/s  intake {intake:5.0f} req/s (ratio {intake / bare:.2f})  "
            f"with Idempotency-Key {keyed:5.0f} req/s (ratio {keyed / bare:.2f})",
            flush=True,
        )
    for connection in connections:
        connection.close()
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600, help="requests per series per round")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", 2)))
    args = parser.parse_args()

    db_name = "hitl_bench"
    env = server_env(db_name)
    token = prepare(env, db_name)
    with serving(env, args.workers) as (server, port):
        workers = worker_pids(server.pid, port)
        rates = asyncio.run(measure(port, workers, token, args))

    def ratios(name):
        return [r / b for r, b in zip(rates[name], rates["bare"], strict=True)]

    def median_ratio(name):
        return statistics.median(ratios(name))

    def quartiles(name):
        low, _, high = statistics.quantiles(ratios(name), n=4) if len(rates[name]) > 1 else [ratios(name)[0]] * 3
        return f"(rounds' quartiles {low:.2f}–{high:.2f})"

    print(f"\nbare single-INSERT view:            median {statistics.median(rates['bare']):5.0f} req/s")
    print(f"POST /api/v1/actions:               median {statistics.median(rates['intake']):5.0f} req/s")
    print(f"POST /api/v1/actions + Idem.-Key:   median {statistics.median(rates['keyed']):5.0f} req/s")
    print(f"ratio intake/bare:                  median {median_ratio('intake'):.2f} {quartiles('intake')} goal >= 0.50")
    print(f"ratio intake with key/bare:         median {median_ratio('keyed'):.2f} {quartiles('keyed')}")
    print(
        f"setup: uvicorn --workers {args.workers}, {args.concurrency} concurrent keep-alive clients spread evenly "
        f"over the workers, {args.requests} requests per series per round, {args.rounds} rounds, PostgreSQL"
    )


if __name__ == "__main__":
    main()
